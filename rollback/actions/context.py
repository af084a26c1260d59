"""What every action needs, built once per command and handed to the action (Helm's Configuration)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rollback.config import BackendChoice, choose_backend
from rollback.history import StackHistory
from rollback.state.backend import Backend
from rollback.state.open import open_backend
from rollback.state.secrets import passphrase_from_env


@dataclass
class Context:
    cwd: Path = field(default_factory=Path.cwd)
    backend_flag: str | None = None
    project: str | None = None
    passphrase: Callable[[], str | None] = passphrase_from_env
    records_url: str | None = None   # Cloud backends: where full audit records go (else $INFRA_ROLLBACK_RECORDS)
    _backend: Backend | None = None
    _choice: BackendChoice | None = None

    @property
    def choice(self) -> BackendChoice:
        if self._choice is None:
            self._choice = choose_backend(self.backend_flag, self.cwd)
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
