"""`infra-rollback STACK --to TARGET`: the rollback itself, as steps that return what they did.

1. :meth:`Rollback.prepare`      read the current state and the target (:class:`~rollback.actions.preview.Preview`),
                                 rehearse the replay under mocks, and run our guards: data loss, protected
                                 deletes, locks, pending operations, a failed rehearsal, checkpoint features a
                                 replay cannot reproduce. Changes nothing; returns a :class:`Prepared`.
2. :meth:`Rollback.check_engine` the engine previews the replay and saves its plan; its steps are held against
                                 our diff (:mod:`rollback.enginecheck`): a destructive surprise, or a
                                 data-bearing or protected resource it would destroy, refuses; what it changes
                                 less than predicted is shown as not restored. The engine's plan decides.
3. :meth:`Rollback.perform`      after the confirmation: the stack must be byte for byte what was read (else
                                 another update landed: refused, preview again), then ``up`` with the saved plan,
                                 then a convergence preview. An "in progress" audit record is saved first.
4. :meth:`Rollback.record`       complete the audit record; the version the rollback left is marked bad;
                                 ``--write-config``.

:meth:`Rollback.run` tells the story: prepare, check with the engine, show the preview, refuse (exit 3, nothing
changed) or stop when there is nothing to do, confirm, perform, verify the health gates (unhealthy: exit 1),
record. It returns a :class:`RollbackOutcome` (the JSON contract's document, the outcome, the record, and the
error that decides the exit code); failures that leave nothing to report are raised.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rollback.actions.context import Context
from rollback.actions.engineplan import engine_preview, stack_spec
from rollback.actions.guards import guard_reasons
from rollback.actions.hooks import QUIET, YES, Confirm, Listener, confirmed
from rollback.actions.preview import Plan, Preview
from rollback.engine import Engine, EngineStack
from rollback.enginecheck import EngineCheck, dedupe
from rollback.errors import EngineUnavailable, Interrupted, OperationFailed, PlanUnsupported, Refused, RollbackError
from rollback.models import Mark, Outcome
from rollback.records import AfterApply, AuditRecord, Records, actor, check_writable, iso, utc_now
from rollback.replay.program import inline_program


@dataclass
class Prepared:
    """A rollback planned and guarded, nothing changed yet: what :meth:`Rollback.perform` takes."""

    plan: Plan
    document: dict[str, Any]              # the preview (JSON contract), guard notes among its warnings
    refusals: list[str] = field(default_factory=list)
    engine: EngineCheck | None = None     # the engine's own plan against ours (check_engine)
    stack: EngineStack | None = None      # the engine's stack, opened by check_engine
    plan_path: str | None = None          # the engine's saved plan, applied by perform
    notes: list[str] = field(default_factory=list)   # for the audit record (settings chosen for the engine)

    def refuse(self, reasons: list[str]) -> None:
        self.refusals = dedupe(self.refusals + reasons)
        self.document["refusals"] = list(self.refusals)

    @property
    def nothing_to_do(self) -> bool:
        return not self.plan.diff.changes

    @property
    def stack_name(self) -> str:
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
        if self.error is not None and self.outcome is not Outcome.REFUSED:
            out["error"], out["exit_code"] = self.error.message, self.error.exit_code
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
        if prepared.refusals:
            return self._refused(prepared)
        if prepared.nothing_to_do:
            self.listener.preview(prepared.document)
            return RollbackOutcome(Outcome.NOTHING_TO_DO, prepared)
        refusal = self.confirm.unavailable("roll back")   # before the engine check: CI learns what to fix first
        if refusal is not None:
            self.listener.preview(prepared.document)
            return RollbackOutcome(Outcome.REFUSED, prepared, refused=[refusal.message], error=refusal)
        try:
            engine = self._engine()
        except EngineUnavailable as exc:   # still a document for --json: what would have been applied, and why not
            prepared.document["engine"] = EngineCheck.did_not_run(exc.message).to_dict()
            self.listener.preview(prepared.document)
            return RollbackOutcome(Outcome.FAILED, prepared, error=exc)
        with tempfile.TemporaryDirectory(prefix="infra-rollback-") as tmp:   # the workspace and the plan
            self.check_engine(prepared, engine, work=Path(tmp), save_plan=True)
            if prepared.refusals:
                return self._refused(prepared)
            self.listener.preview(prepared.document)
            from_v = prepared.plan.current_version
            if not self.confirm(f"Roll {prepared.stack_name} back to v{prepared.to_version}"
                                f"{f' (from v{from_v})' if from_v else ''}? This applies the changes above"):
                raise Refused("rollback not confirmed: nothing was changed")
            return self._apply(prepared)

    def _refused(self, prepared: Prepared) -> RollbackOutcome:
        self.listener.preview(prepared.document)
        return RollbackOutcome(Outcome.REFUSED, prepared, refused=prepared.refusals, error=Refused(
            "rollback refused: " + "; ".join(prepared.refusals), reasons=prepared.refusals))

    def _apply(self, prepared: Prepared) -> RollbackOutcome:
        self._refuse_if_changed(prepared.plan)   # before anything is written
        record = self.start_record(prepared)
        started = time.monotonic()
        try:
            self.perform(prepared, record)
        except (KeyboardInterrupt, Interrupted) as exc:
            record.outcome = Outcome.INTERRUPTED
            record.timings["interrupted_at"] = iso(utc_now())
            record.notes.append(exc.message if isinstance(exc, Interrupted) else "interrupted (Ctrl-C)")
            self._save_quietly(prepared, record)
            if isinstance(exc, Interrupted):
                return RollbackOutcome(Outcome.INTERRUPTED, prepared, record, error=exc)
            raise
        except RollbackError as exc:
            if not record.timings.get("apply_started_at"):   # the engine changed nothing
                record.outcome = Outcome.REFUSED if isinstance(exc, Refused) else Outcome.FAILED
                record.notes += [exc.message, "nothing was applied"]
                self._save_quietly(prepared, record)
                raise
            if record.outcome in (Outcome.PENDING, Outcome.IN_PROGRESS):
                record.outcome = Outcome.FAILED
            record.notes.append(exc.message)
            record.timings["failed_at"] = iso(utc_now())
            writes = AfterApply(record)   # a failed write is said, with the failure, not raised instead of it
            self.record(prepared, record, mark_bad=False, writes=writes)
            return RollbackOutcome(Outcome.FAILED, prepared, record, error=writes.error(exc, done=""))
        error = self._verify(prepared, record, since=self.recovery_started or started)
        if record.outcome in (Outcome.PENDING, Outcome.IN_PROGRESS):
            record.outcome = Outcome.ROLLED_BACK
        writes = AfterApply(record)       # the stack has changed: every write is tried, a failure is said
        self.record(prepared, record, mark_bad=True, writes=writes)
        done = f"rolled back {prepared.stack_name} to v{prepared.to_version}" + (
            f" as v{record.new_version}" if record.new_version else "")
        return RollbackOutcome(record.outcome, prepared, record, error=writes.error(error, done=done))

    def prepare(self, stack: str, target: str, *, for_apply: bool = True, rehearse: bool = True) -> Prepared:
        """Preview, rehearsal and our guards; changes nothing. ``for_apply=False`` (``--preview``): a target whose
        secrets cannot be decrypted is shown without its rehearsal instead of refused."""
        plan = Preview(ctx=self.ctx, restore_provider_versions=self.restore_provider_versions,
                       rehearse=rehearse, for_apply=for_apply, listener=self.listener).run(stack, target)
        reasons, notes = guard_reasons(plan, allow_data_loss=self.allow_data_loss)
        # What would fail after the apply is found before it: the records and marks, --write-config's file.
        reasons += check_writable(plan.history.backend, plan.history.ref)
        if self.write_config:
            from rollback.writeconfig import check_target_config

            reasons += check_target_config(self.ctx.cwd, plan.history.ref.name, plan.resolution.target, plan.target)
        document = plan.to_dict()
        document["warnings"] = document["warnings"] + notes
        document["engine"] = EngineCheck.did_not_run("the engine was not asked: refused or nothing to do before "
                                                     "that").to_dict()
        prepared = Prepared(plan, document)
        prepared.refuse(reasons)
        return prepared

    def preview(self, stack: str, target: str, *, rehearse: bool = True, engine_check: bool = True) -> Prepared:
        """``--preview``: everything a rollback would check before asking, applying nothing. Every guard is
        evaluated (``refusals``: what would refuse it), and the engine previews the replay when it can."""
        prepared = self.prepare(stack, target, for_apply=False, rehearse=rehearse)
        why = self._engine_unavailable(prepared, rehearse=rehearse, engine_check=engine_check)
        if why:
            prepared.document["engine"] = EngineCheck.did_not_run(why).to_dict()
            return prepared
        try:
            with tempfile.TemporaryDirectory(prefix="infra-rollback-") as tmp:
                self.check_engine(prepared, self._engine(), work=Path(tmp), save_plan=False)
        except RollbackError as exc:   # the preview still stands; say why the engine's check is missing
            prepared.document["engine"] = EngineCheck.did_not_run(f"the engine's preview failed: {exc.message}").to_dict()
        return prepared

    def _engine_unavailable(self, prepared: Prepared, *, rehearse: bool, engine_check: bool) -> str:
        """Why the engine cannot check this preview ('' when it can)."""
        if not engine_check:
            return "not asked (--no-engine-check)"
        if not rehearse:
            return "not asked (--no-rehearse)"
        if prepared.nothing_to_do:
            return "nothing to roll back"
        if prepared.plan.replay is None:
            return "the target's secrets cannot be decrypted here; applying needs them"
        if self.engine is None:
            from rollback.engine import engine_available

            if not engine_available():
                return "no `pulumi` CLI on PATH; applying needs it (https://www.pulumi.com/docs/install/)"
        return ""

    def check_engine(self, prepared: Prepared, engine: Engine, *, work: Path, save_plan: bool) -> EngineCheck:
        """Open the stack with the replay and let the engine preview it (saving its plan when ``save_plan``); its
        steps against our diff go into the document (``engine``) and its refusals into ``prepared``.

        ``work`` is a folder the caller owns and removes: the engine's workspace (``Pulumi.yaml`` and the stack
        settings, with the target's config) and the saved plan go there, so that nothing is left behind in the
        temporary folder (left to itself, the Automation API makes an ``automation-*`` folder per inline program
        and never removes it)."""
        plan = prepared.plan
        plan_path = str(work / "plan.json") if save_plan else None
        workspace = work / "workspace"
        workspace.mkdir(mode=0o700)
        spec = replace(stack_spec(plan, self.ctx.cwd, self.ctx.passphrase, prepared.notes), work_dir=workspace)
        with self.listener.step(f"asking the engine for its own plan (pulumi preview of {prepared.stack_name})"):
            prepared.stack = engine.open(spec, inline_program(plan.replay) if plan.replay is not None else None)
            prepared.plan_path = plan_path
            try:
                result = engine_preview(plan, prepared.stack, plan_path=plan_path,
                                        allow_data_loss=self.allow_data_loss)
            except PlanUnsupported as exc:   # the engine cannot save this plan: `up` runs from a fresh preview
                prepared.notes.append(f"the engine could not save its plan ({exc.message}); the update runs after "
                                      f"a fresh preview")
                prepared.plan_path = None
                result = engine_preview(plan, prepared.stack, plan_path=None, allow_data_loss=self.allow_data_loss)
        prepared.engine = result
        prepared.document["engine"] = result.to_dict()
        prepared.refuse(result.refusals)
        return result
    def _engine(self) -> Engine:
        from rollback.engine import default_engine

        return self.engine if self.engine is not None else default_engine()

    def start_record(self, prepared: Prepared) -> AuditRecord:
        """The audit record of this rollback, decided now, saved "in progress" before the engine starts (a
        killed rollback leaves this trace) and completed by :meth:`record`."""
        d = prepared.document
        record = AuditRecord(kind="rollback", stack=prepared.stack_name, project=prepared.plan.history.ref.project,
                             from_version=prepared.plan.current_version, to_version=prepared.to_version,
                             reason=self.reason, actor=actor(), decided_at=iso(utc_now()) or "",
                             summary={"changes": _op_counts(prepared), "lines": d["summary"].get("lines", []),
                                      "data_loss": d["summary"].get("data_loss", [])})
        record.timings["decided_at"] = record.decided_at
        record.notes += prepared.notes
        if prepared.engine is not None:
            record.notes += [f"not restored: {line}" for line in prepared.engine.not_restored]
            record.engine_plan = {"steps": prepared.engine.steps, "disagreements": prepared.engine.disagreements,
                                  "not_restored": prepared.engine.not_restored}
        record.outcome = Outcome.IN_PROGRESS
        Records(prepared.plan.history.backend, prepared.plan.history.ref).save(record)
        return record

    def _save_quietly(self, prepared: Prepared, record: AuditRecord) -> None:
        try:
            Records(prepared.plan.history.backend, prepared.plan.history.ref).save(record)
        except Exception:   # interrupted: the one line about the interruption matters more
            pass

    # -- perform: through the engine ----------------------------------------------------------
    def perform(self, prepared: Prepared, record: AuditRecord) -> None:
        """Apply the target through the engine: the stack must still be what was read, then ``up`` with the saved
        plan (a fresh preview, confirmed again, when the engine cannot use it), convergence. Fills ``record``."""
        plan = prepared.plan
        stack = prepared.stack
        if stack is None:
            raise OperationFailed("internal: the engine's plan was not made before applying")
        started = time.monotonic()
        before = plan.history.count
        total = max(1, len(plan.target.live_resources()))
        try:
            record.engine_changes = self._up(stack, total, record, plan_path=prepared.plan_path,
                                             message=self._message(plan))
        except PlanUnsupported as exc:
            record.timings.pop("apply_started_at", None)   # the engine could not read the plan: nothing applied
            record.engine_changes = self._up_after_fresh_preview(prepared, exc, total, record, self._message(plan))
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

    def _refuse_if_changed(self, plan: Plan) -> None:
        """Another update since our read (a hotfix, a deploy): what was previewed and confirmed is not what the
        engine would change. Refuse before applying; say which version, by whom, when."""
        history = plan.history
        try:
            now = history.backend.read_current(history.ref)
            from rollback.state.codec import decompress

            now = decompress(now, source=history.backend.describe(history.ref))
        except RollbackError as exc:
            raise Refused(f"the stack could not be read again before applying ({exc.message}): preview again") from exc
        if hashlib.sha256(now).digest() == history.current_digest():
            return
        entries = history.backend.history(history.ref)
        who = "an operation that recorded no history (a `pulumi stack import` or `pulumi state` edit?)"
        if len(entries) > history.count:
            info = history.backend.update_info(history.ref, entries[-1])
            env = info.get("environment") or {}
            by = env.get("git.author") or env.get("git.committer") or env.get("ci.system") or env.get("exec.kind") or "?"
            when = iso(_from_unix(info.get("startTime"))) or "?"
            who = f"v{len(entries)}: {info.get('kind') or 'update'} by {by} at {when}"
        raise Refused(f"the stack changed since the preview ({who}): nothing was applied; preview again")
    def _message(self, plan: Plan) -> str:
        message = f"infra-rollback: roll back to v{plan.resolution.target.number}" + (
            f" (from v{plan.current_version})" if plan.current_version else "")
        return message + (f": {self.reason}" if self.reason else "")

    def _up(self, stack: EngineStack, total: int, record: AuditRecord, **kw: Any) -> dict[str, int]:
        from rollback.interrupts import RECOVERY, engine_running

        progress = self.listener.engine_progress(total)
        record.timings["apply_started_at"] = iso(utc_now())
        with engine_running() as stopped:
            try:
                result = stack.up(on_event=progress, **kw)
            except OperationFailed as exc:
                if stopped["signal"]:
                    raise Interrupted(f"interrupted ({stopped['signal']}) while the engine applied the rollback: "
                                      f"it was asked to stop after the steps in flight; {RECOVERY}") from exc
                detail = progress.failure_summary()
                if detail and detail not in exc.message and not isinstance(exc, PlanUnsupported):
                    raise OperationFailed(f"{exc.message} (failed step: {detail})") from exc
                raise
            finally:
                progress.finish()
        if stopped["signal"]:   # the engine finished before it could stop: the rollback is applied
            record.notes.append(f"{stopped['signal']} received as the engine finished: it completed")
        return result

    def _up_after_fresh_preview(self, prepared: Prepared, exc: PlanUnsupported, total: int, record: AuditRecord,
                                message: str) -> dict[str, int]:
        """pulumi#16412: ``up`` could not read the saved plan. The engine previews again (no plan); that preview
        is held against ours like the first, and a person confirms it again."""
        stack = prepared.stack
        assert stack is not None
        record.notes.append(f"saved plan unusable ({exc.message}); fell back to a fresh preview")
        self.listener.say(f"note: {exc.message}; falling back to a fresh preview")
        again = engine_preview(prepared.plan, stack, plan_path=None, allow_data_loss=self.allow_data_loss)
        if again.refusals:
            raise Refused("rollback refused after the fresh preview: " + "; ".join(again.refusals),
                          reasons=again.refusals) from exc
        for line in again.disagreements:
            self.listener.say(f"fresh preview: {line}")
        if not confirmed(self.confirm, "roll back", "Apply the fresh preview?"):
            raise Refused("rollback not confirmed after the fresh preview: nothing was applied") from exc
        return self._up(stack, total, record, message=message)

    # -- verify -------------------------------------------------------------------------------
    def _verify(self, prepared: Prepared, record: AuditRecord, *, since: float) -> RollbackError | None:
        """The target version's health gates (unless --no-verify), into the record; the error if unhealthy.
        ``since``: when recovery began (the failure detected, else the apply started), for the time to recover."""
        if not self.verify:
            return None
        done = f"rolled back {prepared.stack_name} to v{prepared.to_version}"
        try:
            if self.verifier is not None:
                health = self.verifier(plan=prepared.plan, timeout=self.timeout)
            else:
                from rollback.actions.verify import verify_version

                report = verify_version(prepared.plan, timeout=self.timeout, listener=self.listener)
                health = report.to_dict() if report is not None else None
        except RollbackError as exc:   # the gates could not run at all (their config, a secret): no verdict
            return health_unchecked(record, exc, done=done)
        return health_verdict(record, health, done=done, since=since)

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


def health_unchecked(record: AuditRecord, exc: RollbackError, *, done: str) -> RollbackError:
    """The health gates could not run at all (their config, a secret): no verdict, said in the record."""
    record.outcome = Outcome.UNVERIFIED
    record.notes.append(exc.message)
    return OperationFailed(f"{done}, but its health could not be checked: {exc.message}")


def health_verdict(record: AuditRecord, health: dict[str, Any] | None, *, done: str,
                   since: float) -> RollbackError | None:
    """The health gates' report (``health``; None: no gates declared) into ``record``, and the error that decides
    the exit code when what was rolled back is not healthy. ``done`` says what was done (``rolled back prod to
    v2``); ``since``: when recovery began (monotonic), for the time to recover. Shared by every engine."""
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
        return OperationFailed(f"{done}, but it could not be verified (gates not reached): {', '.join(failed)}")
    record.outcome = Outcome.UNHEALTHY
    return OperationFailed(f"{done}, but it is not healthy: {', '.join(failed) or 'health gates failed'}")


def _from_unix(value: Any) -> Any:
    import datetime as _dt

    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return _dt.datetime.fromtimestamp(value, _dt.timezone.utc)
    return None


def _op_counts(prepared: Prepared) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in prepared.plan.diff.changes:
        counts[c.op] = counts.get(c.op, 0) + 1
    return counts
