"""Glue between the rollback/deploy/verify commands and the health gates.

Where a stack's gates come from: after a rollback, the target version's recorded config (the gates
that were in force for that release); for ``verify`` and ``deploy``, ``stacks/Pulumi.<stack>.yaml`` in
``--cwd``, else the current version's recorded config. Expectations (which images and task
definitions should be running) come from the checkpoint that should be live.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any, TextIO, cast

from rollback.actions.context import Context
from rollback.errors import BadInput, RollbackError
from rollback.models import Deployment


def _on_round(stream: IO[str] | None) -> Any:
    if stream is None:
        return None
    from rollback.render.health import GateProgress

    return GateProgress(cast(TextIO, stream))


def _stack_config(ctx: Context, stack: str) -> tuple[dict[str, Any] | None, str]:
    from rollback.stackconfig import StackConfigFile, stack_config_path

    file = StackConfigFile.find(ctx.cwd, stack)
    if file is not None:
        return dict(file.doc), f"{file.path}: infra-rollback:health"
    return None, str(stack_config_path(ctx.cwd, stack))


def _current(ctx: Context, stack: str) -> tuple[Deployment | None, dict[str, Any] | None]:
    """The current state and the current version's recorded config, when the backend is reachable."""
    try:
        history = ctx.history(stack)
        current = history.current()
        number = history.current_version() or (history.count or None)
        config = history.version(number).config if number else None
        return current, config
    except RollbackError:
        return None, None


def run_verify(ctx: Context, stack: str, *, timeout: float | None, as_json: bool, quiet: bool) -> int:
    from rollback.actions.verify import Verify
    from rollback.render.health import health_text

    config, source = _stack_config(ctx, stack)
    target, recorded = _current(ctx, stack)
    if config is None:
        if recorded is None:
            raise BadInput(f"{source}: stack config file not found, and no recorded config for stack '{stack}'")
        config, source = recorded, f"stack '{stack}' current version config: infra-rollback:health"
    report = Verify(config=config, source=source, target=target, timeout=timeout,
                    on_round=None if (as_json or quiet) else _on_round(sys.stderr)).run(stack)
    print(json.dumps(report.to_dict(), indent=2) if as_json else health_text(report), flush=True)
    return 0 if report.healthy else 1


def verify_after(plan: Any, *, timeout: float, stream: IO[str] | None) -> dict[str, Any] | None:
    """Run the target version's gates after a rollback; None when it declares none."""
    from rollback.actions.verify import Verify
    from rollback.health.spec import load_health_spec
    from rollback.render.health import health_text

    config = plan.resolution.target.config
    if load_health_spec(config) is None:
        if stream is not None:
            print(f"note: v{plan.resolution.target.number} declares no health gates (infra-rollback:health): "
                  f"not verified", file=stream, flush=True)
        return None
    report = Verify(config=config, target=plan.target, timeout=timeout,
                    source=f"v{plan.resolution.target.number} config: infra-rollback:health",
                    on_round=_on_round(stream)).run(plan.history.ref.name)
    if stream is not None:
        print(health_text(report), file=stream, flush=True)
    return report.to_dict()


def verify_stack(ctx: Context, stack: str, *, timeout: float, stream: IO[str] | None) -> dict[str, Any] | None:
    """Run a stack's gates from its config file (deploy); None when it declares none."""
    from rollback.actions.verify import Verify
    from rollback.health.spec import load_health_spec
    from rollback.render.health import health_text

    config, source = _stack_config(ctx, stack)
    if config is None or load_health_spec(config) is None:
        return None
    target, _ = _current(ctx, stack)
    report = Verify(config=config, source=source, target=target, timeout=timeout,
                    on_round=_on_round(stream)).run(stack)
    if stream is not None:
        print(health_text(report), file=stream, flush=True)
    return report.to_dict()
