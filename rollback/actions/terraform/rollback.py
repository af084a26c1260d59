"""`infra-rollback STACK --to TARGET` in a Terraform working directory: the same story as for a Pulumi stack.

1. :meth:`Rollback.prepare`   the target and its provenance, the lock, what the recorded states predict, and
                              our guards (a held lock, data-bearing deletes predicted, records and marks that
                              could not be written afterwards). No engine needed: the document (JSON contract)
                              says what would change.
2. :meth:`Rollback.planned`   the engine's plan of the target's commit with its recorded variables, in a
                              temporary worktree: its actions are the preview's ``changes`` and its ``engine``
                              steps; its guards (data loss, ``prevent_destroy``, a lock) refuse.
3. :meth:`Rollback.run`       refuse (exit 3, nothing changed) or stop when the plan changes nothing; confirm;
                              save an "in progress" audit record; apply exactly the saved plan; converge; run
                              the target commit's health gates (unhealthy: exit 1); complete the record and mark
                              the version the rollback left bad.

It returns the Pulumi side's :class:`~rollback.actions.rollback.RollbackOutcome` (the same ``to_dict()``,
outcome and error), so the command line renders both alike.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rollback.actions.hooks import QUIET, YES, Confirm, Listener
from rollback.actions.rollback import RollbackOutcome, health_unchecked, health_verdict
from rollback.actions.terraform.context import TfContext
from rollback.actions.terraform.document import did_not_run, engine_check, preview_document
from rollback.enginecheck import dedupe
from rollback.errors import BadInput, EngineUnavailable, Interrupted, OperationFailed, Refused, RollbackError
from rollback.models import Mark, Outcome
from rollback.records import AfterApply, AuditRecord, Records, actor, check_writable, iso, utc_now
from rollback.terraform.plan import guard_reasons
from rollback.terraform.rollback import Applied, Decision, RollbackPlan, TfRollback, counts_text

RECOVERY = ("the engine was asked to stop after the operations in flight and wrote the state it left; check it "
            "with `infra-rollback history STACK` and preview again")


@dataclass
class TfPrepared:
    """A rollback decided and guarded, nothing changed yet (and, once planned, the engine's plan)."""

    tf: TfRollback
    decision: Decision
    document: dict[str, Any]
    base_refusals: list[str] = field(default_factory=list)   # the lock, records: whatever the plan says
    refusals: list[str] = field(default_factory=list)
    plan: RollbackPlan | None = None
    notes: list[str] = field(default_factory=list)           # for the audit record

    def refuse(self, reasons: list[str]) -> None:
        self.refusals = dedupe(self.refusals + reasons)
        self.document["refusals"] = list(self.refusals)

    @property
    def stack_name(self) -> str:
        return self.decision.workspace.name

    @property
    def to_version(self) -> int | None:
        return self.decision.target_version

    @property
    def nothing_to_do(self) -> bool:
        return self.plan is not None and not self.plan.plan.effective


@dataclass
class Rollback:
    ctx: TfContext
    reason: str = ""
    timeout: float = 600
    allow_data_loss: bool = False
    restore_provider_versions: bool = False
    verify: bool = True
    write_config: bool = False
    confirm: Confirm = YES
    listener: Listener = QUIET
    verifier: Callable[..., Any] | None = None
    recovery_started: float | None = None

    # -- the story ----------------------------------------------------------------------------
    def run(self, stack: str, target: str) -> RollbackOutcome:
        prepared = self.prepare(stack, target)
        if prepared.refusals:
            return self._refused(prepared)
        refusal = self.confirm.unavailable("roll back")   # before the engine: CI learns what to fix first
        if refusal is not None:
            self.listener.preview(prepared.document)
            return RollbackOutcome(Outcome.REFUSED, prepared, refused=[refusal.message], error=refusal)  # type: ignore[arg-type]
        try:
            self.ctx.engine()
        except EngineUnavailable as exc:   # still a document for --json: what would change, and why not
            prepared.document["engine"] = did_not_run(exc.message)
            self.listener.preview(prepared.document)
            return RollbackOutcome(Outcome.FAILED, prepared, error=exc)  # type: ignore[arg-type]
        with self.planned(prepared) as rp:
            if prepared.refusals or rp is None:
                return self._refused(prepared)
            self.listener.preview(prepared.document)
            if prepared.nothing_to_do:
                return RollbackOutcome(Outcome.NOTHING_TO_DO, prepared)  # type: ignore[arg-type]
            from_v = prepared.decision.current_version
            if not self.confirm(f"Roll workspace {stack} back to {prepared.decision.target_label}"
                                f"{f' (from v{from_v})' if from_v else ''}? This applies the plan above"):
                raise Refused("rollback not confirmed: nothing was changed")
            return self._apply(prepared, rp)

    def _refused(self, prepared: TfPrepared) -> RollbackOutcome:
        self.listener.preview(prepared.document)
        return RollbackOutcome(Outcome.REFUSED, prepared, refused=prepared.refusals,  # type: ignore[arg-type]
                               error=Refused("rollback refused: " + "; ".join(prepared.refusals),
                                             reasons=prepared.refusals))

    def prepare(self, stack: str, target: str) -> TfPrepared:
        """The target, the lock, the prediction and our guards; no engine, nothing changed."""
        if self.write_config:
            from rollback.actions.terraform.read import WRITE_CONFIG_WHY

            raise BadInput(f"--write-config: {WRITE_CONFIG_WHY}")
        if self.restore_provider_versions:
            raise BadInput("--restore-provider-versions is for Pulumi stacks: a Terraform rollback runs the provider "
                           "versions the target commit's .terraform.lock.hcl pins")
        ws = self.ctx.workspace(stack)
        engine = None
        with contextlib.suppress(EngineUnavailable):
            engine = self.ctx.engine()
        tf = TfRollback(ws, engine=engine, allow_data_loss=self.allow_data_loss, reason=self.reason,
                        passphrase=self.ctx.passphrase(), environ=self.ctx.environ)
        with self.listener.step(f"reading the history of workspace {stack}"):
            decision = tf.decide(target)
        base: list[str] = []
        if decision.lock is not None:
            base.append(f"the state ({ws.backend.describe()}) is locked by {decision.lock.holder()}: wait for that "
                        f"run to finish, or `force-unlock {decision.lock.id or 'LOCK_ID'}` if it died")
        base += check_writable(ws.backend, decision.history.ref)   # type: ignore[arg-type]  # a TF backend
        guards, notes = (guard_reasons(decision.predicted, allow_data_loss=self.allow_data_loss)
                         if decision.predicted is not None else ([], []))
        document = preview_document(decision, None, refusals=[], warnings=notes, engine=did_not_run(
            "the engine was not asked: refused before that"), engine_name=engine.name if engine else None)
        prepared = TfPrepared(tf, decision, document, base_refusals=base)
        prepared.refuse(base + guards)
        return prepared

    def preview(self, stack: str, target: str, *, rehearse: bool = True, engine_check: bool = True) -> TfPrepared:
        """``--preview``: every guard, and the engine's own plan when it can make one; nothing changes."""
        prepared = self.prepare(stack, target)
        d = prepared.decision
        why, missing = "", None
        if not engine_check:
            why = "not asked (--no-engine-check)"
        elif d.lock is not None:
            why = "the state is locked: the engine's plan needs the lock"
        else:
            try:
                self.ctx.engine()
            except EngineUnavailable as exc:
                why, missing = exc.message, exc
        if why and d.predicted is None and d.lock is None:
            # A commit no version was made from has no recorded state to compare with: only a plan can tell.
            message = f"{d.target_label} is a commit with no recorded state: only the engine's plan can preview it"
            raise EngineUnavailable(f"{message}; {why}") if missing else BadInput(f"{message} ({why})")
        if why:
            prepared.document["engine"] = did_not_run(
                why if d.lock is not None else f"{why}; the changes are what the recorded states predict")
            return prepared
        try:
            with self.planned(prepared):
                pass
        except RollbackError as exc:   # the preview still stands; say why the engine's plan is missing
            prepared.document["engine"] = did_not_run(f"the engine's plan failed: {exc.message}")
        return prepared

    @contextlib.contextmanager
    def planned(self, prepared: TfPrepared) -> Iterator[RollbackPlan | None]:
        """The engine's plan, held in ``prepared`` (document, refusals) for the ``with`` block; None when the
        engine itself refused to plan (``prevent_destroy``, a lock taken meanwhile)."""
        d = prepared.decision
        engine = self.ctx.engine()
        with contextlib.ExitStack() as stack:
            try:
                with self.listener.step(f"{engine.name} init and plan of commit {d.commit[:12]} (workspace "
                                        f"{d.workspace.name}) in a temporary worktree"):
                    rp = stack.enter_context(prepared.tf.planned(d))
            except Refused as exc:
                prepared.refuse(exc.reasons or [exc.message])
                prepared.document["engine"] = did_not_run(f"the engine refused to plan: {exc.message}")
                yield None
                return
            prepared.plan = rp
            refusals = dedupe(prepared.base_refusals + rp.reasons)
            prepared.document = preview_document(d, rp, engine=engine_check(rp.plan, d.predicted),
                                                  refusals=refusals, engine_name=engine.name)
            prepared.refusals = refusals
            yield rp

    # -- apply ------------------------------------------------------------------------------------
    def _apply(self, prepared: TfPrepared, rp: RollbackPlan) -> RollbackOutcome:
        record = self.start_record(prepared)
        started = time.monotonic()
        engine = self.ctx.engine()
        try:
            record.timings["apply_started_at"] = iso(utc_now())
            with self.listener.step(f"{engine.name} apply: {counts_text(rp.plan.counts())} (workspace "
                                    f"{prepared.stack_name})"):
                applied = prepared.tf.apply(rp)
        except RollbackError as exc:   # a plan the engine found stale, a state that could not be read back
            stale = isinstance(exc, Refused)
            record.outcome = Outcome.REFUSED if stale else Outcome.FAILED
            record.notes += [exc.message] + (["nothing was applied"] if stale else [])
            self._save_quietly(prepared, record)
            raise
        self._fill(record, applied)
        label = prepared.decision.target_label
        if applied.interrupted:
            record.outcome = Outcome.INTERRUPTED
            record.timings["interrupted_at"] = iso(utc_now())
            record.notes.append("interrupted while the engine applied the rollback")
            self._save_quietly(prepared, record)
            return RollbackOutcome(Outcome.INTERRUPTED, prepared, record,  # type: ignore[arg-type]
                                   error=Interrupted(f"interrupted while {engine.name} applied the rollback: {RECOVERY}"))
        failure: RollbackError | None = applied.failure
        if failure is None and applied.converged is False:
            record.outcome = Outcome.NOT_CONVERGED
            record.notes.append(f"the plan after the apply still has changes: {counts_text(applied.left)}")
            failure = OperationFailed(f"rolled back workspace '{prepared.stack_name}' to {label}, but it has not "
                                      f"converged: the next plan still has changes ({counts_text(applied.left)})")
        if failure is not None:
            if record.outcome in (Outcome.PENDING, Outcome.IN_PROGRESS):
                record.outcome = Outcome.FAILED
            record.notes.append(failure.message)
            record.timings["failed_at"] = iso(utc_now())
            writes = AfterApply(record)
            self.record(prepared, record, mark_bad=False, writes=writes)
            return RollbackOutcome(Outcome.FAILED, prepared, record,  # type: ignore[arg-type]
                                   error=writes.error(failure, done=""))
        record.timings["converged_at"] = iso(utc_now())
        error = self._verify(prepared, rp, record, applied, since=self.recovery_started or started)
        if record.outcome in (Outcome.PENDING, Outcome.IN_PROGRESS):
            record.outcome = Outcome.ROLLED_BACK
        self._git_reminder(prepared, record)
        writes = AfterApply(record)
        self.record(prepared, record, mark_bad=True, writes=writes)
        done = f"rolled back {prepared.stack_name} to {label}" + (
            f" as v{record.new_version}" if record.new_version else "")
        return RollbackOutcome(record.outcome, prepared, record,  # type: ignore[arg-type]
                               error=writes.error(error, done=done))

    def _fill(self, record: AuditRecord, applied: Applied) -> None:
        record.timings["applied_at"] = iso(utc_now())
        if applied.run is not None:
            record.engine_changes = dict(applied.run.changes)
        record.new_version, record.new_version_key = applied.new_version, applied.new_version_key

    def start_record(self, prepared: TfPrepared) -> AuditRecord:
        """The audit record, decided now and saved "in progress" before the engine applies anything."""
        d, doc = prepared.decision, prepared.document
        counts = {op: n for op, n in (prepared.plan.plan.counts() if prepared.plan else {}).items() if n}
        record = AuditRecord(kind="rollback", stack=prepared.stack_name, project=None,  # type: ignore[arg-type]
                             from_version=d.current_version, to_version=d.target_version, reason=self.reason,
                             actor=actor(self.ctx.environ), decided_at=iso(utc_now()) or "",
                             summary={"changes": counts, "lines": doc["summary"].get("lines", []),
                                      "data_loss": doc["summary"].get("data_loss", []), "commit": d.commit,
                                      "engine": (doc.get("terraform") or {}).get("engine")})
        record.timings["decided_at"] = record.decided_at
        engine = doc.get("engine") or {}
        record.notes += prepared.notes + [f"not restored: {line}" for line in engine.get("not_restored") or []]
        record.engine_plan = {"steps": engine.get("steps") or [], "disagreements": engine.get("disagreements") or [],
                              "not_restored": engine.get("not_restored") or []}
        record.outcome = Outcome.IN_PROGRESS
        Records(d.workspace.backend, d.history.ref).save(record)   # type: ignore[arg-type]
        return record

    def _save_quietly(self, prepared: TfPrepared, record: AuditRecord) -> None:
        with contextlib.suppress(Exception):   # the line about what happened matters more
            Records(prepared.decision.workspace.backend, prepared.decision.history.ref).save(record)  # type: ignore[arg-type]

    # -- verify -------------------------------------------------------------------------------
    def _verify(self, prepared: TfPrepared, rp: RollbackPlan, record: AuditRecord, applied: Applied, *,
                since: float) -> RollbackError | None:
        """The target commit's health gates (unless --no-verify), expecting what the new state says runs."""
        if not self.verify:
            return None
        done = f"rolled back {prepared.stack_name} to {prepared.decision.target_label}"
        try:
            if self.verifier is not None:
                health = self.verifier(plan=rp, timeout=self.timeout)
            elif rp.health is None:
                self.listener.health(None, f"{prepared.decision.target_label} (commit {prepared.decision.commit[:12]}) "
                                           f"declares no health gates (infra-rollback.health.yaml): not verified")
                health = None
            else:
                from rollback.actions.verify import Verify
                from rollback.terraform.state import to_deployment

                report = Verify(config=rp.health.config, source=rp.health.source, timeout=self.timeout,
                                target=to_deployment(applied.new_state) if applied.new_state is not None else None,
                                on_round=self.listener.gate_progress()).run(prepared.stack_name)
                self.listener.health(report)
                health = report.to_dict()
        except RollbackError as exc:
            return health_unchecked(record, exc, done=done)
        return health_verdict(record, health, done=done, since=since)

    # -- record -------------------------------------------------------------------------------
    def record(self, prepared: TfPrepared, record: AuditRecord, *, mark_bad: bool, writes: AfterApply) -> None:
        """Save the audit record; with ``mark_bad``, mark the version the rollback left (and every version
        ``previous`` skipped as the same as it) bad. Each write goes through ``writes``."""
        d = prepared.decision
        records = Records(d.workspace.backend, d.history.ref)   # type: ignore[arg-type]
        with writes.step():
            records.save(record)
        if not mark_bad:
            return
        left = [d.current_version] if d.current_version is not None else []
        left += [s.version for s in (d.resolution.skipped if d.resolution else ()) if s.reason == "same as current"]
        reason = f"rolled back to {d.target_label}" + (f": {record.reason}" if record.reason else "")
        for number in sorted(set(left)):
            v = d.history.version(number)
            if v.mark is None:
                with writes.step():
                    d.history.marks.set(v.key, Mark.BAD, version=v.number, reason=reason,
                                        by=record.actor.get("user", "?"), at=record.decided_at, keep_existing=True)
        if writes.failures:
            with writes.step():
                records.save(record)

    def _git_reminder(self, prepared: TfPrepared, record: AuditRecord) -> None:
        """The workspace runs the target's commit now; git's HEAD may still hold what was rolled back."""
        d = prepared.decision
        head = d.workspace.git().head
        if head and head != d.commit:
            note = (f"workspace {d.workspace.name} now runs commit {d.commit[:12]}'s configuration; git is at "
                    f"{head[:12]}: bring git back to it (git revert) before the next deploy")
            record.notes.append(note)
            self.listener.say(f"note: {note}")


__all__ = ["Rollback", "TfPrepared"]
