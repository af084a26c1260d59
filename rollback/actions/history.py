"""`infra-rollback history STACK`: a stack's versions, newest first, with who, the image, marks and rollbacks.

Each version comes from the backend's history entry; its image from its checkpoint (the workloads it ran,
read for the newest :data:`IMAGE_VERSIONS` versions shown, so a long history stays quick); who made it
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
from rollback.errors import RollbackError
from rollback.history import StackHistory
from rollback.models import Version
from rollback.records import Records

IMAGE_VERSIONS = 20
"""How many of the newest versions shown get their image (one checkpoint read each, where the backend reads
checkpoints cheaply; on Pulumi Cloud, where each is an export, only the current version's, already read)."""

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


@dataclass
class History:
    ctx: Context
    limit: int | None = None
    images: int = IMAGE_VERSIONS
    listener: Listener = QUIET

    def run(self, stack: str) -> dict[str, Any]:
        with self.listener.step(f"reading the history of {stack}"):
            h: StackHistory = self.ctx.history(stack)
        records = Records(self.ctx.backend, h.ref)
        all_records = records.all()
        by_version = {r.get("new_version_key"): r for r in all_records
                      if r.get("kind") in ("rollback", "deploy") and r.get("new_version_key")}
        warnings: list[str] = []
        versions: list[dict[str, Any]] = []
        marks = h.marks.all()
        current = h.current_version() if h.count else None
        with self.listener.step(f"reading {stack}'s versions"):
            for number in range(h.count, 0, -1):
                if self.limit is not None and len(versions) >= self.limit:
                    break
                try:
                    v = h.version(number)
                except RollbackError as exc:
                    warnings.append(f"v{number} skipped: {exc.message}")
                    continue
                versions.append(self._row(h, v, by_version.get(v.key), marks, warnings, current=v.number == current,
                                          with_image=len(versions) < self.images))
        keys = {str(e.id) for e in h.entries}
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
            oldest = min((v["start_time"] or 0) for v in versions)
            operations = [op for op in operations if (op["at"] or 0) >= oldest or self.limit is None]
        warnings = h.marks.problems + records.problems + warnings
        if h.count and current is None:
            warnings.append("the current state differs from the newest history checkpoint "
                            "(e.g. after `pulumi stack import`)")
        pending = len(h.current().pending_operations) if h.count else 0
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
            "warnings": warnings,
        }

    def _row(self, h: StackHistory, v: Version, record: dict[str, Any] | None, marks: dict[str, Any],
             warnings: list[str], *, current: bool, with_image: bool) -> dict[str, Any]:
        d = version_to_dict(v)
        entry = marks.get(v.key)
        d["mark_by"] = entry.get("by") if isinstance(entry, dict) and d["mark"] else None
        rollback = record if record is not None and record.get("kind") == "rollback" else None
        d["rollback"] = None if rollback is None else _operation(rollback)
        d["who"] = ((record.get("actor") or {}).get("user") if record is not None else None) \
            or v.environment.get("git.author") or None
        d["image"] = None
        if with_image and v.has_checkpoint and (current or h.backend.cheap_checkpoints):
            try:
                d["image"] = _label(_images(h.current()) if current else version_images(h, v.number))
            except RollbackError as exc:
                warnings.append(f"v{v.number}: image not shown: {exc.message}")
        return d


def _label(images: list[str]) -> str | None:
    """``bot:1.5.0`` (the image's name and tag, whole), several joined: ``bot:1.5.0, worker:2.0``."""
    tails = list(dict.fromkeys(i.rsplit("/", 1)[-1] for i in images))
    return ", ".join(tails) if tails else None
