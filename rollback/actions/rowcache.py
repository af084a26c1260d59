"""``history``'s rows kept between runs, where the backend's listing gives each file's digest (S3's ETag).

An update info and a checkpoint never change once the CLI has written them, and the listing says each one's
ETag: a row read once stays good for as long as its ETag is the same, so ``history --all`` of a long history
in S3 reads each version once per machine instead of once per run. Each stack has one file in
``$INFRA_ROLLBACK_CACHE_DIR/history/`` (default ``${XDG_CACHE_HOME:-~/.cache}/infra-rollback``), mode 0600,
holding for each version only what the table shows: kind, result, times, message, resource changes, git
author and commit, and its images. Never its config. ``INFRA_ROLLBACK_NO_CACHE=1`` turns it off.

A cache file that cannot be read, or a row in it of the wrong shape, is read again from the backend; a file
that cannot be written is left as it was. Neither changes what ``history`` shows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rollback.models import StackRef, Version
from rollback.state.backend import HistoryEntry

FORMAT = 1
MAX_BYTES = 64 << 20   # a cache file bigger than this is not read (a history of a few hundred thousand rows)
_ENV_FIELDS = ("git.author", "git.head")
_TRUE = {"1", "true", "yes", "on"}


def cache_root() -> Path:
    explicit = os.environ.get("INFRA_ROLLBACK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "infra-rollback"


def summary_of(v: Version) -> dict[str, Any]:
    """What a row shows of a version, shaped as its update info (no config)."""
    return {"kind": v.kind, "result": v.result, "startTime": v.start_time, "endTime": v.end_time,
            "message": v.message, "resourceChanges": dict(v.resource_changes),
            "environment": {k: v.environment[k] for k in _ENV_FIELDS if k in v.environment}}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _valid_summary(row: Any) -> bool:
    """Whether a kept row has exactly the shape :func:`summary_of` writes (a hand-edited one is read again)."""
    if not isinstance(row, dict) or set(row) != {"kind", "result", "startTime", "endTime", "message",
                                                 "resourceChanges", "environment"}:
        return False
    changes, env = row["resourceChanges"], row["environment"]
    return (all(isinstance(row[k], str) for k in ("kind", "result", "message"))
            and all(row[k] is None or _is_int(row[k]) for k in ("startTime", "endTime"))
            and isinstance(changes, dict) and all(isinstance(k, str) and _is_int(n) for k, n in changes.items())
            and isinstance(env, dict) and all(k in _ENV_FIELDS and isinstance(x, str) for k, x in env.items()))


class RowCache:
    """One stack's rows, read from its file once and written back once (:meth:`save`) if anything was added."""

    def __init__(self, path: Path, versions: dict[str, Any]) -> None:
        self.path = path
        self._versions = versions
        self._changed = False

    @classmethod
    def open(cls, backend_url: str, ref: StackRef) -> RowCache | None:
        """The cache of this stack's rows (None when ``INFRA_ROLLBACK_NO_CACHE`` turns caching off)."""
        if os.environ.get("INFRA_ROLLBACK_NO_CACHE", "").strip().lower() in _TRUE:
            return None
        name = hashlib.sha256(f"{backend_url}\n{ref}".encode()).hexdigest()[:32]
        path = cache_root() / "history" / f"{name}.json"
        versions: Any = {}
        try:
            if path.stat().st_size <= MAX_BYTES:
                doc = json.loads(path.read_bytes())
                if isinstance(doc, dict) and doc.get("format") == FORMAT:
                    versions = doc.get("versions")
        except (OSError, ValueError, RecursionError):
            versions = {}
        return cls(path, versions if isinstance(versions, dict) else {})

    def _slot(self, entry: HistoryEntry) -> dict[str, Any] | None:
        slot = self._versions.get(str(entry.id))
        return slot if isinstance(slot, dict) else None

    def summary(self, entry: HistoryEntry) -> dict[str, Any] | None:
        """The row kept for this entry, if its update info is still the one it was read from."""
        slot = self._slot(entry)
        digest = entry.info_digest
        if slot is None or digest is None or slot.get("info") != digest or not _valid_summary(slot.get("row")):
            return None
        return dict(slot["row"])

    def images(self, entry: HistoryEntry) -> list[str] | None:
        """The images kept for this entry, if its checkpoint is still the one they were read from."""
        slot = self._slot(entry)
        digest = entry.checkpoint_digest
        if slot is None or digest is None or slot.get("checkpoint") != digest:
            return None
        images = slot.get("images")
        if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
            return None
        return list(images)

    def keep(self, entry: HistoryEntry, *, version: Version | None = None, images: list[str] | None = None) -> None:
        """Keep a row read from the backend (and/or its images), where the listing gave the file's digest."""
        fresh: dict[str, Any] = {}
        if version is not None and entry.info_digest is not None:
            fresh.update(info=entry.info_digest, row=summary_of(version))
        if images is not None and entry.checkpoint_digest is not None:
            fresh.update(checkpoint=entry.checkpoint_digest, images=list(images))
        if fresh:
            self._versions[str(entry.id)] = {**(self._slot(entry) or {}), **fresh}
            self._changed = True

    def save(self, listed: Iterable[int]) -> None:
        """Write the file again (only if something was added), keeping the versions still listed."""
        if not self._changed:
            return
        keep = {str(i) for i in listed}
        body = json.dumps({"format": FORMAT, "versions": {k: v for k, v in self._versions.items() if k in keep}},
                          separators=(",", ":")).encode()
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(body)
            os.replace(tmp, self.path)
        except OSError:   # a cache that cannot be written changes nothing shown
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
