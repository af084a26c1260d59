"""Real engine: plugin-free resources (Stash, components, stack outputs, a StackReference) and a Python dynamic
provider that logs every call. An update-only rollback makes no create and no delete."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from tests.engine.double_world import DoubleWorld, outcome
from tests.engine.logged import Logged, read_log
from tests.engine.world import EngineWorld

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]


def release(log: str, n: int):
    def program() -> None:
        shared = pulumi.StackReference("organization/story/shared")
        bot = pulumi.ComponentResource("story:app:Bot", "bot")
        pulumi.Stash("settings", input={"image": f"ghcr.io/story/bot:1.{n}.0", "memory": "512Mi" if n == 1 else "1Gi"},
                     opts=pulumi.ResourceOptions(parent=bot))
        worker = Logged("worker", log=log, value=n, secret=f"token-{n}", opts=pulumi.ResourceOptions(parent=bot))
        Logged("queue", log=log, value=f"q{n}", extra=shared.get_output("region"),
               opts=pulumi.ResourceOptions(parent=bot, depends_on=[worker]))
        bot.register_outputs({"release": n})
        pulumi.export("image", f"ghcr.io/story/bot:1.{n}.0")
        pulumi.export("worker", worker.id)
        pulumi.export("token", pulumi.Output.secret(f"token-{n}"))
    return program


def scenario(world, log: str):
    world.up(lambda: pulumi.export("region", "eu-west-1"), stack="shared", message="shared")
    world.up(release(log, 1), message="release 1.1.0")
    v1 = world.resources()
    world.up(release(log, 2), message="release 1.2.0: new sentiment model")
    before = world.resources()
    result = world.cli("prod", "--to", "previous", "--yes", "--no-verify", "--json",
                       "--reason", "tags every ticket urgent")
    return v1, before, result


def test_update_only_rollback_makes_no_create_and_no_delete(tmp_path: Path, engine_bin_dir: Path) -> None:
    world = EngineWorld(tmp_path / "real", engine_bin_dir, project="story")
    log = str(tmp_path / "provider.log")
    v1, before, result = scenario(world, log)
    assert result.returncode == 0, result.stderr
    assert "token-1" not in result.stdout + result.stderr and "token-2" not in result.stdout + result.stderr
    # The engine's workspace (Pulumi.yaml, the stack settings with the target's config) and the saved plan
    # are removed with the run: nothing is left in the temporary folder, after an apply or a preview.
    assert not list(world.tmpdir.iterdir())
    assert world.cli_json("prod", "--to", "v2", "--preview")["engine"]["ran"] is True
    assert not list(world.tmpdir.iterdir())

    calls = [c for c in read_log(log) if c["op"] != "create"][2:]   # v2 made two updates; the rest is ours
    assert calls and {c["op"] for c in calls} == {"update"}, calls
    assert sorted(c["name"] for c in calls) == ["queue", "worker"]
    now = world.resources()
    assert set(now) == set(v1)
    for urn, res in v1.items():
        assert now[urn].get("id") == res.get("id"), urn           # updated in place: same URN, same id
    # The engine itself sees nothing left to change with v1's program.
    assert set(world.preview(release(log, 1))) == {"same"}
    history = world.cli_json("history", "prod")
    newest = history["versions"][0]
    assert newest["rollback"]["to_version"] == 1 and newest["rollback"]["from_version"] == 2

    # The engine double, on the same scenario, agrees with the engine.
    double = DoubleWorld(tmp_path / "double", project="story")
    _, d_before, d_result = scenario(double, str(tmp_path / "double.log"))
    assert outcome(double, d_before, d_result) == outcome(world, before, result)
