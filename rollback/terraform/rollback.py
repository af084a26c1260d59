"""Rolling a Terraform/OpenTofu workspace back: apply the target version's configuration and variables again.

Terraform state is a record, not a desired state, so going back means re-applying what made the target
version, with the engine's plan as the authority. The steps (nothing changes before :meth:`TfRollback.apply`):

 1. decide    :meth:`TfRollback.decide`: the target version (``previous``, ``N``, ``last-good``, ``git:REF``)
              and its provenance (the commit and the recorded variables; ``git:REF`` of a version we did
              not make: the commit alone), who holds the state lock, and what the two recorded states
              say will change (the prediction). No engine needed.
 2. plan      :meth:`TfRollback.planned`: the commit checked out into a temporary git worktree, with an
              override pointing at the same backend; ``init`` there; ``plan -out`` with the recorded
              variables; ``show -json`` of the saved plan; the guards on the plan's actions (data-bearing
              deletes/replaces refuse unless allowed); the commit's health gates. ``prevent_destroy`` and a
              lock taken meanwhile stop the engine's plan (raised: exit 3).
 3. apply     :meth:`TfRollback.apply`: exactly that saved plan (the engine refuses a plan made stale by
              another apply), the new state's provenance (the target's commit and variables), then
              ``plan -detailed-exitcode`` must report no changes.

Records, marks, health gates and the story around them are the action's
(:mod:`rollback.actions.terraform.rollback`). Never ``state push``: an old state rewinds the record, not the
infrastructure. The temporary worktree, the variables file and the plan file (which hold secrets in clear)
are removed whatever happens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollback.errors import OperationFailed, TargetError
from rollback.history import Resolution
from rollback.models import Version
from rollback.records import actor, iso, utc_now
from rollback.render.summary import workload_lines as render_summary_lines
from rollback.summary import WorkloadChange
from rollback.terraform.engine import Engine, LockInfo, Run
from rollback.terraform.health import HealthFile, find_health_file
from rollback.terraform.history import GitTarget, TfHistory
from rollback.terraform.plan import TfPlan, guard_reasons, read_plan, state_changes
from rollback.terraform.provenance import Provenance, ProvenanceStore, open_variables, passphrase_from_env
from rollback.terraform.state import TfState, parse_state
from rollback.terraform.summary import workload_summary
from rollback.terraform.workspace import Workspace, checkout, write_var_file


@dataclass
class Decision:
    """What the history says, before any engine runs: the target, its provenance, the lock, the prediction."""

    workspace: Workspace
    history: TfHistory
    target_spec: str
    commit: str
    resolution: Resolution | None          # None for a git:REF the history does not know
    provenance: Provenance | None          # the target version's record (its variables)
    current_version: int | None
    lock: LockInfo | None = None
    predicted: TfPlan | None = None        # current state -> target state (None: a commit without a state)
    warnings: list[str] = field(default_factory=list)

    @property
    def target(self) -> Version | None:
        return self.resolution.target if self.resolution is not None else None

    @property
    def target_version(self) -> int | None:
        return self.resolution.target.number if self.resolution is not None else None

    @property
    def target_label(self) -> str:
        return f"v{self.target_version}" if self.target_version else f"git:{self.commit[:12]}"


@dataclass
class RollbackPlan:
    """The engine's plan for a decision, judged; the worktree it was made in lives as long as this does."""

    decision: Decision
    workdir: Path                          # inside the temporary worktree
    tmp: Path
    planfile: Path
    var_file: Path
    plan: TfPlan
    changes: list[WorkloadChange]
    health: HealthFile | None = None       # the target commit's health gates
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def workspace(self) -> Workspace:
        return self.decision.workspace

    @property
    def target_label(self) -> str:
        return self.decision.target_label

    def summary_lines(self) -> list[str]:
        return render_summary_lines(self.changes)


@dataclass
class Applied:
    """What the apply did: the engine's run, the state it left (a version of its own), convergence."""

    run: Run | None
    new_state: TfState | None
    new_version: int | None = None
    new_version_key: str | None = None
    failure: OperationFailed | None = None     # the apply failed part-way (the partial state is recorded)
    interrupted: bool = False                  # stopped by Ctrl-C / SIGTERM (the engine was asked to stop)
    converged: bool | None = None              # None: not checked (failed or interrupted)
    left: dict[str, int] = field(default_factory=dict)   # what the next plan would still change


@dataclass
class TfRollback:
    workspace: Workspace
    engine: Engine | None = None
    allow_data_loss: bool = False
    reason: str = ""
    passphrase: str | None = None
    environ: Mapping[str, str] | None = None
    on_event: Callable[[dict[str, Any]], None] | None = None

    # -- 1: decide ----------------------------------------------------------------------------
    def decide(self, target: str) -> Decision:
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
                raise TargetError(f"{resolved.target.label} of workspace '{ws.name}' has no provenance record (it "
                                  f"was not applied by infra-rollback deploy): name its commit with --to git:REF")
            if provenance.subdir != ws.subdir:
                warnings.append(f"{resolved.target.label} was applied from {provenance.subdir or 'the repository root'}, "
                                f"the working directory is now {ws.subdir or 'the repository root'}")
            commit = provenance.commit
            if provenance.dirty:
                warnings.append(f"{resolved.target.label} was applied from a dirty tree: commit {commit[:12]} may "
                                f"differ from what was applied")
        current = history.current_version()
        predicted = None
        if resolution is not None and current is not None:
            predicted = state_changes(history.state(current), history.state(resolution.target.number))
        return Decision(workspace=ws, history=history, target_spec=target, commit=commit, resolution=resolution,
                        provenance=provenance, current_version=current, lock=ws.backend.lock(), predicted=predicted,
                        warnings=warnings)

    # -- 2: the engine's plan -----------------------------------------------------------------
    @contextlib.contextmanager
    def planned(self, decision: Decision) -> Iterator[RollbackPlan]:
        """Check out, init, plan and judge; the worktree lives for the ``with`` block."""
        ws = decision.workspace
        engine = self._engine()
        passphrase = self.passphrase if self.passphrase is not None else passphrase_from_env(self.environ)
        variables = open_variables(decision.provenance, passphrase=passphrase, environ=self.environ,
                                   source=f"{decision.target_label} of workspace '{ws.name}'") \
            if decision.provenance is not None else {}
        with checkout(ws, decision.commit) as (tmp, workdir):
            var_file = write_var_file(tmp, variables)
            planfile = tmp / "rollback.tfplan"
            engine.init(workdir, reconfigure=True, workspace=ws.name)
            engine.plan(workdir, out=planfile, var_files=[var_file], workspace=ws.name)
            plan = read_plan(engine.show_plan(workdir, planfile, workspace=ws.name))
            reasons, notes = guard_reasons(plan, allow_data_loss=self.allow_data_loss)
            for d in plan.drift:
                if d.drifted:
                    notes.append(f"drift: {d.address} changed outside Terraform since the last apply ({d.op}); "
                                 f"the plan accounts for it")
            health = find_health_file(workdir, ws.name, label=f"at commit {decision.commit[:12]}")
            yield RollbackPlan(decision=decision, workdir=workdir, tmp=tmp, planfile=planfile, var_file=var_file,
                               plan=plan, changes=workload_summary(plan), health=health, reasons=reasons,
                               notes=notes)

    # -- 3: apply -----------------------------------------------------------------------------
    def apply(self, rp: RollbackPlan) -> Applied:
        """Apply the saved plan, record the new state's provenance, check convergence. A failed or interrupted
        apply is returned (with the partial state it left), not raised; a plan the engine finds stale is
        raised (nothing was applied)."""
        ws = rp.workspace
        engine = self._engine()
        failure: OperationFailed | None = None
        interrupted = False
        run: Run | None = None
        try:
            run = engine.apply(rp.workdir, rp.planfile, workspace=ws.name, on_event=self.on_event)
        except OperationFailed as exc:
            failure = exc
        except KeyboardInterrupt:   # the engine was asked to stop and has (its state written)
            interrupted = True
        raw = engine.state_pull(rp.workdir, workspace=ws.name)
        new_state = parse_state(raw, source=ws.backend.describe())
        ws.backend.keep_snapshot(raw, serial=new_state.serial, lineage=new_state.lineage)
        self._record_provenance(rp, new_state, failed=failure is not None or interrupted)
        history = ws.history()
        applied = Applied(run=run, new_state=new_state, new_version=history.current_version(), failure=failure,
                          interrupted=interrupted)
        if applied.new_version is not None:
            applied.new_version_key = history.version(applied.new_version).key
        if failure is None and not interrupted:
            check = engine.plan(rp.workdir, var_files=[rp.var_file], detailed_exitcode=True, workspace=ws.name)
            applied.converged = check.exit_code != 2
            applied.left = dict(check.changes or {}) if check.exit_code == 2 else {}
        return applied

    def _engine(self) -> Engine:
        if self.engine is None:
            from rollback.terraform.engine import find_engine

            self.engine = find_engine(environ=self.environ)
        return self.engine

    def _record_provenance(self, rp: RollbackPlan, state: TfState, *, failed: bool) -> None:
        """What made the state the rollback left: the target's commit and variables (so a later rollback can go
        back to it too)."""
        ws = rp.workspace
        engine = self._engine()
        src = rp.decision.provenance
        record = Provenance(
            lineage=state.lineage, serial=state.serial, commit=rp.decision.commit, subdir=ws.subdir, dirty=False,
            branch=ws.git().branch, workspace=ws.name, variables=dict(src.variables) if src else {},
            secrets_salt=src.secrets_salt if src else None, kind="rollback",
            result="failed" if failed else "succeeded", engine=engine.name,
            engine_version=str(engine.version().get("terraform_version") or ""),
            started_at=iso(utc_now()) or "", finished_at=iso(utc_now()) or "",
            changes={op: n for op, n in rp.plan.counts().items() if n},
            message=f"infra-rollback: roll back to {rp.target_label}" + (f": {self.reason}" if self.reason else ""),
            actor=actor(self.environ))
        ProvenanceStore(ws.backend.store, ws.backend.records_prefix()).save(record)


def counts_text(changes: Mapping[str, int]) -> str:
    parts = [f"{v} to {k}" for k, v in changes.items() if v and k != "operation"]
    return ", ".join(parts) or "changes"


__all__ = ["Applied", "Decision", "RollbackPlan", "TfRollback", "counts_text"]
