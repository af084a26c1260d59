"""Real engine: another update lands between our read and the apply (a hotfix adding a table).

Before the engine's preview: the engine plans to delete the table our diff never saw; that destructive surprise
(and the data loss) refuses the rollback. After the engine's preview, before ``up``: the stack is no longer what
was read and previewed; refused, naming the version that landed. Either way the table is still there and the
stack's bytes are as the hotfix left them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rollback.actions.context import Context
from rollback.actions.rollback import Rollback
from rollback.engine import AutomationEngine, StackSpec
from rollback.errors import EXIT_REFUSED, Refused
from tests.engine.logged import Logged, read_log
from tests.engine.world import PASSPHRASE, EngineWorld

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]


def _program(log: str, n: int, *, hotfix: bool = False):
    def program() -> None:
        Logged("worker", log=log, value=n)
        if hotfix:
            Logged("sessions-table", log=log, value="holds every open ticket")
    return program


class _Landing:
    """The real engine, with another update landing at one moment of the rollback (the hotfix)."""

    def __init__(self, land: Callable[[], None], when: str) -> None:
        self.real = AutomationEngine()
        self.land = land
        self.when = when

    def open(self, spec: StackSpec, program: Callable[[], None] | None) -> Any:
        stack = self.real.open(spec, program)
        if self.when == "before_preview":
            self.land()
            return stack
        outer = self

        class Stack:
            def preview(self, **kw: Any) -> dict[str, int]:
                out = stack.preview(**kw)
                if kw.get("plan_path"):
                    outer.land()
                return out

            def up(self, **kw: Any) -> dict[str, int]:
                return stack.up(**kw)

        return Stack()


@pytest.mark.parametrize("when", ["before_preview", "after_preview"])
def test_a_hotfix_landing_during_the_rollback_is_never_deleted(tmp_path: Path, engine_bin_dir: Path,
                                                                  when: str) -> None:
    world = EngineWorld(tmp_path, engine_bin_dir, project="story")
    log = str(tmp_path / "provider.log")
    world.up(_program(log, 1), message="v1")
    world.up(_program(log, 2), message="v2: the bad release")
    landed: dict[str, Any] = {}

    def hotfix() -> None:
        world.up(_program(log, 2, hotfix=True), message="v3: hotfix adds the sessions table")
        landed["stack"] = world.stack_file().read_bytes()

    with world.environ():
        ctx = Context(cwd=world.cwd, backend_flag=world.url, passphrase=lambda: PASSPHRASE)
        action = Rollback(ctx=ctx, engine=_Landing(hotfix, when), verify=False)
        with pytest.raises(Refused) as err:
            action.run("prod", "1").raise_for_error()
    assert err.value.exit_code == EXIT_REFUSED
    if when == "before_preview":
        assert "the engine would delete" in err.value.message and "sessions-table" in err.value.message
    else:
        assert "the stack changed since the preview (v3: update by " in err.value.message
        assert "preview again" in err.value.message
    assert not any(c["op"] == "delete" for c in read_log(log))           # the table was never deleted
    assert world.stack_file().read_bytes() == landed["stack"]              # as the hotfix left it
    assert any(u.endswith("::sessions-table") for u in world.resources())
