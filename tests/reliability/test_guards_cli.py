"""The safety guards through the command line a person types, not only the Python API.

Each test drives ``infra-rollback`` (``rollback.cli.main``; a real process on a terminal for the prompt)
with the engine test double where something would be applied, so a flag that never reaches the action, a
guard that forgets a replacement, or a prompt shown in CI is caught where the user would meet it.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from statekit.pulumi_writer import DiyBackend
from tests.paths import ROOT
from tests.reliability.conftest import Run, run, snapshot
from tests.reliability.story import PASS, backend_url
from tests.support.engine_cli import use_engine
from tests.support.fake_engine import FakeEngine

TRANSCRIPTS = {"urn": "urn:pulumi:prod::omniserve::aws:s3/bucketV2:BucketV2::omniserve-transcripts",
               "custom": True, "id": "omniserve-transcripts-1a2b", "type": "aws:s3/bucketV2:BucketV2",
               "inputs": {"bucket": "omniserve-transcripts-1a2b"}, "outputs": {"bucket": "omniserve-transcripts-1a2b"},
               "parent": "urn:pulumi:prod::omniserve::pulumi:pulumi:Stack::omniserve-prod"}


def add_operation(world: Path, change: Any, message: str = "extra") -> None:
    """One more recorded update of prod: the current state changed by ``change``."""
    writer = DiyBackend(world / "backend", seed=3)
    dep = writer.latest("omniserve", "prod")
    change(dep)
    writer.record_operation("omniserve", "prod", dep, kind="update", message=message,
                            start_time=1_795_000_000, end_time=1_795_000_060)


def error_line(result: Run, code: int) -> str:
    assert result.code == code, (result.code, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# -- --allow-data-loss reaches the action ---------------------------------------------------------------
def test_allow_data_loss_on_the_command_line_lets_the_rollback_delete_the_bucket(
        world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add_operation(world, lambda dep: dep["resources"].append(dict(TRANSCRIPTS)))      # v7: a bucket added
    engine = use_engine(monkeypatch, FakeEngine(world / "backend", PASS))
    before = snapshot(world)
    args = ["prod", "--to", "6", "--yes", "--no-verify", "--json", "--backend", backend_url(world)]

    refused = run(*args)
    line = error_line(refused, 3)
    assert "would delete data-bearing aws:s3/bucketV2:BucketV2" in line and "--allow-data-loss" in line
    assert json.loads(refused.stdout)["outcome"] == "refused"
    assert engine.calls == [] and snapshot(world) == before

    allowed = run(*args, "--allow-data-loss")
    assert allowed.code == 0, allowed.stderr
    doc = json.loads(allowed.stdout)
    assert doc["outcome"] == "rolled-back" and doc["record"]["new_version"] == 8
    assert any(w.startswith("allowed by --allow-data-loss: will delete data-bearing aws:s3/bucketV2:BucketV2")
               for w in doc["warnings"])
    assert [c[0] for c in engine.calls] == ["open", "preview", "up", "preview"]


# -- a protected resource that would be replaced -------------------------------------------------------
def test_a_protected_resource_the_rollback_would_replace_is_refused(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rolling v6 back to v2 replaces the ECS task definition (a new revision). Protected now, it is refused,
    whatever --allow-data-loss says: protection is lifted with `pulumi state unprotect`, not by a flag."""
    def protect(dep: dict[str, Any]) -> None:
        task = next(r for r in dep["resources"] if r["type"] == "aws:ecs/taskDefinition:TaskDefinition")
        task["protect"] = True

    add_operation(world, protect, message="protect the task definition")
    engine = use_engine(monkeypatch, FakeEngine(world / "backend", PASS))
    before = snapshot(world)
    result = run("prod", "--to", "2", "--yes", "--no-verify", "--allow-data-loss", "--json",
                 "--backend", backend_url(world))
    line = error_line(result, 3)
    assert "would replace protected resource" in line and "aws:ecs/taskDefinition:TaskDefinition::omniserve" in line
    assert "pulumi state unprotect" in line
    doc = json.loads(result.stdout)
    task = next(c for c in doc["changes"] if c["type"] == "aws:ecs/taskDefinition:TaskDefinition")
    assert task["op"] == "replace"
    assert engine.calls == [] and snapshot(world) == before


# -- CI=true with a terminal attached ------------------------------------------------------------------
def on_a_terminal(world: Path, answer: str, **env: str) -> tuple[int, str, str]:
    """``infra-rollback prod --to previous`` (with the engine double) in a process whose stdin is a terminal
    (a pseudo-terminal) with ``answer`` already typed."""
    leader, follower = pty.openpty()
    try:
        os.write(leader, answer.encode())
        environ = {k: v for k, v in os.environ.items() if k not in ("CI", "PULUMI_BACKEND_URL")}
        environ.update(PULUMI_CONFIG_PASSPHRASE=PASS, PYTHONWARNINGS="ignore", **env)
        done = subprocess.run([sys.executable, "-m", "tests.support.engine_cli", str(world / "backend"), "--",
                               "prod", "--to", "previous", "--no-verify", "--backend", backend_url(world)],
                              stdin=follower, capture_output=True, text=True, cwd=ROOT, env=environ, timeout=300)
    finally:
        os.close(follower)
        os.close(leader)
    return done.returncode, done.stdout, done.stderr


def test_ci_true_with_a_terminal_attached_refuses_instead_of_prompting(world: Path) -> None:
    before = snapshot(world)
    code, out, err = on_a_terminal(world, "y\n", CI="true")
    assert code == 3, (code, err)
    assert err.splitlines() == [err.strip()] and "no terminal to ask on (CI=true or no TTY)" in err
    assert "pass --yes" in err
    assert "Roll prod back" not in out + err                        # never asked (a "y" was waiting)
    assert snapshot(world) == before


def test_without_ci_the_same_terminal_is_asked(world: Path) -> None:
    """The control: the pseudo-terminal is a terminal; without CI the question is asked, and "n" refuses."""
    before = snapshot(world)
    code, out, err = on_a_terminal(world, "n\n")
    assert code == 3, (code, err)
    assert "Roll prod back to v2 (from v6)? This applies the changes above" in out
    assert "rollback not confirmed: nothing was changed" in err
    assert snapshot(world) == before
