"""`history`, `show`, `diff`, `mark` and `write-config` on a Terraform workspace: the same documents as for a
Pulumi stack (docs/cli.md), read from the workspace's stored states and their provenance records.

- ``history``: one row per stored state, newest first; who made it (our audit record, else the deploy's
  actor), its git commit, the image it ran (from the newest :data:`IMAGE_VERSIONS` states shown), its
  changes, its mark, and the rollbacks that left no version of their own.
- ``show``: one version's workloads (from its state), its recorded variables (secret ones ``[secret]``) and
  its outputs (sensitive ones ``[secret]``).
- ``diff``: what differs between two recorded states, resource by resource (a state diff cannot tell a
  replacement from an update: it says ``update``).
- ``mark``: good/bad, shared through the backend (``.infra-rollback/terraform/`` beside the state).
- ``write-config``: refused, with what to do instead: a workspace's configuration is its git commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollback.actions.history import IMAGE_VERSIONS, _label, _operation, _seconds, version_to_dict
from rollback.actions.hooks import QUIET, Listener
from rollback.actions.mark import now_iso, who
from rollback.actions.terraform.context import TfContext
from rollback.actions.terraform.document import changes_and_summary
from rollback.errors import BadInput, RollbackError, VersionNotFound
from rollback.models import Mark
from rollback.records import Records
from rollback.terraform.plan import state_changes
from rollback.terraform.summary import images, inventory


@dataclass
class History:
    ctx: TfContext
    limit: int | None = None
    images: int = IMAGE_VERSIONS
    listener: Listener = QUIET

    def run(self, stack: str) -> dict[str, Any]:
        with self.listener.step(f"reading the history of workspace {stack}"):
            h = self.ctx.history(stack)
            if not h.count and not h.backend.exists():
                raise VersionNotFound(h.missing())
        records = Records(h.backend, h.ref)
        all_records = records.all()
        by_version = {r.get("new_version_key"): r for r in all_records
                      if r.get("kind") in ("rollback", "deploy") and r.get("new_version_key")}
        marks = h.marks.all()
        current = h.current_version() if h.count else None
        warnings: list[str] = []
        versions: list[dict[str, Any]] = []
        with self.listener.step(f"reading workspace {stack}'s versions"):
            oldest = 1 if self.limit is None else max(1, h.count - self.limit + 1)
            for number in range(h.count, oldest - 1, -1):
                try:
                    v = h.version(number)
                except RollbackError as exc:
                    warnings.append(f"v{number} skipped: {exc.message}")
                    continue
                d = version_to_dict(v)
                entry = marks.get(v.key)
                d["mark_by"] = entry.get("by") if isinstance(entry, dict) and d["mark"] else None
                record = by_version.get(v.key)
                rollback = record if record is not None and record.get("kind") == "rollback" else None
                d["rollback"] = None if rollback is None else _operation(rollback)
                d["who"] = ((record.get("actor") or {}).get("user") if record is not None else None) \
                    or v.environment.get("actor") or None
                d["image"] = _label(images(h.state(number))) if len(versions) < self.images else None
                versions.append(d)
        keys = h.keys()
        operations = [dict(_operation(r), at=_seconds(r.get("decided_at"))) for r in all_records
                      if r.get("kind") == "rollback" and (not r.get("new_version_key")
                                                          or str(r.get("new_version_key")) not in keys)]
        if any(op["outcome"] == "in-progress" for op in operations):
            running = h.backend.lock() is not None
            for op in operations:
                if op["outcome"] == "in-progress":
                    op["state"] = "in-progress" if running else "interrupted"
        if versions and operations and self.limit is not None:
            earliest = min((v["start_time"] or 0) for v in versions)
            operations = [op for op in operations if (op["at"] or 0) >= earliest]
        return {
            "stack": h.ref.name,
            "project": None,
            "backend": h.backend.describe(),
            "current_version": current,
            "versions": versions,
            "operations": operations,
            "total": h.count,
            "not_shown": oldest - 1 if h.count else 0,
            "warnings": h.marks.problems + records.problems + warnings,
        }


@dataclass
class Show:
    ctx: TfContext

    def run(self, stack: str, version: str) -> dict[str, Any]:
        h = self.ctx.history(stack)
        number = h.number_of(version)
        v = h.version(number)
        state = h.state(number)
        return {"stack": h.ref.name, "project": None, "current": number == h.current_version(),
                "version": version_to_dict(v), "workloads": inventory(state), "config": dict(v.config),
                "outputs": dict(state.output_values), "warnings": []}


@dataclass
class Diff:
    ctx: TfContext

    def run(self, stack: str, from_spec: str, to_spec: str) -> dict[str, Any]:
        h = self.ctx.history(stack)
        a_label, b_label = _number(h, from_spec), _number(h, to_spec)
        a = h.state(h.number_of("current") if a_label == "current" else int(a_label))
        b = h.state(h.number_of("current") if b_label == "current" else int(b_label))
        changes, summary = changes_and_summary(state_changes(a, b), rollback=False,
                                               to_label="current" if b_label == "current" else f"v{b_label}")
        return {"stack": h.ref.name, "project": None, "from_version": a_label, "to_version": b_label,
                "skipped": [], "changes": changes, "summary": summary, "warnings": []}


def _number(h: Any, spec: str) -> int | str:
    if spec.strip().lower() == "current":
        h.number_of("current")   # an error now when the workspace has no state
        return "current"
    return int(h.number_of(spec))


@dataclass
class MarkVersion:
    ctx: TfContext

    def run(self, stack: str, version: str, mark: str, reason: str) -> dict[str, Any]:
        h = self.ctx.history(stack)
        v = h.version(h.number_of(version, targets=False))
        h.marks.set(v.key, Mark(mark), version=v.number, reason=reason, by=who(), at=now_iso())
        return {"stack": h.ref.name, "project": None, "version": v.number, "mark": mark, "reason": reason}


WRITE_CONFIG_WHY = ("a Terraform workspace has no stack config file to write: its configuration is a git commit "
                    "and its variables are recorded with each version (`infra-rollback show STACK vN`); after a "
                    "rollback, bring git back to the target's commit (`git revert`) before the next deploy")


@dataclass
class WriteConfig:
    ctx: TfContext
    dry_run: bool = False

    def run(self, stack: str, target: str = "current") -> dict[str, Any]:
        raise BadInput(f"write-config: {WRITE_CONFIG_WHY}")


__all__ = ["Diff", "History", "MarkVersion", "Show", "WRITE_CONFIG_WHY", "WriteConfig"]
