"""The one boundary to the Pulumi engine: ``pulumi.automation``, imported lazily.

:class:`Engine` is the seam the rollback and deploy actions use; :class:`AutomationEngine` is the real
one (it drives the ``pulumi`` CLI through the Automation API, never by hand-written subprocess
calls), and tests supply a double from ``tests/``. Engine failures are translated here into
:mod:`rollback.errors` so that callers never see ``CommandError``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rollback.errors import ConcurrentUpdate, EngineUnavailable, OperationFailed, PlanUnsupported, StackNotFound

CLI_MISSING = ("the Pulumi CLI is not installed (no `pulumi` on PATH): install it from "
               "https://www.pulumi.com/docs/install/ (e.g. `curl -fsSL https://get.pulumi.com | sh`), then retry")
INSTALL_HINT = CLI_MISSING + "; `--preview` works without it"   # a rollback's

OnEvent = Callable[[Any], None]


@dataclass(frozen=True)
class StackSpec:
    """Which stack to drive, and with what settings (engine-neutral where it costs nothing)."""

    backend_url: str
    project: str
    stack: str
    config: dict[str, Any] = field(default_factory=dict)  # recorded config: plain values and {"secure": ct}
    secrets_provider: str | None = None                    # None/"passphrase"/"awskms://..."/...
    encryption_salt: str | None = None
    encrypted_key: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    work_dir: Path | None = None                           # deploy: the program; rollback: the workspace
    config_file: Path | None = None                        # stacks/Pulumi.<stack>.yaml (deploy)
    qualified_name: str | None = None                      # org/project/stack where the backend knows the org


class EngineStack(Protocol):
    def preview(self, *, plan_path: str | None = None, on_event: OnEvent | None = None,
                expect_no_changes: bool = False) -> dict[str, int]:
        """A dry run; returns the change summary (op -> count)."""
        ...

    def up(self, *, plan_path: str | None = None, message: str, on_event: OnEvent | None = None) -> dict[str, int]:
        ...


class Engine(Protocol):
    def open(self, spec: StackSpec, program: Callable[[], None] | None) -> EngineStack:
        """Select the existing stack with these settings and this inline program (None: the program on disk)."""
        ...


def cli_available() -> bool:
    return shutil.which("pulumi") is not None


_installed: list[Engine] = []


@contextmanager
def use_engine(engine: Engine) -> Iterator[Engine]:
    """Run with ``engine`` wherever an action is given none: the seam (like httpx's ``MockTransport``) through
    which the CLI itself runs against another :class:`Engine`, such as the test double."""
    _installed.append(engine)
    try:
        yield engine
    finally:
        _installed.remove(engine)


def engine_available() -> bool:
    """Whether an engine can be opened: one installed with :func:`use_engine`, or a ``pulumi`` CLI on PATH."""
    return bool(_installed) or cli_available()


def default_engine(missing: str = INSTALL_HINT) -> Engine:
    """The engine for an action given none: the installed one, else the Automation API's (which needs a CLI;
    without one, :class:`EngineUnavailable` with ``missing``: how to install it, in the command's words)."""
    if _installed:
        return _installed[-1]
    if not cli_available():
        raise EngineUnavailable(missing)
    return AutomationEngine()


class AutomationEngine:
    """The real engine, through ``pulumi.automation``."""

    def open(self, spec: StackSpec, program: Callable[[], None] | None) -> EngineStack:
        if not cli_available():
            raise EngineUnavailable(INSTALL_HINT)
        from pulumi import automation as auto

        settings = auto.ProjectSettings(name=spec.project, runtime="python",
                                        backend=auto.ProjectBackend(url=spec.backend_url))
        env = {"PULUMI_BACKEND_URL": spec.backend_url, **spec.env}
        opts = auto.LocalWorkspaceOptions(project_settings=settings, env_vars=env,
                                          work_dir=str(spec.work_dir) if spec.work_dir else None)
        stack_name = spec.qualified_name or (
            f"organization/{spec.project}/{spec.stack}" if spec.project else spec.stack)
        try:
            if program is not None:
                stack = auto.select_stack(stack_name=stack_name, project_name=spec.project, program=program, opts=opts)
            else:
                stack = auto.select_stack(stack_name=stack_name, work_dir=str(spec.work_dir), opts=opts)
            if spec.config_file is not None:
                return _AutomationStack(stack, config_file=str(spec.config_file))
            stack.workspace.save_stack_settings(stack_name, stack_settings(spec))
        except FileNotFoundError as exc:
            raise EngineUnavailable(INSTALL_HINT) from exc
        except auto.errors.CommandError as exc:
            raise translate(exc, f"selecting stack {stack_name}") from exc
        return _AutomationStack(stack)


def stack_settings(spec: StackSpec) -> Any:
    """The ``Pulumi.<stack>.yaml`` settings for a replay: the target's recorded config, secure values as the
    ciphertexts they were recorded with, and the stack's own encryption salt / key (nothing is decrypted)."""
    from pulumi.automation import StackSettings
    from pulumi.automation._stack_settings import StackSettingsSecureConfigValue

    config: dict[str, Any] = {}
    for key, value in spec.config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[key] = StackSettingsSecureConfigValue(secure=value["secure"])
        else:
            config[key] = value
    # `service` (Pulumi Cloud) must never be written: the CLI takes any value but "", "default" and "passphrase"
    # as a gocloud keeper URL (pkg/cmd/pulumi/stack/secrets.go); leaving it unset keeps the service's own.
    provider = spec.secrets_provider if spec.secrets_provider not in (None, "passphrase", "service", "default") else None
    return StackSettings(secrets_provider=provider, encryption_salt=spec.encryption_salt,
                         encrypted_key=spec.encrypted_key, config=config)


class _AutomationStack:
    def __init__(self, stack: Any, *, config_file: str | None = None) -> None:
        self.stack = stack
        self.config_file = config_file  # the Automation API ignores stackConfigDir (pulumi#10305)

    def preview(self, *, plan_path: str | None = None, on_event: OnEvent | None = None,
                expect_no_changes: bool = False) -> dict[str, int]:
        from pulumi import automation as auto

        try:
            result = self.stack.preview(diff=True, plan=plan_path, on_event=on_event,
                                        expect_no_changes=expect_no_changes or None,
                                        config_file=self.config_file)
        except auto.errors.CommandError as exc:
            raise translate(exc, "preview", plan=plan_path is not None) from exc
        return {str(getattr(k, "value", k)): int(v) for k, v in (result.change_summary or {}).items()}

    def up(self, *, plan_path: str | None = None, message: str, on_event: OnEvent | None = None) -> dict[str, int]:
        from pulumi import automation as auto

        try:
            result = self.stack.up(plan=plan_path, message=message, on_event=on_event,
                                   config_file=self.config_file)
        except auto.errors.CommandError as exc:
            raise translate(exc, "update", plan=plan_path is not None) from exc
        changes = getattr(result.summary, "resource_changes", None) or {}
        return {str(k): int(v) for k, v in changes.items()}


def translate(exc: Exception, what: str, *, plan: bool = False) -> Exception:
    """A CommandError -> one of our errors with one clear line."""
    text = str(exc)
    lowered = text.lower()
    name = exc.__class__.__name__
    if name == "ConcurrentUpdateError" or "conflict: another update is currently in progress" in lowered:
        return ConcurrentUpdate(f"{what}: another update is in progress on this stack (its lock is held); "
                                f"wait for it, or clear a stale lock with `pulumi cancel`")
    if name == "StackNotFoundError" or "no stack named" in lowered:
        return StackNotFound(f"{what}: the engine does not know this stack on this backend")
    if plan and _plan_unusable(lowered):
        return PlanUnsupported(f"{what}: the saved plan could not be used ({_first_error_line(text)})")
    if "expect_no_changes" in lowered or "no changes were expected" in lowered:
        return OperationFailed(f"{what}: the stack has not converged: the engine still sees changes")
    return OperationFailed(f"{what} failed: {_first_error_line(text)}")


def _plan_unusable(lowered: str) -> bool:
    """The engine could not read the saved plan: pulumi#16412, where `up --plan` with passphrase secrets fails
    reading the plan file with `decrypting secret value: cipher: message authentication failed` (before
    pulumi#18743: `error decrypting secret value: ...`); the text does not mention the plan. Stack config that
    cannot be decrypted says `validating stack config:` instead and is not this."""
    if "validating stack config" in lowered:
        return False
    return "decrypting secret value" in lowered


def _first_error_line(text: str) -> str:
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("error:"):
            return s[len("error:"):].strip()
    for line in text.splitlines():
        if line.strip() and not line.startswith((" code:", "code:", " stdout:", "stdout:", " stderr:", "stderr:")):
            return line.strip()[:300]
    return text.strip()[:300] or "unknown engine error"
