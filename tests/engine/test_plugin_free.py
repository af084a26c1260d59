"""Real engine: plugin-free resources (Stash, components, stack outputs, a StackReference) and a Python dynamic
provider that logs every call. An update-only rollback makes no create and no delete."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

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


def test_update_only_rollback_makes_no_create_and_no_delete(tmp_path: Path, engine_bin_dir: Path) -> None:
    world = EngineWorld(tmp_path, engine_bin_dir, project="story")
    log = str(tmp_path / "provider.log")
    world.up(lambda: pulumi.export("region", "eu-west-1"), stack="shared", message="shared")
    assert world.up(release(log, 1), message="release 1.1.0")["create"] == 5   # the StackReference is a read
    v1 = world.resources()
    world.up(release(log, 2), message="release 1.2.0: new sentiment model")
    before_rollback = len(read_log(log))

    result = world.cli("prod", "--to", "previous", "--yes", "--no-verify", "--reason", "tags every ticket urgent")
    assert result.returncode == 0, result.stderr
    assert "token-1" not in result.stdout + result.stderr and "token-2" not in result.stdout + result.stderr

    calls = read_log(log)[before_rollback:]
    assert calls and {c["op"] for c in calls} == {"update"}, calls
    assert sorted(c["name"] for c in calls) == ["queue", "worker"]
    now = world.resources()
    assert set(now) == set(v1)
    for urn, res in v1.items():
        assert now[urn].get("id") == res.get("id"), urn           # updated in place: same URN, same id
        if res["type"] != "pulumi:pulumi:Stack":
            assert now[urn].get("inputs") == res.get("inputs") or now[urn]["type"].startswith("pulumi-python"), urn
    # The engine itself sees nothing left to change with v1's program.
    assert set(world.preview(release(log, 1))) == {"same"}
    history = world.cli_json("history", "prod")
    newest = history["versions"][0]
    assert newest["rollback"]["to_version"] == 1 and newest["rollback"]["from_version"] == 2
