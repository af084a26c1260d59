"""The --json outputs CI jobs and scripts depend on (docs/cli.md): their keys do not drift."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.paths import EXAMPLES
from tests.support.backends import cli

PREVIEW_KEYS = {"stack", "project", "backend", "from_version", "to_version", "target", "skipped", "changes",
                "summary", "warnings", "rehearsal", "cannot_restore", "provider_versions", "notes", "refusals",
                "engine"}
VERSION_KEYS = {"version", "kind", "result", "start_time", "end_time", "message", "git_head", "mark",
                "mark_reason", "resource_changes", "has_checkpoint"}
CHANGE_KEYS = {"urn", "type", "op", "properties", "data_bearing", "protected"}
PROPERTY_KEYS = {"path", "before", "after"}


@pytest.fixture()
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "omniserve-example")
    return tmp_path / "examples"


def test_preview_json_keys(example: Path) -> None:
    result = cli("rollback", "prod", "--to", "previous", "--preview", "--json", "--cwd", str(example))
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == PREVIEW_KEYS
    assert set(doc["target"]) == VERSION_KEYS
    assert all(set(s) == {"version", "reason"} for s in doc["skipped"])
    for change in doc["changes"]:
        assert CHANGE_KEYS <= set(change) <= CHANGE_KEYS | {"replace_reason"}
        assert change["op"] in {"create", "update", "replace", "delete"}
        for prop in change["properties"]:
            assert PROPERTY_KEYS <= set(prop) <= PROPERTY_KEYS | {"secret"}
    assert {"workloads", "lines", "data_loss"} <= set(doc["summary"])
    assert set(doc["rehearsal"]) == {"scope", "ok", "resources", "total", "mismatches"}
    assert doc["rehearsal"]["scope"] == "changed"   # a preview; before an apply, "full"
    assert all({"package", "target", "used"} <= set(v) for v in doc["provider_versions"])
    assert doc["refusals"] == []
    assert {"ran", "steps", "disagreements", "not_restored"} <= set(doc["engine"])


def test_refused_rollback_json_keys(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = cli("rollback", "prod", "--to", "previous", "--json", "--cwd", str(example))
    # No --yes in CI: refused (exit 3) before anything is applied, with the preview and the reason in JSON.
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert doc["outcome"] == "refused" and set(doc) == PREVIEW_KEYS | {"outcome", "refused"}
    assert "--yes" in doc["refused"][0]
    assert result.stderr.startswith("error: not confirmed")


def test_mark_json_keys(example: Path) -> None:
    result = cli("mark", "prod", "2", "--good", "--reason", "known good", "--json", "--cwd", str(example))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"stack": "prod", "project": "omniserve", "version": 2, "mark": "good",
                                         "reason": "known good"}
