"""`infra-rollback deploy STACK` in a Terraform working directory: plan, confirm, apply, record the provenance,
run the health gates, mark, and with ``--auto-rollback`` go straight back to the last good version.

The story is :class:`rollback.actions.deploy.Deploy`'s own (:meth:`~rollback.actions.deploy.Deploy.run`: the
gates' verdict, the marks, the automatic rollback, what was and was not recorded, the exit code); this
subclass supplies its Terraform steps: the checks (git, the workspace, the lock, where records go), the
engine's plan and apply through :class:`~rollback.terraform.deploy.TfDeploy` (which records the commit and
every variable's value, secrets sealed), the gates of ``infra-rollback.health.yaml``, marks by state version,
and a nested Terraform :class:`~rollback.actions.terraform.rollback.Rollback`.

A commit with variables identical to a version marked bad is refused (``--force`` deploys it anyway), as a
Pulumi stack config identical to one is.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollback.actions.deploy import Deploy as PulumiDeploy
from rollback.actions.deploy import auto_rollback
from rollback.actions.hooks import YES, confirmed
from rollback.actions.rollback import RollbackOutcome
from rollback.actions.terraform.context import TfContext
from rollback.errors import Refused, RollbackError, SecretsError
from rollback.models import Mark, Outcome
from rollback.records import AuditRecord, Records, actor, check_writable, iso, utc_now
from rollback.terraform.deploy import DeployPlan, TfDeploy
from rollback.terraform.history import TfHistory
from rollback.terraform.provenance import Provenance, open_variables
from rollback.terraform.rollback import counts_text
from rollback.terraform.state import TfState
from rollback.terraform.summary import summary_lines
from rollback.terraform.workspace import GitState, Workspace


@dataclass
class TfDeployPrepared:
    stack: str
    workspace: Workspace
    history: TfHistory
    git: GitState
    state: TfState | None = None      # what the deploy left (the gates' expectations)


@dataclass
class Deploy(PulumiDeploy):
    ctx: TfContext = None   # type: ignore[assignment]
    variables: Mapping[str, Any] = field(default_factory=dict)   # --var NAME=VALUE
    var_files: Sequence[Path] = ()                               # --var-file FILE

    def _tf(self, prepared: TfDeployPrepared, engine: Any = None) -> TfDeploy:
        return TfDeploy(prepared.workspace, engine, variables=self.variables, var_files=self.var_files,
                        message=self.message, allow_dirty=self.allow_dirty, passphrase=self.ctx.passphrase(),
                        environ=self.ctx.environ)

    # -- the steps Deploy.run takes -----------------------------------------------------------
    def prepare(self, stack: str) -> TfDeployPrepared:   # type: ignore[override]
        ws = self.ctx.workspace(stack)
        history = self.ctx.history(stack)
        prepared = TfDeployPrepared(stack, ws, history, GitState(None, False))
        prepared.git = self._tf(prepared).check()
        unwritable = check_writable(ws.backend, history.ref)   # type: ignore[arg-type]  # found now, not after the apply
        if unwritable:
            raise Refused("deploy refused: " + "; ".join(unwritable), reasons=unwritable)
        self._prepared = prepared
        return prepared

    def _engine(self) -> Any:
        return self.ctx.engine()

    def start_record(self, prepared: TfDeployPrepared) -> AuditRecord:   # type: ignore[override]
        git = prepared.git
        record = AuditRecord(kind="deploy", stack=prepared.stack, project=None,  # type: ignore[arg-type]
                             from_version=prepared.history.current_version(), to_version=None, reason=self.message,
                             actor=actor(self.ctx.environ), decided_at=iso(utc_now()) or "")
        record.summary["git"] = {"head": git.head, "dirty": git.dirty, "branch": git.branch}
        return record

    def perform(self, prepared: TfDeployPrepared, engine: Any, record: AuditRecord) -> float:  # type: ignore[override]
        """Plan, the bad-version guard, confirm, apply; fills ``record``. A failed apply is recorded, then
        raised. Returns when (monotonic) the apply started."""
        tf = self._tf(prepared, engine)
        record.summary["engine"] = engine.name
        with contextlib.ExitStack() as stack:
            with self.listener.step(f"{engine.name} plan of workspace {prepared.stack}"):
                dp = stack.enter_context(tf.planned())
            if not self.force:
                self._refuse_bad_version(prepared, dp)
            self.listener.say("plan: " + (counts_text({k: v for k, v in dp.plan.counts().items() if v})
                                          if dp.plan.effective else "no changes"))
            if not confirmed(self.confirm, "deploy", f"Deploy workspace {prepared.stack}?"):
                raise Refused("deploy not confirmed: nothing was changed")
            started = time.monotonic()
            record.timings["apply_started_at"] = iso(utc_now())
            record.summary["lines"] = summary_lines(dp.plan)
            try:
                with self.listener.step(f"{engine.name} apply of workspace {prepared.stack}"):
                    result = tf.apply(dp, prepared.git)
            except RollbackError as exc:
                self._record_failed_apply(prepared, record, exc)
                raise
        record.timings["applied_at"] = iso(utc_now())
        record.engine_changes = dict(result.changes)
        record.new_version = record.to_version = result.version
        record.new_version_key = result.version_key
        record.summary["commit"] = prepared.git.head
        record.outcome = Outcome.DEPLOYED
        prepared.state = result.state
        return started

    def _mark(self, prepared: TfDeployPrepared, record: AuditRecord, mark: Mark, reason: str) -> None:  # type: ignore[override]
        if record.new_version_key is not None and record.new_version is not None:
            prepared.history.marks.set(record.new_version_key, mark, version=record.new_version, reason=reason,
                                       by=record.actor.get("user", "?"), at=record.decided_at)

    def _roll_back(self, prepared: TfDeployPrepared, record: AuditRecord,  # type: ignore[override]
                   failed: list[str]) -> RollbackOutcome | None:
        """--auto-rollback: straight back to the last good version (else the previous one); into the record."""
        from rollback.actions.terraform.rollback import Rollback

        detected = time.monotonic()
        record.timings["failure_detected_at"] = iso(utc_now())
        fresh = self.ctx.history(prepared.stack)
        good = any(entry.get("mark") == Mark.GOOD.value for entry in fresh.marks.all().values())
        target = "last-good" if good else "previous"
        self.listener.say(f"health gates failed ({', '.join(failed)}): rolling back to {target}")
        rb = Rollback(ctx=self.ctx, reason=f"auto-rollback: health gates failed: {', '.join(failed)}",
                      timeout=self.timeout, confirm=YES, listener=self.listener, verifier=self.verifier,
                      recovery_started=detected)
        return auto_rollback(rb, prepared.stack, target, record)

    def _verify(self, stack: str) -> dict[str, Any] | None:
        """The working directory's health gates, expecting what the deploy's state says runs."""
        prepared: TfDeployPrepared = self._prepared
        if self.verifier is not None:
            return self.verifier(plan=None, stack=stack, timeout=self.timeout)
        from rollback.actions.verify import Verify
        from rollback.terraform.health import find_health_file
        from rollback.terraform.state import to_deployment

        health = find_health_file(prepared.workspace.workdir, stack)
        if health is None:
            return None
        report = Verify(config=health.config, source=health.source, timeout=self.timeout,
                        target=to_deployment(prepared.state) if prepared.state is not None else None,
                        on_round=self.listener.gate_progress()).run(stack)
        self.listener.health(report)
        return report.to_dict()

    def record(self, prepared: TfDeployPrepared, record: AuditRecord) -> None:  # type: ignore[override]
        Records(prepared.workspace.backend, prepared.history.ref).save(record)   # type: ignore[arg-type]

    # -- the bad-version guard ----------------------------------------------------------------
    def _refuse_bad_version(self, prepared: TfDeployPrepared, dp: DeployPlan) -> None:
        """The commit and variables of a version marked bad are refused; so are ones that cannot be told apart
        from it (a secret variable that cannot be opened here)."""
        h = prepared.history
        bad = {k: e for k, e in h.marks.all().items() if e.get("mark") == Mark.BAD.value}
        if not bad:
            return
        for number in range(h.count, 0, -1):
            v = h.version(number)
            if v.key not in bad:
                continue
            record = h.provenance_of(number)
            if record is None or record.commit != prepared.git.head or record.subdir != prepared.workspace.subdir:
                continue
            same = self._same_variables(record, dp.values, v.label)
            why = f": {v.mark_reason}" if v.mark_reason else ""
            if same is True:
                raise Refused(f"this commit ({record.commit[:12]}) with these variables is what {v.label} applied, "
                              f"marked bad{why}; deploy a fix, or pass --force")
            if same is None:
                raise Refused(f"this commit ({record.commit[:12]}) may be what {v.label} applied, marked bad{why}: "
                              f"its secret variables cannot be opened here to compare; pass --force to deploy it "
                              f"anyway")

    def _same_variables(self, record: Provenance, values: Mapping[str, Any], label: str) -> bool | None:
        try:
            recorded = open_variables(record, passphrase=self.ctx.passphrase(), environ=self.ctx.environ,
                                      source=label)
        except SecretsError:
            plain = {k: v for k, v in record.variables.items() if k not in record.secret_names}
            if any(values.get(k) != v for k, v in plain.items()):
                return False
            return None
        return dict(recorded) == dict(values)


__all__ = ["Deploy", "TfDeployPrepared"]
