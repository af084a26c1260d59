"""The engine double's side of the conformance suite: :class:`DoubleWorld` runs a scenario as
:class:`~tests.engine.world.EngineWorld` does, on ``tests/support/fake_engine.py`` instead of the real engine.

The same programs are applied (the double runs them under the SDK's mock runtime and writes the DIY backend as
the CLI does), and our CLI runs in process with the double installed (``rollback.engine.use_engine``). Each
real-engine scenario reduces both runs to :func:`outcome` and asserts they agree: where they did not, the double
was wrong and was fixed (each fix is named in tests/support/fake_engine.py's docstring and in the scenario).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollback.engine import StackSpec, use_engine
from tests.engine.world import PASSPHRASE, BackendView
from tests.support.fake_engine import FakeEngine


@dataclass
class Ran:
    """What a CLI run gave back, shaped like ``subprocess.CompletedProcess``."""

    returncode: int
    stdout: str
    stderr: str


class DoubleWorld(BackendView):
    def __init__(self, tmp: Path, *, project: str = "story", stack: str = "prod") -> None:
        super().__init__(tmp, project=project, stack=stack)
        self.engine = FakeEngine(self.backend, PASSPHRASE)

    @contextmanager
    def environ(self) -> Iterator[None]:
        saved = dict(os.environ)
        os.environ["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
        for name in ("PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL", "CI"):
            os.environ.pop(name, None)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def up(self, program: Callable[[], None], *, message: str = "", stack: str | None = None) -> dict[str, int]:
        spec = StackSpec(backend_url=self.url, project=self.project, stack=stack or self.stack)
        with self.environ():
            return self.engine.open(spec, program).up(message=message)

    def preview(self, program: Callable[[], None], *, stack: str | None = None) -> dict[str, int]:
        spec = StackSpec(backend_url=self.url, project=self.project, stack=stack or self.stack)
        with self.environ():
            return self.engine.open(spec, program).preview()

    def cli(self, *args: str) -> Ran:
        from typer.testing import CliRunner

        from rollback.cli import _route, app

        full = [*args, "--backend", self.url, "--cwd", str(self.cwd)]
        with self.environ(), use_engine(self.engine):
            result = CliRunner().invoke(app, _route(full), catch_exceptions=False)
        return Ran(result.exit_code, result.stdout, result.stderr)

    def cli_json(self, *args: str) -> dict[str, Any]:
        result = self.cli(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def stack_file(self) -> Path:
        found = sorted((self.backend / ".pulumi" / "stacks" / self.project).glob(f"{self.stack}.json*"))
        assert found, f"no stack file for {self.stack}"
        return found[0]


def outcome(world: Any, before: dict[str, dict[str, Any]], ran: Any) -> dict[str, Any]:
    """What the scenario's rollback did, in the terms both engines must agree on: the exit code, the engine's
    step per resource (and what we predicted), the resources left, and which kept their id."""
    doc = json.loads(ran.stdout) if ran.stdout.strip().startswith("{") else {}
    steps = {s["urn"].rsplit("::", 1)[-1]: (s["op"], s["predicted_op"])
             for s in (doc.get("engine") or {}).get("steps") or [] if s["op"] != "same"}
    after = world.resources()
    live = sorted((r["type"], u.rsplit("::", 1)[-1]) for u, r in after.items()
                  if not r["type"].startswith("pulumi:providers:") and r["type"] != "pulumi:pulumi:Stack")
    kept = sorted(u.rsplit("::", 1)[-1] for u, r in after.items()
                  if r.get("custom") and u in before and before[u].get("id") == r.get("id")
                  and not r["type"].startswith("pulumi:providers:"))
    return {"exit": ran.returncode, "outcome": doc.get("outcome"), "steps": steps, "live": live, "kept_id": kept}
