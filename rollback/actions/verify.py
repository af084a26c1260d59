"""Health verification: `infra-rollback verify STACK`, and the gates a rollback or a deploy runs after applying.

:class:`Verify` runs the gates one stack config declares (``infra-rollback:health``), given what should be
running (expectations from a checkpoint), and returns a :class:`~rollback.health.runner.HealthReport`.
Where the gates come from:

- after a rollback, the target version's recorded config (the gates in force for that release):
  :func:`verify_version`;
- for ``verify`` and after a ``deploy``, the stack config file (:mod:`rollback.stackconfig`); ``verify``
  falls back on the current version's recorded config: :class:`VerifyStack`, :func:`verify_deployed`.

Expectations (which images and task definitions should be running) come from the checkpoint that should
be live. When it cannot be read, the gates still run, and the outcome says what was not checked.

    report = Verify(config=StackConfigFile.require(cwd, "prod").doc, target=deployment, timeout=120).run("prod")
    exit_code = 0 if report.healthy else 1
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rollback.actions.context import Context
from rollback.actions.hooks import QUIET, Listener, OnRound
from rollback.errors import BadInput, RollbackError
from rollback.health.expect import Expectations, expectations_from
from rollback.health.runner import Gate, HealthReport, run_gates
from rollback.health.spec import CONFIG_KEY, HealthSpec, load_health_spec
from rollback.models import Deployment
from rollback.stackconfig import StackConfigFile, decrypter_for, stack_config_path
from rollback.state.secrets import passphrase_from_env

if TYPE_CHECKING:
    from rollback.actions.preview import Plan

__all__ = ["HealthReport", "Verify", "VerifyOutcome", "VerifyStack", "verify_deployed", "verify_version"]

GatesFor = Callable[[HealthSpec, "Expectations | None"], Sequence[Gate]]


@dataclass
class Verify:
    """Run a stack's health gates.

    ``config``: the stack config mapping (``config:`` of ``Pulumi.<stack>.yaml``, a history entry's
    recorded ``config``), or the whole YAML document (then its ``encryptionsalt`` decrypts secret
    header values with the passphrase). ``target``: the checkpoint whose images and task definitions
    should be running (optional). ``timeout`` / ``interval`` override the stack config's.
    ``gates_for`` replaces gate construction (tests); ``on_round`` sees every round's states.
    """

    config: Mapping[str, Any] | None
    target: Deployment | None = None
    timeout: float | None = None
    interval: float | None = None
    source: str = CONFIG_KEY
    environ: Mapping[str, str] | None = None
    decrypt: Callable[[str], str] | None = None
    passphrase: Callable[[], str | None] = passphrase_from_env
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    on_round: OnRound | None = None
    gates_for: GatesFor | None = None

    def spec(self, stack: str) -> HealthSpec:
        spec = load_health_spec(self.config, source=self.source)
        if spec is None:
            raise BadInput(f"stack {stack} declares no health gates (add {CONFIG_KEY} with gates to its "
                           f"stack config, e.g. stacks/Pulumi.{stack.rsplit('/', 1)[-1]}.yaml)")
        return spec

    def run(self, stack: str) -> HealthReport:
        spec = self.spec(stack)
        expectations = expectations_from(self.target) if self.target is not None else None
        gates = self._gates(spec, expectations)
        timeout = self.timeout if self.timeout is not None else spec.timeout
        interval = self.interval if self.interval is not None else spec.interval
        return run_gates(gates, timeout=timeout, interval=interval, stack=stack, clock=self.clock,
                         sleep=self.sleep, on_round=self.on_round)

    def _gates(self, spec: HealthSpec, expectations: Expectations | None) -> Sequence[Gate]:
        if self.gates_for is not None:
            return self.gates_for(spec, expectations)
        import os

        from rollback.health.gates import build_gates

        decrypt = self.decrypt
        if decrypt is None and spec.has_secrets:
            salt = self.config.get("encryptionsalt") if isinstance(self.config, Mapping) else None
            decrypt = decrypter_for(salt, self.passphrase, source=self.source)
        environ = dict(os.environ if self.environ is None else self.environ)
        region = stack_region(self.config)
        if region:   # the stack's own region, before the environment's (a gate's `region:` comes first)
            environ["AWS_REGION"] = region
        return build_gates(spec, expectations=expectations, environ=environ, decrypt=decrypt)


def stack_region(config: Mapping[str, Any] | None) -> str | None:
    """``aws:region`` of a stack config mapping (or of a whole ``Pulumi.<stack>.yaml`` document)."""
    if not isinstance(config, Mapping):
        return None
    inner = config.get("config")
    if "aws:region" not in config and isinstance(inner, Mapping):
        config = inner
    region = config.get("aws:region")
    return region if isinstance(region, str) and region.strip() else None


# -- where the gates come from --------------------------------------------------------------------

@dataclass
class _Live:
    """What the backend says is live: the current state and its version's recorded config."""

    current: Deployment | None = None
    config: dict[str, Any] | None = None
    problem: str = ""              # why they could not be read (said, never swallowed)


def _live(ctx: Context, stack: str) -> _Live:
    try:
        history = ctx.history(stack)
        number = history.current_version() or (history.count or None)
        return _Live(history.current(), history.version(number).config if number else None)
    except RollbackError as exc:
        return _Live(problem=exc.message)


def _file(cwd: Path, stack: str) -> tuple[dict[str, Any] | None, str]:
    file = StackConfigFile.find(cwd, stack)
    if file is None:
        return None, str(stack_config_path(cwd, stack))
    return dict(file.doc), f"{file.path}: infra-rollback:health"


def _unchecked(problem: str) -> str:
    return f"what should be running is not checked (images, task definitions): {problem}"


@dataclass
class VerifyOutcome:
    report: HealthReport
    notes: list[str] = field(default_factory=list)


@dataclass
class VerifyStack:
    """`infra-rollback verify STACK`: the gates of the stack config file (else the current version's
    recorded config), expecting what the current state says should run."""

    ctx: Context
    timeout: float | None = None
    listener: Listener = QUIET

    def run(self, stack: str) -> VerifyOutcome:
        config, source = _file(self.ctx.cwd, stack)
        live = _live(self.ctx, stack)
        if config is None:
            if live.config is None:
                raise BadInput(f"{source}: stack config file not found, and no recorded config for stack '{stack}'"
                               + (f" ({live.problem})" if live.problem else ""))
            config, source = live.config, f"stack '{stack}' current version config: infra-rollback:health"
        report = Verify(config=config, source=source, target=live.current, timeout=self.timeout,
                        passphrase=self.ctx.passphrase, on_round=self.listener.gate_progress()).run(stack)
        return VerifyOutcome(report, [_unchecked(live.problem)] if live.problem else [])


def verify_version(plan: Plan, *, timeout: float, listener: Listener) -> HealthReport | None:
    """After a rollback: the target version's gates, expecting the target; None when it declares none."""
    config = plan.resolution.target.config
    if load_health_spec(config) is None:
        listener.health(None, f"v{plan.resolution.target.number} declares no health gates (infra-rollback:health): "
                              f"not verified")
        return None
    report = Verify(config=config, target=plan.target, timeout=timeout,
                    source=f"v{plan.resolution.target.number} config: infra-rollback:health",
                    decrypt=_recorded_secrets(plan), on_round=listener.gate_progress()).run(plan.history.ref.name)
    listener.health(report)
    return report


def _recorded_secrets(plan: Plan) -> Callable[[str], str]:
    """Decrypts the ``secure:`` values of the target's recorded config (a gate's secret header). A history
    entry's config carries no ``encryptionsalt``: its values were encrypted by the stack's secrets provider,
    the one the target's state names (a passphrase stack's encryptionsalt is its state's salt)."""
    from rollback.errors import SecretsError
    from rollback.state.secrets import SecretUnavailable

    box = plan.history.secrets_for(plan.target)
    where = f"v{plan.resolution.target.number} config: infra-rollback:health"

    def decrypt(ciphertext: str) -> str:
        try:
            return box.reveal_config(ciphertext)
        except SecretUnavailable as exc:
            raise SecretsError(f"{where}: a secure value cannot be decrypted here ({exc})") from exc
        except RollbackError:
            raise
        except Exception as exc:   # InvalidTag, a malformed ciphertext: cryptography's own errors
            raise SecretsError(f"{where}: a secure value could not be decrypted (wrong passphrase or corrupt "
                               f"ciphertext)") from exc

    return decrypt


def verify_deployed(ctx: Context, stack: str, *, timeout: float, listener: Listener) -> HealthReport | None:
    """After a deploy: the stack config file's gates, expecting the new current state; None when it
    declares none."""
    config, source = _file(ctx.cwd, stack)
    if config is None or load_health_spec(config) is None:
        return None
    live = _live(ctx, stack)
    if live.problem:
        listener.say(_unchecked(live.problem))
    report = Verify(config=config, source=source, target=live.current, timeout=timeout,
                    passphrase=ctx.passphrase, on_round=listener.gate_progress()).run(stack)
    listener.health(report)
    return report
