"""`infra-rollback verify STACK` in a Terraform working directory: the gates of ``infra-rollback.health.yaml``
(or ``infra-rollback.health.<workspace>.yaml``) beside the ``*.tf`` files, expecting what the workspace's
current state says should run (the images and task definitions), as
:class:`rollback.actions.verify.VerifyStack` does for a Pulumi stack."""

from __future__ import annotations

from dataclasses import dataclass

from rollback.actions.hooks import QUIET, Listener
from rollback.actions.terraform.context import TfContext
from rollback.actions.verify import Verify, VerifyOutcome
from rollback.errors import BadInput, RollbackError
from rollback.models import Deployment
from rollback.terraform.health import find_health_file, health_file_names


@dataclass
class VerifyStack:
    ctx: TfContext
    timeout: float | None = None
    listener: Listener = QUIET

    def run(self, stack: str) -> VerifyOutcome:
        ws = self.ctx.workspace(stack)
        health = find_health_file(ws.workdir, stack)
        if health is None:
            names = " or ".join(health_file_names(stack))
            raise BadInput(f"{ws.workdir}: no {names}: declare workspace {stack}'s health gates there "
                           f"(see docs/cli.md, Terraform)")
        notes: list[str] = []
        target: Deployment | None = None
        try:
            h = self.ctx.history(stack)
            number = h.current_version()
            target = h.deployment(number) if number else None
        except RollbackError as exc:
            notes.append(f"what should be running is not checked (images, task definitions): {exc.message}")
        report = Verify(config=health.config, source=health.source, target=target, timeout=self.timeout,
                        on_round=self.listener.gate_progress()).run(stack)
        return VerifyOutcome(report, notes)


__all__ = ["VerifyStack"]
