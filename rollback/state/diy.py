"""Pulumi's DIY backend layout (file://, s3://) over a :class:`~rollback.state.store.Store`.

See pulumi-state.md section 5. Implements :class:`~rollback.state.backend.Backend`. Nothing here writes
Pulumi's files; our own marks and records live beside ``.pulumi/`` under ``.infra-rollback/`` (see
:meth:`DiyBackend.side_store`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rollback.errors import BadInput, StackNotFound, StateError
from rollback.models import StackRef
from rollback.safetext import one_line
from rollback.state import names
from rollback.state.backend import RECORDS_DIR, FolderSideStore, HistoryEntry, Lock, Part
from rollback.state.codec import read_update_info
from rollback.state.listing import TAIL, TailEntries
from rollback.state.store import Entry, NotFoundInStore, Store

PULUMI_DIR = ".pulumi"
META_VERSIONS = {0: "legacy", 1: "project"}   # what Pulumi reads (pkg/backend/diy/backend.go)
_SUFFIXES = (".json", ".json.gz", ".json.zst")
_PLAIN_META = re.compile(rb"version:[ ]*([0-9]{1,9})[ ]*\n?")


def _strip_suffix(name: str) -> tuple[str, str] | None:
    for suffix in (".json.gz", ".json.zst", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)], suffix
    return None


# A lock file's fields as Pulumi's lockContent declares them (pkg/backend/diy/lock.go).
_LOCK_FIELDS: dict[str, tuple[type, ...]] = {"pid": (int,), "username": (str,), "hostname": (str,),
                                             "timestamp": (str,)}


@dataclass(frozen=True)
class DiyEntry(HistoryEntry):
    """A DIY history entry: ``id`` is its ``<unixnano>``; the keys of its two files."""

    info_key: str | None = None
    checkpoint_key: str | None = None
    checkpoint_etag: str | None = None   # the store's digest of the checkpoint's bytes, when listed (S3)
    info_etag: str | None = None         # the same for the update info

    @property
    def info_digest(self) -> str | None:
        return self.info_etag

    @property
    def checkpoint_digest(self) -> str | None:
        return self.checkpoint_etag

    @property
    def written_at(self) -> float:
        """The ``<unixnano>`` in the file names: when the CLI added the entry, at the end of its update."""
        return self.id / 1e9


class DiyBackend:
    """A DIY backend: stacks, history and locks under ``.pulumi/``."""

    concurrent_reads = True   # local files, and boto3's clients, are safe to read from several threads

    def __init__(self, store: Store) -> None:
        self.store = store
        self._layout: str | None = None
        self._stack_files: dict[StackRef, Entry] = {}
        self._folders: dict[str, list[Entry]] = {}

    @property
    def url(self) -> str:
        return self.store.url

    @property
    def cheap_checkpoints(self) -> bool:
        return True

    # -- layout -------------------------------------------------------------------------------
    @property
    def layout(self) -> str:
        """``project`` (meta.yaml version 1) or ``legacy`` (version 0, or no meta.yaml)."""
        if self._layout is None:
            key = f"{PULUMI_DIR}/meta.yaml"
            try:
                raw = self.store.read(key)
            except NotFoundInStore:
                self._layout = "legacy"
            else:
                self._layout = META_VERSIONS[self._meta_version(raw, self._where(key))]
        return self._layout

    @staticmethod
    def _meta_version(raw: bytes, where: str) -> int:
        """meta.yaml's ``version``, refused where Pulumi refuses it ("corrupt store", "unsupported")."""
        plain = _PLAIN_META.fullmatch(raw)   # what Pulumi writes ("version: 1"): no YAML parser needed
        version = int(plain.group(1)) if plain is not None else DiyBackend._yaml_version(raw, where)
        if version not in META_VERSIONS:
            raise StateError(f"{where}: meta.yaml version {version} is not supported (Pulumi reads versions 0 and 1; "
                             f"a newer Pulumi CLI wrote this backend?)")
        return version

    @staticmethod
    def _yaml_version(raw: bytes, where: str) -> int:
        import yaml

        try:
            doc = yaml.safe_load(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise StateError(f"{where}: corrupt store: not UTF-8 text") from exc
        except (yaml.YAMLError, ValueError) as exc:   # ValueError: an integer beyond Python's digit limit
            raise StateError(f"{where}: corrupt store: not valid YAML ({exc.__class__.__name__})") from exc
        version = doc.get("version") if isinstance(doc, dict) else None
        if version is None:
            raise StateError(f"{where}: corrupt store: no 'version'")
        if not isinstance(version, int) or isinstance(version, bool):
            raise StateError(f"{where}: corrupt store: 'version' is not a whole number")
        return version

    def check_exists(self) -> None:
        if self.layout == "project":
            return   # meta.yaml was read: .pulumi/ is there
        if not self.store.exists(PULUMI_DIR):
            raise BadInput(f"backend {self.url}: no Pulumi state found (missing {PULUMI_DIR}/ directory)")

    def _scope(self, ref: StackRef) -> str:
        return f"{ref.project}/{ref.name}" if self.layout == "project" else ref.name

    # -- stacks -------------------------------------------------------------------------------
    def projects(self) -> list[str]:
        if self.layout != "project":
            return []
        return [p for p in self.store.list_dirs(f"{PULUMI_DIR}/stacks") if names.is_name(p)]

    def stacks(self, project: str | None = None) -> list[StackRef]:
        if self.layout == "project":
            projects = [project] if project else self.projects()
            return sorted({StackRef(p, name) for p in projects
                           for name in self._stack_names(f"{PULUMI_DIR}/stacks/{p}")},
                          key=lambda r: (r.project, r.name))
        return [StackRef(project or "", n) for n in sorted(self._stack_names(f"{PULUMI_DIR}/stacks"))]

    def _stack_folder(self, prefix: str) -> list[Entry]:
        """A folder of stack files, listed once per command (resolving a stack and finding its file both ask)."""
        if prefix not in self._folders:
            self._folders[prefix] = self.store.list(prefix)
        return self._folders[prefix]

    def _stack_names(self, prefix: str) -> set[str]:
        found = set()
        for entry in self._stack_folder(prefix):
            parsed = _strip_suffix(entry.key.rsplit("/", 1)[-1])
            if parsed and names.is_name(parsed[0]):   # Pulumi skips files whose name is no stack name
                found.add(parsed[0])
        return found

    def resolve_stack(self, name: str, project: str | None = None) -> StackRef:
        """Find a stack from ``prod``, ``omniserve/prod`` or ``organization/omniserve/prod``.

        Every name is checked by Pulumi's rules (:mod:`rollback.state.names`) before it is used in a key."""
        parts = name.split("/")
        origin = "--project"
        if len(parts) == 3:
            names.check_diy_organization(parts[0])
            project, stack, origin = parts[1], parts[2], "the stack argument"
        elif len(parts) == 2:
            project, stack, origin = parts[0], parts[1], "the stack argument"
        elif len(parts) == 1:
            stack = parts[0]
        else:
            raise BadInput(f"'{one_line(name, limit=120)}' is not a stack name "
                           f"(use STACK, PROJECT/STACK or organization/PROJECT/STACK)")
        if project is not None:
            names.check_project(project, origin=origin)
        names.check_stack(stack)
        self.check_exists()
        candidates = [r for r in self.stacks(project) if r.name == stack]
        if not candidates:
            known = ", ".join(str(r) if self.layout == "project" else r.name for r in self.stacks()) or "none"
            where = f" in project '{project}'" if project and self.layout == "project" else ""
            raise StackNotFound(f"stack '{stack}' not found{where} in backend {self.url} (stacks: {known})")
        if len(candidates) > 1:
            projects = ", ".join(r.project for r in candidates)
            raise BadInput(f"stack '{stack}' exists in several projects ({projects}): pass --project")
        return candidates[0]

    def qualified_name(self, ref: StackRef) -> str | None:
        """The name the engine selects the stack by: the plain stack name in the legacy layout (its stacks have no
        project in their names); otherwise the engine's default (organization/<project>/<stack>)."""
        return ref.name if self.layout == "legacy" else None

    def _stack_file(self, ref: StackRef) -> Entry:
        """The stack file; where several variants exist (.json, .json.gz, .json.zst) the newest wins."""
        if ref not in self._stack_files:
            folder = f"{PULUMI_DIR}/stacks/{ref.project}" if self.layout == "project" else f"{PULUMI_DIR}/stacks"
            variants = [e for e in self._stack_folder(folder)
                        if (p := _strip_suffix(e.key.rsplit("/", 1)[-1])) and p[0] == ref.name]
            if not variants:
                raise StackNotFound(f"stack '{ref}' not found in backend {self.url}")
            self._stack_files[ref] = max(variants, key=lambda e: e.mtime)
        return self._stack_files[ref]

    def _stack_file_key(self, ref: StackRef) -> str:
        return self._stack_file(ref).key

    def _read(self, key: str) -> bytes:
        try:
            return self.store.read(key)
        except NotFoundInStore as exc:
            raise StateError(f"{self._where(key)}: file not found") from exc

    def _where(self, key: str) -> str:
        """A file's name for messages: a path for local backends, a URL otherwise."""
        root = getattr(self.store, "root", None)
        return str(root / key) if root is not None else f"{self.url.rstrip('/')}/{key}"

    def describe(self, ref: StackRef, entry: HistoryEntry | None = None, *, part: Part = "checkpoint") -> str:
        if entry is None:
            return self._where(self._stack_file_key(ref))
        key = self._keys(entry)[0 if part == "info" else 1]
        return self._where(key) if key else f"stack '{ref}' entry {entry.id} ({part}: none)"

    @staticmethod
    def _keys(entry: HistoryEntry) -> tuple[str | None, str | None]:
        if not isinstance(entry, DiyEntry):
            raise TypeError(f"not an entry of a DIY backend: {entry!r}")
        return entry.info_key, entry.checkpoint_key

    def read_current(self, ref: StackRef) -> bytes:
        return self._read(self._stack_file_key(ref))

    def read_current_tail(self, ref: StackRef, size: int) -> tuple[bytes, bool] | None:
        """The last ``size`` bytes of an uncompressed stack file (and whether that is all of it); None for a
        compressed one, whose end cannot be read without the rest."""
        key = self._stack_file_key(ref)
        read_tail = getattr(self.store, "read_tail", None)
        if not key.endswith(".json") or read_tail is None:
            return None
        try:
            return tuple(read_tail(key, size))  # type: ignore[return-value]
        except NotFoundInStore as exc:
            raise StateError(f"{self._where(key)}: file not found") from exc

    def is_current(self, ref: StackRef, entry: HistoryEntry) -> bool | None:
        """Whether the entry's checkpoint holds the stack file's bytes, told without reading them into
        memory: equal ETags (S3) are equal bytes; local files are compared a block at a time. None when
        the backend cannot tell so (one of them compressed, ETags of multipart uploads)."""
        key = self._keys(entry)[1]
        if key is None:
            return False
        stack = self._stack_file(ref)
        etag = entry.checkpoint_etag if isinstance(entry, DiyEntry) else None
        plain = stack.key.endswith(".json") and key.endswith(".json")
        if stack.etag and etag:
            if stack.etag == etag:
                return True
            if plain and "-" not in stack.etag and "-" not in etag:
                return False   # MD5s of the whole objects (not multipart): different bytes
        same_content = getattr(self.store, "same_content", None)
        if plain and same_content is not None:
            return same_content(stack.key, key)  # type: ignore[no-any-return]
        return None

    def read_checkpoint(self, ref: StackRef, entry: HistoryEntry) -> bytes:
        key = self._keys(entry)[1]
        if key is None:
            raise StateError(f"stack '{ref}': history entry {entry.id} has no checkpoint file")
        return self._read(key)

    def update_info(self, ref: StackRef, entry: HistoryEntry) -> dict[str, Any]:
        key = self._keys(entry)[0]
        if key is None:
            return {}
        return read_update_info(self._read(key), source=self._where(key))

    # -- history ------------------------------------------------------------------------------
    def history(self, ref: StackRef) -> Sequence[HistoryEntry]:
        """History entries, oldest first (by ``<unixnano>``); reads nothing. On a store that groups names (S3):
        every version's name, then the files of the newest ones (:mod:`rollback.state.listing`); else one
        listing of every file."""
        prefix = f"{PULUMI_DIR}/history/{self._scope(ref)}"
        head = f"{ref.name}-"

        def every_file() -> list[HistoryEntry]:
            return _entries(self.store.list(prefix), head)

        stems = getattr(self.store, "list_stems", None)
        if stems is None:
            return every_file()
        ids = sorted({int(s[len(head):]) for s in stems(prefix, head) if s[len(head):].isdigit()})
        if not ids or len({len(str(i)) for i in ids}) > 1:   # name order is number order only at one length
            return every_file()
        window = ids[-TAIL:]
        tail = _entries(self.store.list(prefix, after=f"{head}{window[0]}"), head)  # type: ignore[call-arg]
        if [e.id for e in tail] != window:   # an update landed (or history went) between the two listings
            return every_file()
        return TailEntries(ids, tail, every_file, where=f"stack '{ref}' in {self.url}")

    # -- locks --------------------------------------------------------------------------------
    def locks(self, ref: StackRef) -> list[Lock]:
        """Lock files and their holders. A lock file Pulumi could not read either (not JSON, not an object,
        fields of the wrong type) is refused naming it: nobody can tell who holds the stack."""
        if self.layout == "project":
            prefix = f"{PULUMI_DIR}/locks/organization/{ref.project}/{ref.name}"
        else:
            prefix = f"{PULUMI_DIR}/locks/{ref.name}"
        out = []
        for entry in self.store.list(prefix):
            if not entry.key.endswith(".json"):
                continue
            try:
                raw = self.store.read(entry.key)
            except NotFoundInStore:
                continue   # released while we looked
            info = self._lock_content(raw, self._where(entry.key))
            out.append(Lock(username=str(info.get("username", "?")), hostname=str(info.get("hostname", "?")),
                            pid=str(info.get("pid", "?")), timestamp=str(info.get("timestamp", "?")),
                            where=self._where(entry.key)))
        return out

    @staticmethod
    def _lock_content(raw: bytes, where: str) -> dict[str, Any]:
        from rollback.state.codec import parse_json

        hint = "if no update is running, remove it with `pulumi cancel`"
        try:
            info = parse_json(raw, source=where)
        except StateError as exc:
            detail = exc.message.removeprefix(f"{where}: ")
            raise StateError(f"{where}: malformed lock file ({detail}); {hint}") from exc
        if not isinstance(info, dict):
            raise StateError(f"{where}: malformed lock file (not a JSON object); {hint}")
        for key, kinds in _LOCK_FIELDS.items():
            value = info.get(key)
            if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
                what = "whole number" if kinds[0] is int else "string"
                raise StateError(f"{where}: malformed lock file ('{key}' is not a {what}); {hint}")
        return info

    # -- our own records ----------------------------------------------------------------------
    def records_prefix(self, ref: StackRef) -> str:
        return f"{RECORDS_DIR}/{ref.project or '_'}/{ref.name}"

    def side_store(self, ref: StackRef) -> FolderSideStore:
        return FolderSideStore(self.store, self.records_prefix(ref), describe=self._where)


def _entries(listing: Sequence[Entry], head: str) -> list[HistoryEntry]:
    """The history entries among these files (``<head><unixnano>.history.json`` and ``.checkpoint.json``, maybe
    compressed), oldest first."""
    infos: dict[int, tuple[str, str | None]] = {}
    checkpoints: dict[int, tuple[str, int | None, str | None]] = {}
    for entry in listing:
        base = entry.key.rsplit("/", 1)[-1]
        if not base.startswith(head):
            continue
        rest = base[len(head):]
        for suffix in _SUFFIXES:
            for kind in (".history", ".checkpoint"):
                tail = kind + suffix
                if rest.endswith(tail) and rest[: -len(tail)].isdigit():
                    n = int(rest[: -len(tail)])
                    if kind == ".history":
                        infos[n] = (entry.key, entry.etag)
                    else:   # a compressed file's size says nothing about its content's length
                        checkpoints[n] = (entry.key, entry.size if suffix == ".json" else None, entry.etag)
    return [DiyEntry(n, has_info=n in infos, has_checkpoint=n in checkpoints,
                     checkpoint_size=checkpoints[n][1] if n in checkpoints else None,
                     info_key=infos[n][0] if n in infos else None,
                     checkpoint_key=checkpoints[n][0] if n in checkpoints else None,
                     checkpoint_etag=checkpoints[n][2] if n in checkpoints else None,
                     info_etag=infos[n][1] if n in infos else None)
            for n in sorted(set(infos) | set(checkpoints))]
