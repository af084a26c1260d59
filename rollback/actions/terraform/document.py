"""The preview and diff documents of a Terraform workspace, in the engine-neutral JSON contract (docs/cli.md).

The keys are the Pulumi preview's where they apply (``stack``, ``backend``, ``from_version``, ``to_version``,
``target``, ``skipped``, ``changes``, ``summary``, ``warnings``, ``refusals``, ``engine``), so the same
renderers print both; what only Terraform has is under ``terraform``. The replay's keys (``rehearsal``,
``cannot_restore``, ``provider_versions``, ``notes``) are absent: the engine's plan is the replay.

- ``changes`` are the engine's plan's actions when it ran, else what the two recorded states predict;
- ``engine`` is the engine's plan, resource by resource (``urn`` = the resource address), held against that
  prediction (``predicted_op``): a state diff cannot tell a replacement from an update, so a predicted
  ``update`` that the engine makes as a ``replace`` agrees (``predicted_op`` ``replace``). What the recorded
  states say differs but the plan leaves as it is goes to ``not_restored``; what the plan changes that the
  states do not differ on (drift, a commit whose configuration differs from what that version applied) to
  ``disagreements``. Both are lines a person reads; neither refuses: the plan shown is the plan applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rollback.actions.history import version_to_dict
from rollback.render.summary import workload_lines
from rollback.summary import workloads_to_dicts
from rollback.terraform.plan import TfPlan
from rollback.terraform.rollback import Decision, RollbackPlan
from rollback.terraform.summary import workload_summary

OPS = ("create", "update", "replace", "delete")
_WORDS = {"same": "leave it as it is", "update": "update it", "create": "create it", "replace": "replace it",
          "delete": "delete it", "forget": "forget it (remove it from the state, leaving it in place)"}


def changes_and_summary(plan: TfPlan, *, rollback: bool, to_label: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``changes`` and ``summary`` of a document, from a plan (the engine's, or two states read as one)."""
    effective = plan.effective
    counts = {op: 0 for op in OPS}
    for c in effective:
        counts[c.op] = counts.get(c.op, 0) + 1
    workloads = workload_summary(plan)
    summary: dict[str, Any] = {
        **counts,
        "unchanged": sum(1 for c in plan.changes if c.mode == "managed" and not c.changes_something),
        "data_loss": [c.data_loss() for c in effective if c.loses_data],
        "protected": [], "provider_changes": [], "uncompared_secrets": [],
        "workloads": workloads_to_dicts(workloads),
        "lines": workload_lines(workloads, to_label=to_label, rollback=rollback),
    }
    return [c.to_dict() for c in effective], summary


def engine_check(plan: TfPlan, predicted: TfPlan | None) -> dict[str, Any]:
    """The ``engine`` key: the plan's steps with what the recorded states predicted (see the module's doc)."""
    guesses = None if predicted is None else {c.urn: ("same" if not c.changes_something else c.op)
                                              for c in predicted.changes}
    steps: list[dict[str, Any]] = []
    disagreements: list[str] = []
    not_restored: list[str] = []
    seen: set[str] = set()
    for c in plan.changes:
        if c.mode != "managed":
            continue
        op = c.op if c.changes_something else "same"
        seen.add(c.urn)
        guess: str | None = None
        if guesses is not None:
            guess = guesses.get(c.urn, "same")
            if guess == "update" and op == "replace":
                guess = op
        steps.append({"urn": c.urn, "type": c.type, "op": op, "predicted_op": guess})
        if guess is None or guess == op:
            continue
        what = f"{c.type} {c.short_name}"
        if op == "same":
            not_restored.append(f"{what}: the engine will leave it as it is now, though its recorded state differs "
                                f"in the target (we predicted: {guess})")
        else:
            disagreements.append(f"the engine will {_WORDS.get(op, op)}: {what} (the recorded states predicted: "
                                 f"{_WORDS.get(guess, guess)})")
    for c in predicted.changes if predicted is not None else ():
        if c.urn not in seen and c.changes_something:
            steps.append({"urn": c.urn, "type": c.type, "op": "same", "predicted_op": c.op})
            not_restored.append(f"{c.type} {c.short_name}: the engine will leave it as it is now (we predicted: "
                                f"{c.op})")
    return {"ran": True, "steps": steps, "disagreements": disagreements, "not_restored": not_restored}


def did_not_run(why: str) -> dict[str, Any]:
    return {"ran": False, "steps": [], "disagreements": [], "not_restored": [], "note": why}


def target_dict(d: Decision) -> dict[str, Any]:
    """``target``: the version as in ``history``; a commit no version was made from has ``version`` null."""
    if d.target is not None:
        return version_to_dict(d.target)
    return {"version": None, "kind": "commit", "result": None, "start_time": None, "end_time": None,
            "message": "", "git_head": d.commit, "mark": None, "mark_reason": None, "resource_changes": {},
            "has_checkpoint": False}


def preview_document(d: Decision, rp: RollbackPlan | None, *, engine: dict[str, Any], refusals: Sequence[str],
                     warnings: Sequence[str] = (), engine_name: str | None = None) -> dict[str, Any]:
    """The preview of a rollback: from the engine's plan when ``rp`` is given, else from the prediction."""
    ws = d.workspace
    plan = rp.plan if rp is not None else (d.predicted or TfPlan(terraform_version="", changes=()))
    changes, summary = changes_and_summary(plan, rollback=True, to_label=d.target_label)
    return {
        "stack": ws.name,
        "project": None,
        "backend": ws.backend.describe(),
        "from_version": d.current_version,
        "to_version": d.target_version,
        "target": target_dict(d),
        "skipped": [s.to_dict() for s in d.resolution.skipped] if d.resolution is not None else [],
        "changes": changes,
        "summary": summary,
        "warnings": list(dict.fromkeys([*d.warnings, *(rp.notes if rp is not None else ()), *warnings])),
        "refusals": list(refusals),
        "engine": engine,
        "terraform": {
            "workspace": ws.name,
            "working_directory": str(ws.workdir),
            "engine": engine_name,
            "commit": d.commit,
            "variables": d.provenance.display_variables() if d.provenance is not None else {},
            "health": rp.health.source if rp is not None and rp.health is not None else None,
            "drift": [c.to_dict() for c in rp.plan.drift if c.drifted] if rp is not None else [],
        },
    }


__all__ = ["changes_and_summary", "did_not_run", "engine_check", "preview_document", "target_dict"]
