"""The one backend protocol: what the history, the actions and our records need of where a stack lives.

:class:`Backend` is implemented by :class:`~rollback.state.diy.DiyBackend` (``file://`` and ``s3://``, over
a :class:`~rollback.state.store.Store`) and :class:`~rollback.state.cloud.CloudBackend` (Pulumi Cloud,
through the Pulumi CLI); :func:`rollback.state.open.open_backend` opens the one a URL names. Nothing
above ``state/`` knows which it has.

- A stack's history is a list of :class:`HistoryEntry` (a listing: nothing is read); an entry's update
  info and checkpoint are read when asked for, by entry. The current state is read by stack; where the
  backend can, it compares it with a checkpoint or reads its end without reading it whole.
- :meth:`Backend.describe` names what was read, for messages (a path, a URL, ``pulumi stack export``).
- :meth:`Backend.locks` says who holds the stack (DIY lock files; Cloud: an update in progress).
- :meth:`Backend.side_store` is where infra-rollback keeps its own marks and audit records for a stack,
  beside Pulumi's state, never inside it (:class:`SideStore`; :class:`FolderSideStore` for folders).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from rollback.models import StackRef
from rollback.state.store import RECORDS_DIR as RECORDS_DIR  # re-exported: our folder beside .pulumi/
from rollback.state.store import NotFoundInStore, Store, update

RECORDS_ENV = "INFRA_ROLLBACK_RECORDS"   # where Cloud backends keep full audit records (file:// or s3://)

Part = Literal["checkpoint", "info"]


@dataclass(frozen=True)
class HistoryEntry:
    """One version in a backend's history listing (nothing of it read yet).

    ``id`` is the backend's own handle, stable across listings: DIY the ``<unixnano>`` of the file
    names, Cloud the update version. Marks are kept by it. ``checkpoint_size`` is the stored size of an
    uncompressed checkpoint when the listing tells it (a cheap "cannot be identical" test), else None.
    """

    id: int
    has_info: bool
    has_checkpoint: bool
    checkpoint_size: int | None = None

    @property
    def written_at(self) -> float | None:
        """Unix seconds at which the backend wrote this entry, when the listing tells it (None: read it)."""
        return None

    @property
    def info_digest(self) -> str | None:
        """The store's digest of the update info's bytes, when the listing tells it (S3's ETag): the same
        digest, the same bytes."""
        return None

    @property
    def checkpoint_digest(self) -> str | None:
        """The store's digest of the checkpoint's bytes, when the listing tells it."""
        return None


@dataclass(frozen=True)
class Lock:
    """Who holds a stack, as far as the backend can tell."""

    username: str
    hostname: str
    pid: str
    timestamp: str
    where: str            # the lock file, or what stands for one

    @property
    def holder(self) -> str:
        return f"{self.username}@{self.hostname} pid {self.pid}"


class SideStore(Protocol):
    """infra-rollback's own marks and audit records of one stack (never Pulumi's files).

    Marks are written read-modify-write (:meth:`update_marks`): a writer never rewrites the marks from a
    copy read earlier, so two writers (a ``mark`` during a rollback, two CI jobs) both land, or one is
    told to retry (:class:`~rollback.state.store.Conflict`).
    """

    def describe(self, name: str | None = None) -> str:
        """Where the marks (``name`` None) or a record are, for messages."""
        ...

    def read_marks(self) -> bytes | None: ...

    def update_marks(self, change: Callable[[bytes | None], bytes]) -> bytes:
        """Apply ``change`` (the marks document as stored now, None when there is none -> the new document)
        and write the result only if nobody wrote in between (else read again and re-apply). Returns what
        was written; raises :class:`~rollback.state.store.Conflict` when every attempt lost."""
        ...

    def record_names(self) -> list[str]:
        """The audit records' names, sorted (oldest first: names start with a UTC timestamp)."""
        ...

    def read_record(self, name: str) -> bytes: ...

    def write_record(self, name: str, data: bytes) -> str:
        """Write (or rewrite, for the same operation) a record; returns its key in the store."""
        ...

    def check_writable(self) -> None:
        """Raise a one-line :class:`~rollback.errors.RollbackError` naming the place when marks or records
        could not be written there now (a probe written and deleted: nothing is left behind)."""
        ...


class Backend(Protocol):
    #: Whether the backend's reads may run from several threads at once (the history listing in the
    #: background, several versions' metadata at once): True for DIY stores, False for the Pulumi CLI.
    concurrent_reads: bool

    @property
    def url(self) -> str: ...

    @property
    def cheap_checkpoints(self) -> bool:
        """Whether reading one more checkpoint is cheap (a file, an object GET), so that a listing may read
        one per version (the history table's IMAGE); False when each is a command (Pulumi Cloud's export)."""
        ...

    def resolve_stack(self, name: str, project: str | None = None) -> StackRef:
        """``prod``, ``omniserve/prod`` or ``org/omniserve/prod`` -> the stack (StackNotFound, BadInput)."""
        ...

    def qualified_name(self, ref: StackRef) -> str | None:
        """The engine's full name of the stack where the backend knows it (Cloud: ``org/project/stack``);
        None lets the engine use its own default."""
        ...

    def history(self, ref: StackRef) -> Sequence[HistoryEntry]:
        """The stack's versions, oldest first. A fresh listing each call; reads no entry."""
        ...

    def update_info(self, ref: StackRef, entry: HistoryEntry) -> dict[str, Any]:
        """An entry's UpdateInfo (kind, result, times in unix seconds, message, environment, config)."""
        ...

    def read_checkpoint(self, ref: StackRef, entry: HistoryEntry) -> bytes:
        """An entry's checkpoint, as stored (maybe compressed)."""
        ...

    def read_current(self, ref: StackRef) -> bytes:
        """The stack's current state, as stored (maybe compressed)."""
        ...

    def read_current_tail(self, ref: StackRef, size: int) -> tuple[bytes, bool] | None:
        """The last ``size`` bytes of the current state and whether that is all of it, where the backend can
        read a file's end alone (uncompressed DIY files); else None."""
        ...

    def is_current(self, ref: StackRef, entry: HistoryEntry) -> bool | None:
        """Whether an entry's checkpoint holds exactly the current state's bytes, where the backend can tell
        without reading both whole (equal ETags, files compared a block at a time); else None."""
        ...

    def describe(self, ref: StackRef, entry: HistoryEntry | None = None, *, part: Part = "checkpoint") -> str:
        """What was read, for messages: the current state (``entry`` None) or an entry's checkpoint or info."""
        ...

    def locks(self, ref: StackRef) -> list[Lock]: ...

    def side_store(self, ref: StackRef) -> SideStore: ...


class FolderSideStore:
    """Marks and records as files below ``prefix`` of a :class:`Store`: ``marks.json``, ``records/<name>``.

    Marks are updated with the store's compare-and-swap (a lock and a content compare on disk, conditional
    puts on S3); a store without one (``read_versioned`` / ``write_if``) is read just before it is written.
    """

    def __init__(self, store: Store, prefix: str, *, describe: Any = None) -> None:
        self.store = store
        self.prefix = prefix
        self._describe = describe

    def _key(self, name: str | None) -> str:
        return f"{self.prefix}/marks.json" if name is None else f"{self.prefix}/records/{name}"

    def describe(self, name: str | None = None) -> str:
        key = self._key(name)
        if self._describe is not None:
            return str(self._describe(key))
        root = getattr(self.store, "root", None)
        return str(root / key) if root is not None else f"{self.store.url.rstrip('/')}/{key}"

    def read_marks(self) -> bytes | None:
        try:
            return self.store.read(self._key(None))
        except NotFoundInStore:
            return None

    def update_marks(self, change: Callable[[bytes | None], bytes]) -> bytes:
        store: Any = self.store
        if hasattr(store, "read_versioned") and hasattr(store, "write_if"):
            return update(store, self._key(None), change)
        old = self.read_marks()
        data = change(old)
        if data != old:
            store.write(self._key(None), data)
        return data

    def record_names(self) -> list[str]:
        folder = f"{self.prefix}/records"
        return sorted(e.key[len(folder) + 1:] for e in self.store.list(folder))

    def read_record(self, name: str) -> bytes:
        return self.store.read(self._key(name))

    def write_record(self, name: str, data: bytes) -> str:
        key = self._key(name)
        self.store.write(key, data)
        return key

    def check_writable(self) -> None:
        """A probe in the marks' folder and in ``records/``."""
        self.store.probe(f"{self.prefix}/records")
        self.store.probe(self.prefix)
