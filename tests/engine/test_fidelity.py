"""Real engine: what a replay must get right for the engine to do no more than an in-place rollback.

* a resource renamed with `aliases` in the bad release goes back to its old name with no create and no delete;
* a provider whose config differs between the versions: what the engine does is what the preview said;
* a FileAsset whose file changed since the target is refused, naming the path and both hashes, never replayed
  as a silent "same".
"""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

from tests.engine.double_world import DoubleWorld, outcome
from tests.engine.logged import Logged, read_log
from tests.engine.world import EngineWorld

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]


def _rename(log: str):
    def v1() -> None:
        Logged("worker", log=log, value=1)

    def v2() -> None:   # the bad release renames `worker` to `sentiment-worker`, keeping it through an alias
        Logged("sentiment-worker", log=log, value=2, logical_name="worker",
               opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="worker")]))
    return v1, v2


def rename_scenario(world, log: str):
    v1, v2 = _rename(log)
    world.up(v1, message="v1")
    first = world.resources()
    world.up(v2, message="v2: rename")
    before = world.resources()
    return first, before, world.cli("prod", "--to", "previous", "--yes", "--no-verify", "--json")


def test_a_rename_with_aliases_is_undone_in_place(tmp_path: Path, engine_bin_dir: Path) -> None:
    world = EngineWorld(tmp_path / "real", engine_bin_dir, project="story")
    log = str(tmp_path / "provider.log")
    first, before, result = rename_scenario(world, log)
    assert result.returncode == 0, result.stderr
    # v1 created it, v2's rename updated it in place, and so does the rollback: no create, no delete
    assert [c["op"] for c in read_log(log)] == ["create", "update", "update"], read_log(log)
    now = world.resources()
    assert set(now) == set(first)
    worker = next(r for u, r in now.items() if u.endswith("::worker"))
    assert worker["id"] == next(r for u, r in first.items() if u.endswith("::worker"))["id"]

    double = DoubleWorld(tmp_path / "double", project="story")
    _, d_before, d_result = rename_scenario(double, str(tmp_path / "double.log"))
    assert outcome(double, d_before, d_result) == outcome(world, before, result)


def test_a_provider_config_change_is_what_the_preview_said(tmp_path: Path, engine_bin_dir: Path) -> None:
    """The bad release moved the Kubernetes provider's render folder: the provider's own DiffConfig decides
    whether going back replaces it and what is under it; the preview shows the engine's decision."""
    import pulumi_kubernetes as k8s
    from pulumi_kubernetes.core.v1 import ConfigMap
    from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

    def release(root: Path, folder: str, level: str):
        def program() -> None:
            provider = k8s.Provider("render", render_yaml_to_directory=str(root / folder))
            ConfigMap("settings", metadata=ObjectMetaArgs(name="settings", namespace="story"),
                      data={"LOG_LEVEL": level}, opts=pulumi.ResourceOptions(provider=provider))
        return program

    def scenario(world, root: Path):
        world.up(release(root, "rendered-a", "info"), message="v1")
        world.up(release(root, "rendered-b", "debug"), message="v2: new render folder")
        before = world.resources()
        preview = world.cli_json("prod", "--to", "previous", "--preview")
        return before, preview, world.cli("prod", "--to", "previous", "--yes", "--no-verify", "--json")

    world = EngineWorld(tmp_path / "real", engine_bin_dir, project="story")
    before, preview, result = scenario(world, tmp_path)
    engine = preview["engine"]
    assert engine["ran"] is True and engine["disagreements"] == [] and preview["refusals"] == []
    steps = {s["urn"].rsplit("::", 1)[-1]: (s["op"], s["predicted_op"]) for s in engine["steps"]}
    # The provider's own DiffConfig replaces it (renderYamlToDirectory), and every resource under it: predicted.
    assert steps == {"render": ("replace", "replace"), "settings": ("replace", "replace")}
    assert result.returncode == 0, result.stderr
    done = json.loads(result.stdout)
    assert {s["urn"].rsplit("::", 1)[-1]: s["op"] for s in done["engine"]["steps"]} == {
        "render": "replace", "settings": "replace"}
    assert (tmp_path / "rendered-a").is_dir()

    double = DoubleWorld(tmp_path / "double", project="story")
    d_before, _, d_result = scenario(double, tmp_path / "double")
    assert outcome(double, d_before, d_result) == outcome(world, before, result)


def test_a_file_asset_that_changed_since_the_target_is_refused(tmp_path: Path, engine_bin_dir: Path) -> None:
    world = EngineWorld(tmp_path, engine_bin_dir, project="story")
    bundle = tmp_path / "model.bin"

    def program() -> None:
        pulumi.Stash("model", input=pulumi.FileAsset(str(bundle)))

    bundle.write_text("weights v1")
    world.up(program, message="v1")
    bundle.write_text("weights v2")
    world.up(program, message="v2")
    before = world.snapshot()
    result = world.cli("prod", "--to", "previous", "--yes", "--no-verify")
    assert result.returncode == 3, result.stderr
    assert str(bundle) in result.stderr and "hash" in result.stderr
    assert world.snapshot() == before
