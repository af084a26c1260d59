"""What every Terraform action needs: the working directory, the engine to drive, the passphrase.

The counterpart of :class:`rollback.actions.context.Context` for a Terraform/OpenTofu working directory
(Helm's Configuration): built once per command by the CLI, handed to the action. ``STACK`` names the
workspace (``default`` is Terraform's default one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from rollback.terraform.provenance import passphrase_from_env


def _passphrase() -> str | None:
    return passphrase_from_env()


@dataclass
class TfContext:
    kind: ClassVar[str] = "terraform"

    cwd: Path = field(default_factory=Path.cwd)
    engine_flag: str | None = None          # --engine: tofu, terraform or a path
    passphrase: Callable[[], str | None] = _passphrase   # INFRA_ROLLBACK_PASSPHRASE(_FILE): sealed variables
    environ: Mapping[str, str] | None = None
    _workspaces: dict[str, Any] = field(default_factory=dict, repr=False)
    _engine: Any = field(default=None, repr=False)

    def workspace(self, stack: str) -> Any:
        """The working directory opened on workspace ``stack`` (its backend, its git repository)."""
        if stack not in self._workspaces:
            from rollback.terraform.workspace import Workspace

            self._workspaces[stack] = Workspace.open(self.cwd, workspace=stack, environ=self.environ)
        return self._workspaces[stack]

    def history(self, stack: str) -> Any:
        """The workspace's versions, read afresh (a deploy or rollback adds one)."""
        return self.workspace(stack).history()

    def engine(self) -> Any:
        """The ``tofu``/``terraform`` binary: ``--engine``, else ``$INFRA_ROLLBACK_TF_ENGINE``, else ``tofu``, else
        ``terraform`` on PATH (:class:`~rollback.errors.EngineUnavailable`, exit 1, saying how to install one)."""
        if self._engine is None:
            from rollback.terraform.engine import find_engine

            self._engine = find_engine(self.engine_flag, environ=self.environ)
        return self._engine


__all__ = ["TfContext"]
