"""Decrypting (and, for writers of test state, encrypting) Pulumi secrets.

A :class:`SecretBox` is built per secrets-provider state and reveals :class:`Secret` values lazily:
the passphrase key (PBKDF2, a million rounds) is derived at most once per salt and passphrase, and
only when a secret actually has to be compared or replayed. Plaintext never leaves this module except
as the return value of :meth:`SecretBox.reveal`; callers print ``[secret]``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rollback.errors import SecretsError
from rollback.state.values import Secret, decode

PBKDF2_ROUNDS = 1_000_000
_KEY_CACHE: dict[tuple[str, bytes], bytes] = {}
_DERIVING: dict[tuple[str, bytes], threading.Thread] = {}
_DERIVING_LOCK = threading.Lock()


class SecretUnavailable(Exception):
    """This secret cannot be revealed here (no passphrase, or a provider we cannot reach)."""


def passphrase_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The passphrase from ``PULUMI_CONFIG_PASSPHRASE`` or the file ``PULUMI_CONFIG_PASSPHRASE_FILE``."""
    env = os.environ if environ is None else environ
    if "PULUMI_CONFIG_PASSPHRASE" in env:
        phrase = env["PULUMI_CONFIG_PASSPHRASE"]
        try:
            phrase.encode("utf-8")   # undecodable bytes in the environment arrive as lone surrogates
        except UnicodeEncodeError as exc:
            raise SecretsError("PULUMI_CONFIG_PASSPHRASE is not UTF-8 text") from exc
        return phrase
    path = env.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read().rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise SecretsError(f"PULUMI_CONFIG_PASSPHRASE_FILE {path}: not UTF-8 text") from exc
        except OSError as exc:
            raise SecretsError(
                f"cannot read PULUMI_CONFIG_PASSPHRASE_FILE {path}: {exc.strerror or exc}") from exc
    return None


def derive_key(passphrase: str, salt: bytes) -> bytes:
    """The passphrase key for this salt (PBKDF2, a million rounds: about 0.3 s), derived once per process;
    when :func:`derive_key_soon` started it, this waits for that."""
    key = (passphrase, salt)
    cached = _KEY_CACHE.get(key)
    if cached is None:
        pending = _DERIVING.get(key)
        if pending is not None:
            pending.join()
            cached = _KEY_CACHE.get(key)
    if cached is None:
        cached = _pbkdf2(passphrase, salt)
        _KEY_CACHE[key] = cached
    return cached


def derive_key_soon(passphrase: str, salt: bytes) -> None:
    """Start deriving the key in the background: hashing releases the interpreter, so the state is read
    meanwhile on another core (:func:`derive_key` waits for it)."""
    key = (passphrase, salt)
    with _DERIVING_LOCK:
        if key in _KEY_CACHE or key in _DERIVING:
            return

        def derive() -> None:
            _KEY_CACHE[key] = _pbkdf2(passphrase, salt)

        thread = threading.Thread(target=derive, name="infra-rollback-key", daemon=True)
        _DERIVING[key] = thread
        thread.start()


def _pbkdf2(passphrase: str, salt: bytes) -> bytes:
    import hashlib

    return hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, PBKDF2_ROUNDS, 32)


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _split_v1(ciphertext: str) -> tuple[bytes, bytes]:
    parts = ciphertext.split(":")
    if len(parts) != 3 or parts[0] != "v1":
        raise ValueError("not a v1 ciphertext")
    return _b64(parts[1]), _b64(parts[2])


def aes_gcm_decrypt(key: bytes, ciphertext: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce, data = _split_v1(ciphertext)
    return AESGCM(key).decrypt(nonce, data, None).decode()


def aes_gcm_encrypt(key: bytes, plaintext: str, nonce: bytes) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data = AESGCM(key).encrypt(nonce, plaintext.encode(), None)
    return "v1:" + base64.b64encode(nonce).decode() + ":" + base64.b64encode(data).decode()


@dataclass
class PassphraseCrypter:
    """Pulumi's passphrase secrets provider: AES-256-GCM with a PBKDF2-derived key."""

    key: bytes

    @staticmethod
    def parse_salt(salt_state: str) -> tuple[bytes, str]:
        """Split ``v1:<salt>:v1:<nonce>:<ct>`` into the salt bytes and the check ciphertext."""
        parts = salt_state.split(":")
        if len(parts) != 5 or parts[0] != "v1":
            raise ValueError("malformed passphrase salt")
        return _b64(parts[1]), ":".join(parts[2:])

    @classmethod
    def from_salt(cls, salt_state: str, passphrase: str, *, source: str) -> PassphraseCrypter:
        try:
            salt, check = cls.parse_salt(salt_state)
        except (ValueError, binascii.Error) as exc:
            raise SecretsError(f"{source}: malformed passphrase secrets state") from exc
        key = derive_key(passphrase, salt)
        try:
            ok = aes_gcm_decrypt(key, check) == "pulumi"
        except Exception:  # InvalidTag and friends: the key is wrong
            ok = False
        if not ok:
            raise SecretsError(
                f"{source}: incorrect passphrase (check PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE)")
        return cls(key)

    @classmethod
    def create(cls, passphrase: str, *, salt: bytes, nonce: bytes) -> tuple[PassphraseCrypter, str]:
        """A new crypter and its salt state string (for writers of example and test state)."""
        key = derive_key(passphrase, salt)
        check = aes_gcm_encrypt(key, "pulumi", nonce)
        return cls(key), "v1:" + base64.b64encode(salt).decode() + ":" + check

    def encrypt(self, plaintext: str, *, nonce: bytes | None = None) -> str:
        return aes_gcm_encrypt(self.key, plaintext, nonce if nonce is not None else os.urandom(12))

    def decrypt(self, ciphertext: str) -> str:
        return aes_gcm_decrypt(self.key, ciphertext)


class SecretBox:
    """Reveals the secrets of one deployment, given its ``secrets_providers`` entry.

    ``passphrase`` is a callable so that the environment is only consulted when needed.
    A wrong passphrase raises :class:`SecretsError` (exit 2); a missing one raises
    :class:`SecretUnavailable`, which callers turn into "could not compare" notes.
    """

    def __init__(self, provider: Mapping[str, Any] | None, *, source: str,
                 passphrase: Callable[[], str | None] = passphrase_from_env) -> None:
        self.provider_type = str((provider or {}).get("type") or "")
        self._state = dict((provider or {}).get("state") or {})
        self._source = source
        self._passphrase = passphrase
        self._decrypt: Callable[[str], str] | None = None
        self._unavailable: str | None = None

    @property
    def unavailable_reason(self) -> str | None:
        return self._unavailable

    def _decrypter(self) -> Callable[[str], str]:
        if self._decrypt is not None:
            return self._decrypt
        if self._unavailable is not None:
            raise SecretUnavailable(self._unavailable)
        kind = self.provider_type
        if kind == "passphrase":
            salt = self._state.get("salt")
            if not salt:
                raise SecretsError(f"{self._source}: passphrase secrets provider has no salt")
            phrase = self._passphrase()
            if phrase is None:
                self._unavailable = "no passphrase (set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE)"
                raise SecretUnavailable(self._unavailable)
            self._decrypt = PassphraseCrypter.from_salt(salt, phrase, source=self._source).decrypt
        elif kind == "b64":
            self._decrypt = lambda ct: base64.b64decode(ct).decode()
        else:
            self._unavailable = (f"secrets provider '{kind or 'none'}' cannot be decrypted here"
                                 if kind else "the state names no secrets provider")
            raise SecretUnavailable(self._unavailable)
        return self._decrypt

    def warm(self) -> None:
        """Start deriving the passphrase key in the background (see :func:`derive_key_soon`); what goes wrong
        (no passphrase, a malformed salt, a wrong passphrase) is said when the key is used, or by :meth:`check`."""
        if self.provider_type != "passphrase" or self._decrypt is not None or self._unavailable is not None:
            return
        try:
            phrase = self._passphrase()
            salt, _check = PassphraseCrypter.parse_salt(str(self._state.get("salt") or ""))
        except (ValueError, binascii.Error, SecretsError):
            return
        if phrase is not None:
            derive_key_soon(phrase, salt)

    def check(self) -> None:
        """Fail now with :class:`SecretsError` if a passphrase is set but wrong."""
        try:
            self._decrypter()
        except SecretUnavailable:
            pass

    def reveal(self, secret: Secret) -> Any:
        """The decoded plaintext value of a secret (itself possibly holding special values)."""
        if secret.plaintext is not None:
            text = secret.plaintext
        elif secret.ciphertext is not None:
            decrypt = self._decrypter()
            try:
                text = decrypt(secret.ciphertext)
            except SecretUnavailable:
                raise
            except Exception as exc:
                raise SecretsError(f"{self._source}: a secret could not be decrypted "
                                   f"(wrong passphrase or corrupt ciphertext)") from exc
        else:
            return None
        try:
            return decode(json.loads(text))
        except ValueError:
            return text

    def reveal_config(self, ciphertext: str) -> str:
        """A stack config ``secure:`` value (the plaintext is the raw string, not JSON)."""
        return self._decrypter()(ciphertext)
