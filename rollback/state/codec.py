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

import gzip
import json
import zlib
from typing import Any

from rollback.errors import StateError
from rollback.models import Deployment, Resource

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

MIN_VERSION = 3
MAX_VERSION = 4
KNOWN_FEATURES = frozenset({
    "refreshBeforeUpdate", "views", "hooks", "taint", "replaceWith", "snippets-prototype",
    "extensionParameterization", "byteString",
})


def decompress(data: bytes, *, source: str) -> bytes:
    """Undo gzip or zstd compression, detected by magic bytes (never by file extension)."""
    try:
        if data[:2] == GZIP_MAGIC:
            return gzip.decompress(data)
        if data[:4] == ZSTD_MAGIC:
            import zstandard

            return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise StateError(f"{source}: corrupt or truncated compressed state ({exc})") from exc
    except Exception as exc:  # zstandard.ZstdError
        raise StateError(f"{source}: corrupt or truncated compressed state ({exc})") from exc
    return data


def load_json(data: bytes, *, source: str) -> Any:
    raw = decompress(data, source=source)
    if not raw.strip():
        raise StateError(f"{source}: empty state file")
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise StateError(f"{source}: not a JSON state file (not UTF-8 text)") from exc
    except json.JSONDecodeError as exc:
        what = "truncated" if exc.pos >= len(raw.rstrip()) else "corrupt"
        raise StateError(f"{source}: {what} JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc


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
