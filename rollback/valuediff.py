"""Two decoded values compared the way a rollback sees them (what the diff of one resource is made of).

* Keys starting with ``__`` are bookkeeping, at any depth; numbers compare numerically (``3 == 3.0``, but
  ``True != 1``); lists element by element; strings holding JSON documents (ECS ``containerDefinitions``,
  policies, kubeconfigs) as the documents they hold; assets and archives by hash; references by URN and id.
* Secrets by decrypted value, never by ciphertext (the same ciphertext under the same key is the same
  value). A secret that cannot be revealed is an :class:`UncomparedSecret`, never a change; a wrong
  passphrase raises :class:`~rollback.errors.SecretsError`. Every secret value shows as ``[secret]``.
* A value the provider filled in now (the current inputs' ``__defaults``) that is also provider-filled in
  the target, or absent there, is not sent by a replay, and the provider keeps the current value: it is not
  a change, only counted (``kept``).

Every finding names the resource it belongs to: the URN is passed in, never remembered between calls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rollback.paths import Path, format_path
from rollback.state.secrets import SecretBox, SecretUnavailable
from rollback.state.values import (
    SECRET_TEXT,
    Archive,
    Asset,
    ResourceReference,
    Secret,
    contains_secret,
    to_display,
)


class _Absent:
    """A key or list element that is not there (distinct from a JSON null)."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT = _Absent()


@dataclass(frozen=True)
class PropertyChange:
    path: str
    before: Any          # display value: JSON-safe, secrets as "[secret]", None when absent
    after: Any
    secret: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "before": self.before, "after": self.after}
        if self.secret:
            d["secret"] = True
        return d


@dataclass(frozen=True)
class UncomparedSecret:
    urn: str
    path: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"urn": self.urn, "path": self.path, "reason": self.reason}


def _json_container(text: str) -> Any:
    """The parsed document if ``text`` is a JSON object or array, else None."""
    s = text.lstrip()
    if not s or s[0] not in "{[":
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, (dict, list)) else None


def display(value: Any) -> Any:
    """A value as JSON for a person: secrets as ``[secret]``, an absent one as None."""
    return None if value is ABSENT else to_display(value)


class ValueDiff:
    """Compares values of the current state (``cs``) with the target's (``ts``); collects what it could
    not compare (``uncompared``) and the provider defaults it kept (``kept``)."""

    def __init__(self, cs: SecretBox, ts: SecretBox, *, same_key: bool) -> None:
        self.cs, self.ts = cs, ts
        self.same_key = same_key
        self.uncompared: list[UncomparedSecret] = []
        self.kept: list[tuple[str, str]] = []

    def walk(self, urn: str, a: Any, b: Any, path: Path, out: list[tuple[Path, PropertyChange]]) -> None:
        """Append the differences between ``a`` (now) and ``b`` (target) of ``urn`` below ``path``."""
        if a is b:
            return
        if isinstance(a, Secret) or isinstance(b, Secret):
            self._secret(urn, a, b, path, out)
            return
        if isinstance(a, dict) and isinstance(b, dict):
            tdefs = b.get("__defaults")
            cdefs = a.get("__defaults")
            for key in sorted(set(a) | set(b)):
                if key.startswith("__"):
                    continue
                va, vb = a.get(key, ABSENT), b.get(key, ABSENT)
                if va is not ABSENT and (
                        (isinstance(tdefs, list) and key in tdefs and (not isinstance(cdefs, list) or key in cdefs))
                        or (vb is ABSENT and isinstance(cdefs, list) and key in cdefs)):
                    # Filled in by the provider now, and in the target too (or not set there at all): a
                    # replay does not send it and the provider keeps the current value.
                    if not self.equal_or_unknown(va, vb):
                        self.kept.append((urn, format_path(path + (key,))))
                    continue
                self.walk(urn, va, vb, path + (key,), out)
            return
        if isinstance(a, list) and isinstance(b, list):
            for i in range(max(len(a), len(b))):
                self.walk(urn, a[i] if i < len(a) else ABSENT, b[i] if i < len(b) else ABSENT, path + (i,), out)
            return
        if isinstance(a, str) and isinstance(b, str):
            if a == b:
                return
            da, db = _json_container(a), _json_container(b)
            if da is not None and db is not None:
                self.walk(urn, da, db, path, out)
                return
        elif self._plain_equal(a, b):
            return
        secret = contains_secret(a) or contains_secret(b)
        out.append((path, PropertyChange(format_path(path), display(a), display(b), secret)))

    def _secret(self, urn: str, a: Any, b: Any, path: Path, out: list[tuple[Path, PropertyChange]]) -> None:
        text = format_path(path)
        if a is not ABSENT and b is not ABSENT:
            try:
                if self.equal(a, b):
                    return
            except SecretUnavailable as exc:
                self.uncompared.append(UncomparedSecret(urn, text, str(exc)))
                return
        out.append((path, PropertyChange(text, None if a is ABSENT else SECRET_TEXT,
                                         None if b is ABSENT else SECRET_TEXT, True)))

    def equal_or_unknown(self, a: Any, b: Any) -> bool:
        try:
            return self.equal(a, b)
        except SecretUnavailable:
            return False

    @staticmethod
    def reveal(value: Any, box: SecretBox) -> Any:
        return box.reveal(value) if isinstance(value, Secret) else value

    def equal(self, a: Any, b: Any) -> bool:
        """Deep semantic equality (a from now, b from the target); may raise SecretUnavailable."""
        if a is b:
            return True
        if isinstance(a, Secret) or isinstance(b, Secret):
            if isinstance(a, Secret) and isinstance(b, Secret):
                if a.ciphertext is not None and a.ciphertext == b.ciphertext and self.same_key:
                    return True
                if a.plaintext is not None and a.plaintext == b.plaintext:
                    return True
            return self.equal(self.reveal(a, self.cs), self.reveal(b, self.ts))
        if isinstance(a, dict) and isinstance(b, dict):
            keys = {k for k in a if not k.startswith("__")} | {k for k in b if not k.startswith("__")}
            return all(self.equal(a.get(k, ABSENT), b.get(k, ABSENT)) for k in keys)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(self.equal(x, y) for x, y in zip(a, b))
        if isinstance(a, str) and isinstance(b, str):
            if a == b:
                return True
            da, db = _json_container(a), _json_container(b)
            return da is not None and db is not None and self.equal(da, db)
        return self._plain_equal(a, b)

    @staticmethod
    def _plain_equal(a: Any, b: Any) -> bool:
        if isinstance(a, bool) or isinstance(b, bool):
            return type(a) is type(b) and a == b
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a == b
        if isinstance(a, Asset) and isinstance(b, Asset) or isinstance(a, Archive) and isinstance(b, Archive):
            if a.hash and b.hash:
                return a.hash == b.hash
            return a == b
        if isinstance(a, ResourceReference) and isinstance(b, ResourceReference):
            return a.urn == b.urn and a.id == b.id
        if type(a) is not type(b):
            return False
        return bool(a == b)
