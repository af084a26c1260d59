"""Rolling a Terraform/OpenTofu workspace back: apply the target version's configuration and variables again.

Terraform state is a record, not a desired state, so going back means re-applying what made the target
version, with the engine's plan as the authority. The story (nothing changes before step 7):

 1. resolve   the target version (``previous``, ``N``, ``last-good``, ``git:REF``) and its provenance:
              the commit and the recorded variables (``git:REF`` of a version we did not make: the
              commit alone, with the variables that commit's own files give)
 2. lock      a held state lock refuses, naming the holder (exit 3)
 3. checkout  the commit into a temporary git worktree, with an override pointing at the same backend
 4. init      against that backend, in the worktree (providers as the commit's lock file pins them)
 5. plan      ``plan -out`` with the recorded variables; ``show -json`` of the saved plan
 6. guards    data-bearing deletes/replaces in the plan's actions refuse unless allowed;
              ``prevent_destroy`` and a lock taken meanwhile stop the engine's plan (exit 3)
 7. apply     exactly that saved plan (after the caller's confirmation)
 8. converge  ``plan -detailed-exitcode`` must report no changes
 9. record    the provenance of the new state (the target's commit and variables), the audit record,
              and the version the rollback left marked bad

Never ``state push``: an old state rewinds the record, not the infrastructure. The temporary worktree,
the variables file and the plan file (which hold secrets in clear) are removed whatever happens.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollback.errors import OperationFailed, Refused
from rollback.history import Resolution
from rollback.models import Mark
from rollback.records import AuditRecord, Records, actor, iso, utc_now
from rollback.render.summary import workload_lines as render_summary_lines
from rollback.summary import WorkloadChange, workloads_to_dicts
from rollback.terraform.engine import Engine, Run, StateLocked
from rollback.terraform.history import GitTarget, TfHistory
from rollback.terraform.plan import TfPlan, guard_reasons, read_plan
from rollback.terraform.provenance import Provenance, ProvenanceStore, open_variables, passphrase_from_env
from rollback.terraform.state import parse_state
from rollback.terraform.summary import action_lines, workload_summary
from rollback.terraform.workspace import Workspace, checkout, write_var_file


@dataclass
class RollbackPlan:
    """Everything decided before anything changes: what the preview shows and the guards judged."""

    workspace: Workspace
    history: TfHistory
    target_spec: str
    commit: str
    resolution: Resolution | None          # None for a git:REF the history does not know
    provenance: Provenance | None          # the target version's record (its variables)
    current_version: int | None
    workdir: Path                          # inside the temporary worktree
    tmp: Path
    planfile: Path
    var_file: Path
    plan: TfPlan
    changes: list[WorkloadChange]
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def target_version(self) -> int | None:
        return self.resolution.target.number if self.resolution is not None else None

    @property
    def target_label(self) -> str:
        return f"v{self.target_version}" if self.target_version else f"git:{self.commit[:12]}"

    def summary_lines(self) -> list[str]:
        return render_summary_lines(self.changes)

    def to_dict(self) -> dict[str, Any]:
        """The preview's JSON shape (engine-neutral keys first, then the plan)."""
        skipped = [s.to_dict() for s in self.resolution.skipped] if self.resolution is not None else []
        return {
            "engine": "terraform", "workspace": self.workspace.name, "backend": self.workspace.backend.describe(),
            "from_version": self.current_version, "to_version": self.target_version, "target": self.target_spec,
            "commit": self.commit, "skipped": skipped,
            "variables": self.provenance.display_variables() if self.provenance is not None else {},
            "summary": {"lines": self.summary_lines(), "workloads": workloads_to_dicts(self.changes),
                        **self.plan.counts()},
            "plan": self.plan.to_dict(), "actions": action_lines(self.plan),
            "warnings": list(self.warnings) + list(self.notes), "refused": list(self.reasons),
        }

    def text(self) -> str:
        head = (f"Roll back workspace {self.workspace.name} ({self.workspace.backend.describe()}) "
                f"{'from v' + str(self.current_version) + ' ' if self.current_version else ''}to {self.target_label} "
                f"(commit {self.commit[:12]})")
        lines = [head, "", "What changes:"]
        lines += [f"  {line}" for line in self.summary_lines() or ["(no change to workloads or parameters)"]]
        counts = self.plan.counts()
        lines.append("")
        lines.append("The engine's plan: " + (", ".join(f"{v} to {k}" for k, v in counts.items() if v) or "no changes"))
        lines += [f"  {line}" for line in action_lines(self.plan)]
        for w in self.warnings + self.notes:
            lines.append(f"warning: {w}")
        for r in self.reasons:
            lines.append(f"refused: {r}")
        return "\n".join(lines)


@dataclass(frozen=True)
class RollbackResult:
    outcome: str                     # rolled-back | nothing-to-do
    plan: RollbackPlan
    apply: Run | None = None
    new_version: int | None = None
    record: AuditRecord | None = None


@dataclass
class TfRollback:
    workspace: Workspace
    engine: Engine
    allow_data_loss: bool = False
    reason: str = ""
    passphrase: str | None = None
    environ: Mapping[str, str] | None = None
    on_event: Callable[[dict[str, Any]], None] | None = None

    # -- 1..6: decide -------------------------------------------------------------------------
    @contextlib.contextmanager
    def prepare(self, target: str) -> Iterator[RollbackPlan]:
        """Resolve, check out, init, plan and judge; the worktree lives for the ``with`` block."""
        ws = self.workspace
        history = ws.history()
        resolved = history.resolve(target)
        warnings: list[str] = []
        provenance: Provenance | None = None
        resolution: Resolution | None = None
        if isinstance(resolved, GitTarget):
            commit = ws.resolve_commit(resolved.ref)
            warnings.append(f"git:{resolved.ref} is not a version infra-rollback deployed: no recorded variables, "
                            f"only what commit {commit[:12]} itself sets (tfvars files, defaults) and TF_VAR_*")
        else:
            resolution = resolved
            warnings.extend(resolved.warnings)
            provenance = history.provenance_of(resolved.target.number)
            if provenance is None or not provenance.commit:
                raise Refused(f"{resolved.target.label} of workspace '{ws.name}' has no provenance record (it was not "
                              f"applied by infra-rollback deploy): roll back with --to git:REF, naming its commit")
            if provenance.subdir != ws.subdir:
                warnings.append(f"{resolved.target.label} was applied from {provenance.subdir or 'the repository root'}, "
                                f"the working directory is now {ws.subdir or 'the repository root'}")
            commit = provenance.commit
            if provenance.dirty:
                warnings.append(f"{resolved.target.label} was applied from a dirty tree: commit {commit[:12]} may "
                                f"differ from what was applied")
        lock = ws.backend.lock()
        if lock is not None:
            raise StateLocked(lock, where=ws.backend.describe())
        current = history.current_version()
        passphrase = self.passphrase if self.passphrase is not None else passphrase_from_env(self.environ)
        variables = open_variables(provenance, passphrase=passphrase, environ=self.environ,
                                   source=f"{resolution.target.label if resolution else 'target'} of workspace "
                                          f"'{ws.name}'") if provenance is not None else {}
        with checkout(ws, commit) as (tmp, workdir):
            var_file = write_var_file(tmp, variables)
            planfile = tmp / "rollback.tfplan"
            self.engine.init(workdir, reconfigure=True, workspace=ws.name)
            self.engine.plan(workdir, out=planfile, var_files=[var_file], workspace=ws.name)
            plan = read_plan(self.engine.show_plan(workdir, planfile, workspace=ws.name))
            reasons, notes = guard_reasons(plan, allow_data_loss=self.allow_data_loss)
            for d in plan.drift:
                if d.changes_something:
                    notes.append(f"drift: {d.address} changed outside Terraform since the last apply ({d.op}); "
                                 f"the plan accounts for it")
            yield RollbackPlan(workspace=ws, history=history, target_spec=target, commit=commit, resolution=resolution,
                               provenance=provenance, current_version=current, workdir=workdir, tmp=tmp,
                               planfile=planfile, var_file=var_file, plan=plan,
                               changes=workload_summary(plan), reasons=reasons, notes=notes, warnings=warnings)

    # -- 7..9: act ----------------------------------------------------------------------------
    def apply(self, rp: RollbackPlan) -> RollbackResult:
        """Apply the saved plan, check convergence, record. Refuses (nothing changed) if a guard said no."""
        if rp.reasons:
            raise Refused("rollback refused: " + "; ".join(rp.reasons), reasons=rp.reasons)
        if not rp.plan.effective:
            return RollbackResult(outcome="nothing-to-do", plan=rp)
        ws = rp.workspace
        record = AuditRecord(kind="rollback", stack=ws.name, project="terraform", from_version=rp.current_version,
                             to_version=rp.target_version, reason=self.reason, actor=actor(self.environ),
                             decided_at=iso(utc_now()) or "",
                             summary={"changes": rp.plan.counts(), "lines": rp.summary_lines(),
                                      "commit": rp.commit, "engine": self.engine.name,
                                      "data_loss": [c.address for c in rp.plan.effective if c.loses_data]})
        record.timings["apply_started_at"] = iso(utc_now())
        started = time.monotonic()
        failure: OperationFailed | None = None
        run: Run | None = None
        try:
            run = self.engine.apply(rp.workdir, rp.planfile, workspace=ws.name, on_event=self.on_event)
            record.engine_changes = dict(run.changes)
            record.timings["applied_at"] = iso(utc_now())
            record.timings["applied_seconds"] = round(time.monotonic() - started, 3)
        except OperationFailed as exc:
            failure = exc
            record.outcome = "failed"
            record.notes.append(exc.message)
        raw = self.engine.state_pull(rp.workdir, workspace=ws.name)
        new_state = parse_state(raw, source=ws.backend.describe())
        ws.backend.keep_snapshot(raw, serial=new_state.serial, lineage=new_state.lineage)
        self._record_provenance(rp, new_state.serial, new_state.lineage, failed=failure is not None)
        history = ws.history()
        record.new_version = history.current_version()
        if record.new_version is not None:
            record.new_version_key = history.version(record.new_version).key
        if failure is None:
            check = self.engine.plan(rp.workdir, var_files=[rp.var_file], detailed_exitcode=True, workspace=ws.name)
            if check.exit_code == 2:
                left = check.changes or {}
                record.outcome = "applied-not-converged"
                record.notes.append(f"the plan after the apply still has changes: {left}")
                failure = OperationFailed(f"rolled back workspace '{ws.name}' to {rp.target_label}, but it has not "
                                          f"converged: the next plan still has changes ({_counts_text(left)})")
            else:
                record.timings["converged_at"] = iso(utc_now())
                record.outcome = "rolled-back"
        Records(ws.backend, rp.history.ref).save(record)   # type: ignore[arg-type]  # duck-typed backend
        if record.outcome == "rolled-back":
            self._mark_left_bad(rp, record)
        if failure is not None:
            raise failure
        return RollbackResult(outcome=record.outcome, plan=rp, apply=run, new_version=record.new_version, record=record)

    def run(self, target: str, *, confirm: Callable[[RollbackPlan], bool] | None = None) -> RollbackResult:
        """prepare -> guards -> confirm -> apply, in one call (``confirm`` None: no question asked)."""
        with self.prepare(target) as rp:
            if rp.reasons:
                raise Refused("rollback refused: " + "; ".join(rp.reasons), reasons=rp.reasons)
            if rp.plan.effective and confirm is not None and not confirm(rp):
                raise Refused("rollback not confirmed: nothing was changed")
            return self.apply(rp)

    # -- records ------------------------------------------------------------------------------
    def _record_provenance(self, rp: RollbackPlan, serial: int, lineage: str, *, failed: bool) -> None:
        ws = rp.workspace
        git = ws.git()
        src = rp.provenance
        record = Provenance(
            lineage=lineage, serial=serial, commit=rp.commit, subdir=ws.subdir, dirty=False, branch=git.branch,
            workspace=ws.name, variables=dict(src.variables) if src else {}, secrets_salt=src.secrets_salt if src else None,
            kind="rollback", result="failed" if failed else "succeeded", engine=self.engine.name,
            engine_version=str(self.engine.version().get("terraform_version") or ""),
            started_at=iso(utc_now()) or "", finished_at=iso(utc_now()) or "", changes=rp.plan.counts(),
            message=f"infra-rollback: roll back to {rp.target_label}" + (f": {self.reason}" if self.reason else ""),
            actor=actor(self.environ))
        ProvenanceStore(ws.backend.store, ws.backend.records_prefix()).save(record)

    def _mark_left_bad(self, rp: RollbackPlan, record: AuditRecord) -> None:
        if rp.current_version is None:
            return
        v = rp.history.version(rp.current_version)
        if v.mark is None:
            reason = f"rolled back to {rp.target_label}" + (f": {self.reason}" if self.reason else "")
            rp.history.mark(v.number, Mark.BAD, reason=reason, by=str(record.actor.get("user", "?")), at=record.decided_at)


def _counts_text(changes: Mapping[str, int]) -> str:
    parts = [f"{v} to {k}" for k, v in changes.items() if v and k != "operation"]
    return ", ".join(parts) or "changes"


__all__ = ["RollbackPlan", "RollbackResult", "TfRollback"]
