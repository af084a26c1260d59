"""The command line on a Terraform working directory without an engine: routing, the JSON contracts of history,
show, diff, mark and the preview (the same keys as a Pulumi stack's, tests/test_json_contract.py), the preview
from the recorded states alone when no engine is installed, and one-line errors with their exit codes.

The working directory is written here: a local backend (``.terraform/``, the states ``deploy`` keeps, their
provenance records), the bot's v1 (1.4.0, 512 MiB) and v2 (1.5.0, 1 GiB, FEATURE_X, another token). The engine
runs are in test_story.py and test_backends.py.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rollback.terraform.backends import LocalBackend
from rollback.terraform.provenance import Provenance, ProvenanceStore, seal_variables
from tests.paths import EXAMPLES
from tests.terraform.conftest import PREVIEW_KEYS, VERSION_KEYS

PASSPHRASE = "local passphrase"
TOKENS = ("tok-local-1", "tok-local-2")


def _state(serial: int, *, image: str, memory: int, env: dict[str, str], token: str) -> bytes:
    containers = json.dumps([{"name": "bot", "image": image, "memory": memory, "essential": True,
                              "environment": [{"name": k, "value": v} for k, v in env.items()]}])
    resources = [
        {"mode": "managed", "type": "aws_ecs_task_definition", "name": "bot", "provider": "p",
         "instances": [{"attributes": {"id": "bot", "family": "bot", "cpu": "256", "memory": str(memory),
                                       "revision": serial, "container_definitions": containers}}]},
        {"mode": "managed", "type": "aws_ssm_parameter", "name": "bot_token", "provider": "p",
         "instances": [{"attributes": {"id": "/bot/token", "name": "/bot/token", "type": "SecureString",
                                       "value": token},
                        "sensitive_attributes": [[{"type": "get_attr", "value": "value"}]]}]},
        {"mode": "managed", "type": "aws_dynamodb_table", "name": "sessions", "provider": "p",
         "instances": [{"attributes": {"id": "bot-sessions", "hash_key": "session_id"}}]},
    ]
    return json.dumps({"version": 4, "terraform_version": "1.12.6", "serial": serial, "lineage": "lin-bot",
                       "outputs": {"task_definition": {"value": f"arn:td:{serial}", "type": "string"}},
                       "resources": resources}).encode()


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bot's working directory, initialised (local backend) and deployed twice; no engine anywhere."""
    work = tmp_path / "infra"
    work.mkdir()
    for name in ("main.tf", "variables.tf"):
        (work / name).write_text((EXAMPLES / "terraform" / name).read_text())
    (work / ".terraform").mkdir()
    backend = LocalBackend(work, {}, workspace="default")
    store = ProvenanceStore(backend.store, backend.records_prefix())
    releases = [(1, "ghcr.io/example/bot:1.4.0", 512, {"LOG_LEVEL": "info"}, TOKENS[0], "release 1.4.0"),
                (2, "ghcr.io/example/bot:1.5.0", 1024, {"LOG_LEVEL": "info", "FEATURE_X": "on"}, TOKENS[1],
                 "release 1.5.0")]
    for serial, image, memory, env, token, message in releases:
        data = _state(serial, image=image, memory=memory, env=env, token=token)
        backend.keep_snapshot(data, serial=serial, lineage="lin-bot")
        sealed, salt = seal_variables({"image": image, "bot_token": token}, ["bot_token"], passphrase=PASSPHRASE)
        store.save(Provenance(lineage="lin-bot", serial=serial, commit=f"{serial}" * 40, variables=sealed,
                              secrets_salt=salt, message=message, actor={"user": "dev"},
                              started_at=f"2026-11-0{serial}T10:00:00Z"))
    (work / "terraform.tfstate").write_bytes(data)
    # No engine: none named, none on PATH (this machine may have one).
    monkeypatch.delenv("INFRA_ROLLBACK_TF_ENGINE", raising=False)
    keep = [p for p in os.environ.get("PATH", "").split(os.pathsep)
            if p and not any(os.access(os.path.join(p, n), os.X_OK) for n in ("tofu", "terraform"))]
    monkeypatch.setenv("PATH", os.pathsep.join(keep))
    monkeypatch.setenv("INFRA_ROLLBACK_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("CI", raising=False)
    return work


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """``infra-rollback ARGS`` in this process, through the same entry point and routing as the command."""
    from rollback.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out = capsys.readouterr()
    return Result(int(exited.value.code or 0), out.out, out.err)


def one_error(result: Result, code: int) -> str:
    assert result.code == code, (result.code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def test_history_show_diff_and_mark_keep_the_pulumi_contracts(workdir: Path, capsys: Any) -> None:
    cwd = ("--cwd", str(workdir))
    history = json.loads(run(capsys, "history", "default", "--json", *cwd).stdout)
    assert set(history) == {"stack", "project", "backend", "current_version", "versions", "operations", "total",
                        "not_shown", "warnings"}
    assert history["current_version"] == 2 and [v["version"] for v in history["versions"]] == [2, 1]
    assert all(VERSION_KEYS | {"mark_by", "rollback", "who", "image"} == set(v) for v in history["versions"])
    assert [v["image"] for v in history["versions"]] == ["bot:1.5.0", "bot:1.4.0"]
    assert history["versions"][1]["start_time"] == 1793527200   # 2026-11-01 10:00 UTC, from the provenance record
    table = run(capsys, "history", "default", *cwd).stdout.splitlines()
    assert table[0] == "History of default (newest first; * = current state)"
    assert table[2].split()[:7] == ["*v2", "2026-11-02", "10:00", "UTC", "update", "succeeded", "dev"]

    shown = json.loads(run(capsys, "show", "default", "v1", "--json", *cwd).stdout)
    assert set(shown) == {"stack", "project", "current", "version", "workloads", "config", "outputs", "warnings"}
    assert shown["config"] == {"image": "ghcr.io/example/bot:1.4.0", "bot_token": "[secret]"}
    assert shown["outputs"] == {"task_definition": "arn:td:1"} and shown["current"] is False
    param = next(w for w in shown["workloads"] if w["kind"] == "SSM parameter")
    assert {"field": "value", "value": "[secret]"} in param["fields"]

    diff = json.loads(run(capsys, "diff", "default", "--from", "1", "--to", "current", "--json", *cwd).stdout)
    assert set(diff) == {"stack", "project", "from_version", "to_version", "skipped", "changes", "summary", "warnings"}
    assert {c["urn"]: c["op"] for c in diff["changes"]} == {"aws_ecs_task_definition.bot": "update",
                                                             "aws_ssm_parameter.bot_token": "update"}
    assert "SSM parameter bot_token: value changed ([secret])" in diff["summary"]["lines"]
    markdown = run(capsys, "diff", "default", "--from", "1", "--to", "2", "--markdown", *cwd).stdout
    assert markdown.startswith("## Diff: `default` v1 \\(image 1\\.4\\.0\\) → v2 \\(image 1\\.5\\.0\\)")

    marked = run(capsys, "mark", "default", "current", "--bad", "--reason", "tags every ticket urgent", "--json", *cwd)
    assert json.loads(marked.stdout) == {"stack": "default", "project": None, "version": 2, "mark": "bad",
                                         "reason": "tags every ticket urgent"}
    assert json.loads(run(capsys, "history", "default", "--json", *cwd).stdout)["versions"][0]["mark"] == "bad"
    every = json.dumps([history, shown, diff]) + "\n".join(table) + markdown
    assert not any(token in every for token in TOKENS)


def test_without_an_engine_the_preview_is_what_the_states_predict(workdir: Path, capsys: Any) -> None:
    result = run(capsys, "default", "--to", "previous", "--preview", "--json", "--cwd", str(workdir))
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == PREVIEW_KEYS | {"terraform"} and set(doc["target"]) == VERSION_KEYS
    assert (doc["from_version"], doc["to_version"], doc["refusals"]) == (2, 1, [])
    assert doc["engine"]["ran"] is False
    assert doc["engine"]["note"].startswith("no `tofu` or `terraform` on PATH: install OpenTofu")
    assert 'ECS task definition bot, container "bot": image ghcr.io/example/bot:1.5.0 -> ghcr.io/example/bot:1.4.0' \
        in doc["summary"]["lines"]
    text = run(capsys, "default", "--preview", "--cwd", str(workdir)).stdout
    assert text.startswith("default v2 (image 1.5.0) -> v1 (image 1.4.0): image, memory 1024->512, 1 env var, "
                           "1 secret revert | 2 update\npreview only, nothing changed | apply: infra-rollback default "
                           "--to v1\n")
    assert "  ! the engine's own plan was not checked: no `tofu` or `terraform` on PATH" in text

    # Applying needs an engine: exit 1, one line saying how to install one, the preview still in --json.
    applied = run(capsys, "default", "--yes", "--json", "--cwd", str(workdir))
    line = one_error(applied, 1)
    assert line.startswith("error: no `tofu` or `terraform` on PATH: install OpenTofu "
                           "(https://opentofu.org/docs/intro/install/) or Terraform")
    assert json.loads(applied.stdout)["outcome"] == "failed"
    named = run(capsys, "default", "--yes", "--engine", "/nowhere/tofu", "--cwd", str(workdir))
    assert one_error(named, 1) == ("error: --engine /nowhere/tofu: not an executable, nor a name on PATH (tofu, "
                                   "terraform, or a path to one)")


def test_a_data_bearing_delete_the_states_predict_is_refused_before_any_engine(workdir: Path, capsys: Any) -> None:
    """v1 had no table: going back to it would delete the table (and its data)."""
    backend = LocalBackend(workdir, {}, workspace="default")
    state = json.loads(backend.read_state(backend.state_objects()[0]))
    state["resources"] = [r for r in state["resources"] if r["type"] != "aws_dynamodb_table"]
    path = workdir / ".infra-rollback" / "terraform" / backend.state_objects()[0].key
    path.write_text(json.dumps(state))
    refused = run(capsys, "default", "--to", "1", "--yes", "--json", "--cwd", str(workdir))
    assert refused.code == 3
    doc = json.loads(refused.stdout)
    assert doc["outcome"] == "refused" and doc["refused"] == [
        "DATA LOSS: would delete data-bearing aws_dynamodb_table aws_dynamodb_table.sessions (pass "
        "--allow-data-loss to allow it)"]
    assert doc["summary"]["data_loss"] == [{"urn": "aws_dynamodb_table.sessions", "type": "aws_dynamodb_table",
                                            "op": "delete", "reason": "not in the target"}]


@pytest.mark.parametrize("args, code, message", [
    (("history", "prod"), 2, "error: workspace 'prod' ({work}/terraform.tfstate.d/prod/terraform.tfstate) does not "
                             "exist; workspaces with state: default"),
    (("history", "org/proj/prod"), 2, "error: 'org/proj/prod' is not a Terraform workspace name (letters, digits, "
                                      "'-', '_', '.', '~'; STACK names the workspace, e.g. prod or default)"),
    (("default", "--to", "v9", "--preview"), 2, "error: workspace 'default' ({work}/terraform.tfstate) has no "
                                                "version 9 (versions 1 to 2)"),
    (("default", "--to", "previos", "--preview"), 2, "error: unknown target 'previos'; did you mean 'previous'? (use "
                                                     "previous, N, vN, last-good or git:REF)"),
    (("default", "--write-config", "--yes"), 2, "error: --write-config: a Terraform workspace has no stack config "
                                                "file to write: its configuration is a git commit and its variables "
                                                "are recorded with each version (`infra-rollback show STACK vN`); "
                                                "after a rollback, bring git back to the target's commit (`git "
                                                "revert`) before the next deploy"),
    (("default", "--restore-provider-versions", "--yes"), 2,
     "error: --restore-provider-versions is for Pulumi stacks: a Terraform rollback runs the provider versions the "
     "target commit's .terraform.lock.hcl pins"),
    (("history", "default", "--project", "bot"), 2, "error: --project is for Pulumi projects: in a Terraform working "
                                                     "directory STACK names the workspace"),
    (("default", "--engine", "tofu", "--backend", "file:///tmp"), 2,
     "error: --engine names a Terraform/OpenTofu binary and --backend a Pulumi backend: give one"),
    (("deploy", "default", "--var", "image"), 2, "error: --var image: expected NAME=VALUE"),
    (("deploy", "default", "--var-file", "nope.tfvars"), 2, "error: --var-file nope.tfvars: no such file (relative "
                                                            "paths are read from {work})"),
    (("verify", "default"), 2, "error: {work}: no infra-rollback.health.default.yaml or infra-rollback.health.yaml: "
                               "declare workspace default's health gates there (see docs/cli.md, Terraform)"),
    (("write-config", "default"), 2, "error: write-config: a Terraform workspace has no stack config file to write: "
                                     "its configuration is a git commit and its variables are recorded with each "
                                     "version (`infra-rollback show STACK vN`); after a rollback, bring git back to "
                                     "the target's commit (`git revert`) before the next deploy"),
    (("mark", "default", "previous", "--good"), 2, "error: 'previous' is not a version number (use N, vN or "
                                                   "current)"),
])
def test_bad_input_is_one_line(workdir: Path, capsys: Any, args: tuple[str, ...], code: int, message: str) -> None:
    result = run(capsys, *args, "--cwd", str(workdir))
    assert one_error(result, code) == message.format(work=workdir)


def test_routing_follows_what_the_directory_holds(workdir: Path, tmp_path: Path, capsys: Any) -> None:
    pulumi = tmp_path / "pulumi-project"
    pulumi.mkdir()
    (pulumi / "Pulumi.yaml").write_text("name: shop\nruntime: python\n")
    (pulumi / "bootstrap.tf").write_text("# a Terraform file beside a Pulumi project: Pulumi.yaml wins\n")
    assert one_error(run(capsys, "history", "prod", "--cwd", str(pulumi), "--backend", f"file://{tmp_path}/none"),
                     2).startswith("error: ")   # read as a Pulumi stack (its backend does not exist)
    assert "--var and --var-file are for Terraform" in one_error(
        run(capsys, "deploy", "prod", "--var", "a=b", "--cwd", str(pulumi)), 2)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert one_error(run(capsys, "prod", "--engine", "tofu", "--cwd", str(empty)), 2) == (
        f"error: --engine is for Terraform/OpenTofu working directories: {empty} has no *.tf files (pass --cwd DIR)")
    uninitialised = tmp_path / "module"
    uninitialised.mkdir()
    (uninitialised / "main.tf").write_text("# not initialised\n")
    assert one_error(run(capsys, "history", "prod", "--cwd", str(uninitialised)), 2) == (
        f"error: {uninitialised}: not an initialised Terraform working directory (run `init` there first)")
