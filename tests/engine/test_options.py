"""Real engine: resource options survive a rollback (protect, retainOnDelete, ignoreChanges, deletedWith), a read
(`get`) resource, a component with children, and secret inputs and outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

from tests.engine.double_world import DoubleWorld, outcome
from tests.engine.logged import Logged, read_log
from tests.engine.world import PASSPHRASE, EngineWorld

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]


def release(log: str, n: int):
    def program() -> None:
        app = pulumi.ComponentResource("story:app:Bot", "app")
        child = pulumi.ResourceOptions(parent=app)
        db = Logged("db", log=log, value=f"schema-{n}", opts=pulumi.ResourceOptions(parent=app, protect=True))
        Logged("cache", log=log, value=n, opts=pulumi.ResourceOptions(parent=app, deleted_with=db))
        # v1 ignores changes to `value`; v2 drops that and sets a new value: going back cannot restore it.
        Logged("tuned", log=log, value=n,
               opts=pulumi.ResourceOptions(parent=app, ignore_changes=["value"] if n == 1 else None))
        Logged("token", log=log, value="t", secret=f"s3cr3t-{n}", opts=child)
        Logged("ledger", log=log, value="imported", opts=pulumi.ResourceOptions(parent=app, id="ledger-7"))
        if n == 2:
            Logged("audit", log=log, value="new in 2", opts=pulumi.ResourceOptions(parent=app, retain_on_delete=True))
        pulumi.export("token", pulumi.Output.secret(f"s3cr3t-{n}"))
    return program


def scenario(world, log: str):
    world.up(release(log, 1), message="v1")
    v1 = world.resources()
    world.up(release(log, 2), message="v2")
    before = world.resources()
    preview = world.cli_json("prod", "--to", "previous", "--preview")
    mark = len(read_log(log))
    result = world.cli("prod", "--to", "previous", "--yes", "--no-verify", "--json")
    return v1, before, preview, result, mark


def test_options_reads_components_and_secrets_survive_a_rollback(tmp_path: Path, engine_bin_dir: Path) -> None:
    world = EngineWorld(tmp_path / "real", engine_bin_dir, project="story")
    log = str(tmp_path / "provider.log")
    v1, before, preview, result, mark = scenario(world, log)
    assert any("ignoreChanges value" in line for line in preview["cannot_restore"])
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["outcome"] == "rolled-back"

    ops = sorted((c["op"], c["name"]) for c in read_log(log)[mark:] if c["op"] != "read")
    # db, cache and token go back in place; `audit` (retainOnDelete) leaves the state without a delete call;
    # `tuned` keeps v2's value (v1 ignored it).
    assert ("delete", "audit") not in ops and not any(op == "create" for op, _ in ops), ops
    assert {name for op, name in ops if op == "update"} == {"db", "cache", "token"}
    now = world.resources()
    by_name = {urn.rsplit("::", 1)[-1]: r for urn, r in now.items()}
    assert "audit" not in by_name
    assert set(now) == set(v1)
    assert by_name["db"]["protect"] is True and by_name["db"]["id"] == v1_id(v1, "db")
    assert by_name["cache"]["deletedWith"] == [u for u in now if u.endswith("::db")][0]
    assert by_name["tuned"]["ignoreChanges"] == ["value"] and by_name["tuned"]["outputs"]["value"] == 2
    assert by_name["ledger"]["external"] is True and by_name["ledger"]["id"] == "ledger-7"
    token_inputs = json.dumps(by_name["token"]["inputs"])
    assert "s3cr3t" not in token_inputs and "ciphertext" in token_inputs   # still a secret, encrypted
    root = next(r for r in now.values() if r["type"] == "pulumi:pulumi:Stack")
    assert "ciphertext" in json.dumps(root["outputs"]["token"])
    # The secret really is v1's again (decrypted through our own reader), and was never printed.
    diff = world.cli("diff", "prod", "--from", "1", "--to", "current", "--json")
    assert diff.returncode == 0 and json.loads(diff.stdout)["changes"] == [] or _only_tuned(diff.stdout)
    assert "s3cr3t" not in result.stdout + result.stderr + diff.stdout + diff.stderr
    assert PASSPHRASE not in result.stdout + result.stderr

    double = DoubleWorld(tmp_path / "double", project="story")
    _, d_before, _, d_result, _ = scenario(double, str(tmp_path / "double.log"))
    assert outcome(double, d_before, d_result) == outcome(world, before, result)


def v1_id(resources: dict, name: str) -> str:
    return next(r["id"] for u, r in resources.items() if u.endswith(f"::{name}"))


def _only_tuned(text: str) -> bool:
    changes = json.loads(text)["changes"]
    return [c["urn"].rsplit("::", 1)[-1] for c in changes] == ["tuned"]
