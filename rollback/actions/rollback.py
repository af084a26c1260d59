"""`infra-rollback STACK --to TARGET`: the rollback itself, as three steps that return what they did.

1. :meth:`Rollback.prepare`  read the current state and the target (:class:`~rollback.actions.preview.Preview`),
                             rehearse the replay under mocks, and run the guards: data loss, protected
                             deletes, locks, pending operations, a failed rehearsal, checkpoint features a
                             replay cannot reproduce. Changes nothing; returns a :class:`Prepared`.
2. :meth:`Rollback.perform`  after the confirmation: through the engine, a saved-plan preview, ``up`` with
                             that plan, a convergence preview. Fills the audit record as it goes.
3. :meth:`Rollback.record`   save the audit record; the version the rollback left is marked bad;
                             ``--write-config``.

:meth:`Rollback.run` tells the story: prepare, show the preview, refuse (exit 3, nothing changed) or
stop when there is nothing to do, confirm, perform, verify the health gates (unhealthy: exit 1), record.
It returns a :class:`RollbackOutcome` (the JSON contract's document, the outcome, the record, and the
error that decides the exit code); failures that leave nothing to report are raised.

Seams for what comes next: a check of the engine's own plan against our diff fits between
:meth:`~Rollback.prepare` and :meth:`~Rollback.perform` (it can add refusals to the :class:`Prepared`), and
an audit record saved as pending before the engine starts fits in :meth:`Rollback.start_record`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollback.actions.context import Context
from rollback.actions.hooks import QUIET, YES, Confirm, Listener, confirmed
from rollback.actions.preview import Plan, Preview
from rollback.engine import Engine, EngineStack, StackSpec
from rollback.errors import OperationFailed, PlanUnsupported, Refused, RollbackError
from rollback.models import Mark, Outcome
from rollback.records import AfterApply, AuditRecord, Records, actor, check_writable, iso, utc_now
from rollback.replay.program import inline_program
from rollback.stackconfig import StackConfigFile, hidden_keys, reveal_hidden, stack_config_path

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
        text = f"{loss.op} of data-bearing {loss.type} {loss.urn}"
        if allow_data_loss:
            notes.append(f"allowed by --allow-data-loss: {text}")
        else:
            reasons.append(f"would {text} (pass --allow-data-loss to allow it)")
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


@dataclass
class Prepared:
    """A rollback planned and guarded, nothing changed yet: what :meth:`Rollback.perform` takes."""

    plan: Plan
    document: dict[str, Any]              # the preview (JSON contract), guard notes among its warnings
    refusals: list[str] = field(default_factory=list)

    @property
    def nothing_to_do(self) -> bool:
        return not self.plan.diff.changes

    @property
    def stack(self) -> str:
        return self.plan.history.ref.name

    @property
    def to_version(self) -> int:
        return self.plan.resolution.target.number


@dataclass
class RollbackOutcome:
    """How a rollback ended. ``error`` (a refusal, a failure) decides the exit code; None: exit 0."""

    outcome: Outcome
    prepared: Prepared
    record: AuditRecord | None = None
    refused: list[str] = field(default_factory=list)
    error: RollbackError | None = None

    def to_dict(self) -> dict[str, Any]:
        """The preview document, plus ``outcome`` and ``refused`` or ``record`` (docs/cli.md)."""
        out = dict(self.prepared.document, outcome=self.outcome)
        if self.outcome is Outcome.REFUSED:
            out["refused"] = list(self.refused)
        if self.record is not None:
            out["record"] = self.record.to_dict()
        return out

    def raise_for_error(self) -> None:
        if self.error is not None:
            raise self.error


@dataclass
class Rollback:
    ctx: Context
    reason: str = ""
    timeout: float = 600
    allow_data_loss: bool = False
    restore_provider_versions: bool = False
    verify: bool = True
    write_config: bool = False
    engine: Engine | None = None
    confirm: Confirm = YES
    listener: Listener = QUIET
    verifier: Callable[..., Any] | None = None
    recovery_started: float | None = None   # monotonic time a failure was detected (auto-rollback)

    # -- the story ----------------------------------------------------------------------------
    def run(self, stack: str, target: str) -> RollbackOutcome:
        prepared = self.prepare(stack, target)
        self.listener.preview(prepared.document)
        if prepared.refusals:
            return RollbackOutcome(Outcome.REFUSED, prepared, refused=prepared.refusals, error=Refused(
                "rollback refused: " + "; ".join(prepared.refusals), reasons=prepared.refusals))
        if prepared.nothing_to_do:
            return RollbackOutcome(Outcome.NOTHING_TO_DO, prepared)
        refusal = self.confirm.unavailable("roll back")   # before the engine check: CI learns what to fix first
        if refusal is not None:
            return RollbackOutcome(Outcome.REFUSED, prepared, refused=[refusal.message], error=refusal)
        engine = self._engine()
        plan = prepared.plan
        from_v = plan.current_version
        if not self.confirm(f"Roll {prepared.stack} back to v{prepared.to_version}"
                            f"{f' (from v{from_v})' if from_v else ''}? This applies the changes above"):
            raise Refused("rollback not confirmed: nothing was changed")
        record = self.start_record(prepared)
        started = time.monotonic()
        try:
            self.perform(prepared, engine, record)
        except RollbackError as exc:
            if not record.timings.get("apply_started_at"):
                raise  # the engine changed nothing: leave the backend exactly as it was
            record.outcome = Outcome.FAILED if record.outcome is Outcome.PENDING else record.outcome
            record.notes.append(exc.message)
            record.timings["failed_at"] = iso(utc_now())
            writes = AfterApply(record)   # a failed write is said, with the failure, not raised instead of it
            self.record(prepared, record, mark_bad=False, writes=writes)
            return RollbackOutcome(Outcome.FAILED, prepared, record, error=writes.error(exc, done=""))
        error = self._verify(prepared, record, since=self.recovery_started or started)
        if record.outcome is Outcome.PENDING:
            record.outcome = Outcome.ROLLED_BACK
        writes = AfterApply(record)       # the stack has changed: every write is tried, a failure is said
        self.record(prepared, record, mark_bad=True, writes=writes)
        done = f"rolled back {prepared.stack} to v{prepared.to_version}" + (
            f" as v{record.new_version}" if record.new_version else "")
        return RollbackOutcome(record.outcome, prepared, record, error=writes.error(error, done=done))

    def prepare(self, stack: str, target: str) -> Prepared:
        """Preview, rehearsal and guards; changes nothing."""
        plan = Preview(ctx=self.ctx, restore_provider_versions=self.restore_provider_versions,
                       rehearse=True, for_apply=True).run(stack, target)
        reasons, notes = guard_reasons(plan, allow_data_loss=self.allow_data_loss)
        # What would fail after the apply is found before it: the records and marks, --write-config's file.
        reasons += check_writable(plan.history.backend, plan.history.ref)
        if self.write_config:
            from rollback.writeconfig import check_target_config

            reasons += check_target_config(self.ctx.cwd, plan.history.ref.name, plan.resolution.target, plan.target)
        document = plan.to_dict()
        document["warnings"] = document["warnings"] + notes
        return Prepared(plan, document, reasons)

    def _engine(self) -> Engine:
        if self.engine is not None:
            return self.engine
        from rollback.engine import INSTALL_HINT, AutomationEngine, cli_available
        from rollback.errors import EngineUnavailable

        if not cli_available():
            raise EngineUnavailable(INSTALL_HINT)
        return AutomationEngine()

    def start_record(self, prepared: Prepared) -> AuditRecord:
        """The audit record of this rollback, decided now (saved by :meth:`record`)."""
        d = prepared.document
        record = AuditRecord(kind="rollback", stack=prepared.stack, project=prepared.plan.history.ref.project,
                             from_version=prepared.plan.current_version, to_version=prepared.to_version,
                             reason=self.reason, actor=actor(), decided_at=iso(utc_now()) or "",
                             summary={"changes": _op_counts(prepared), "lines": d["summary"].get("lines", []),
                                      "data_loss": d["summary"].get("data_loss", [])})
        record.timings["decided_at"] = record.decided_at
        return record

    # -- perform: through the engine ----------------------------------------------------------
    def perform(self, prepared: Prepared, engine: Engine, record: AuditRecord) -> None:
        """Apply the target through the engine: saved-plan preview, ``up`` with that plan (a fresh preview,
        confirmed again, when the engine cannot use it), convergence. Fills ``record`` as it goes."""
        plan = prepared.plan
        started = time.monotonic()
        before = len(plan.history.backend.history(plan.history.ref))
        stack = engine.open(self._spec(plan, record), inline_program(plan.replay) if plan.replay is not None else None)
        total = max(1, len(plan.target.live_resources()))
        with tempfile.TemporaryDirectory(prefix="infra-rollback-") as tmp:
            try:
                record.engine_changes = self._up_with_saved_plan(stack, str(Path(tmp) / "plan.json"), total,
                                                                 record, self._message(plan))
            except PlanUnsupported as exc:
                record.engine_changes = self._up_after_fresh_preview(stack, exc, total, record, self._message(plan))
        record.timings["applied_at"] = iso(utc_now())
        after = plan.history.backend.history(plan.history.ref)
        if len(after) > before:
            record.new_version = len(after)
            record.new_version_key = str(after[-1].id)
        try:
            stack.preview(expect_no_changes=True)
            record.timings["converged_at"] = iso(utc_now())
        except OperationFailed as exc:
            record.outcome = Outcome.NOT_CONVERGED
            record.notes.append(exc.message)
            raise OperationFailed(f"rolled back, but the stack has not converged: {exc.message}") from exc
        record.timings["applied_seconds"] = round(time.monotonic() - started, 3)

    def _message(self, plan: Plan) -> str:
        message = f"infra-rollback: roll back to v{plan.resolution.target.number}" + (
            f" (from v{plan.current_version})" if plan.current_version else "")
        return message + (f": {self.reason}" if self.reason else "")

    def _up(self, stack: EngineStack, total: int, record: AuditRecord, **kw: Any) -> dict[str, int]:
        progress = self.listener.engine_progress(total)
        record.timings["apply_started_at"] = iso(utc_now())
        try:
            return stack.up(on_event=progress, **kw)
        except OperationFailed as exc:
            detail = progress.failure_summary()
            if detail and detail not in exc.message and not isinstance(exc, PlanUnsupported):
                raise OperationFailed(f"{exc.message} (failed step: {detail})") from exc
            raise
        finally:
            progress.finish()

    def _up_with_saved_plan(self, stack: EngineStack, plan_path: str, total: int, record: AuditRecord,
                            message: str) -> dict[str, int]:
        stack.preview(plan_path=plan_path)
        return self._up(stack, total, record, plan_path=plan_path, message=message)

    def _up_after_fresh_preview(self, stack: EngineStack, exc: PlanUnsupported, total: int, record: AuditRecord,
                                message: str) -> dict[str, int]:
        record.notes.append(f"saved plan unusable ({exc.message}); fell back to a fresh preview")
        self.listener.say(f"note: {exc.message}; falling back to a fresh preview")
        summary = stack.preview()
        self.listener.say("fresh preview: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.items())))
        if not confirmed(self.confirm, "roll back", "Apply the fresh preview?"):
            raise Refused("rollback not confirmed after the fresh preview: nothing was applied") from exc
        return self._up(stack, total, record, message=message)

    def _config(self, plan: Plan, record: AuditRecord) -> dict[str, Any]:
        """The target's recorded config. Pulumi Cloud's history hides secure values (``[secret]``): those
        come from the stack config file in --cwd when it has them, else they are left as they are now."""
        recorded = plan.resolution.target.config
        if not hidden_keys(recorded):
            return dict(recorded)
        file = StackConfigFile.find(self.ctx.cwd, plan.history.ref.name)
        config, missing = reveal_hidden(recorded, file.config if file else {})
        path = file.path if file else stack_config_path(self.ctx.cwd, plan.history.ref.name)
        record.notes += [f"secret config {key} is not in the backend's history and not in {path}: left as the stack "
                         f"has it now" for key in missing]
        return config

    def _spec(self, plan: Plan, record: AuditRecord) -> StackSpec:
        provider = plan.current.secrets_provider or {}
        state = provider.get("state") or {}
        kind = provider.get("type")
        return StackSpec(
            backend_url=plan.history.backend.url, project=plan.history.ref.project, stack=plan.history.ref.name,
            config=self._config(plan, record),
            qualified_name=plan.history.backend.qualified_name(plan.history.ref),
            secrets_provider=state.get("url") if kind == "cloud" else (kind or None),
            encryption_salt=state.get("salt") if kind == "passphrase" else None,
            encrypted_key=state.get("encryptedkey") if kind == "cloud" else None,
        )

    # -- verify -------------------------------------------------------------------------------
    def _verify(self, prepared: Prepared, record: AuditRecord, *, since: float) -> RollbackError | None:
        """The target version's health gates (unless --no-verify), into the record; the error if unhealthy.
        ``since``: when recovery began (the failure detected, else the apply started), for the time to recover."""
        if not self.verify:
            return None
        try:
            if self.verifier is not None:
                health = self.verifier(plan=prepared.plan, timeout=self.timeout)
            else:
                from rollback.actions.verify import verify_version

                report = verify_version(prepared.plan, timeout=self.timeout, listener=self.listener)
                health = report.to_dict() if report is not None else None
        except RollbackError as exc:   # the gates could not run at all (their config, a secret): no verdict
            record.outcome = Outcome.UNVERIFIED
            record.notes.append(exc.message)
            return OperationFailed(f"rolled back {prepared.stack} to v{prepared.to_version}, but its health could "
                                   f"not be checked: {exc.message}")
        if health is None:
            return None
        record.health = health
        if health.get("healthy"):
            record.timings["healthy_at"] = iso(utc_now())
            record.time_to_recover_seconds = round(time.monotonic() - since, 3)
            return None
        record.timings["verified_at"] = iso(utc_now())
        failed = [g.get("name", "?") for g in health.get("gates", []) if g.get("state") != "healthy"]
        if health.get("verdict") == "unknown":   # no gate could reach its target: no verdict either way
            record.outcome = Outcome.UNVERIFIED
            return OperationFailed(f"rolled back {prepared.stack} to v{prepared.to_version}, but it could not be "
                                   f"verified (gates not reached): {', '.join(failed)}")
        record.outcome = Outcome.UNHEALTHY
        return OperationFailed(f"rolled back {prepared.stack} to v{prepared.to_version}, but it is not healthy: "
                               f"{', '.join(failed) or 'health gates failed'}")

    # -- record -------------------------------------------------------------------------------
    def record(self, prepared: Prepared, record: AuditRecord, *, mark_bad: bool, writes: AfterApply) -> None:
        """Save the audit record; with ``mark_bad``, mark the version the rollback left bad, and write the
        target's config back (``--write-config``). Each write goes through ``writes``: a failure is kept
        there (and noted in the record), and the other writes are still made."""
        plan = prepared.plan
        records = Records(plan.history.backend, plan.history.ref)
        with writes.step():
            records.save(record)
        if not mark_bad:
            return
        # The version the rollback left is bad, and so is every version with that same desired state
        # (the release itself under a later refresh): `--to previous` must never go back to them.
        left = [plan.current_version] if plan.current_version is not None else []
        left += [s.version for s in plan.resolution.skipped if s.reason == "same as current"]
        reason = f"rolled back to v{record.to_version}" + (f": {record.reason}" if record.reason else "")
        for number in sorted(set(left)):
            v = plan.history.version(number)
            if v.mark is None:
                with writes.step():
                    plan.history.marks.set(int(v.key), Mark.BAD, version=v.number, reason=reason,
                                           by=record.actor.get("user", "?"), at=record.decided_at,
                                           keep_existing=True)   # re-read now: a mark made meanwhile stands
        if self.write_config:
            from rollback.writeconfig import write_target_config

            with writes.step():
                note = write_target_config(self.ctx.cwd, plan.history.ref.name, plan.resolution.target, plan.target)
                record.notes.append(note)
                self.listener.say(note)
        if self.write_config or writes.failures:   # saved again, with what was added to it
            with writes.step():
                records.save(record)


def _op_counts(prepared: Prepared) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in prepared.plan.diff.changes:
        counts[c.op] = counts.get(c.op, 0) + 1
    return counts
