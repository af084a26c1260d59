"""`infra-rollback diff STACK --from A --to B`: what differs between any two versions (``current`` allowed).

The same document as a rollback preview, without what only a rollback has (target, rehearsal, replay):
the resource changes and the summary a person reads first, built by the same code
(:func:`rollback.render.summary.summary_lines`: workloads, ConfigMap keys, secrets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollback.actions.context import Context
from rollback.history import StackHistory
from rollback.models import Deployment


@dataclass
class Diff:
    ctx: Context

    def run(self, stack: str, from_spec: str, to_spec: str) -> dict[str, Any]:
        from rollback.diff import diff_deployments
        from rollback.render.summary import summary_lines
        from rollback.summary import workload_summary, workloads_to_dicts

        history = self.ctx.history(stack)
        a, a_label = _load(history, from_spec)
        b, b_label = _load(history, to_spec)
        sa, sb = history.secrets_for(a), history.secrets_for(b)
        d = diff_deployments(a, b, current_secrets=sa, target_secrets=sb).to_dict()
        workloads = workload_summary(a, b, current_secrets=sa, target_secrets=sb)
        summary = dict(d.get("summary") or {})
        summary["workloads"] = workloads_to_dicts(workloads)
        summary["lines"] = summary_lines(workloads, d, to_label="current" if b_label == "current" else f"v{b_label}",
                                         rollback=False)
        return {"stack": history.ref.name, "project": history.ref.project or None,
                "from_version": a_label, "to_version": b_label, "skipped": [],
                "changes": d.get("changes", []), "summary": summary, "warnings": d.get("warnings", [])}


def _load(history: StackHistory, spec: str) -> tuple[Deployment, int | str]:
    if spec.strip().lower() == "current":
        return history.current(), "current"
    number = history.resolve(spec).target.number
    return history.checkpoint(number), number
