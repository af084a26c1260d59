"""Our guards on a planned rollback: what refuses it before the engine is even asked (exit 3, nothing changed).

Checkpoint features a replay cannot reproduce, data loss (unless --allow-data-loss), protected resources it
would delete or replace, the stack's lock with its holder, pending operations from an interrupted update, a
failed rehearsal. The engine's own plan adds its refusals later (:mod:`rollback.enginecheck`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rollback.models import urn_name

if TYPE_CHECKING:
    from rollback.actions.preview import Plan

# Checkpoint features (state version 4) a replay reproduces; the others record engine behaviour (hooks,
# views, taint, replaceWith, parameterized providers, byte strings) that re-registering inputs cannot.
REPLAYABLE_FEATURES = frozenset({"refreshBeforeUpdate"})


def guard_reasons(plan: Plan, *, allow_data_loss: bool) -> tuple[list[str], list[str]]:
    """What refuses this rollback (reasons) and what was allowed by a flag (notes)."""
    reasons: list[str] = []
    notes: list[str] = []
    for feature in plan.target.features:
        if feature not in REPLAYABLE_FEATURES:
            reasons.append(f"v{plan.resolution.target.number} uses the checkpoint feature '{feature}', which a "
                           f"replay cannot reproduce ({plan.target.source})")
    for loss in plan.diff.data_loss:
        text = f"{loss.op} data-bearing {loss.type} {urn_name(loss.urn)}"
        if allow_data_loss:
            notes.append(f"allowed by --allow-data-loss: will {text}")
        else:
            reasons.append(f"DATA LOSS: would {text} (pass --allow-data-loss to allow it)")
    for c in plan.diff.changes:
        if c.protected and c.op.destroys:
            reasons.append(f"would {c.op} protected resource {c.urn} (unprotect it first: "
                           f"`pulumi state unprotect '{c.urn}'`)")
    for lock in plan.history.backend.locks(plan.history.ref):
        reasons.append(f"stack is locked by {lock.holder} since {lock.timestamp} ({lock.where}); wait for that "
                       f"update, or run `pulumi cancel` if it died")
    if plan.current.pending_operations:
        reasons.append(f"the current state has {len(plan.current.pending_operations)} pending operation(s) "
                       f"from an interrupted update: run `pulumi refresh --clear-pending-creates` (or `pulumi "
                       f"refresh` and review) so the state matches reality, then retry")
    if plan.rehearsal is not None and not plan.rehearsal.ok:
        reasons += [f"rehearsal mismatch: {m}" for m in plan.rehearsal.mismatches[:10]]
    return reasons, notes
