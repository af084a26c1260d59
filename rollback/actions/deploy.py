"""`infra-rollback deploy STACK`: a guarded `pulumi up` of the project's program that can roll itself back.

The story: read the stack config (``stacks/Pulumi.<stack>.yaml``) and the git state (a dirty tree is
refused unless --allow-dirty); refuse a config identical to a version marked bad (unless --force);
preview with a saved plan; confirm; apply; run the health gates. Healthy: the new version is marked
good. Unhealthy: it is marked bad, and with --auto-rollback the stack goes straight back to the last
good version (not N-1), and the time to recover (failure detected -> healthy again) is recorded.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rollback.actions.context import Context
from rollback.actions.rollback import ask, interactive
from rollback.engine import Engine, PlanUnsupported, StackSpec
from rollback.errors import EXIT_FAILED, EXIT_OK, BadInput, OperationFailed, Refused, RollbackError
from rollback.models import Mark
from rollback.records import AuditRecord, Records, actor, iso, utc_now


@dataclass(frozen=True)
class GitState:
    head: str | None
    dirty: bool
    branch: str | None = None


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


def _normal(value: Any, *, top: bool) -> Any:
    """Config values as Pulumi records them: top-level scalars are strings; secure values as-is."""
    if isinstance(value, dict):
        return {str(k): _normal(v, top=False) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v, top=False) for v in value]
    if isinstance(value, bool):
        return ("true" if value else "false") if top else value
    if isinstance(value, (int, float)):
        return str(value) if top else float(value)
    return value


def same_config(a: Mapping[str, Any], b: Mapping[str, Any], *, reveal: Callable[[str], str] | None) -> bool:
    """Whether two stack configs are the same (secure values by decrypted value where possible)."""
    if set(a) != set(b):
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, dict) and set(x) == {"secure"} and isinstance(y, dict) and set(y) == {"secure"}:
            if x["secure"] == y["secure"]:
                continue
            if reveal is None:
                return False
            try:
                if reveal(x["secure"]) != reveal(y["secure"]):
                    return False
            except Exception:
                return False
            continue
        if _normal(x, top=True) != _normal(y, top=True):
            return False
    return True


@dataclass
class Deploy:
    ctx: Context
    yes: bool = False
    auto_rollback: bool = False
    allow_dirty: bool = False
    force: bool = False
    timeout: float = 600
    message: str = ""
    json_output: bool = False
    quiet: bool = False
    engine: Engine | None = None
    confirm: Callable[[str], bool] | None = None
    is_interactive: Callable[[], bool] = interactive
    verifier: Callable[..., Any] | None = None
    git: Callable[[Path], GitState] = git_state
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    result: dict[str, Any] = field(default_factory=dict)

    def _say(self, text: str) -> None:
        if not self.quiet and not self.json_output:
            print(text, file=self.out, flush=True)

    def _ask(self, question: str) -> bool:
        return ask(question, yes=self.yes, what="deploy", is_interactive=self.is_interactive,
                   confirm=self.confirm)

    def _config(self, stack: str) -> tuple[Path, dict[str, Any], str | None]:
        from rollback.config import read_project_file

        project = read_project_file(self.ctx.cwd)
        if project is None:
            raise BadInput(f"{self.ctx.cwd}: no Pulumi.yaml (deploy runs the program of a Pulumi project)")
        folder = self.ctx.cwd / str(project.get("stackConfigDir") or ".")
        path = folder / f"Pulumi.{stack.split('/')[-1]}.yaml"
        if not path.is_file():
            raise BadInput(f"{path}: stack config file not found")
        import yaml

        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise BadInput(f"{path}: not valid YAML ({exc.__class__.__name__})") from exc
        config = doc.get("config") or {}
        if not isinstance(config, dict):
            raise BadInput(f"{path}: 'config' is not a mapping")
        return path, config, doc.get("encryptionsalt")

    def run(self, stack: str) -> int:
        config_path, config, salt = self._config(stack)
        git = self.git(self.ctx.cwd)
        if git.dirty and not self.allow_dirty:
            raise Refused(f"{self.ctx.cwd}: the git tree has uncommitted changes; commit them (so the release "
                          f"is reproducible) or pass --allow-dirty")
        history = self.ctx.history(stack)
        reveal = None
        phrase = self.ctx.passphrase()
        if salt and phrase is not None:
            from rollback.state.secrets import PassphraseCrypter

            reveal = PassphraseCrypter.from_salt(salt, phrase, source=str(config_path)).decrypt
        if not self.force:
            for v in history.marked(Mark.BAD):
                if v.config and same_config(config, v.config, reveal=reveal):
                    raise Refused(f"{config_path}: this config is identical to v{v.number}, marked bad"
                                  f"{': ' + v.mark_reason if v.mark_reason else ''}; revert it (see "
                                  f"`infra-rollback ... --write-config`) or pass --force")
        from rollback.engine import INSTALL_HINT, AutomationEngine, cli_available
        from rollback.errors import EngineUnavailable

        engine = self.engine
        if engine is None:
            if not cli_available():
                raise EngineUnavailable(INSTALL_HINT)
            engine = AutomationEngine()
        ref = history.ref
        qualified = getattr(history.backend, "qualified_name", None)
        spec = StackSpec(backend_url=history.backend.url, project=ref.project, stack=ref.name,
                         work_dir=self.ctx.cwd, config_file=config_path,
                         qualified_name=qualified(ref) if qualified is not None else None)
        before_version = history.current_version()
        record = AuditRecord(kind="deploy", stack=ref.name, project=ref.project, from_version=before_version,
                             to_version=None, reason=self.message, actor=actor(),
                             decided_at=iso(utc_now()) or "")
        record.summary["git"] = {"head": git.head, "dirty": git.dirty, "branch": git.branch}
        message = self.message or f"infra-rollback deploy{f' {git.head[:7]}' if git.head else ''}"
        st = engine.open(spec, None)
        with tempfile.TemporaryDirectory(prefix="infra-rollback-") as tmp:
            plan_path = str(Path(tmp) / "plan.json")
            try:
                changes = st.preview(plan_path=plan_path)
            except PlanUnsupported:
                plan_path = None  # type: ignore[assignment]
                changes = st.preview()
            self._say("preview: " + (", ".join(f"{k} {v}" for k, v in sorted(changes.items())) or "no changes"))
            if not self._ask(f"Deploy {ref.name}?"):
                raise Refused("deploy not confirmed: nothing was changed")
            before = len(history.files)
            started = time.monotonic()
            record.timings["apply_started_at"] = iso(utc_now())
            try:
                record.engine_changes = st.up(plan_path=plan_path, message=message)
            except RollbackError as exc:
                record.outcome = "failed"
                record.notes.append(exc.message)
                Records(history.backend, ref).save(record)
                raise
        record.timings["applied_at"] = iso(utc_now())
        after = history.backend.history_files(ref)
        new_key = after[-1].unixnano if len(after) > before else None
        if new_key is not None:
            record.new_version = len(after)
            record.new_version_key = str(new_key)
            record.to_version = len(after)
        health = self._verify(stack)
        record.health = health
        healthy = health is None or bool(health.get("healthy"))
        unknown = health is not None and health.get("verdict") == "unknown"
        code = EXIT_OK
        if unknown:   # no gate could say: neither a good nor a bad mark, and never an automatic rollback
            failed = [g.get("name", "?") for g in (health or {}).get("gates", []) if g.get("state") == "unknown"]
            record.outcome = "unverified"
            code = EXIT_FAILED
        elif healthy:
            record.outcome = "deployed"
            if new_key is not None:
                history.marks.set(new_key, Mark.GOOD, version=len(after), reason="deployed; health gates passed"
                                  if health is not None else "deployed (no health gates)",
                                  by=record.actor.get("user", "?"), at=record.decided_at)
            self._say(f"deployed {ref.name} as v{record.new_version} in {time.monotonic() - started:.1f} s")
        else:
            failed = [g.get("name", "?") for g in (health or {}).get("gates", []) if g.get("state") != "healthy"]
            record.outcome = "unhealthy"
            if new_key is not None:
                history.marks.set(new_key, Mark.BAD, version=len(after),
                                  reason="health gates failed: " + ", ".join(failed),
                                  by=record.actor.get("user", "?"), at=record.decided_at)
            if self.auto_rollback:
                code = self._roll_back(stack, history, record, failed)
            else:
                code = EXIT_FAILED
        Records(history.backend, ref).save(record)
        self.result = record.to_dict()
        if self.json_output:
            from rollback import render

            print(render.to_json(self.result), file=self.out, flush=True)
        if unknown:
            raise OperationFailed(f"deploy of {ref.name} is unverified: the health gates could not reach "
                                  f"{', '.join(failed)} (no mark set, nothing rolled back)")
        if code != EXIT_OK:
            raise OperationFailed(f"deploy of {ref.name} is unhealthy ({', '.join(failed) or 'health gates'})"
                                  + ("; rolled back" if record.outcome == "rolled-back" else ""))
        return code

    def _roll_back(self, stack: str, history: Any, record: AuditRecord, failed: list[str]) -> int:
        from rollback.actions.rollback import Rollback

        detected = time.monotonic()
        record.timings["failure_detected_at"] = iso(utc_now())
        target = "last-good" if history.marked(Mark.GOOD) else "previous"
        self._say(f"health gates failed ({', '.join(failed)}): rolling back to {target}")
        # A fresh history: the deploy added a version and a mark since this one was read.
        rb = Rollback(ctx=self.ctx, yes=True, reason=f"auto-rollback: health gates failed: {', '.join(failed)}",
                      timeout=self.timeout, json_output=self.json_output, quiet=self.quiet, engine=self.engine,
                      verifier=self.verifier, out=self.out, err=self.err, recovery_started=detected)
        try:
            rb.run(stack, target)
        except RollbackError as exc:
            record.outcome = "unhealthy; rollback failed"
            record.notes.append(exc.message)
            return EXIT_FAILED
        record.outcome = "rolled-back"
        record.time_to_recover_seconds = rb.record.time_to_recover_seconds if rb.record else None
        record.timings["recovered_at"] = iso(utc_now())
        self._say(f"recovered: back on v{rb.record.to_version if rb.record else '?'}; time to recover "
                  f"{record.time_to_recover_seconds:.1f} s" if record.time_to_recover_seconds is not None
                  else "rolled back")
        return EXIT_FAILED

    def _verify(self, stack: str) -> dict[str, Any] | None:
        if self.verifier is not None:
            return self.verifier(plan=None, stack=stack, timeout=self.timeout)
        from rollback.actions.verify_cmd import verify_stack

        return verify_stack(self.ctx, stack, timeout=self.timeout,
                            stream=None if (self.quiet or self.json_output) else self.err)
