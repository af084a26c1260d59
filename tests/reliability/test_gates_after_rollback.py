"""A rollback verifies the target version's health gates with that version's recorded config: a gate's
secure header comes from that config too, and must be decrypted (and sent) like the stack file's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.health.stub_server import ScriptedServer
from tests.reliability.conftest import run
from tests.reliability.story import METRICS, PASS, project, set_image
from tests.support.engine_cli import use_engine
from tests.support.fake_engine import FakeEngine

HEADER = "gate-header-key-for-v1-3c9d"


def test_a_secure_gate_header_in_the_targets_recorded_config_is_sent_after_the_rollback(
        tmp_path: Path, gate: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path / "project", gate.base_url, header_secret=HEADER)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASS)
    use_engine(monkeypatch, FakeEngine(root / "state", PASS))
    assert run("deploy", "prod", "--yes", "--cwd", str(root)).code == 0
    set_image(root, "ghcr.io/omniserve/bot:1.5.0")
    assert run("deploy", "prod", "--yes", "--cwd", str(root)).code == 0
    sent_before = len(gate.requests)

    result = run("prod", "--to", "1", "--yes", "--json", "--cwd", str(root))
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["outcome"] == "rolled-back" and doc["record"]["health"]["healthy"] is True
    after = [h for path, h in gate.requests[sent_before:] if path == METRICS]
    assert after and all(h.get("x-api-key") == HEADER for h in after)
    assert HEADER not in result.stdout + result.stderr
