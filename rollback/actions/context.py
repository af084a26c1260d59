"""What every action needs, built once per command and handed to the action (Helm's Configuration)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from rollback.config import CLOUD_URL, BackendChoice, choose_backend
from rollback.errors import BadInput
from rollback.history import StackHistory
from rollback.project import read_project_file
from rollback.state.backend import Backend
from rollback.state.open import open_backend
from rollback.state.secrets import passphrase_from_env


@dataclass
class Context:
    kind: ClassVar[str] = "pulumi"    # what rollback.cli routes on (rollback.actions.terraform: "terraform")

    cwd: Path = field(default_factory=Path.cwd)
    backend_flag: str | None = None
    project: str | None = None
    passphrase: Callable[[], str | None] = passphrase_from_env
    records_url: str | None = None   # Cloud backends: where full audit records go (else $INFRA_ROLLBACK_RECORDS)
    _backend: Backend | None = None
    _choice: BackendChoice | None = None

    @property
    def choice(self) -> BackendChoice:
        """Which backend to read. Nothing configured at all (no flag, no PULUMI_BACKEND_URL, no Pulumi.yaml
        here or above, no `pulumi login`) is most often the wrong folder: said, rather than guessed."""
        if self._choice is None:
            choice = choose_backend(self.backend_flag, self.cwd)
            if choice.origin == "default" and read_project_file(self.cwd) is None:
                raise BadInput(f"no Pulumi.yaml here ({self.cwd}) or above, and no backend configured; pass --cwd "
                               f"(the project directory, or a Terraform working directory with *.tf files) or "
                               f"--backend (file://DIR, s3://BUCKET/PREFIX, or Pulumi Cloud, {CLOUD_URL}, after "
                               f"`pulumi login`)")
            self._choice = choice
        return self._choice

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = open_backend(self.choice.url, self.cwd, origin=self.choice.origin,
                                         records_url=self.records_url)
        return self._backend

    def history(self, stack: str) -> StackHistory:
        ref = self.backend.resolve_stack(stack, self.project)
        return StackHistory(self.backend, ref, passphrase=self.passphrase)
