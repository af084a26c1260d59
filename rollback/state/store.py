"""Where a DIY backend's bytes live: a tiny key/value interface with a local-files implementation.

Keys are '/'-separated paths relative to the backend root (``.pulumi/stacks/omniserve/prod.json``).
An S3 store (``s3://bucket/prefix``) implements the same methods; the layout code in
:mod:`rollback.state.diy` never knows which one it has.

Concurrent writers: :meth:`FileStore.read_versioned` returns the bytes with an opaque version token, and
:meth:`FileStore.write_if` writes only if the key still has that version (else :class:`Conflict`: read
again and retry); :func:`update` is the read-modify-write loop over both. :class:`~rollback.state.s3.S3Store`
does the same with S3's conditional puts (``If-Match`` / ``If-None-Match``). An update that changes
nothing writes nothing.

:meth:`Store.probe` answers "could infra-rollback write its records here?" before an operation starts:
a small file written and deleted again, leaving no trace.

Every error of the file system (a name too long, a symbolic link loop, no permission) becomes one line
naming the path (:class:`~rollback.errors.BadInput`); ``.infra-rollback/`` must stay inside the backend.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rollback.errors import BadInput

RECORDS_DIR = ".infra-rollback"   # infra-rollback's own files (marks, audit records), beside .pulumi/


@dataclass(frozen=True)
class Entry:
    key: str
    size: int
    mtime: float
    etag: str | None = None    # the store's digest of the bytes where the listing tells it (S3's ETag)


@dataclass(frozen=True)
class Versioned:
    """A file's bytes and the version they were read at (opaque: an S3 ETag, a content digest)."""

    data: bytes
    token: str


class NotFoundInStore(Exception):
    pass


class Conflict(Exception):
    """A conditional write lost: the key changed (or appeared) since it was read. Read again and retry."""


class Store(Protocol):
    url: str

    def read(self, key: str) -> bytes: ...

    def list(self, prefix: str) -> builtins.list[Entry]:
        """Entries directly below ``prefix`` (a folder key), files only."""
        ...

    def list_dirs(self, prefix: str) -> builtins.list[str]:
        """Names of the folders directly below ``prefix``."""
        ...

    def exists(self, key: str) -> bool: ...

    def write(self, key: str, data: bytes) -> None:
        """Write a file (used only for infra-rollback's own records, never Pulumi's files)."""
        ...

    def delete(self, key: str) -> None:
        """Delete one of infra-rollback's own files (no error when it is not there)."""
        ...

    def probe(self, folder: str) -> None:
        """Write a small file into ``folder`` and delete it again; one-line error naming the place when
        that fails. Leaves nothing behind (folders it had to create are removed again)."""
        ...

    def read_tail(self, key: str, size: int) -> tuple[bytes, bool]:
        """The last ``size`` bytes of a file, and whether that is the whole file."""
        ...


PROBE_PREFIX = ".write-check-"   # the probe's file name: <folder>/.write-check-<random>.tmp


def probe_key(folder: str) -> str:
    import uuid

    return f"{folder.rstrip('/')}/{PROBE_PREFIX}{uuid.uuid4().hex[:12]}.tmp"


class ConditionalStore(Store, Protocol):
    """A store that can write a key only if it is still as it was read (compare-and-swap)."""

    def read_versioned(self, key: str) -> Versioned | None:
        """The key's bytes and version, or None when there is no such key."""
        ...

    def write_if(self, key: str, data: bytes, *, token: str | None) -> str:
        """Write ``data`` if the key is still at version ``token`` (None: only if it does not exist yet).
        Returns the new version; raises :class:`Conflict` when the key has changed."""
        ...


def update(store: ConditionalStore, key: str, change: Callable[[bytes | None], bytes], *,
           attempts: int = 8, pause: Callable[[float], None] = time.sleep) -> bytes:
    """Read ``key``, apply ``change`` (old bytes or None -> new bytes) and write the result only if nobody
    wrote in between; on a conflict read again and re-apply, up to ``attempts`` times. Returns what was
    written; raises :class:`Conflict` when every attempt lost (the caller tells the user to retry)."""
    for attempt in range(attempts):
        current = store.read_versioned(key)
        data = change(current.data if current is not None else None)
        if current is not None and data == current.data:
            return data    # nothing to change: nothing to write
        try:
            store.write_if(key, data, token=current.token if current is not None else None)
            return data
        except Conflict:
            pause(min(0.5, 0.01 * 2 ** attempt))
    raise Conflict(f"{key}: changed by someone else {attempts} times while it was being written; retry")


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def replace_file(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` through a uniquely named temporary file beside it (two writers never share
    one), synced, then renamed over it; the temporary file is removed whatever fails. Raises OSError."""
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


class FileStore:
    """A backend root on the local disk (``file://`` URLs)."""

    lock_wait = 10.0   # seconds a conditional write waits for another writer's lock

    def __init__(self, root: Path, *, url: str | None = None) -> None:
        self.root = root
        self.url = url or f"file://{root}"

    # -- paths --------------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        if not key:
            return self.root
        parts = key.rstrip("/").split("/")
        if any(p in ("", ".", "..") for p in parts) or "\0" in key:
            raise BadInput(f"backend {self.url}: refusing the path '{key[:200]}' (empty, '.' or '..' component)")
        path = self.root / key
        if parts[0] == RECORDS_DIR:
            self._confine(path)
        return path

    def _confine(self, path: Path) -> None:
        """``.infra-rollback/`` and below must resolve inside the backend root (no symbolic link out)."""
        root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
            raise BadInput(f"{path}: leads outside the backend {root} (to {real}) through a symbolic link: "
                           f"infra-rollback reads and writes its records only inside the backend")

    @staticmethod
    def _fail(path: Path | str, exc: OSError, action: str) -> BadInput:
        reason = {errno.ELOOP: "a symbolic link loop", errno.ENAMETOOLONG: "file name too long"}.get(
            exc.errno or 0, exc.strerror or exc.__class__.__name__)
        return BadInput(f"{path}: cannot {action} ({reason})")

    # -- Store protocol -----------------------------------------------------------------------
    def read(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFoundInStore(key) from exc
        except OSError as exc:
            raise self._fail(path, exc, "read") from exc

    def read_tail(self, key: str, size: int) -> tuple[bytes, bool]:
        path = self._path(key)
        try:
            with open(path, "rb") as fh:
                total = os.fstat(fh.fileno()).st_size
                start = max(0, total - size)
                fh.seek(start)
                return fh.read(), start == 0
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFoundInStore(key) from exc
        except OSError as exc:
            raise self._fail(path, exc, "read") from exc

    def same_content(self, a: str, b: str) -> bool | None:
        """Whether two files hold the same bytes, compared a block at a time (None: one cannot be read)."""
        try:
            with open(self._path(a), "rb") as fa, open(self._path(b), "rb") as fb:
                if os.fstat(fa.fileno()).st_size != os.fstat(fb.fileno()).st_size:
                    return False
                size = 1 << 16   # small first: files that differ usually do so early (a manifest's time)
                while True:
                    block = fa.read(size)
                    if block != fb.read(size):
                        return False
                    if not block:
                        return True
                    size = 1 << 20
        except OSError:
            return None

    def list(self, prefix: str) -> builtins.list[Entry]:
        out: list[Entry] = []
        folder = self._path(prefix)
        try:
            with os.scandir(folder) as it:
                for de in it:
                    try:
                        if not de.is_file():
                            continue
                        st = de.stat()
                    except FileNotFoundError:
                        continue   # removed while listing, or a dangling symbolic link
                    except OSError as exc:
                        raise self._fail(de.path, exc, "read") from exc
                    out.append(Entry(f"{prefix.rstrip('/')}/{de.name}" if prefix else de.name,
                                     st.st_size, st.st_mtime))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise self._fail(folder, exc, "list") from exc
        return out

    def list_dirs(self, prefix: str) -> builtins.list[str]:
        folder = self._path(prefix)
        names = []
        try:
            with os.scandir(folder) as it:
                for de in it:
                    try:
                        if de.is_dir():
                            names.append(de.name)
                    except FileNotFoundError:
                        continue
                    except OSError as exc:
                        raise self._fail(de.path, exc, "read") from exc
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise self._fail(folder, exc, "list") from exc
        return sorted(names)

    def exists(self, key: str) -> bool:
        path = self._path(key)
        try:
            os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise self._fail(path, exc, "read") from exc
        return True

    def write(self, key: str, data: bytes) -> None:
        """Write a whole file atomically (a uniquely named temporary file, then a rename)."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._fail(path.parent, exc, "create the folder") from exc
        self._replace(path, data)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._fail(path, exc, "delete") from exc

    def probe(self, folder: str) -> None:
        """Write and delete a probe file in ``folder``; the folders this had to create are removed again."""
        path = self._path(folder)
        missing = []
        parent = path
        while parent != self.root and not parent.exists():
            missing.append(parent)
            parent = parent.parent
        key = probe_key(folder)
        try:
            self.write(key, b"infra-rollback: can records be written here?\n")
            self.delete(key)
        finally:
            for made in missing:          # deepest first; only while empty
                try:
                    made.rmdir()
                except OSError:
                    break

    def _replace(self, path: Path, data: bytes) -> None:
        try:
            replace_file(path, data)
        except OSError as exc:
            raise self._fail(path, exc, "write") from exc

    # -- conditional writes -------------------------------------------------------------------
    def read_versioned(self, key: str) -> Versioned | None:
        try:
            data = self.read(key)
        except NotFoundInStore:
            return None
        return Versioned(data, _digest(data))

    def write_if(self, key: str, data: bytes, *, token: str | None) -> str:
        """Compare-and-swap under an exclusive lock (``flock`` on ``<file>.lock``, released even when the
        process dies): the file is written only if its content still has digest ``token``."""
        import fcntl

        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise self._fail(path, exc, "lock") from exc
        try:
            deadline = time.monotonic() + self.lock_wait
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise Conflict(f"{path}: another writer holds {path.name}.lock; retry") from None
                    time.sleep(0.005)
            now = self.read_versioned(key)
            if (now.token if now is not None else None) != token:
                raise Conflict(f"{path}: changed since it was read; read it again and retry")
            self._replace(path, data)
            return _digest(data)
        finally:
            os.close(lock)   # releases the lock
