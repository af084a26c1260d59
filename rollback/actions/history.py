"""`infra-rollback history STACK`: a stack's versions, newest first, with marks and rollbacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollback.actions.context import Context
from rollback.errors import StateError
from rollback.history import StackHistory
from rollback.models import Version
from rollback.records import Records


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
        "resource_changes": dict(v.resource_changes),
        "has_checkpoint": v.has_checkpoint,
    }


#: How many versions ``history`` shows unless told otherwise (``--limit N``, ``--all``).
DEFAULT_LIMIT = 20
#: A rollback's audit record is written before the version it makes: records older than the version
#: below the oldest one shown (less this much, for clocks that differ between machines) are not read.
_CLOCK_SLACK = 3600


@dataclass
class History:
    ctx: Context
    limit: int | None = DEFAULT_LIMIT   # None: every version

    def run(self, stack: str) -> dict[str, Any]:
        """Reads only what it shows: the newest ``limit`` versions' metadata (several at once), the audit
        records that can belong to them, and the end of the current state (pending operations)."""
        h: StackHistory = self.ctx.history(stack)
        newest = h.count
        oldest = 1 if self.limit is None else max(1, newest - self.limit + 1)
        shown = range(newest, oldest - 1, -1)
        h.prefetch([*shown, oldest - 1])
        records = Records(self.ctx.backend, h.ref)
        rollbacks = {r.get("new_version_key"): r for r in records.all(since=self._records_since(h, oldest))
                     if r.get("kind") == "rollback" and r.get("new_version_key")}
        versions: list[dict[str, Any]] = []
        for number in shown:
            v = h.version(number)
            d = version_to_dict(v)
            r = rollbacks.get(v.key)
            d["rollback"] = None if r is None else {
                "from_version": r.get("from_version"), "to_version": r.get("to_version"),
                "reason": r.get("reason"), "by": (r.get("actor") or {}).get("user"), "outcome": r.get("outcome"),
                "time_to_recover_seconds": r.get("time_to_recover_seconds")}
            versions.append(d)
        current = h.current_version() if h.count else None
        warnings = h.marks.problems + records.problems
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
            "total": h.count,
            "warnings": warnings,
        }

    @staticmethod
    def _records_since(h: StackHistory, oldest: int) -> float | None:
        """Unix time from which audit records can belong to versions ``oldest`` and newer (None: all)."""
        if oldest <= 1:
            return None
        below = h.version(oldest - 1)
        when = below.start_time or below.end_time
        return None if when is None else float(when - _CLOCK_SLACK)
