"""Real engine: the legacy (non-project) DIY layout with gzip'd files, and saved plans with passphrase secrets
(pulumi#16412).

Real engine only: both are about what the real CLI writes and reads (its layouts and compression, its plan
files and salts); the double writes the project layout through statekit and keeps its plans in a format of its
own. The double's side: tests/test_engine_plan.py (plans), tests/test_apply.py (an unusable saved plan).
"""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

from tests.engine.logged import Logged, read_log
from tests.engine.world import EngineWorld

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]


def release(log: str, n: int):
    def program() -> None:
        cfg = pulumi.Config()
        Logged("worker", log=log, value=n, secret=cfg.require_secret("token"))
        pulumi.export("release", n)
    return program


def test_legacy_layout_with_gzip_history_rolls_back(tmp_path: Path, engine_bin_dir: Path) -> None:
    world = EngineWorld(tmp_path, engine_bin_dir, project="story", legacy=True, gzip=True)
    log = str(tmp_path / "provider.log")
    world.up(release(log, 1), message="v1", config={"token": ("secret", "tok-s3cr3t-1")})
    world.up(release(log, 2), message="v2", config={"token": ("secret", "tok-s3cr3t-2")})
    pulumi_dir = world.backend / ".pulumi"
    assert (pulumi_dir / "stacks" / "prod.json.gz").is_file()          # legacy: no project folder
    history = [p.name for p in (pulumi_dir / "history" / "prod").iterdir() if not p.name.endswith(".attrs")]
    assert len(history) == 4 and all(name.endswith(".json.gz") for name in history)
    assert not (pulumi_dir / "meta.yaml").exists()
    mark = len(read_log(log))

    result = world.cli("prod", "--to", "previous", "--yes", "--no-verify", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["to_version"] == 1 and out["outcome"] == "rolled-back"
    assert [c["op"] for c in read_log(log)[mark:]] == ["update"]
    worker = next(r for r in world.resources().values() if r["type"] == "pulumi-python:dynamic:Resource")
    assert worker["outputs"]["value"] == 1
    assert (pulumi_dir / "stacks" / "prod.json.gz").is_file()
    assert "tok-s3cr3t-1" not in result.stdout + result.stderr


def test_saved_plan_with_passphrase_secrets(tmp_path: Path, engine_bin_dir: Path) -> None:
    """pulumi#16412: `up --plan` with passphrase secrets failed to decrypt the plan. The rollback applies the
    saved plan where the engine can; where it cannot, it says so in the record and falls back to a fresh
    preview. Either way the secret config and secret inputs go back to v1's."""
    world = EngineWorld(tmp_path, engine_bin_dir, project="story")
    log = str(tmp_path / "provider.log")
    world.up(release(log, 1), message="v1", config={"token": ("secret", "tok-s3cr3t-1")})
    world.up(release(log, 2), message="v2", config={"token": ("secret", "tok-s3cr3t-2")})
    result = world.cli("prod", "--to", "previous", "--yes", "--no-verify", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)["record"]
    # This engine applies saved plans with passphrase secrets: no fallback was needed.
    assert not any("saved plan unusable" in n for n in record["notes"]), record["notes"]
    diff = world.cli("diff", "prod", "--from", "1", "--to", "current", "--json")
    assert diff.returncode == 0, diff.stderr
    assert json.loads(diff.stdout)["changes"] == []
    assert "tok-s3cr3t-1" not in result.stdout + diff.stdout and "tok-s3cr3t-2" not in result.stdout + diff.stdout
