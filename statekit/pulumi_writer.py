"""Write Pulumi DIY backends byte for byte in the CLI's on-disk formats (shared by the tests, scripts and benchmarks).

Facts followed here (see ``/work/shared/docs/pulumi-state.md`` section 5, and Pulumi's
``pkg/backend/diy/state.go``, ``backend.go``, ``lock.go``, ``meta.go`` at the v3.259 era):

- ``.pulumi/meta.yaml`` is ``version: 1`` for the project-scoped layout; the legacy layout has none.
- Since the CLI minified DIY state (pulumi#22245, 2026), stack files, history entries and checkpoints
  are compact JSON without a trailing newline, no HTML escaping, map keys sorted (Go maps), struct
  fields in declaration order. ``indent=4`` reproduces the older pretty-printed files instead.
- An operation (``apply`` in the CLI) persists the stack file (copying the previous one to
  ``<stack file>.bak``), then writes ``history/.../<stack>-<unixnano>.history.json`` (an UpdateInfo)
  plus ``...checkpoint.json`` (a byte copy of the stack file *after* the operation), then
  ``backups/.../<stack>.<unixnano>.json`` (another copy of the stack file after the operation, with
  its own, slightly later, ``time.Now().UnixNano()``).
- Compression (``gzip`` / ``zstd``) applies to all of those files; names gain ``.gz`` / ``.zst``.

Everything is deterministic: random-looking values (sub-second times, lock ids, nonces, salts) come
from seeded :class:`random.Random` objects, so regenerating gives byte-identical files.

Typical use::

    backend = DiyBackend(tmp_path)
    secrets = SecretEncrypter.create("pass", rng=random.Random(1))
    dep = deployment(time=nanos, secrets_providers=secrets.secrets_providers(), resources=[...])
    secrets.seal(dep, previous=None)          # turns secret(...) placeholders into ciphertexts
    backend.record_operation("proj", "dev", dep, start_time=t0, end_time=t1)
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from rollback.state.secrets import PassphraseCrypter
from rollback.state.values import SECRET_SIG, SIG

__all__ = [
    "PULUMI_VERSION", "Layout", "Compression", "DiyBackend", "DiyWriter", "SecretEncrypter", "PendingSecret", "secret",
    "secret_value", "encrypt_config_value", "manifest", "deployment", "resource", "make_urn",
    "provider_ref", "stable_uuid", "unix_nanos", "go_time", "go_json", "resource_changes",
    "comparable", "b64",
]

PULUMI_VERSION = "v3.259.0"
ORGANIZATION = "organization"  # DIY backends always say "organization"

Layout = Literal["project", "legacy"]
Compression = Literal["gzip", "zstd"] | None

_EXT = {None: "", "gzip": ".gz", "zstd": ".zst"}


# ----------------------------------------------------------------------------------------------
# Time and JSON exactly as Go writes them
# ----------------------------------------------------------------------------------------------

def unix_nanos(value: datetime | int | float) -> int:
    """Nanoseconds since the epoch; ints are taken as nanoseconds already, floats as seconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    if isinstance(value, float):
        return round(value * 1_000_000_000)
    return int(value)


def _unix_seconds(value: datetime | int | float) -> int:
    if isinstance(value, datetime):
        return unix_nanos(value) // 1_000_000_000
    return int(value)


def go_time(nanos: int) -> str:
    """A UTC instant as Go's ``time.Time`` marshals it (RFC 3339, trailing zeros of the fraction dropped)."""
    seconds, frac = divmod(nanos, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def go_json(value: Any, *, indent: int | None = None, escape_html: bool = False) -> bytes:
    """JSON text as Go's encoder writes it for the value (dict order is kept: sort maps beforehand).

    Compact by default (the DIY marshaler); ``indent`` gives ``json.MarshalIndent`` output plus the
    newline older CLIs appended. ``escape_html`` mimics ``json.Marshal`` (used inside secrets and locks).
    """
    try:
        if indent is None:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        else:
            text = json.dumps(value, ensure_ascii=False, indent=indent, allow_nan=False) + "\n"
    except TypeError as exc:
        raise TypeError(f"cannot write this value as JSON (an unsealed secret?): {exc}") from exc
    if "\u2028" in text or "\u2029" in text:
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if escape_html:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode()


def _go_value(value: Any) -> Any:
    """A property value as Go holds it: maps with sorted keys, integral floats as integers."""
    if isinstance(value, dict):
        return {k: _go_value(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_go_value(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def stable_uuid(*parts: str) -> str:
    """A UUID-shaped id derived from ``parts`` (stable across releases of the same object)."""
    digest = bytearray(hashlib.sha256("\x00".join(parts).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x40
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


def _random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# ----------------------------------------------------------------------------------------------
# Secrets
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PendingSecret:
    """A secret value not encrypted yet: :meth:`SecretEncrypter.seal` replaces it in a deployment."""

    value: Any

    def __repr__(self) -> str:
        return "[secret]"


def secret(value: Any) -> PendingSecret:
    return PendingSecret(value)


def _plaintext(value: Any) -> str:
    """A secret's plaintext: the JSON text of the value (Go's ``json.Marshal``: sorted, compact)."""
    return go_json(_go_value(value), escape_html=True).decode()


def secret_value(crypter: PassphraseCrypter, value: Any, *, nonce: bytes) -> dict[str, str]:
    """The stored form of a secret: marker plus ``v1:`` ciphertext of the value's JSON text."""
    return {SIG: SECRET_SIG, "ciphertext": crypter.encrypt(_plaintext(value), nonce=nonce)}


def encrypt_config_value(crypter: PassphraseCrypter, plaintext: str, nonce: bytes) -> dict[str, str]:
    """A stack config secret as UpdateInfo's ``config`` (and Pulumi.<stack>.yaml) stores it."""
    return {"secure": crypter.encrypt(plaintext, nonce=nonce)}


class SecretEncrypter:
    """The passphrase secrets provider of one stack: one salt, nonces from a seeded ``rng``.

    :meth:`seal` encrypts the :class:`PendingSecret` placeholders of a deployment the way the CLI's
    caching secrets manager behaves: a secret at the same place (resource, inputs/outputs, path) with the
    same plaintext as in the ``previous`` deployment keeps its ciphertext; anything new or changed, and
    (for a refresh) everything in ``outputs``, gets a fresh nonce.
    """

    def __init__(self, crypter: PassphraseCrypter, salt_state: str, *, rng: random.Random) -> None:
        self.crypter = crypter
        self.salt_state = salt_state
        self.rng = rng
        self._config: dict[str, str] = {}

    @classmethod
    def create(cls, passphrase: str, *, rng: random.Random) -> SecretEncrypter:
        """A new provider state (8-byte salt as the CLI makes); costs one PBKDF2 derivation."""
        crypter, salt_state = PassphraseCrypter.create(passphrase, salt=rng.randbytes(8),
                                                       nonce=rng.randbytes(12))
        return cls(crypter, salt_state, rng=rng)

    @classmethod
    def resume(cls, passphrase: str, salt_state: str, *, rng: random.Random) -> SecretEncrypter:
        """Continue an existing stack's provider (the salt from its ``secrets_providers``)."""
        return cls(PassphraseCrypter.from_salt(salt_state, passphrase, source="salt"), salt_state, rng=rng)

    def secrets_providers(self) -> dict[str, Any]:
        return {"type": "passphrase", "state": {"salt": self.salt_state}}

    def nonce(self) -> bytes:
        return self.rng.randbytes(12)

    def encrypt(self, value: Any) -> dict[str, str]:
        """A freshly encrypted secret value (new nonce)."""
        return secret_value(self.crypter, value, nonce=self.nonce())

    def reveal(self, ciphertext: str) -> str:
        return self.crypter.decrypt(ciphertext)

    def config_secret(self, plaintext: str) -> dict[str, str]:
        """``{"secure": ...}`` for a config value; unchanged plaintext keeps its ciphertext (as the
        stack's Pulumi.<stack>.yaml does until ``pulumi config set --secret`` changes it)."""
        cached = self._config.get(plaintext)
        if cached is None:
            cached = encrypt_config_value(self.crypter, plaintext, self.nonce())["secure"]
            self._config[plaintext] = cached
        return {"secure": cached}

    def seal(self, deployment: dict[str, Any], *, previous: Mapping[str, Any] | None = None,
             reencrypt: Sequence[str] = ()) -> dict[str, Any]:
        """Replace every :class:`PendingSecret` in ``deployment['resources']`` in place (and return it).

        ``reencrypt`` names resource sections (``"outputs"`` for a refresh) whose secrets always get new
        nonces even when unchanged.
        """
        old = {r.get("urn"): r for r in (previous or {}).get("resources") or [] if not r.get("delete")}
        for res in deployment.get("resources") or []:
            before = old.get(res.get("urn")) or {}
            for section in ("inputs", "outputs"):
                if section in res:
                    keep = None if section in reencrypt else before.get(section)
                    res[section] = self._seal(res[section], keep)
        return deployment

    def _seal(self, value: Any, before: Any) -> Any:
        if isinstance(value, PendingSecret):
            text = _plaintext(value.value)
            if isinstance(before, dict) and before.get(SIG) == SECRET_SIG and before.get("ciphertext"):
                try:
                    if self.reveal(before["ciphertext"]) == text:
                        return {SIG: SECRET_SIG, "ciphertext": before["ciphertext"]}
                except Exception:  # another key: encrypt afresh
                    pass
            return {SIG: SECRET_SIG, "ciphertext": self.crypter.encrypt(text, nonce=self.nonce())}
        if isinstance(value, dict):
            prev = before if isinstance(before, dict) and before.get(SIG) is None else {}
            return {k: self._seal(v, prev.get(k)) for k, v in value.items()}
        if isinstance(value, list):
            prev_list = before if isinstance(before, list) else []
            return [self._seal(v, prev_list[i] if i < len(prev_list) else None) for i, v in enumerate(value)]
        return value


# ----------------------------------------------------------------------------------------------
# Deployment builders (Go struct field order)
# ----------------------------------------------------------------------------------------------

def make_urn(stack: str, project: str, type_: str, name: str, *, parent: str | None = None) -> str:
    """``urn:pulumi:<stack>::<project>::<qualified type>::<name>``; children of the root stack (or of
    nothing) get no parent prefix, others ``<parent's qualified type>$<type>``."""
    qualified = type_
    if parent:
        parent_type = parent[len("urn:pulumi:"):].split("::", 3)[2]
        if parent_type != "pulumi:pulumi:Stack":
            qualified = f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def provider_ref(provider: Mapping[str, Any]) -> str:
    """``<provider urn>::<provider id>`` for a provider resource dict."""
    return f"{provider['urn']}::{provider['id']}"


_RESOURCE_ORDER = (
    "urn", "custom", "delete", "id", "type", "inputs", "outputs", "parent", "protect", "taint",
    "external", "dependencies", "initErrors", "provider", "propertyDependencies", "pendingReplacement",
    "additionalSecretOutputs", "aliases", "customTimeouts", "importID", "retainOnDelete", "deletedWith",
    "replaceWith", "created", "modified", "sourcePosition", "stackTrace", "ignoreChanges",
    "replaceOnChanges", "refreshBeforeUpdate", "viewOf", "resourceHooks", "hideDiff",
)
_MAP_FIELDS = frozenset({"inputs", "outputs", "propertyDependencies", "customTimeouts"})


def resource(*, urn: str, type: str, custom: bool, id: str | None = None,  # noqa: A002 - state field names
             inputs: Mapping[str, Any] | None = None, outputs: Mapping[str, Any] | None = None,
             parent: str | None = None, provider: str | None = None,
             dependencies: Sequence[str] | None = None,
             property_dependencies: Mapping[str, Sequence[str]] | None = None,
             created: int | str | None = None, modified: int | str | None = None,
             **extra: Any) -> dict[str, Any]:
    """One ResourceV3 as the CLI writes it: field order of the Go struct, empty fields omitted, maps
    (inputs, outputs, property dependencies) with sorted keys. ``created``/``modified`` are nanoseconds
    (or ready strings). ``extra`` takes any other state field by its JSON name (``protect=True``,
    ``additionalSecretOutputs=[...]``, ``delete=True`` ...)."""
    fields: dict[str, Any] = {
        "urn": urn, "custom": custom, "id": id, "type": type, "inputs": inputs, "outputs": outputs,
        "parent": parent, "dependencies": list(dependencies) if dependencies else None,
        "provider": provider,
        "propertyDependencies": {k: list(v) for k, v in property_dependencies.items()}
        if property_dependencies else None,
        "created": go_time(created) if isinstance(created, int) else created,
        "modified": go_time(modified) if isinstance(modified, int) else modified,
    }
    fields.update(extra)
    unknown = [k for k in fields if k not in _RESOURCE_ORDER]
    out: dict[str, Any] = {}
    for key in (*_RESOURCE_ORDER, *unknown):
        value = fields.get(key)
        if key == "custom":
            out[key] = bool(value)
        elif key in ("urn", "type"):
            out[key] = value
        elif value is None or value is False or value == "" or (isinstance(value, (list, dict)) and not value):
            continue  # Go's omitempty
        else:
            out[key] = _go_value(value) if key in _MAP_FIELDS else value
    return out


def manifest(*, time: int, version: str = PULUMI_VERSION,
             plugins: Sequence[Mapping[str, str]] | None = None) -> dict[str, Any]:
    """``{time, magic, version}``; ``magic`` is sha256 of the version as the CLI computes it. Current CLIs
    no longer write ``plugins`` (pass them only to imitate old checkpoints: ``{name, path, type, version}``)."""
    out: dict[str, Any] = {"time": go_time(time), "magic": hashlib.sha256(version.encode()).hexdigest(),
                           "version": version}
    if plugins:
        out["plugins"] = [{"name": p["name"], "path": p.get("path", ""), "type": p.get("type", "resource"),
                           "version": p["version"]} for p in plugins]
    return out


def deployment(*, time: int, resources: Sequence[dict[str, Any]],
               secrets_providers: Mapping[str, Any] | None = None,
               pending_operations: Sequence[Mapping[str, Any]] | None = None,
               version: str = PULUMI_VERSION,
               plugins: Sequence[Mapping[str, str]] | None = None) -> dict[str, Any]:
    """A DeploymentV3: manifest, secrets_providers, resources, pending_operations, metadata."""
    out: dict[str, Any] = {"manifest": manifest(time=time, version=version, plugins=plugins)}
    if secrets_providers:
        out["secrets_providers"] = dict(secrets_providers)
    if resources:
        out["resources"] = list(resources)
    if pending_operations:
        out["pending_operations"] = [{"resource": p["resource"], "type": p["type"]} for p in pending_operations]
    out["metadata"] = {}
    return out


# ----------------------------------------------------------------------------------------------
# Comparing checkpoints (for resourceChanges and created/modified bookkeeping)
# ----------------------------------------------------------------------------------------------

def comparable(value: Any, reveal: Callable[[str], str] | None = None) -> Any:
    """A value in which secrets compare by plaintext (placeholders and ciphertexts alike)."""
    if isinstance(value, PendingSecret):
        return ("secret", _plaintext(value.value))
    if isinstance(value, dict):
        if value.get(SIG) == SECRET_SIG:
            if "plaintext" in value:
                return ("secret", value["plaintext"])
            ct = value.get("ciphertext", "")
            return ("secret", reveal(ct) if reveal else ct)
        return {k: comparable(v, reveal) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(v, reveal) for v in value]
    return _go_value(value)


def _is_default_provider(res: Mapping[str, Any]) -> bool:
    return str(res.get("type", "")).startswith("pulumi:providers:") and \
        str(res.get("urn", "")).rsplit("::", 1)[-1].startswith("default")


def resource_changes(previous: Mapping[str, Any] | None, current: Mapping[str, Any], *,
                     reveal: Callable[[str], str] | None = None,
                     replace_keys: Mapping[str, Sequence[str]] | None = None,
                     refresh: bool = False) -> dict[str, int]:
    """UpdateInfo ``resourceChanges`` for going from ``previous`` to ``current`` (op -> count).

    Custom resources whose inputs differ count as ``update``, or ``replace`` when a key listed for their
    type in ``replace_keys`` differs; the root stack and components count as ``same``; default providers
    are not counted (the CLI hides them). A refresh counts everything as ``same``.
    """
    old = {r["urn"]: r for r in (previous or {}).get("resources") or [] if not r.get("delete")}
    new = [r for r in current.get("resources") or [] if not r.get("delete")]
    counts: dict[str, int] = {}
    for res in new:
        if _is_default_provider(res):
            continue
        before = old.pop(res["urn"], None)
        if refresh:
            op = "same"
        elif before is None:
            op = "create"
        elif not res.get("custom"):
            op = "same"
        else:
            a = comparable(before.get("inputs") or {}, reveal)
            b = comparable(res.get("inputs") or {}, reveal)
            if a == b:
                op = "same"
            elif any(a.get(k) != b.get(k) for k in (replace_keys or {}).get(res["type"], ())):
                op = "replace"
            else:
                op = "update"
        counts[op] = counts.get(op, 0) + 1
    if not refresh:
        gone = sum(1 for r in old.values() if not _is_default_provider(r))
        if gone:
            counts["delete"] = gone
    return {k: counts[k] for k in sorted(counts)}


# ----------------------------------------------------------------------------------------------
# The backend on disk
# ----------------------------------------------------------------------------------------------

class DiyBackend:
    """A DIY backend rooted at ``root`` (files go under ``root/.pulumi``), written as the CLI writes it.

    ``compress`` is the CLI's ``PULUMI_DIY_BACKEND_GZIP`` / ``..._ZSTD`` setting; ``indent=None`` is the
    current (minified) CLI, ``indent=4`` older CLIs; ``backups=False`` is
    ``PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS`` (no ``backups/`` copies; handy for big benchmarks);
    ``seed`` drives sub-second times and lock ids.
    """

    def __init__(self, root: Path | str, *, layout: Layout = "project", compress: Compression = None,
                 indent: int | None = None, backups: bool = True, seed: int | str = 0) -> None:
        if layout not in ("project", "legacy"):
            raise ValueError(f"unknown layout {layout!r}")
        if compress not in _EXT:
            raise ValueError(f"unknown compression {compress!r}")
        self.root = Path(root)
        self.layout = layout
        self.compress = compress
        self.indent = indent
        self.backups = backups
        self.rng = random.Random(seed)
        self.dir = self.root / ".pulumi"
        self.dir.mkdir(parents=True, exist_ok=True)
        if layout == "project":
            meta = self.dir / "meta.yaml"
            if not meta.exists():
                meta.write_bytes(b"version: 1\n")

    # -- paths -------------------------------------------------------------------------------
    def _scope(self, project: str, stack: str) -> Path:
        return Path(project, stack) if self.layout == "project" else Path(stack)

    def qualified_name(self, project: str, stack: str) -> str:
        return f"{ORGANIZATION}/{project}/{stack}" if self.layout == "project" else stack

    def stack_base(self, project: str, stack: str) -> Path:
        """The stack file without extension: ``.pulumi/stacks/<project>/<stack>``."""
        return self.dir / "stacks" / self._scope(project, stack)

    def stack_path(self, project: str, stack: str) -> Path:
        """Where this backend writes the stack file (``.json`` plus the compression extension)."""
        return self.stack_base(project, stack).with_name(f"{stack}.json{_EXT[self.compress]}")

    def existing_stack_path(self, project: str, stack: str) -> Path | None:
        """The stack file variant present on disk (the newest, as the CLI picks), if any."""
        base = self.stack_base(project, stack)
        found = [p for p in (base.with_name(f"{stack}.json{e}") for e in ("", ".gz", ".zst")) if p.exists()]
        return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None

    def history_dir(self, project: str, stack: str) -> Path:
        return self.dir / "history" / self._scope(project, stack)

    def backup_dir(self, project: str, stack: str) -> Path:
        return self.dir / "backups" / self._scope(project, stack)

    def lock_dir(self, project: str, stack: str) -> Path:
        if self.layout == "project":
            return self.dir / "locks" / ORGANIZATION / project / stack
        return self.dir / "locks" / stack

    def history_paths(self, project: str, stack: str, unixnano: int) -> tuple[Path, Path]:
        """(``...history.json``, ``...checkpoint.json``) of one history entry (with compression ext)."""
        ext = "json" + _EXT[self.compress]
        d = self.history_dir(project, stack)
        return d / f"{stack}-{unixnano}.history.{ext}", d / f"{stack}-{unixnano}.checkpoint.{ext}"

    # -- encoding ------------------------------------------------------------------------------
    def encode(self, doc: Any) -> bytes:
        """A document as the CLI's DIY marshaler writes it (JSON, then the configured compression)."""
        return _compress(go_json(doc, indent=self.indent), self.compress)

    def envelope(self, project: str, stack: str, deployment: Mapping[str, Any] | None, *,
                 version: int = 3, features: Sequence[str] | None = None) -> dict[str, Any]:
        """The on-disk envelope ``{"version", "features"?, "checkpoint": {"stack", "latest"?}}``."""
        checkpoint: dict[str, Any] = {"stack": self.qualified_name(project, stack)}
        if deployment is not None:
            checkpoint["latest"] = deployment
        out: dict[str, Any] = {"version": version}
        if features:
            out["features"] = sorted(features)
        out["checkpoint"] = checkpoint
        return out

    # -- writers -------------------------------------------------------------------------------
    def write_stack(self, project: str, stack: str, deployment: Mapping[str, Any] | None, *,
                    version: int = 3, features: Sequence[str] | None = None) -> Path:
        """Persist the stack file as ``saveCheckpoint`` does (``pulumi stack import`` does only this).

        The file being overwritten is first copied to ``<file>.bak``; a variant with another compression is
        moved to ``<variant>.bak``. ``deployment=None`` writes a stack that was never deployed.
        """
        data = self.encode(self.envelope(project, stack, deployment, version=version, features=features))
        target = self.stack_path(project, stack)
        target.parent.mkdir(parents=True, exist_ok=True)
        existing = self.existing_stack_path(project, stack)
        if target.exists():
            target.with_name(target.name + ".bak").write_bytes(target.read_bytes())
        if existing is not None and existing != target:
            existing.with_name(existing.name + ".bak").write_bytes(existing.read_bytes())
            existing.unlink()
        target.write_bytes(data)
        return target

    def record_operation(self, project: str, stack: str, deployment: Mapping[str, Any] | None, *,
                         kind: str = "update", result: str = "succeeded", message: str = "",
                         start_time: datetime | int, end_time: datetime | int,
                         environment: Mapping[str, str] | None = None,
                         config: Mapping[str, Any] | None = None,
                         resource_changes: Mapping[str, int] | None = None,
                         unixnano: int | None = None, version: int = 3,
                         features: Sequence[str] | None = None) -> int:
        """One non-preview operation (update, refresh, destroy, import) exactly as the CLI records it:
        stack file (+ ``.bak``), ``<stack>-<unixnano>.history.json`` + ``.checkpoint.json``, and a copy in
        ``backups/``. Times are unix seconds (or datetimes); ``unixnano`` defaults to just after
        ``end_time``. Returns the unixnano of the history entry."""
        if kind == "preview":
            raise ValueError("previews write no history")
        start, end = _unix_seconds(start_time), _unix_seconds(end_time)
        if unixnano is None:
            unixnano = end * 1_000_000_000 + self.rng.randrange(5_000_000, 900_000_000)
        history_file, checkpoint_file = self.history_paths(project, stack, unixnano)
        if history_file.exists():
            raise FileExistsError(f"history entry {history_file} already exists")
        stack_file = self.write_stack(project, stack, deployment, version=version, features=features)
        stack_bytes = stack_file.read_bytes()
        env = dict(environment or {})
        info: dict[str, Any] = {
            "kind": kind,
            "startTime": start,
            "message": message,
            "environment": {k: str(env[k]) for k in sorted(env)},
            "config": _go_value(dict(config or {})),
            "version": 0,
            "result": result,
            "endTime": end,
        }
        if resource_changes:
            info["resourceChanges"] = {k: int(resource_changes[k]) for k in sorted(resource_changes)}
        history_file.parent.mkdir(parents=True, exist_ok=True)
        history_file.write_bytes(self.encode(info))
        checkpoint_file.write_bytes(stack_bytes)
        if self.backups:
            backup_nanos = unixnano + self.rng.randrange(300_000, 4_000_000)
            backup = self.backup_dir(project, stack) / f"{stack}.{backup_nanos}.json{_EXT[self.compress]}"
            backup.parent.mkdir(parents=True, exist_ok=True)
            backup.write_bytes(stack_bytes)
        return unixnano

    def write_lock(self, project: str, stack: str, *, pid: int, username: str, hostname: str,
                   timestamp: datetime | int, lock_id: str | None = None) -> Path:
        """A lock file ``<uuid>.json`` holding ``{"pid","username","hostname","timestamp"}`` (Go's
        ``json.Marshal``: compact, never compressed)."""
        lock_id = lock_id or _random_uuid(self.rng)
        path = self.lock_dir(project, stack) / f"{lock_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"pid": pid, "username": username, "hostname": hostname,
                "timestamp": go_time(unix_nanos(timestamp))}
        path.write_bytes(go_json(body, escape_html=True))
        return path

    def write_tags(self, project: str, stack: str, tags: Mapping[str, str]) -> Path:
        """``<stack>.pulumi-tags``: ``{"version": 1, "tags": {...}}`` indented by 4 (as ``saveStackTags``)."""
        path = self.stack_base(project, stack).with_name(f"{stack}.pulumi-tags")
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"version": 1, "tags": {k: tags[k] for k in sorted(tags)}}
        path.write_bytes(json.dumps(body, ensure_ascii=False, indent=4).encode())
        return path

    # -- readers (for test doubles that continue a stack) ----------------------------------------
    def read_stack(self, project: str, stack: str) -> dict[str, Any] | None:
        """The current on-disk envelope of a stack, or None when there is no stack file."""
        path = self.existing_stack_path(project, stack)
        return None if path is None else json.loads(_decompress(path.read_bytes()))

    def latest(self, project: str, stack: str) -> dict[str, Any] | None:
        """The current deployment (``checkpoint.latest``), or None."""
        doc = self.read_stack(project, stack)
        return None if doc is None else (doc.get("checkpoint") or {}).get("latest")

    def history_nanos(self, project: str, stack: str) -> list[int]:
        """The unixnanos of the history entries, oldest first."""
        d = self.history_dir(project, stack)
        if not d.is_dir():
            return []
        prefix = f"{stack}-"
        out = []
        for p in d.iterdir():
            name = p.name
            if name.startswith(prefix) and ".history.json" in name:
                stamp = name[len(prefix):].split(".", 1)[0]
                if stamp.isdigit():
                    out.append(int(stamp))
        return sorted(out)

    def files(self) -> Iterator[tuple[str, bytes]]:
        """Every file under the root as (slash-separated key, bytes), sorted: for uploading to a bucket."""
        for path in sorted(p for p in self.root.rglob("*") if p.is_file()):
            yield path.relative_to(self.root).as_posix(), path.read_bytes()


DiyWriter = DiyBackend  # an alias for modules that also import rollback.state.diy.DiyBackend


def _compress(data: bytes, compress: Compression) -> bytes:
    if compress == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if compress == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).compress(data)
    return data


def _decompress(data: bytes) -> bytes:
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def b64(text: str) -> str:
    """Base64 of a UTF-8 string (Kubernetes Secret ``data`` values)."""
    return base64.b64encode(text.encode()).decode()
