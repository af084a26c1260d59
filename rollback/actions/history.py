"""`infra-rollback history STACK`: a stack's versions, newest first, with marks and rollbacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollback.actions.context import Context
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


@dataclass
class History:
    ctx: Context
    limit: int | None = None

    def run(self, stack: str) -> dict[str, Any]:
        h: StackHistory = self.ctx.history(stack)
        records = Records(self.ctx.backend, h.ref)
        rollbacks = {r.get("new_version_key"): r for r in records.all()
                     if r.get("kind") == "rollback" and r.get("new_version_key")}
        versions: list[dict[str, Any]] = []
        for v in h.newest_first():
            if self.limit is not None and len(versions) >= self.limit:
                break
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
            "warnings": warnings,
        }
