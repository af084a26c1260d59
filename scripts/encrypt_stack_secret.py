#!/usr/bin/env python3
"""Store a secret in a Pulumi stack config file the way Pulumi's passphrase secrets provider does.

    PULUMI_CONFIG_PASSPHRASE=omniserve-example \\
        python scripts/encrypt_stack_secret.py stacks/Pulumi.prod.yaml omniserve:apiToken 'the-token'

Same result as ``pulumi config set --secret`` with the passphrase provider, without the CLI:
- the file's top-level ``encryptionsalt: v1:<b64 8-byte salt>:v1:<b64 nonce>:<b64 ct>`` is reused
  (after checking the passphrase: its ciphertext must decrypt to ``pulumi``), or created;
- key = PBKDF2-HMAC-SHA256(passphrase, salt, 1,000,000 iterations, 32 bytes);
- the value is written as ``<key>: {secure: v1:<b64 12-byte nonce>:<b64 AES-256-GCM ciphertext+tag>}``.
Nonces are random, so each run writes a different (equally valid) ciphertext.

The passphrase comes from PULUMI_CONFIG_PASSPHRASE (or the file named by
PULUMI_CONFIG_PASSPHRASE_FILE). The example stacks in stacks/ use ``omniserve-example``.
A key without a namespace gets the project's (``name`` in the Pulumi.yaml above the file).
VALUE ``-`` reads the value from stdin (keeps it out of shell history).
The rest of the file (comments, order) is left as it is.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import sys
from pathlib import Path

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

ITERATIONS = 1_000_000
KEY_BYTES = 32
SALT_BYTES = 8
NONCE_BYTES = 12
CHECK_WORD = b"pulumi"


class SecretScriptError(Exception):
    """A problem the user can fix; printed as one line."""


def derive_key(passphrase: str, salt: bytes) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, iterations=ITERATIONS)
    return kdf.derive(passphrase.encode())


def encrypt(key: bytes, plaintext: bytes) -> str:
    """``v1:<b64 nonce>:<b64 ciphertext+tag>``."""
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, None)
    return f"v1:{base64.b64encode(nonce).decode()}:{base64.b64encode(ciphertext).decode()}"


def decrypt(key: bytes, text: str) -> bytes:
    parts = text.split(":")
    if len(parts) != 3 or parts[0] != "v1":
        raise SecretScriptError(f"not a v1 ciphertext: {text[:20]}...")
    try:
        return AESGCM(key).decrypt(base64.b64decode(parts[1]), base64.b64decode(parts[2]), None)
    except InvalidTag:
        raise SecretScriptError("wrong passphrase (the ciphertext does not decrypt)") from None


def new_encryption_salt(passphrase: str) -> tuple[str, bytes]:
    """A fresh ``encryptionsalt`` value and its key."""
    salt = os.urandom(SALT_BYTES)
    key = derive_key(passphrase, salt)
    return f"v1:{base64.b64encode(salt).decode()}:{encrypt(key, CHECK_WORD)}", key


def key_from_encryption_salt(passphrase: str, value: str) -> bytes:
    """Derive the key from an existing ``encryptionsalt`` and check the passphrase against it."""
    match = re.fullmatch(r"v1:([A-Za-z0-9+/=]+):(v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+)", value)
    if not match:
        raise SecretScriptError(f"encryptionsalt is not v1:<salt>:v1:<nonce>:<ciphertext>: {value!r}")
    key = derive_key(passphrase, base64.b64decode(match[1]))
    try:
        word = decrypt(key, match[2])
    except SecretScriptError:
        raise SecretScriptError("wrong passphrase for this stack (encryptionsalt does not decrypt)") from None
    if word != CHECK_WORD:
        raise SecretScriptError("wrong passphrase for this stack (encryptionsalt check word mismatch)")
    return key


def read_passphrase() -> str:
    if "PULUMI_CONFIG_PASSPHRASE" in os.environ:
        return os.environ["PULUMI_CONFIG_PASSPHRASE"]
    path = os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if path:
        return Path(path).read_text().rstrip("\r\n")
    raise SecretScriptError("set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)")


def project_name(stack_file: Path) -> str | None:
    """``name`` from the nearest Pulumi.yaml above the stack file."""
    for directory in [stack_file.resolve().parent, *stack_file.resolve().parents]:
        project = directory / "Pulumi.yaml"
        if project.is_file():
            return (yaml.safe_load(project.read_text()) or {}).get("name")
    return None


def set_secure_value(text: str, key: str, secure: str) -> str:
    """Put ``key: {secure: ...}`` into the ``config:`` block of a stack file's text, replacing any old value."""
    lines = text.splitlines()
    try:
        config_at = next(i for i, line in enumerate(lines) if re.match(r"^config:\s*(#.*)?$", line))
    except StopIteration:
        lines.append("config:")
        config_at = len(lines) - 1
    end = config_at + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][:1].isspace()):
        end += 1
    block = [ln for ln in lines[config_at + 1:end] if ln.strip() and not ln.lstrip().startswith("#")]
    indents = [len(ln) - len(ln.lstrip()) for ln in block]
    indent = min(indents) if indents else 2
    pad = " " * indent
    new = [f"{pad}{key}:", f"{pad}{pad}secure: {secure}"]
    key_re = re.compile(rf"^{re.escape(pad)}{re.escape(key)}:(\s|$)")
    for i in range(config_at + 1, end):
        if key_re.match(lines[i]):
            stop = i + 1
            while stop < end and (not lines[stop].strip() or len(lines[stop]) - len(lines[stop].lstrip()) > indent):
                stop += 1
            lines[i:stop] = new
            break
    else:
        lines[config_at + 1:config_at + 1] = new
    return "\n".join(lines) + "\n"


def set_encryption_salt(text: str, salt: str) -> str:
    """Put a top-level ``encryptionsalt:`` line (before ``config:``)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("encryptionsalt:"):
            lines[i] = f"encryptionsalt: {salt}"
            break
    else:
        at = next((i for i, line in enumerate(lines) if line.startswith("config:")), len(lines))
        lines.insert(at, f"encryptionsalt: {salt}")
    return "\n".join(lines) + "\n"


def encrypt_stack_secret(stack_file: Path, key: str, value: str, passphrase: str) -> None:
    """Encrypt ``value`` and store it under ``key`` in ``stack_file`` (created if missing)."""
    if ":" not in key:
        project = project_name(stack_file)
        if not project:
            raise SecretScriptError(f"{key}: give the key with its namespace (e.g. omniserve:{key})")
        key = f"{project}:{key}"
    text = stack_file.read_text() if stack_file.exists() else ""
    document = yaml.safe_load(text) or {}
    if not isinstance(document, dict):
        raise SecretScriptError(f"{stack_file}: not a YAML map")
    if document.get("encryptionsalt"):
        crypt_key = key_from_encryption_salt(passphrase, str(document["encryptionsalt"]))
    else:
        salt, crypt_key = new_encryption_salt(passphrase)
        text = set_encryption_salt(text, salt)
    secure = encrypt(crypt_key, value.encode())
    text = set_secure_value(text, key, secure)

    check = yaml.safe_load(text)
    if check.get("config", {}).get(key) != {"secure": secure}:
        raise SecretScriptError(f"{stack_file}: could not place {key} in the config block; edit the file by hand")
    stack_file.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stack_file", type=Path, help="stacks/Pulumi.<stack>.yaml")
    parser.add_argument("key", help="config key, e.g. omniserve:apiToken")
    parser.add_argument("value", help="the secret value, or - to read it from stdin")
    args = parser.parse_args(argv)
    try:
        value = sys.stdin.read().rstrip("\r\n") if args.value == "-" else args.value
        encrypt_stack_secret(args.stack_file, args.key, value, read_passphrase())
    except SecretScriptError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.stack_file}: stored {args.key} (secure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
