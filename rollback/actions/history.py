"""`infra-rollback history STACK`: a stack's versions, newest first, with who, the image, marks and rollbacks.

Each version comes from the backend's history entry; its image from its checkpoint (the workloads it ran,
read for the newest :data:`IMAGE_VERSIONS` versions shown whose checkpoint is at most :data:`IMAGE_MAX_BYTES`,
so a long history or a big state stays quick); who made it
from our audit record when a rollback or guarded deploy made it, else the update's git author; its mark
with the reason and who set it. A history entry that cannot be read is skipped with a warning naming its
file, so ``history`` still works in an incident. Rollbacks that left no version of their own (interrupted,
or failed before the engine wrote one) are listed as operations, at the time they were decided.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from rollback.actions.context import Context
from rollback.actions.hooks import QUIET, Listener
from rollback.actions.rowcache import RowCache
from rollback.errors import RollbackError, StateError
from rollback.history import StackHistory
from rollback.models import Version
from rollback.records import Records
from rollback.state.listing import entry_ids

IMAGE_VERSIONS = 20
"""How many of the newest versions shown get their image (one checkpoint read each, where the backend reads
checkpoints cheaply; on Pulumi Cloud, where each is an export, only the current version's)."""

IMAGE_MAX_BYTES = 2 << 20
"""A checkpoint bigger than this (a stack of a thousand resources or more) is not read for the image column:
``history`` stays a listing on any size of state; ``show STACK vN`` has that version's images."""

UNFINISHED = ("in-progress", "interrupted", "pending")


def version_to_dict(v: Version) -> dict[str, Any]:
    return {
        "version": v.number,
        "kind": v.kind,
        "result": v.result,
        "start_time": v.start_time,
        "end_time": v.end_time,
        "message": v.message,
        "git_head": v.git_head,
        "mark": v.mark.value if v.mark else None,
        "mark_reason": v.mark_reason or None,
        "resource_changes": dict(v.resource_changes),
        "has_checkpoint": v.has_checkpoint,
    }


def _seconds(iso_text: Any) -> float | None:
    if not isinstance(iso_text, str) or not iso_text:
        return None
    try:
        return _dt.datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _operation(r: dict[str, Any]) -> dict[str, Any]:
    return {"kind": r.get("kind"), "from_version": r.get("from_version"), "to_version": r.get("to_version"),
            "reason": r.get("reason"), "by": (r.get("actor") or {}).get("user"), "outcome": r.get("outcome"),
            "time_to_recover_seconds": r.get("time_to_recover_seconds")}


def version_images(history: StackHistory, number: int) -> list[str]:
    """The container images version ``number`` ran (from its checkpoint), secrets left out."""
    return _images(history.checkpoint(number))


def _images(dep: Any) -> list[str]:
    from rollback.summary.inventory import images

    return images(dep)


#: How many versions ``history`` shows unless told otherwise (``--limit N``, ``--all``): the ten that
#: Kubernetes keeps for ``kubectl rollout history`` (``revisionHistoryLimit``) and Helm for ``helm history``
#: (``--history-max``). Each costs two reads on a remote backend (its metadata and, for IMAGE, its
#: checkpoint), so that a default ``history`` on S3 stays under 30 requests however long the history.
DEFAULT_LIMIT = 10
#: A rollback's audit record is written before the version it makes, and after the version it rolled back
#: from was written: records older than the version below the oldest one shown (less this much, for clocks
#: that differ between machines) are not read.
_CLOCK_SLACK = 3600


@dataclass
class History:
    ctx: Context
    limit: int | None = DEFAULT_LIMIT   # None: every version
    images: int = IMAGE_VERSIONS
    listener: Listener = QUIET

    def run(self, stack: str) -> dict[str, Any]:
        """Reads only what it shows: the newest ``limit`` versions' metadata (several at once), the audit
        records that can belong to them, the end of the current state (pending operations) and, for the
        image column, the checkpoints of the newest :data:`IMAGE_VERSIONS` shown where they are small."""
        with self.listener.step(f"reading the history of {stack}"):
            h: StackHistory = self.ctx.history(stack)
            newest = h.count
            oldest = 1 if self.limit is None else max(1, newest - self.limit + 1)
            shown = range(newest, oldest - 1, -1)
            cache = RowCache.open(self.ctx.backend.url, h.ref)   # rows kept from an earlier run (S3)
            kept = {n: row for n in shown if cache is not None and (row := cache.summary(h.entries[n - 1])) is not None}
            h.prefetch([n for n in shown if n not in kept])
        records = Records(self.ctx.backend, h.ref)
        all_records = records.all(since=self._records_since(h, oldest))
        by_version = {r.get("new_version_key"): r for r in all_records
                      if r.get("kind") in ("rollback", "deploy") and r.get("new_version_key")}
        warnings: list[str] = []
        versions: list[dict[str, Any]] = []
        marks = h.marks.all()
        current = h.current_version() if h.count else None
        with self.listener.step(f"reading {stack}'s versions"):
            rows: list[Version] = []
            for number in shown:
                if number in kept:
                    rows.append(h.listed_version(number, kept[number]))
                    continue
                try:
                    rows.append(h.version(number))
                except RollbackError as exc:
                    warnings.append(f"v{number} skipped: {exc.message}")
                    continue
                if cache is not None:
                    cache.keep(h.entries[number - 1], version=rows[-1])
            images = _read_images(h, [v for v in rows[:self.images]
                                      if v.has_checkpoint and _image_readable(h, v, current=v.number == current)],
                                  current=current, cache=cache)
            for v in rows:
                versions.append(self._row(v, by_version.get(v.key), marks, warnings, images.get(v.number)))
        if cache is not None:
            cache.save(entry_ids(h.entries))
        keys = {str(i) for i in entry_ids(h.entries)}
        operations = [dict(_operation(r), at=_seconds(r.get("decided_at")))
                      for r in all_records
                      if r.get("kind") == "rollback" and (not r.get("new_version_key")
                                                          or str(r.get("new_version_key")) not in keys)]
        if any(op["outcome"] == "in-progress" for op in operations):
            running = bool(h.backend.locks(h.ref))
            for op in operations:
                if op["outcome"] == "in-progress":
                    op["state"] = "in-progress" if running else "interrupted"
        if versions and operations:
            earliest = min((v["start_time"] or 0) for v in versions)
            operations = [op for op in operations if (op["at"] or 0) >= earliest or self.limit is None]
        warnings = h.marks.problems + records.problems + warnings
        if h.count and current is None:
            warnings.append("the current state differs from the newest history checkpoint "
                            "(e.g. after `pulumi stack import`)")
        try:
            pending = h.pending_operations() if h.count else 0
        except StateError as exc:   # history lists the versions all the same, and says why it cannot tell
            pending = 0
            warnings.append(f"the current state cannot be read: {exc.message}")
        if pending:
            warnings.append(f"the current state has {pending} pending operation(s) from an interrupted update")
        project = h.ref.project
        if not project and h.count:   # legacy layout: the project is in the URNs, not the path
            project = h.current().project
        return {
            "stack": h.ref.name,
            "project": project or None,
            "backend": self.ctx.backend.url,
            "current_version": current,
            "versions": versions,
            "operations": operations,
            "total": h.count,
            "not_shown": oldest - 1 if h.count else 0,   # older versions the limit left out
            "warnings": warnings,
        }

    def _row(self, v: Version, record: dict[str, Any] | None, marks: dict[str, Any], warnings: list[str],
             images: list[str] | RollbackError | None) -> dict[str, Any]:
        d = version_to_dict(v)
        entry = marks.get(v.key)
        d["mark_by"] = entry.get("by") if isinstance(entry, dict) and d["mark"] else None
        rollback = record if record is not None and record.get("kind") == "rollback" else None
        d["rollback"] = None if rollback is None else _operation(rollback)
        d["who"] = ((record.get("actor") or {}).get("user") if record is not None else None) \
            or v.environment.get("git.author") or None
        d["image"] = None
        if isinstance(images, RollbackError):
            warnings.append(f"v{v.number}: image not shown: {images.message}")
        elif images is not None:
            d["image"] = _label(images)
        return d

    @staticmethod
    def _records_since(h: StackHistory, oldest: int) -> float | None:
        """Unix time from which audit records can belong to versions ``oldest`` and newer (None: all): when
        the version below them was written, from the listing where it says (DIY), else from its metadata."""
        if oldest <= 1:
            return None
        written = h.entries[oldest - 2].written_at
        if written is not None:
            return written - _CLOCK_SLACK
        try:
            below = h.version(oldest - 1)
        except RollbackError:   # an unreadable entry: every record is read instead
            return None
        when = below.start_time or below.end_time
        return None if when is None else float(when - _CLOCK_SLACK)


def _image_readable(h: StackHistory, v: Version, *, current: bool) -> bool:
    """Whether the image column reads this version's checkpoint (or, for the current version, the state)."""
    size = h.entries[v.number - 1].checkpoint_size
    if size is not None:
        return size <= IMAGE_MAX_BYTES
    return current or h.backend.cheap_checkpoints   # a compressed file, or Pulumi Cloud: size unknown


def _read_images(h: StackHistory, versions: list[Version], *, current: int | None, cache: RowCache | None = None
                 ) -> dict[int, list[str] | RollbackError]:
    """The images of these versions (the current one's from the state), several read at once; those the
    cache kept for the same checkpoint are not read again."""
    found: dict[int, list[str] | RollbackError] = {}
    for v in versions:
        kept = cache.images(h.entries[v.number - 1]) if cache is not None else None
        if kept is not None:
            found[v.number] = kept
    todo = [v for v in versions if v.number not in found]

    def one(v: Version) -> list[str] | RollbackError:
        try:
            return _images(h.current()) if v.number == current else version_images(h, v.number)
        except RollbackError as exc:
            return exc

    if len(todo) < 2 or not getattr(h.backend, "concurrent_reads", False):
        read = {v.number: one(v) for v in todo}
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(16, len(todo)), thread_name_prefix="images") as pool:
            read = dict(zip((v.number for v in todo), pool.map(one, todo)))
    for number, images in read.items():
        if cache is not None and not isinstance(images, RollbackError):
            cache.keep(h.entries[number - 1], images=images)
    return {**found, **read}


def _label(images: list[str]) -> str | None:
    """``bot:1.5.0`` (the image's name and tag, whole), several joined: ``bot:1.5.0, worker:2.0``."""
    tails = list(dict.fromkeys(i.rsplit("/", 1)[-1] for i in images))
    return ", ".join(tails) if tails else None
