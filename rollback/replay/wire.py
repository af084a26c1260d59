"""Property values in one canonical form, whether they come off the wire or out of a checkpoint.

The rehearsal compares what the program sends (protobuf ``Struct`` values in the engine's wire format)
with what the target checkpoint recorded (decoded state values). Both are brought to the same plain
form here: numbers are floats (``3 == 3.0``), booleans are tagged (``True != 1``), a secret is
``("secret", value)`` with nested secrets flattened (``Output.secret`` lifts them), an unknown is
``("unknown",)``, assets and archives are tagged by kind, and a resource reference compares by the URN
the engine gives the referenced resource. :func:`to_wire` goes the other way, for the mocks' answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rollback.replay._common import strip_reserved
from rollback.state.values import (
    ARCHIVE_SIG,
    ASSET_SIG,
    RESOURCE_REF_SIG,
    SECRET_SIG,
    SIG,
    UNKNOWN,
    UNKNOWN_VALUE,
    Archive,
    Asset,
    RawBytes,
    ResourceReference,
    Secret,
)


def canonical_struct(struct: Any) -> dict[str, Any]:
    """A protobuf ``Struct`` of property values in canonical form (see :func:`canonical_value`)."""
    return {k: _wire(v, in_secret=False) for k, v in struct.fields.items()}


def _wire(v: Any, *, in_secret: bool) -> Any:
    kind = v.WhichOneof("kind")
    if kind == "string_value":
        return ("unknown",) if v.string_value == UNKNOWN_VALUE else v.string_value
    if kind == "number_value":
        return float(v.number_value)
    if kind == "bool_value":
        return ("bool", v.bool_value)
    if kind == "list_value":
        return [_wire(x, in_secret=in_secret) for x in v.list_value.values]
    if kind == "struct_value":
        fields = v.struct_value.fields
        sig_value = fields.get(SIG)
        if sig_value is not None and sig_value.WhichOneof("kind") == "string_value":
            return _wire_special(sig_value.string_value, fields, in_secret=in_secret)
        return {k: _wire(x, in_secret=in_secret) for k, x in fields.items()}
    return None


def _wire_special(sig: str, fields: Mapping[str, Any], *, in_secret: bool) -> Any:
    def text(key: str) -> str | None:
        x = fields.get(key)
        return x.string_value if x is not None and x.WhichOneof("kind") == "string_value" else None

    if sig == SECRET_SIG:
        inner = _wire(fields["value"], in_secret=True) if "value" in fields else None
        return inner if in_secret else ("secret", inner)
    if sig == ASSET_SIG:
        for key in ("text", "path", "uri"):
            if key in fields:
                return ("asset", key, text(key))
        return ("asset", "hash", text("hash"))
    if sig == ARCHIVE_SIG:
        if "assets" in fields:
            assets = fields["assets"].struct_value.fields
            return ("archive", "assets", {k: _wire(x, in_secret=in_secret) for k, x in assets.items()})
        for key in ("path", "uri"):
            if key in fields:
                return ("archive", key, text(key))
        return ("archive", "hash", text("hash"))
    if sig == RESOURCE_REF_SIG:
        return ("ref", text("urn") or "")
    return {k: _wire(x, in_secret=in_secret) for k, x in fields.items()}


def canonical_value(value: Any, *, reveal: Callable[[Secret], Any], refs: Mapping[str, str],
                    strip_in_secrets: bool, in_secret: bool = False, base_dir: str | None = None) -> Any:
    """A decoded checkpoint value in the canonical form the wire values are compared in.

    Numbers are floats (``3 == 3.0``), booleans are tagged (so ``True != 1``), secrets are
    ``("secret", value)`` with nested secrets flattened (``Output.secret`` lifts them), references
    compare by the URN the engine gives the referenced resource.
    """
    def again(v: Any, secret: bool = in_secret) -> Any:
        return canonical_value(v, reveal=reveal, refs=refs, strip_in_secrets=strip_in_secrets, in_secret=secret,
                               base_dir=base_dir)

    if isinstance(value, Secret):
        inner = reveal(value)
        if strip_in_secrets:
            inner = strip_reserved(inner, top=False)
        c = again(inner, True)
        return c if in_secret else ("secret", c)
    if isinstance(value, dict):
        return {k: again(v) for k, v in value.items()}
    if isinstance(value, list):
        return [again(v) for v in value]
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return float(value)
    if value is UNKNOWN:
        return ("unknown",)
    if isinstance(value, Asset):
        for key in ("text", "path", "uri"):
            if getattr(value, key) is not None:
                return ("asset", key, _located(getattr(value, key), base_dir) if key == "path" else getattr(value, key))
        return ("asset", "hash", value.hash)
    if isinstance(value, Archive):
        if value.assets is not None:
            return ("archive", "assets", {k: again(v) for k, v in value.assets.items()})
        for key in ("path", "uri"):
            if getattr(value, key) is not None:
                return ("archive", key, _located(getattr(value, key), base_dir) if key == "path" else getattr(value, key))
        return ("archive", "hash", value.hash)
    if isinstance(value, ResourceReference):
        return ("ref", refs.get(value.urn, value.urn))
    if isinstance(value, RawBytes):
        return ("bytes", value.value)
    return value


def _located(path: str, base_dir: str | None) -> str:
    """A recorded file path as the replay sends it: absolute, a relative one read from ``base_dir``."""
    import os

    return path if base_dir is None or os.path.isabs(path) else os.path.normpath(os.path.join(base_dir, path))


def to_wire(value: Any, reveal: Callable[[Secret], Any]) -> Any:
    """A decoded output value as wire JSON, or None when it holds something a mock cannot answer with
    (assets, archives, references, unknowns: nothing the replay follows)."""
    if isinstance(value, Secret):
        inner = to_wire(reveal(value), reveal)
        return None if inner is None else {SIG: SECRET_SIG, "value": inner}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            w = to_wire(v, reveal)
            if w is None and v is not None:
                return None
            out[k] = w
        return out
    if isinstance(value, list):
        items = [to_wire(v, reveal) for v in value]
        return None if any(w is None and v is not None for w, v in zip(items, value)) else items
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return None


class _NotPlain(Exception):
    pass


def _plain(value: Any) -> Any:
    """A canonical value as the wire JSON the SDK sends for it (no assets, archives, references or bytes)."""
    if value is None or value.__class__ in (str, float):
        return value
    if value.__class__ is dict:
        if SIG in value:
            raise _NotPlain   # data that looks like a special value on the wire
        return {k: _plain(v) for k, v in value.items()}
    if value.__class__ is list:
        return [_plain(v) for v in value]
    if value.__class__ is tuple:
        tag = value[0]
        if tag == "bool":
            return value[1]
        if tag == "secret":
            return {SIG: SECRET_SIG, "value": _plain(value[1])}
        if tag == "unknown":
            return UNKNOWN_VALUE
    raise _NotPlain


def wire_bytes(canonical: Mapping[str, Any]) -> bytes | None:
    """The deterministic serialization of the ``Struct`` the SDK sends for canonical property values (equal
    bytes mean equal values: :func:`canonical_struct` of them is ``canonical``), or None for values the SDK
    may send in more than one form (assets, archives, references): compare those canonically."""
    from google.protobuf import struct_pb2

    try:
        plain = {k: _plain(v) for k, v in canonical.items()}
    except _NotPlain:
        return None
    struct = struct_pb2.Struct()
    struct.update(plain)
    return bytes(struct.SerializeToString(deterministic=True))
