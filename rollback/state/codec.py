"""From bytes to a :class:`~rollback.models.Deployment`: compression, JSON, envelopes, versions.

Accepts both envelopes (export ``{"version", "deployment"}`` and on-disk
``{"version", "checkpoint": {"stack", "latest"}}``), versions 3 and 4 with known features, and
Go's case-insensitive key matching (``"Stack"``/``"Latest"`` are read as Pulumi reads them).
Versions 0 (the unversioned 2017 ``{"target", "latest"}`` file), 1 and 2 are migrated up to 3 the way
Pulumi's ``UnmarshalVersionedCheckpointToLatestCheckpoint`` and ``apitype/migrate`` do (v1's
``defaults`` dropped, ``external`` false, no provider references, every input depending on all of
the resource's dependencies). Everything else is refused with a message that names the file.

Longer than our other modules (over 500 lines) because reading a state once, lazily, at any size is one
concern: the single pass that keeps each resource's text, and the readers of a file's first or last bytes
(no-op updates, pending operations, the secrets provider) that must agree with it, live side by side.
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
from rollback.state.values import MAX_DEPTH as VALUES_MAX_DEPTH

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
#: How deeply a JSON document may nest (see :data:`rollback.state.values.MAX_DEPTH`: a resource's values are
#: checked as they are decoded, everything else as it is read).
MAX_DEPTH = VALUES_MAX_DEPTH


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


# -- reading a state document in one pass, knowing where each resource's text is --------------------
_WS = re.compile(r"[ \t\n\r]*")
Spans = dict[int, list[tuple[int, int]]]   # id(resources list) -> (start, end) of each element's text


class _Unusual(Exception):
    """The document is not shaped as the one-pass reader expects: read it with :func:`parse_json`."""


class _Reader:
    """One pass over a state document's text with the C JSON scanner (strict as :func:`parse_json`).

    The envelope (``{"version", "checkpoint": {"latest": {...}}}``, ``{"version", "deployment": {...}}`` or
    the unversioned ``{"latest": ...}``) is walked here; every other value is scanned whole, except that
    each element of the deployment's ``resources`` array is scanned on its own, so that its text span is
    known. Values outside the resources are checked for depth now; a resource's values are checked when
    they are decoded (:func:`rollback.state.values.decode`), so unchanged resources are never walked.
    """

    _DESCEND = {0: {"checkpoint": 1, "deployment": 2, "latest": 2}, 1: {"latest": 2}}

    def __init__(self, text: str) -> None:
        self.text = text
        self.scan = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_float).scan_once
        self.ws = _WS.match
        self.spans: Spans = {}

    def document(self) -> Any:
        text = self.text
        i = self.ws(text, 0).end()
        if text[i:i + 1] == "{":
            value, i = self._object(i, kind=0, level=1)
        else:
            value, i = self.scan(text, i)
        if self.ws(text, i).end() != len(text):
            raise _Unusual("extra data")
        return value

    def _scanned(self, i: int, level: int) -> tuple[Any, int]:
        value, end = self.scan(self.text, i)
        if value.__class__ in (dict, list) and _depth(value, MAX_DEPTH - level) > MAX_DEPTH - level:
            raise _Unusual("too deep")   # parse_json says so, naming the file
        return value, end

    def _object(self, i: int, *, kind: int, level: int) -> tuple[dict[str, Any], int]:
        """The object at ``text[i] == '{'``; ``kind`` 0 top, 1 checkpoint, 2 deployment."""
        text, ws, scan = self.text, self.ws, self.scan
        out: dict[str, Any] = {}
        i = ws(text, i + 1).end()
        if text[i] == "}":
            return out, i + 1
        descend = self._DESCEND.get(kind, {})
        while True:
            if text[i] != '"':
                raise _Unusual("key")
            key, i = scan(text, i)
            i = ws(text, i).end()
            if text[i] != ":":
                raise _Unusual("colon")
            i = ws(text, i + 1).end()
            lower = key.lower()
            inner = descend.get(lower)
            if inner is not None and text[i] == "{":
                out[key], i = self._object(i, kind=inner, level=level + 1)
            elif kind == 2 and lower == "resources" and text[i] == "[":
                out[key], i = self._resources(i, level=level + 1)
            else:
                out[key], i = self._scanned(i, level)
            i = ws(text, i).end()
            c = text[i]
            if c == ",":
                i = ws(text, i + 1).end()
            elif c == "}":
                return out, i + 1
            else:
                raise _Unusual("separator")

    def _resources(self, i: int, *, level: int) -> tuple[list[Any], int]:
        text, ws, scan = self.text, self.ws, self.scan
        out: list[Any] = []
        spans: list[tuple[int, int]] = []
        i = ws(text, i + 1).end()
        if text[i] != "]":
            while True:
                start = i
                value, i = scan(text, i)
                out.append(value)
                spans.append((start, i))
                i = ws(text, i).end()
                c = text[i]
                if c == ",":
                    i = ws(text, i + 1).end()
                elif c == "]":
                    break
                else:
                    raise _Unusual("separator")
        self.spans[id(out)] = spans
        return out, i + 1


def read_document(raw: bytes, *, source: str) -> tuple[Any, str | None, Spans]:
    """(document, its text, the resources' spans) of a decompressed state file: one pass, as strict as
    :func:`parse_json`, which reads (and names what is wrong with) anything the one-pass reader does not."""
    try:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        reader = _Reader(text)
        try:
            return reader.document(), text, reader.spans
        except (_Unusual, StopIteration, IndexError, ValueError, RecursionError):
            pass
    return parse_json(raw, source=source), None, {}


def _member_span(text: str, name: str) -> tuple[int, int] | None:
    """Where the value of the deployment's member ``name`` is in a state document's text, walking only the
    envelope before it; None when the document is not shaped so that it comes before the resources."""
    reader = _Reader(text)
    scan, ws = reader.scan, reader.ws
    try:
        i = ws(text, 0).end()
        kind = 0
        while True:
            if text[i] != "{":
                return None
            i = ws(text, i + 1).end()
            descend = _Reader._DESCEND.get(kind, {})
            while True:
                if text[i] != '"':
                    return None
                key, i = scan(text, i)
                i = ws(text, i).end()
                if text[i] != ":":
                    return None
                i = ws(text, i + 1).end()
                lower = key.lower()
                if kind == 2 and lower in (name, "resources"):
                    return (i, scan(text, i)[1]) if lower == name else None
                if lower in descend:
                    kind = descend[lower]
                    break
                _value, i = scan(text, i)
                i = ws(text, i).end()
                if text[i] != ",":
                    return None
                i = ws(text, i + 1).end()
    except (StopIteration, IndexError, ValueError, RecursionError):
        return None


def head_secrets_provider(raw: bytes) -> dict[str, Any] | None:
    """The deployment's ``secrets_providers``, read from the first bytes of a state file (Pulumi writes it
    before the resources), or None: so that a key can be derived while the rest is read."""
    head = raw[:1 << 16].decode("utf-8", "ignore")
    span = _member_span(head, "secrets_providers")
    if span is None:
        return None
    try:
        value = json.loads(head[span[0]:span[1]])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def same_but_manifest(a: bytes, b: bytes) -> bool:
    """Whether two decompressed state files are byte for byte the same except for the deployment's
    ``manifest`` (the time, the CLI version): what a ``pulumi up`` that changed nothing leaves behind.
    False when that cannot be told cheaply (the caller compares what the files hold instead)."""
    if a == b:
        return True
    spans = []
    for data in (a, b):
        head = data[:1 << 16].decode("utf-8", "ignore")
        span = _member_span(head, "manifest")
        if span is None or not head[:span[1]].isascii():
            return False   # offsets in the text are offsets in the bytes only for ASCII
        spans.append(span)
    (sa, ea), (sb, eb) = spans
    # compared in place (a memoryview as the prefix): no copies of two big files
    return (sa == sb and a.startswith(memoryview(b)[:sb]) and len(a) - ea == len(b) - eb
            and a.startswith(memoryview(b)[eb:], ea))


# -- pending operations, from the end of a state file ----------------------------------------------
def _closers_to_end(text: str, i: int, ws: Any) -> int:
    """How many ``}`` (and nothing else but whitespace) follow ``text[i:]`` to its end; -1 otherwise."""
    n = 0
    i = ws(text, i).end()
    while i < len(text):
        if text[i] != "}":
            return -1
        n += 1
        i = ws(text, i + 1).end()
    return n


def _before(text: str, i: int) -> int:
    """The index of the last character before ``i`` that is not JSON whitespace (-1: none)."""
    i -= 1
    while i >= 0 and text[i] in " \t\r\n":
        i -= 1
    return i


def _member(text: str, key: str, before: int, scan: Any, ws: Any) -> tuple[int, Any, int] | None:
    """The last ``"key": value`` member starting before ``before`` that follows a comma: (start of the key,
    value, end of the value)."""
    needle = json.dumps(key)
    at = text.rfind(needle, 0, before)
    while at > 0:
        prev = _before(text, at)
        if prev >= 0 and text[prev] == ",":
            try:
                i = ws(text, at + len(needle)).end()
                if text[i] == ":":
                    value, end = scan(text, ws(text, i + 1).end())
                    return at, value, end
            except (StopIteration, IndexError, ValueError, RecursionError):
                pass
        at = text.rfind(needle, 0, at)
    return None


def _element_start(text: str, end: int) -> int | None:
    """Where the JSON object ending at ``text[end] == '}'`` starts, walking back over strings."""
    depth = 0
    i = end
    while i >= 0:
        c = text[i]
        if c == '"':
            j = i
            while True:
                j = text.rfind('"', 0, j)
                if j < 0:
                    return None
                k = j
                while k > 0 and text[k - 1] == "\\":
                    k -= 1
                if (j - k) % 2 == 0:
                    break
            i = j - 1
            continue
        if c in "}]":
            depth += 1
        elif c in "{[":
            depth -= 1
            if depth == 0:
                return i
        i -= 1
    return None


def pending_operations_at_end(data: bytes, *, whole: bool) -> int | None:
    """How many pending operations a state file records, read from its last bytes ``data`` (``whole``: the
    file entire), without parsing its resources.

    Pulumi writes a deployment's members in the order manifest, secrets_providers, resources,
    pending_operations (only when there are some), metadata (always), and the deployment last in its
    envelope: so the file ends with ``... ], "metadata": {...} } } }``, and the array before ``metadata`` is
    the pending operations if its key is there, else the resources (its last element has a ``urn``). None
    when the end of the file is not laid out so, or does not reach far enough back to tell: the caller
    reads the state instead."""
    text = data.decode("utf-8", "ignore")
    scan = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_float).scan_once
    ws = _WS.match
    meta = _member(text, "metadata", len(text), scan, ws)
    if meta is None or _closers_to_end(text, meta[2], ws) not in (2, 3):
        return None
    comma = _before(text, meta[0])
    close = _before(text, comma)
    if close < 0 or text[close] != "]":
        return None
    pending = _member(text, "pending_operations", comma, scan, ws)
    if pending is not None and pending[2] == close + 1:
        value = pending[1]
        return len(value) if isinstance(value, list) else 0 if value is None else None
    if whole:
        return 0 if '"pending_operations"' not in text else None
    last = _before(text, close)
    if last >= 0 and text[last] == "[":   # an empty array: named just before it
        colon = _before(text, last)
        name = _before(text, colon) + 1
        return 0 if colon >= 0 and text[colon] == ":" and (
            text.endswith('"resources"', 0, name) or text.endswith('"pending_operations"', 0, name)) else None
    if last < 0 or text[last] != "}":
        return None
    start = _element_start(text, last)
    if start is None:
        return None
    try:
        element, end = scan(text, start)
    except (StopIteration, IndexError, ValueError, RecursionError):
        return None
    if end != last + 1 or not isinstance(element, dict):
        return None
    return 0 if "urn" in element and "resource" not in element else None


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
    spans: Spans = {}
    text: str | None = None
    if isinstance(data, dict):
        doc = data
    else:
        raw = decompress(data.encode() if isinstance(data, str) else data, source=source)
        if not raw or raw.isspace():
            raise StateError(f"{source}: empty state file")
        doc, text, spans = read_document(raw, source=source)
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
    where = spans.get(id(raw_resources)) if text is not None else None
    if version < MIN_VERSION:
        raw_resources = [_migrate_resource(r) if isinstance(r, dict) else r for r in raw_resources]
    if where is not None and len(where) == len(raw_resources):
        resources = tuple(parse_resource(r, source=source, index=i, text=(text, *where[i]))  # type: ignore[arg-type]
                          for i, r in enumerate(raw_resources))
    else:
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
    if _RESOURCE_KEYS.issuperset(obj):
        return obj
    canonical = {k.lower(): k for k in _RESOURCE_KEYS}
    return {canonical.get(k.lower(), k): v for k, v in obj.items()}


def parse_resource(obj: Any, *, source: str, index: int, text: tuple[str, int, int] | None = None) -> Resource:
    """One resource of a state file, checked as Go's decoder would check its fields (the rest is derived
    from the JSON when first used: see :meth:`Resource.from_state`)."""
    if not isinstance(obj, dict):
        raise StateError(f"{source}: resource #{index} is not an object")
    r = _normalise_keys(obj)
    urn = r.get("urn")
    if not isinstance(urn, str) or not urn:
        raise StateError(f"{source}: resource #{index} has no URN")
    for key in _OBJECT_KEYS:
        value = r.get(key)
        if value is not None and not isinstance(value, dict):
            raise StateError(f"{source}: resource {urn}: '{key}' is not an object")
    for key in _STRING_KEYS:
        value = r.get(key)
        if value is not None and not isinstance(value, str):
            raise StateError(f"{source}: resource {urn}: '{key}' is not a string")
    return Resource.from_state(r, source=source, text=text)


def read_update_info(data: bytes, *, source: str) -> dict[str, Any]:
    """A history ``.history.json`` (Pulumi's UpdateInfo) as a dict."""
    doc = load_json(data, source=source)
    if not isinstance(doc, dict):
        raise StateError(f"{source}: not a Pulumi history entry")
    return doc
