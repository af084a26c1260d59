"""`infra-rollback deploy STACK`: a guarded `pulumi up` of the project's program that can roll itself back.

The story (:meth:`Deploy.run`): :meth:`~Deploy.prepare` reads the stack config (``Pulumi.<stack>.yaml``,
:mod:`rollback.stackconfig`) and the git state (a dirty tree is refused unless --allow-dirty) and refuses a
config identical to a version marked bad, or one that cannot be told apart from it (unless --force);
:meth:`~Deploy.perform` previews with a saved plan, confirms and applies; then the health gates run.
Healthy: the new version is marked good. Unhealthy: it is marked bad, and with --auto-rollback the stack
goes straight back to the last good version (not N-1), and the time to recover (failure detected ->
healthy again) is recorded. Returns a :class:`DeployOutcome`; :meth:`~Deploy.record` saves the record.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollback.actions.context import Context
from rollback.actions.hooks import QUIET, YES, Confirm, Listener, confirmed
from rollback.actions.rollback import Rollback, RollbackOutcome
from rollback.engine import Engine, StackSpec
from rollback.errors import BadInput, NotRecorded, OperationFailed, PlanUnsupported, Refused, RollbackError
from rollback.history import StackHistory
from rollback.models import Mark, Outcome
from rollback.project import read_project_file
from rollback.records import AfterApply, AuditRecord, Records, actor, check_writable, iso, utc_now
from rollback.stackconfig import Sameness, StackConfigFile, compare_configs


@dataclass(frozen=True)
class GitState:
    head: str | None
    dirty: bool
    branch: str | None = None


def _fix_hint(history: StackHistory) -> str:
    """The command that reverts the file: the config of the version the stack runs now when that one is not
    marked bad (after a rollback), else a rollback that writes it."""
    name = history.ref.name
    try:
        number = history.current_version()
        current = history.version(number) if number is not None else None
    except RollbackError:
        current = None
    if current is not None and current.mark is not Mark.BAD:
        return (f"revert the file to what the stack runs now (v{current.number}) with `infra-rollback write-config "
                f"{name}` and commit it")
    return f"roll back and revert the file with `infra-rollback {name} --to previous --write-config`"


def git_state(cwd: Path) -> GitState:
    """The commit and cleanliness of the project's git tree (git itself, not pulumi)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                              timeout=20).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        branch = git("rev-parse", "--abbrev-ref", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return GitState(None, False, None)
    return GitState(head, dirty, branch)


def auto_rollback(rb: Any, stack: str, target: str, record: AuditRecord) -> RollbackOutcome | None:
    """Run ``rb``, the automatic rollback of a deploy whose health gates failed (a Pulumi or a Terraform
    ``Rollback``), and say in the deploy's ``record`` how it went; its outcome, or None when it failed."""
    try:
        outcome: RollbackOutcome = rb.run(stack, target)
        if isinstance(outcome.error, NotRecorded):   # rolled back and healthy; not all of it recorded
            record.notes.append(outcome.error.message)
        else:
            outcome.raise_for_error()
    except RollbackError as exc:
        record.outcome = Outcome.ROLLBACK_FAILED
        record.notes.append(exc.message)
        return None
    record.outcome = Outcome.ROLLED_BACK
    record.time_to_recover_seconds = outcome.record.time_to_recover_seconds if outcome.record else None
    record.timings["recovered_at"] = iso(utc_now())
    return outcome


@dataclass
class DeployPrepared:
    """A deploy checked and ready: nothing changed yet."""

    stack: str
    config_file: StackConfigFile
    git: GitState
    history: StackHistory


@dataclass
class DeployOutcome:
    """How a deploy ended: its audit record (the JSON output), the automatic rollback if one ran, and the
    error that decides the exit code (None: exit 0)."""

    outcome: Outcome
    record: AuditRecord
    seconds: float = 0.0                        # from the apply to the gates' verdict
    rollback: RollbackOutcome | None = None
    error: RollbackError | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.record.to_dict()

    def raise_for_error(self) -> None:
        if self.error is not None:
            raise self.error


@dataclass
class Deploy:
    ctx: Context
    auto_rollback: bool = False
    allow_dirty: bool = False
    force: bool = False
    timeout: float = 600
    message: str = ""
    engine: Engine | None = None
    confirm: Confirm = YES
    listener: Listener = QUIET
    verifier: Callable[..., Any] | None = None
    git: Callable[[Path], GitState] = git_state

    def run(self, stack: str) -> DeployOutcome:
        prepared = self.prepare(stack)
        engine = self._engine()
        record = self.start_record(prepared)
        try:
            started = self.perform(prepared, engine, record)
        except RollbackError as exc:
            if record.outcome is not Outcome.FAILED:
                raise   # nothing was applied (not confirmed, the preview failed): nothing to report
            return DeployOutcome(Outcome.FAILED, record, error=exc)   # recorded: the JSON says what happened
        writes = AfterApply(record)   # the stack has changed: every write is tried, a failure is said
        unchecked: RollbackError | None = None
        try:
            health = self._verify(stack)
        except RollbackError as exc:   # the gates could not run at all (their config, a secret): no verdict
            health, unchecked = None, exc
        record.health = health
        failed = [g.get("name", "?") for g in (health or {}).get("gates", []) if g.get("state") != "healthy"]
        outcome = DeployOutcome(Outcome.DEPLOYED, record, seconds=time.monotonic() - started)
        if unchecked is not None:
            outcome.outcome = record.outcome = Outcome.UNVERIFIED
            record.notes.append(unchecked.message)
            outcome.error = OperationFailed(
                f"deployed {prepared.history.ref.name}, but its health could not be checked: {unchecked.message} "
                f"(no mark set, nothing rolled back)")
        elif health is not None and health.get("verdict") == "unknown":
            # No gate could say: neither a good nor a bad mark, and never an automatic rollback.
            unreached = [g.get("name", "?") for g in health.get("gates", []) if g.get("state") == "unknown"]
            outcome.outcome = record.outcome = Outcome.UNVERIFIED
            outcome.error = OperationFailed(
                f"deploy of {prepared.history.ref.name} is unverified: the health gates could not reach "
                f"{', '.join(unreached)} (no mark set, nothing rolled back)")
        elif health is None or health.get("healthy"):
            with writes.step():
                self._mark(prepared, record, Mark.GOOD, "deployed; health gates passed" if health is not None
                           else "deployed (no health gates)")
        else:
            outcome.outcome = record.outcome = Outcome.UNHEALTHY
            with writes.step():
                self._mark(prepared, record, Mark.BAD, "health gates failed: " + ", ".join(failed))
            if self.auto_rollback:
                outcome.rollback = self._roll_back(prepared, record, failed)
                outcome.outcome = record.outcome
            outcome.error = OperationFailed(
                f"deploy of {prepared.history.ref.name} is unhealthy ({', '.join(failed) or 'health gates'})"
                + ("; rolled back" if record.outcome is Outcome.ROLLED_BACK else ""))
        with writes.step():
            self.record(prepared, record)
        outcome.error = writes.error(outcome.error, done=f"deployed {prepared.history.ref.name}" + (
            f" as v{record.new_version}" if record.new_version else ""))
        return outcome

    def prepare(self, stack: str) -> DeployPrepared:
        """The project, its stack config and git state, and the guards; changes nothing."""
        if read_project_file(self.ctx.cwd) is None:
            raise BadInput(f"{self.ctx.cwd}: no Pulumi.yaml (deploy runs the program of a Pulumi project)")
        file = StackConfigFile.require(self.ctx.cwd, stack)
        git = self.git(self.ctx.cwd)
        if git.dirty and not self.allow_dirty:
            raise Refused(f"{self.ctx.cwd}: the git tree has uncommitted changes; commit them (so the release "
                          f"is reproducible) or pass --allow-dirty")
        history = self.ctx.history(stack)
        unwritable = check_writable(history.backend, history.ref)   # found now, not after the apply
        if unwritable:
            raise Refused("deploy refused: " + "; ".join(unwritable), reasons=unwritable)
        if not self.force:
            self._refuse_bad_config(file, history)
        return DeployPrepared(stack, file, git, history)

    def _refuse_bad_config(self, file: StackConfigFile, history: StackHistory) -> None:
        """A config identical to a version marked bad is refused; one that cannot be told apart is too."""
        reveal = file.decrypter(self.ctx.passphrase)
        for v in history.marked(Mark.BAD):
            if not v.config:
                continue
            same = compare_configs(file.config, v.config, reveal=reveal)
            why = f"{': ' + v.mark_reason if v.mark_reason else ''}"
            if same.verdict is Sameness.SAME:
                raise Refused(f"{file.path}: this config is identical to v{v.number}, marked bad{why}; "
                              f"{_fix_hint(history)}, or pass --force")
            if same.verdict is Sameness.UNKNOWN:
                raise Refused(f"{file.path}: this config may be identical to v{v.number}, marked bad{why}: "
                              f"{', '.join(same.unknown)} could not be compared ({same.why}); pass --force to "
                              f"deploy it anyway")

    def _engine(self) -> Engine:
        if self.engine is not None:
            return self.engine
        from rollback.engine import CLI_MISSING, default_engine

        return default_engine(f"{CLI_MISSING}; a deploy runs `pulumi up` (history, show, diff and a rollback's "
                              f"--preview work without it)")

    def start_record(self, prepared: DeployPrepared) -> AuditRecord:
        ref, git = prepared.history.ref, prepared.git
        record = AuditRecord(kind="deploy", stack=ref.name, project=ref.project,
                             from_version=prepared.history.current_version(), to_version=None, reason=self.message,
                             actor=actor(), decided_at=iso(utc_now()) or "")
        record.summary["git"] = {"head": git.head, "dirty": git.dirty, "branch": git.branch}
        return record

    def perform(self, prepared: DeployPrepared, engine: Engine, record: AuditRecord) -> float:
        """Preview with a saved plan, confirm, apply; fills ``record``. A failed update is recorded, then
        raised. Returns when (monotonic) the update started."""
        history, ref, git = prepared.history, prepared.history.ref, prepared.git
        spec = StackSpec(backend_url=history.backend.url, project=ref.project, stack=ref.name,
                         work_dir=self.ctx.cwd, config_file=prepared.config_file.path,
                         qualified_name=history.backend.qualified_name(ref))
        message = self.message or f"infra-rollback deploy{f' {git.head[:7]}' if git.head else ''}"
        st = engine.open(spec, None)
        with tempfile.TemporaryDirectory(prefix="infra-rollback-") as tmp:
            plan_path: str | None = str(Path(tmp) / "plan.json")
            try:
                changes = st.preview(plan_path=plan_path)
            except PlanUnsupported:
                plan_path = None
                changes = st.preview()
            self.listener.say("preview: " + (", ".join(f"{k} {v}" for k, v in sorted(changes.items()))
                                             or "no changes"))
            if not confirmed(self.confirm, "deploy", f"Deploy {ref.name}?"):
                raise Refused("deploy not confirmed: nothing was changed")
            before = len(history.entries)
            started = time.monotonic()
            record.timings["apply_started_at"] = iso(utc_now())
            try:
                record.engine_changes = st.up(plan_path=plan_path, message=message)
            except RollbackError as exc:
                self._record_failed_apply(prepared, record, exc)
                raise
        record.timings["applied_at"] = iso(utc_now())
        after = history.backend.history(ref)
        if len(after) > before:
            record.new_version = record.to_version = len(after)
            record.new_version_key = str(after[-1].id)
        record.outcome = Outcome.DEPLOYED
        return started

    def _mark(self, prepared: DeployPrepared, record: AuditRecord, mark: Mark, reason: str) -> None:
        if record.new_version_key is not None and record.new_version is not None:
            prepared.history.marks.set(int(record.new_version_key), mark, version=record.new_version, reason=reason,
                                       by=record.actor.get("user", "?"), at=record.decided_at)

    def _roll_back(self, prepared: DeployPrepared, record: AuditRecord, failed: list[str]) -> RollbackOutcome | None:
        """--auto-rollback: straight back to the last good version (else the previous one); into the record."""
        detected = time.monotonic()
        record.timings["failure_detected_at"] = iso(utc_now())
        target = "last-good" if prepared.history.marked(Mark.GOOD) else "previous"
        self.listener.say(f"health gates failed ({', '.join(failed)}): rolling back to {target}")
        # A fresh history (through a new run): the deploy added a version and a mark since this one was read.
        rb = Rollback(ctx=self.ctx, reason=f"auto-rollback: health gates failed: {', '.join(failed)}",
                      timeout=self.timeout, engine=self.engine, confirm=YES, listener=self.listener,
                      verifier=self.verifier, recovery_started=detected)
        return auto_rollback(rb, prepared.stack, target, record)

    def _verify(self, stack: str) -> dict[str, Any] | None:
        if self.verifier is not None:
            return self.verifier(plan=None, stack=stack, timeout=self.timeout)
        from rollback.actions.verify import verify_deployed

        report = verify_deployed(self.ctx, stack, timeout=self.timeout, listener=self.listener)
        return report.to_dict() if report is not None else None

    def _record_failed_apply(self, prepared: Any, record: AuditRecord, exc: RollbackError) -> None:
        """The apply failed: the record says so, and a write that fails too is said with the failure (added to
        ``exc``'s message), not instead of it."""
        record.outcome = Outcome.FAILED
        record.notes.append(exc.message)
        writes = AfterApply(record)
        with writes.step():
            self.record(prepared, record)
        writes.error(exc, done="")

    def record(self, prepared: DeployPrepared, record: AuditRecord) -> None:
        Records(prepared.history.backend, prepared.history.ref).save(record)
