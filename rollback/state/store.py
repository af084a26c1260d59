"""Where a DIY backend's bytes live: a tiny key/value interface with a local-files implementation.

Keys are '/'-separated paths relative to the backend root (``.pulumi/stacks/omniserve/prod.json``).
An S3 store (``s3://bucket/prefix``) implements the same four methods; the layout code in
:mod:`rollback.state.diy` never knows which one it has.
"""

from __future__ import annotations

import builtins
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Entry:
    key: str
    size: int
    mtime: float


class NotFoundInStore(Exception):
    pass


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


class FileStore:
    """A backend root on the local disk (``file://`` URLs)."""

    def __init__(self, root: Path, *, url: str | None = None) -> None:
        self.root = root
        self.url = url or f"file://{root}"

    def _path(self, key: str) -> Path:
        return self.root / key if key else self.root

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundInStore(key) from exc
        except IsADirectoryError as exc:
            raise NotFoundInStore(key) from exc

    def list(self, prefix: str) -> builtins.list[Entry]:
        out: list[Entry] = []
        try:
            with os.scandir(self._path(prefix)) as it:
                for de in it:
                    if de.is_file():
                        st = de.stat()
                        out.append(Entry(f"{prefix.rstrip('/')}/{de.name}" if prefix else de.name,
                                         st.st_size, st.st_mtime))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return out

    def list_dirs(self, prefix: str) -> builtins.list[str]:
        try:
            with os.scandir(self._path(prefix)) as it:
                return sorted(de.name for de in it if de.is_dir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
