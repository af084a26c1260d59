"""The places the reliability tests run whole commands in: the example backend, and the repository's Pulumi
project (infra/, stacks/) deploying to a fresh local backend with one health gate served on 127.0.0.1.

Commands that apply something drive the engine test double (:mod:`tests.support.engine_cli`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollback.state.secrets import PassphraseCrypter
from statekit.pulumi_writer import DiyBackend
from tests.health.stub_server import ScriptedServer
from tests.paths import EXAMPLES, ROOT

PASS = "omniserve-example"      # the example backend's and the repository's stack config passphrase
METRICS = "/metrics/triage"
HEALTHY = (200, {"tags": {"urgent_escalation_share": 0.04}})


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example backend (prod: v6 current, v5 the bad release, v2 the good one) with its
    Pulumi.yaml and stack config; commands run with ``--cwd`` or ``--backend`` pointing here."""
    shutil.copytree(EXAMPLES / "backend", tmp_path / "backend")
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASS)
    return tmp_path


def backend_url(world: Path) -> str:
    return f"file://{world / 'backend'}"


@pytest.fixture
def gate() -> Iterator[ScriptedServer]:
    """The omniserve metrics endpoint, healthy unless a test scripts otherwise."""
    server = ScriptedServer().start()
    server.script(METRICS, HEALTHY)
    yield server
    server.stop()


def encrypt(config_file: Path, plaintext: str) -> dict[str, str]:
    """A ``{secure: ...}`` config value for ``config_file``'s stack (its encryptionsalt, the passphrase)."""
    salt = yaml.safe_load(config_file.read_text())["encryptionsalt"]
    return {"secure": PassphraseCrypter.from_salt(salt, PASS, source=str(config_file)).encrypt(plaintext)}


def project(root: Path, gate_url: str, *, secrets: dict[str, str] | None = None,
            header_secret: str | None = None) -> Path:
    """The repository's project under ``root`` (backend ``file://./state``, stack prod initialised), its health
    gates replaced by one http gate at ``gate_url``. ``secrets``: config keys set to secure values;
    ``header_secret``: the gate sends it as a secure header."""
    for name in ("infra", "stacks"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text().replace("file://./.state", "file://./state"))
    DiyBackend(root / "state").write_stack("omniserve", "prod", None)
    path = root / "stacks" / "Pulumi.prod.yaml"
    doc = yaml.safe_load(path.read_text())
    http: dict[str, Any] = {"kind": "http", "url": gate_url + METRICS,
                            "thresholds": [{"metric": "tags.urgent_escalation_share", "max": 0.2}]}
    if header_secret is not None:
        http["headers"] = {"X-Api-Key": encrypt(path, header_secret)}
    doc["config"]["infra-rollback:health"] = {"timeout": 20, "interval": 0.2, "gates": [http]}
    for key, plaintext in (secrets or {}).items():
        doc["config"][key] = encrypt(path, plaintext)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return root


def set_image(root: Path, image: str) -> None:
    path = root / "stacks" / "Pulumi.prod.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["omniserve:image"] = image
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
