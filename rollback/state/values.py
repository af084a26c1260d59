"""Pulumi's special property values, decoded into small Python objects.

In state files a special value is a JSON object whose ``SIG`` key names its kind (see
``pulumi-state.md`` section 3). :func:`decode` turns a raw JSON tree into plain values plus the
classes below; nothing is decrypted here (see :mod:`rollback.state.secrets`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
RESOURCE_REF_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
RAW_BYTES_SIG = "803fd3297a5875dc03ca845dda5d2a98"
UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

SECRET_TEXT = "[secret]"


@dataclass(frozen=True, eq=False)
class Secret:
    """A secret value as stored: a ciphertext, or (exported with --show-secrets) a plaintext.

    Two secrets are never equal by ciphertext (every encryption differs): compare them through a
    crypter. Printing a Secret never shows its content.
    """

    ciphertext: str | None = field(default=None, repr=False)
    plaintext: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return SECRET_TEXT

    __str__ = __repr__


class Revealed:
    """A value decrypted from a secret, on its way to a comparison or a replay: printing it shows
    ``[secret]``, never the value (``.value`` is for code, not for output)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return SECRET_TEXT

    __str__ = __repr__


@dataclass(frozen=True)
class Asset:
    hash: str = ""
    text: str | None = None
    path: str | None = None
    uri: str | None = None

    @property
    def hash_only(self) -> bool:
        return self.text is None and self.path is None and self.uri is None


@dataclass(frozen=True)
class Archive:
    hash: str = ""
    assets: dict[str, Any] | None = None
    path: str | None = None
    uri: str | None = None

    @property
    def hash_only(self) -> bool:
        return self.assets is None and self.path is None and self.uri is None


@dataclass(frozen=True)
class ResourceReference:
    urn: str
    id: Any = None
    package_version: str = ""


@dataclass(frozen=True)
class RawBytes:
    value: bytes


class _Unknown:
    """A value the engine had not computed yet when the state was written."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "[unknown]"

    __str__ = __repr__


UNKNOWN = _Unknown()


#: How deeply a JSON value may nest. Pulumi (Go) reads deeper files; the code that walks property values
#: here recurses, so deeper values are refused with a clear message instead (checked as they are decoded).
MAX_DEPTH = 200


def decode(value: Any, *, source: str = "") -> Any:
    """Decode a raw JSON property value (dicts, lists, scalars) into values of this module.

    A value nested more than :data:`MAX_DEPTH` levels deep is refused (:class:`~rollback.errors.StateError`
    naming ``source``): everything that walks decoded values recurses."""
    return _decode(value, MAX_DEPTH, source)


def _decode(value: Any, budget: int, source: str) -> Any:
    if value.__class__ is dict:
        if budget <= 0:
            _too_deep(source)
        sig = value.get(SIG)
        if sig is None:
            return {k: _decode(v, budget - 1, source) for k, v in value.items()}
        return _decode_special(sig, value, budget, source)
    if value.__class__ is list:
        if budget <= 0:
            _too_deep(source)
        return [_decode(v, budget - 1, source) for v in value]
    if value == UNKNOWN_VALUE:
        return UNKNOWN
    if isinstance(value, (dict, list)):   # subclasses, from code rather than a parser
        return _decode(dict(value) if isinstance(value, dict) else list(value), budget, source)
    return value


def _too_deep(source: str) -> None:
    from rollback.errors import StateError

    where = f"{source}: " if source else ""
    raise StateError(f"{where}JSON nested more than {MAX_DEPTH} levels deep (infra-rollback reads at most "
                     f"{MAX_DEPTH})")


def _decode_special(sig: str, value: dict[str, Any], budget: int = MAX_DEPTH, source: str = "") -> Any:
    if sig == SECRET_SIG:
        return Secret(ciphertext=value.get("ciphertext"), plaintext=value.get("plaintext"))
    if sig == ASSET_SIG:
        return Asset(hash=value.get("hash", ""), text=value.get("text"), path=value.get("path"),
                     uri=value.get("uri"))
    if sig == ARCHIVE_SIG:
        assets = value.get("assets")
        return Archive(hash=value.get("hash", ""),
                       assets={k: _decode(v, budget - 1, source) for k, v in assets.items()}
                       if assets is not None else None,
                       path=value.get("path"), uri=value.get("uri"))
    if sig == RESOURCE_REF_SIG:
        return ResourceReference(urn=value.get("urn", ""), id=_decode(value.get("id"), budget - 1, source),
                                 package_version=value.get("packageVersion", ""))
    if sig == RAW_BYTES_SIG:
        try:
            return RawBytes(base64.b64decode(value.get("value", "")))
        except (ValueError, TypeError):
            return RawBytes(b"")
    # An unknown signature: keep the object as plain data rather than failing.
    return {k: _decode(v, budget - 1, source) for k, v in value.items()}


def contains_secret(value: Any) -> bool:
    if isinstance(value, Secret):
        return True
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secret(v) for v in value)
    return False


def to_display(value: Any) -> Any:
    """A JSON-safe view of a decoded value in which every secret is ``[secret]``."""
    if isinstance(value, Secret):
        return SECRET_TEXT
    if isinstance(value, dict):
        return {k: to_display(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_display(v) for v in value]
    if value is UNKNOWN:
        return "[unknown]"
    if isinstance(value, Asset):
        return {"asset": value.hash or value.path or value.uri or "(text)"}
    if isinstance(value, Archive):
        return {"archive": value.hash or value.path or value.uri or "(assets)"}
    if isinstance(value, ResourceReference):
        return {"resource": value.urn}
    if isinstance(value, RawBytes):
        return {"bytes": len(value.value)}
    return value
