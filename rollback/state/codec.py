"""From bytes to a :class:`~rollback.models.Deployment`: compression, JSON, envelopes, versions.

Accepts both envelopes (export ``{"version", "deployment"}`` and on-disk
``{"version", "checkpoint": {"stack", "latest"}}``), versions 3 and 4 with known features, and
Go's case-insensitive key matching (``"Stack"``/``"Latest"`` are read as Pulumi reads them).
Versions 0 (the unversioned 2017 ``{"target", "latest"}`` file), 1 and 2 are migrated up to 3 the way
Pulumi's ``UnmarshalVersionedCheckpointToLatestCheckpoint`` and ``apitype/migrate`` do (v1's
``defaults`` dropped, ``external`` false, no provider references, every input depending on all of
the resource's dependencies). Everything else is refused with a message that names the file.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import zlib
from collections.abc import Mapping
from typing import Any

from rollback.errors import BadInput, StateError
from rollback.models import Deployment, Resource

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

MIN_VERSION = 3
MAX_VERSION = 4
KNOWN_FEATURES = frozenset({
    "refreshBeforeUpdate", "views", "hooks", "taint", "replaceWith", "snippets-prototype",
    "extensionParameterization", "byteString",
})


# -- bounded decompression ------------------------------------------------------------------------
# A state file may be compressed; what it decompresses to is bounded, so that a "bomb" (gigabytes of
# zeros in a few megabytes) is refused instead of exhausting memory. The limit for one file is
#   min(ceiling, max(FLOOR, ratio x compressed size))
# with the ceiling and the ratio overridable by environment variables (documented in docs/cli.md).
MAX_SIZE_ENV = "INFRA_ROLLBACK_MAX_STATE_SIZE"
MAX_RATIO_ENV = "INFRA_ROLLBACK_MAX_COMPRESSION_RATIO"
DEFAULT_MAX_SIZE = 512 << 20         # 512 MiB: an absolute ceiling for one decompressed file
DEFAULT_MAX_RATIO = 128              # real Pulumi JSON compresses 10-90x; a bomb 1,000-30,000x
FLOOR = 64 << 20                     # small files may always expand to 64 MiB
_CHUNK = 1 << 10                     # zstd input fed 1 KiB at a time: at most ~32 MiB of output per step
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _env_number(name: str, default: int, environ: Mapping[str, str] | None) -> int:
    env = os.environ if environ is None else environ
    text = env.get(name, "").strip()
    if not text:
        return default
    m = re.fullmatch(r"([0-9]{1,15})\s*([KMGT]?)(?:i?B)?", text, re.IGNORECASE)
    if m is None or int(m.group(1)) <= 0:
        raise BadInput(f"{name}={text[:40]!r}: expected a positive whole number (a size may end in K, M or G)")
    return int(m.group(1)) * _UNITS[m.group(2).upper()]


def decompressed_limit(compressed_size: int, environ: Mapping[str, str] | None = None) -> int:
    """How many bytes a compressed file of ``compressed_size`` bytes may decompress to."""
    ceiling = _env_number(MAX_SIZE_ENV, DEFAULT_MAX_SIZE, environ)
    ratio = _env_number(MAX_RATIO_ENV, DEFAULT_MAX_RATIO, environ)
    return min(ceiling, max(FLOOR, ratio * compressed_size))


def _human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


def _too_big(source: str, compressed: int, limit: int) -> StateError:
    return StateError(f"{source}: decompresses to more than {_human(limit)} (from {_human(compressed)}): refused as a "
                      f"likely decompression bomb; if the file is genuine, raise {MAX_SIZE_ENV} or {MAX_RATIO_ENV}")


def _gunzip(data: bytes, limit: int, source: str) -> bytes:
    out = bytearray()
    rest = data
    while True:   # one gzip member after another, as Go's gzip reader (multistream) reads them
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = rest
        while not d.eof:
            chunk = d.decompress(pending, limit + 1 - len(out))
            out += chunk
            if len(out) > limit:
                raise _too_big(source, len(data), limit)
            if not chunk and len(d.unconsumed_tail) == len(pending):
                break   # no input left and no output to come: the stream ended early
            pending = d.unconsumed_tail
        if not d.eof:
            raise StateError(f"{source}: truncated gzip data (the stream ends before its end marker)")
        rest = d.unused_data
        if not rest:
            return bytes(out)
        if rest[:2] != GZIP_MAGIC:
            raise StateError(f"{source}: corrupt gzip data (unexpected bytes after the end of the stream)")


def _unzstd(data: bytes, limit: int, source: str) -> bytes:
    import zstandard

    out = bytearray()
    rest = data
    try:
        while True:   # one zstd frame after another, as the zstd tool and Go's decoder read them
            d = zstandard.ZstdDecompressor().decompressobj()
            pos = 0
            while pos < len(rest) and not d.eof:
                out += d.decompress(rest[pos:pos + _CHUNK])
                pos += _CHUNK
                if len(out) > limit:
                    raise _too_big(source, len(data), limit)
            if not d.eof:
                raise StateError(f"{source}: truncated zstd data (the last frame has no end)")
            rest = d.unused_data + rest[pos:]
            if not rest:
                return bytes(out)
            if rest[:4] != ZSTD_MAGIC:
                raise StateError(f"{source}: corrupt zstd data (unexpected bytes after the end of the frame)")
    except zstandard.ZstdError as exc:
        raise StateError(f"{source}: corrupt or truncated zstd data ({exc})") from exc


def decompress(data: bytes, *, source: str, environ: Mapping[str, str] | None = None) -> bytes:
    """Undo gzip or zstd compression, detected by magic bytes (never by file extension), with a bounded
    output (see :func:`decompressed_limit`). Truncated or corrupt data is refused naming ``source``."""
    if data[:2] == GZIP_MAGIC:
        try:
            return _gunzip(data, decompressed_limit(len(data), environ), source)
        except zlib.error as exc:
            raise StateError(f"{source}: corrupt gzip data ({exc})") from exc
    if data[:4] == ZSTD_MAGIC:
        return _unzstd(data, decompressed_limit(len(data), environ), source)
    return data


# -- JSON --------------------------------------------------------------------------------------
#: How deeply a JSON document may nest. Pulumi (Go) reads deeper files; the code that walks property
#: values here recurses, so deeper documents are refused with a clear message instead.
MAX_DEPTH = 200


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotJson(f"the number {text[:40]} is too large for a 64-bit float")
    return value


def _depth(doc: Any, limit: int) -> int:
    """How deeply ``doc`` nests (a scalar is 0), counting no further than ``limit + 1``."""
    if not isinstance(doc, (dict, list)):
        return 0
    deepest = 1
    stack: list[tuple[Any, int]] = [(doc, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, level = pop()
        if level > deepest:
            deepest = level
            if level > limit:
                break
        for child in (node.values() if node.__class__ is dict else node):
            if child.__class__ is dict or child.__class__ is list:
                push((child, level + 1))
    return deepest


def parse_json(raw: bytes, *, source: str) -> Any:
    """Strict JSON, as Go's encoding/json reads it: no NaN or Infinity, no number beyond a float64, and
    (our own limit) at most :data:`MAX_DEPTH` levels deep. Anything else is a :class:`StateError`."""
    try:
        doc = json.loads(raw, parse_constant=_refuse_constant, parse_float=_float)
    except UnicodeDecodeError as exc:
        raise StateError(f"{source}: not a JSON file (not UTF-8 text)") from exc
    except json.JSONDecodeError as exc:
        what = "truncated" if exc.pos >= len(raw.rstrip()) else "corrupt"
        raise StateError(f"{source}: {what} JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except _NotJson as exc:
        raise StateError(f"{source}: not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise StateError(f"{source}: JSON nested more than {MAX_DEPTH} levels deep (infra-rollback reads at most "
                         f"{MAX_DEPTH})") from exc
    except ValueError as exc:   # int digits beyond sys.get_int_max_str_digits()
        if "digits" in str(exc):
            raise StateError(f"{source}: not valid JSON: a number with more than {sys.get_int_max_str_digits()} "
                             f"digits") from exc
        raise StateError(f"{source}: not valid JSON ({exc.__class__.__name__})") from exc
    if _depth(doc, MAX_DEPTH) > MAX_DEPTH:
        raise StateError(f"{source}: JSON nested more than {MAX_DEPTH} levels deep (infra-rollback reads at most "
                         f"{MAX_DEPTH})")
    return doc


def load_json(data: bytes, *, source: str) -> Any:
    raw = decompress(data, source=source)
    if not raw or raw.isspace():
        raise StateError(f"{source}: empty state file")
    return parse_json(raw, source=source)


def ci_get(obj: dict[str, Any], key: str, default: Any = None) -> Any:
    """``obj[key]`` with Go's case-insensitive fallback."""
    if key in obj:
        return obj[key]
    lower = key.lower()
    for k, v in obj.items():
        if k.lower() == lower:
            return v
    return default


def parse_deployment(data: bytes | str | dict[str, Any], *, source: str) -> Deployment:
    """Parse a whole state document (either envelope) into a Deployment."""
    if isinstance(data, dict):
        doc = data
    else:
        doc = load_json(data.encode() if isinstance(data, str) else data, source=source)
    if not isinstance(doc, dict):
        raise StateError(f"{source}: not a Pulumi state file (top level is not an object)")
    version = ci_get(doc, "version")
    if version is None:
        if ci_get(doc, "latest") is None and ci_get(doc, "target") is None and ci_get(doc, "stack") is None:
            raise StateError(f"{source}: not a Pulumi state file (no 'version')")
        # Version 0: the unversioned 2017 checkpoint, itself the checkpoint object.
        doc = {"version": 0, "checkpoint": doc}
        version = 0
    if not isinstance(version, int) or isinstance(version, bool):
        raise StateError(f"{source}: state version {version!r} is not a number")
    if version < 0:
        raise StateError(f"{source}: unsupported state version {version}")
    if version > MAX_VERSION:
        raise StateError(f"{source}: state version {version} is newer than this tool supports (3 and 4)")
    features = ci_get(doc, "features") or []
    if not isinstance(features, list):
        raise StateError(f"{source}: 'features' is not a list")
    unknown = [f for f in features if f not in KNOWN_FEATURES]
    if unknown:
        raise StateError(f"{source}: state uses unsupported feature '{unknown[0]}' "
                         f"(known: {', '.join(sorted(KNOWN_FEATURES))})")
    stack = ""
    has_latest = True
    deployment = ci_get(doc, "deployment")
    if deployment is None:
        checkpoint = ci_get(doc, "checkpoint")
        if not isinstance(checkpoint, dict):
            raise StateError(f"{source}: neither 'deployment' nor 'checkpoint' found")
        stack = str(ci_get(checkpoint, "stack") or "")
        deployment = ci_get(checkpoint, "latest")
        if deployment is None:
            has_latest = False
            deployment = {}
    if not isinstance(deployment, dict):
        raise StateError(f"{source}: the deployment is not an object")
    raw_resources = ci_get(deployment, "resources") or []
    if not isinstance(raw_resources, list):
        raise StateError(f"{source}: 'resources' is not a list")
    if version < MIN_VERSION:
        raw_resources = [_migrate_resource(r) if isinstance(r, dict) else r for r in raw_resources]
    resources = tuple(parse_resource(r, source=source, index=i) for i, r in enumerate(raw_resources))
    _check_unique(resources, source)
    pending = ci_get(deployment, "pending_operations") or []
    return Deployment(
        source=source,
        version=version,
        features=tuple(features),
        stack=stack,
        resources=resources,
        pending_operations=tuple(p for p in pending if isinstance(p, dict)),
        secrets_provider=ci_get(deployment, "secrets_providers"),
        manifest=ci_get(deployment, "manifest") or {},
        has_latest=has_latest,
        migrated_from=version if version < MIN_VERSION else None,
    )


def _check_unique(resources: tuple[Resource, ...], source: str) -> None:
    """Refuse a URN held by two resources that are not pending deletion, as Pulumi's
    ``Snapshot.VerifyIntegrity`` does (a replace may leave old copies marked ``delete``)."""
    seen: set[str] = set()
    for r in resources:
        if r.delete:
            continue
        if r.urn in seen:
            raise StateError(f"{source}: duplicate resource {r.urn} (two entries not marked for deletion; "
                             f"Pulumi refuses this state too)")
        seen.add(r.urn)


def _migrate_resource(r: dict[str, Any]) -> dict[str, Any]:
    """ResourceV1/V2 -> ResourceV3, as Pulumi's ``migrate.UpToResourceV2``/``V3`` do."""
    out = {k: v for k, v in r.items() if k.lower() != "defaults"}  # v1 defaults were deprecated
    deps = ci_get(out, "dependencies") or []
    if ci_get(out, "propertyDependencies") is None:
        out["propertyDependencies"] = {k: list(deps) for k in (ci_get(out, "inputs") or {})}
    return out


_RESOURCE_KEYS = frozenset({
    "urn", "custom", "delete", "id", "type", "inputs", "outputs", "parent", "protect", "external",
    "dependencies", "initErrors", "provider", "propertyDependencies", "pendingReplacement",
    "additionalSecretOutputs", "aliases", "customTimeouts", "importID", "retainOnDelete",
    "deletedWith", "replaceWith", "created", "modified", "sourcePosition", "ignoreChanges",
    "replaceOnChanges", "hideDiff", "taint", "refreshBeforeUpdate", "viewOf", "resourceHooks",
    "stackTrace",
})


# Fields Pulumi's ResourceV3 declares as maps or strings: any other JSON type fails Go's decoder.
_OBJECT_KEYS = ("inputs", "outputs", "propertyDependencies", "customTimeouts")
_STRING_KEYS = ("type", "id", "parent", "provider", "deletedWith", "importID")


def _normalise_keys(obj: dict[str, Any]) -> dict[str, Any]:
    if all(k in _RESOURCE_KEYS for k in obj):
        return obj
    canonical = {k.lower(): k for k in _RESOURCE_KEYS}
    return {canonical.get(k.lower(), k): v for k, v in obj.items()}


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def parse_resource(obj: Any, *, source: str, index: int) -> Resource:
    if not isinstance(obj, dict):
        raise StateError(f"{source}: resource #{index} is not an object")
    r = _normalise_keys(obj)
    urn = r.get("urn")
    if not isinstance(urn, str) or not urn:
        raise StateError(f"{source}: resource #{index} has no URN")
    for key in _OBJECT_KEYS:
        if r.get(key) is not None and not isinstance(r[key], dict):
            raise StateError(f"{source}: resource {urn}: '{key}' is not an object")
    for key in _STRING_KEYS:
        if r.get(key) is not None and not isinstance(r[key], str):
            raise StateError(f"{source}: resource {urn}: '{key}' is not a string")
    pdeps = r.get("propertyDependencies") or {}
    timeouts = r.get("customTimeouts") or {}
    return Resource(
        urn=urn,
        type=str(r.get("type") or ""),
        custom=bool(r.get("custom")),
        id=r.get("id") or None,
        parent=r.get("parent") or None,
        provider=r.get("provider") or None,
        protect=bool(r.get("protect")),
        external=bool(r.get("external")),
        delete=bool(r.get("delete")),
        pending_replacement=bool(r.get("pendingReplacement")),
        retain_on_delete=bool(r.get("retainOnDelete")),
        dependencies=_strs(r.get("dependencies")),
        property_dependencies={k: _strs(v) for k, v in pdeps.items()} if isinstance(pdeps, dict) else {},
        additional_secret_outputs=_strs(r.get("additionalSecretOutputs")),
        ignore_changes=_strs(r.get("ignoreChanges")),
        replace_on_changes=_strs(r.get("replaceOnChanges")),
        custom_timeouts={k: float(v) for k, v in timeouts.items() if isinstance(v, (int, float))}
        if isinstance(timeouts, dict) else {},
        deleted_with=r.get("deletedWith") or None,
        aliases=_strs(r.get("aliases")),
        import_id=r.get("importID") or None,
        raw=r,
    )


def read_update_info(data: bytes, *, source: str) -> dict[str, Any]:
    """A history ``.history.json`` (Pulumi's UpdateInfo) as a dict."""
    doc = load_json(data, source=source)
    if not isinstance(doc, dict):
        raise StateError(f"{source}: not a Pulumi history entry")
    return doc
