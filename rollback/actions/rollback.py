"""`infra-rollback STACK --to TARGET`: the rollback itself.

The story, in order (nothing changes before step 6):
 1. read      the current state and the target checkpoint (:class:`~rollback.actions.preview.Preview`)
 2. guards    data loss, protected deletes, locks, pending operations (exit 3, nothing changed)
 3. rehearse  the replay program under the SDK's mock runtime; a mismatch refuses (exit 3)
 4. show      the preview
 5. confirm   a prompt on a TTY; --yes skips it; no TTY and no --yes refuses (exit 3)
 6. apply     through the engine: saved-plan preview, up with that plan, convergence preview
 7. record    the audit record; the version the rollback left is marked bad
 8. verify    the stack's health gates (unless --no-verify); unhealthy -> exit 1
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rollback.actions.context import Context
from rollback.actions.preview import Plan, Preview
from rollback.engine import Engine, PlanUnsupported, StackSpec
from rollback.errors import EXIT_FAILED, EXIT_OK, OperationFailed, Refused, RollbackError
from rollback.models import Mark
from rollback.records import AuditRecord, Records, actor, iso, utc_now


def interactive(environ: dict[str, str] | None = None) -> bool:
    """A person at a terminal: stdin is a TTY and CI is not set."""
    env = os.environ if environ is None else environ
    if env.get("CI", "").lower() in ("true", "1", "yes"):
        return False
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def no_terminal(what: str) -> Refused:
    return Refused(f"not confirmed: no terminal to ask on (CI=true or no TTY); pass --yes to {what} "
                   f"non-interactively")


def ask(question: str, *, yes: bool, what: str, is_interactive: Callable[[], bool] = interactive,
        confirm: Callable[[str], bool] | None = None) -> bool:
    """One confirmation: --yes skips it; no terminal (or CI=true) refuses; else a prompt."""
    if yes:
        return True
    if not is_interactive():
        raise no_terminal(what)
    if confirm is not None:
        return confirm(question)
    import typer

    return bool(typer.confirm(question, default=False))


# Checkpoint features (state version 4) a replay reproduces; the others record engine behaviour (hooks,
# views, taint, replaceWith, parameterized providers, byte strings) that re-registering inputs cannot.
REPLAYABLE_FEATURES = frozenset({"refreshBeforeUpdate"})


def guard_reasons(plan: Plan, *, allow_data_loss: bool) -> tuple[list[str], list[str]]:
    """What refuses this rollback (reasons) and what was allowed by a flag (notes)."""
    reasons: list[str] = []
    notes: list[str] = []
    history = plan.history
    for feature in plan.target.features:
        if feature not in REPLAYABLE_FEATURES:
            reasons.append(f"v{plan.resolution.target.number} uses the checkpoint feature '{feature}', which a "
                           f"replay cannot reproduce ({plan.target.source})")
    d = plan.diff.to_dict()
    for item in (d.get("summary") or {}).get("data_loss") or []:
        text = f"{item.get('op')} of data-bearing {item.get('type')} {item.get('urn')}"
        if allow_data_loss:
            notes.append(f"allowed by --allow-data-loss: {text}")
        else:
            reasons.append(f"would {text} (pass --allow-data-loss to allow it)")
    for c in d.get("changes") or []:
        if c.get("protected") and c.get("op") in ("delete", "replace"):
            reasons.append(f"would {c['op']} protected resource {c['urn']} (unprotect it first: "
                           f"`pulumi state unprotect '{c['urn']}'`)")
    for entry, info in history.backend.locks(history.ref):
        holder = f"{info.get('username', '?')}@{info.get('hostname', '?')} pid {info.get('pid', '?')}"
        reasons.append(f"stack is locked by {holder} since {info.get('timestamp', '?')} "
                       f"({history.backend.describe(entry.key)}); wait for that update, or run `pulumi cancel` "
                       f"if it died")
    if plan.current.pending_operations:
        reasons.append(f"the current state has {len(plan.current.pending_operations)} pending operation(s) "
                       f"from an interrupted update: run `pulumi refresh --clear-pending-creates` (or `pulumi "
                       f"refresh` and review) so the state matches reality, then retry")
    rehearsal = plan.rehearsal
    if rehearsal is not None and not rehearsal.ok:
        for m in rehearsal.mismatches[:10]:
            reasons.append(f"rehearsal mismatch: {m}")
    return reasons, notes


@dataclass
class Rollback:
    ctx: Context
    yes: bool = False
    reason: str = ""
    timeout: float = 600
    allow_data_loss: bool = False
    restore_provider_versions: bool = False
    verify: bool = True
    write_config: bool = False
    json_output: bool = False
    markdown: bool = False
    quiet: bool = False
    engine: Engine | None = None
    confirm: Callable[[str], bool] | None = None
    is_interactive: Callable[[], bool] = interactive
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    verifier: Callable[..., Any] | None = None
    recovery_started: float | None = None   # monotonic time a failure was detected (auto-rollback)
    record: AuditRecord | None = None        # the audit record of the last run

    # -- helpers ------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        if not self.quiet and not self.json_output:
            print(text, file=self.err if self.markdown else self.out, flush=True)

    def _show(self, data: dict[str, Any]) -> None:
        from rollback import render

        if self.json_output:
            return  # printed once, at the end, with the outcome
        text = render.preview_markdown(data) if self.markdown else render.preview_text(data)
        print(text, file=self.out, flush=True)

    def _emit_json(self, data: dict[str, Any]) -> None:
        if self.json_output:
            from rollback import render

            print(render.to_json(data), file=self.out, flush=True)

    def _ask(self, question: str) -> bool:
        return ask(question, yes=self.yes, what="roll back", is_interactive=self.is_interactive,
                   confirm=self.confirm)

    # -- the story ----------------------------------------------------------------------------
    def run(self, stack: str, target: str) -> int:
        plan = Preview(ctx=self.ctx, restore_provider_versions=self.restore_provider_versions,
                       rehearse=True, for_apply=True).run(stack, target)
        data = plan.to_dict()
        reasons, notes = guard_reasons(plan, allow_data_loss=self.allow_data_loss)
        data["warnings"] = data["warnings"] + notes
        if reasons:
            self._show(data)
            data["outcome"] = "refused"
            data["refused"] = reasons
            self._emit_json(data)
            raise Refused("rollback refused: " + "; ".join(reasons), reasons=reasons)
        self._show(data)
        if not plan.diff.changes:
            data["outcome"] = "nothing-to-do"
            self._emit_json(data)
            self._say(f"nothing to roll back: {plan.history.ref.name} already has the desired state of "
                      f"v{plan.resolution.target.number}")
            return EXIT_OK

        if not self.yes and not self.is_interactive():   # before the CLI check: CI learns what to fix first
            refusal = no_terminal("roll back")
            data["outcome"], data["refused"] = "refused", [refusal.message]
            self._emit_json(data)
            raise refusal
        from rollback.engine import INSTALL_HINT, AutomationEngine, cli_available
        from rollback.errors import EngineUnavailable

        engine = self.engine
        if engine is None:
            if not cli_available():
                raise EngineUnavailable(INSTALL_HINT)
            engine = AutomationEngine()

        to_v = plan.resolution.target.number
        from_v = plan.current_version
        question = (f"Roll {plan.history.ref.name} back to v{to_v}"
                    f"{f' (from v{from_v})' if from_v else ''}? This applies the changes above")
        if not self._ask(question):
            raise Refused("rollback not confirmed: nothing was changed")

        record = AuditRecord(kind="rollback", stack=plan.history.ref.name, project=plan.history.ref.project,
                             from_version=from_v, to_version=to_v, reason=self.reason, actor=actor(),
                             decided_at=iso(utc_now()) or "",
                             summary={"changes": _op_counts(data), "lines": data["summary"].get("lines", []),
                                      "data_loss": data["summary"].get("data_loss", [])})
        self.record = record
        started = time.monotonic()
        recover_from = self.recovery_started if self.recovery_started is not None else started
        record.timings["decided_at"] = record.decided_at
        try:
            self._apply(plan, engine, record)
        except RollbackError as exc:
            if not record.timings.get("apply_started_at"):
                raise  # the engine changed nothing: leave the backend exactly as it was
            record.outcome = "failed" if record.outcome == "pending" else record.outcome
            record.notes.append(exc.message)
            record.timings["failed_at"] = iso(utc_now())
            self._finish_record(plan, record, mark_bad=False)
            data["outcome"] = "failed"
            data["record"] = record.to_dict()
            self._emit_json(data)
            raise
        record.timings["applied_seconds"] = round(time.monotonic() - started, 3)
        code = EXIT_OK
        if self.verify:
            health = self._verify(plan)
            if health is not None:
                record.health = health
                healthy = bool(health.get("healthy"))
                record.timings["healthy_at" if healthy else "verified_at"] = iso(utc_now())
                if healthy:
                    record.time_to_recover_seconds = round(time.monotonic() - recover_from, 3)
                else:   # "unverified": no gate could reach its target, so no verdict either way
                    record.outcome = "unverified" if health.get("verdict") == "unknown" else "unhealthy"
                    code = EXIT_FAILED
        if record.outcome == "pending":
            record.outcome = "rolled-back"
        self._finish_record(plan, record, mark_bad=True)
        if self.write_config:
            self._write_config(plan, record)
        data["outcome"] = record.outcome
        data["record"] = record.to_dict()
        self._emit_json(data)
        if code == EXIT_OK:
            self._say(f"rolled back {plan.history.ref.name} to v{to_v}"
                      f"{f' as v{record.new_version}' if record.new_version else ''}"
                      f" in {record.timings.get('applied_seconds', 0):.1f} s")
        else:
            failed = [g.get("name", "?") for g in (record.health or {}).get("gates", [])
                      if g.get("state") != "healthy"]
            state = "could not be verified (gates not reached)" if record.outcome == "unverified" else "is not healthy"
            raise OperationFailed(f"rolled back {plan.history.ref.name} to v{to_v}, but it {state}: "
                                  f"{', '.join(failed) or 'health gates failed'}")
        return code

    def _config(self, plan: Plan, record: AuditRecord) -> dict[str, Any]:
        """The target's recorded config. Pulumi Cloud's history hides secure values (``[secret]``): those
        come from the stack config file in --cwd when it has them, else they are left as they are now."""
        config = dict(plan.resolution.target.config)
        hidden = [k for k, v in config.items() if isinstance(v, dict) and v.get("secure") == "[secret]"]
        if not hidden:
            return config
        from rollback.health.spec import read_stack_config, stack_config_path

        path = stack_config_path(self.ctx.cwd, plan.history.ref.name)
        local = (read_stack_config(path).get("config") or {}) if path.is_file() else {}
        for key in hidden:
            value = local.get(key)
            if isinstance(value, dict) and "secure" in value:
                config[key] = value
            else:
                del config[key]
                record.notes.append(f"secret config {key} is not in the backend's history and not in {path}: "
                                    f"left as the stack has it now")
        return config

    def _spec(self, plan: Plan, record: AuditRecord) -> StackSpec:
        provider = plan.current.secrets_provider or {}
        state = provider.get("state") or {}
        kind = provider.get("type")
        qualified = getattr(plan.history.backend, "qualified_name", None)
        return StackSpec(
            backend_url=plan.history.backend.url, project=plan.history.ref.project, stack=plan.history.ref.name,
            config=self._config(plan, record),
            qualified_name=qualified(plan.history.ref) if qualified is not None else None,
            secrets_provider=state.get("url") if kind == "cloud" else (kind or None),
            encryption_salt=state.get("salt") if kind == "passphrase" else None,
            encrypted_key=state.get("encryptedkey") if kind == "cloud" else None,
        )

    def _apply(self, plan: Plan, engine: Engine, record: AuditRecord) -> None:
        from rollback.progress import Progress

        spec = self._spec(plan, record)
        program = plan.replay.program if plan.replay is not None else None
        message = f"infra-rollback: roll back to v{plan.resolution.target.number}" + (
            f" (from v{plan.current_version})" if plan.current_version else "")
        if self.reason:
            message += f": {self.reason}"
        before = len(plan.history.backend.history_files(plan.history.ref))
        stack = engine.open(spec, program)
        total = max(1, len(plan.target.live_resources()))
        stream = None if (self.quiet or self.json_output) else self.err
        tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        with tempfile.TemporaryDirectory(prefix="infra-rollback-") as tmp:
            plan_path = str(Path(tmp) / "plan.json")
            try:
                stack.preview(plan_path=plan_path)
                progress = Progress(total=total, stream=stream, tty=tty)
                record.timings["apply_started_at"] = iso(utc_now())
                try:
                    changes = stack.up(plan_path=plan_path, message=message, on_event=progress)
                finally:
                    progress.finish()
            except PlanUnsupported as exc:
                record.notes.append(f"saved plan unusable ({exc.message}); fell back to a fresh preview")
                self._say(f"note: {exc.message}; falling back to a fresh preview")
                summary = stack.preview()
                self._say("fresh preview: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.items())))
                if not self._ask("Apply the fresh preview?"):
                    raise Refused("rollback not confirmed after the fresh preview: nothing was applied") from exc
                progress = Progress(total=total, stream=stream, tty=tty)
                record.timings["apply_started_at"] = iso(utc_now())
                try:
                    changes = stack.up(message=message, on_event=progress)
                finally:
                    progress.finish()
            except OperationFailed as exc:
                detail = progress.failure_summary() if "progress" in locals() else ""
                if detail and detail not in exc.message:
                    raise OperationFailed(f"{exc.message} (failed step: {detail})") from exc
                raise
            record.engine_changes = changes
            record.timings["applied_at"] = iso(utc_now())
            after = plan.history.backend.history_files(plan.history.ref)
            if len(after) > before:
                record.new_version = len(after)
                record.new_version_key = str(after[-1].unixnano)
            try:
                stack.preview(expect_no_changes=True)
                record.timings["converged_at"] = iso(utc_now())
            except OperationFailed as exc:
                record.outcome = "applied-not-converged"
                record.notes.append(exc.message)
                raise OperationFailed(f"rolled back, but the stack has not converged: {exc.message}") from exc

    def _finish_record(self, plan: Plan, record: AuditRecord, *, mark_bad: bool) -> None:
        Records(plan.history.backend, plan.history.ref).save(record)
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
                plan.history.marks.set(int(v.key), Mark.BAD, version=v.number, reason=reason,
                                       by=record.actor.get("user", "?"), at=record.decided_at)

    def _verify(self, plan: Plan) -> dict[str, Any] | None:
        if self.verifier is not None:
            return self.verifier(plan=plan, timeout=self.timeout)
        from rollback.actions.verify_cmd import verify_after

        return verify_after(plan, timeout=self.timeout, stream=None if (self.quiet or self.json_output) else self.err)

    def _write_config(self, plan: Plan, record: AuditRecord) -> None:
        from rollback.actions.verify_cmd import write_target_config

        note = write_target_config(self.ctx, plan)
        if note:
            record.notes.append(note)
            self._say(note)


def _op_counts(data: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in data.get("changes") or []:
        counts[c["op"]] = counts.get(c["op"], 0) + 1
    return counts
