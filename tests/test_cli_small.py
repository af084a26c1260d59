"""Small things people expect of a command line (issue 12, part 4), through the CLI as typed.

`infra-rollback prod` alone; Pulumi.yaml found upward; "did you mean" for a mistyped target or backend;
`mark prod current`; completion after `--to`; `--json` printing a document whatever the outcome; `show`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rollback.cli import _route, app, main
from tests.support.backends import (
    EXAMPLE_PASSPHRASE,
    cli,
    copy_example,
    invoke_json,
    isolate_env,
    one_error_line,
)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_env(monkeypatch, tmp_path / "pulumi-home", passphrase=EXAMPLE_PASSPHRASE)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "example")


def typed(*argv: str) -> Any:
    """As typed at a shell: the short forms routed as `main` routes them."""
    return cli(*_route(list(argv)))


def test_the_stack_alone_previews_previous_and_asks(example: Path) -> None:
    result = typed("prod", "--cwd", str(example))
    # no terminal here to ask on: refused after the preview, nothing changed
    assert result.exit_code == 3
    assert result.stdout.startswith("omniserve/prod v6 (image 1.5.0) -> v2 (image 1.4.0): ")
    assert result.stderr.startswith("error: not confirmed: no terminal to ask on")


def test_pulumi_yaml_is_found_upward(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = example / "backend" / ".pulumi" / "stacks"
    monkeypatch.chdir(deep)
    doc = invoke_json(cli("history", "prod", "--json"))
    assert doc["project"] == "omniserve" and len(doc["versions"]) == 6
    assert invoke_json(cli("history", "prod", "--json", "--cwd", str(example / "backend")))["current_version"] == 6


def test_from_the_wrong_folder_it_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    monkeypatch.chdir(nowhere)
    line = one_error_line(cli("history", "prod"))
    assert line.startswith(f"error: no Pulumi.yaml here ({nowhere}) or above, and no backend configured; "
                           f"pass --cwd (the project directory, or a Terraform working directory with *.tf files) "
                           f"or --backend")


@pytest.mark.parametrize("target, hint", [("previos", "did you mean 'previous'?"),
                                          ("last_good", "did you mean 'last-good'?"),
                                          ("lastgood", "did you mean 'last-good'?")])
def test_a_mistyped_target_gets_a_suggestion(example: Path, target: str, hint: str) -> None:
    line = one_error_line(cli("rollback", "prod", "--to", target, "--preview", "--cwd", str(example)))
    assert f"unknown target '{target}'; {hint}" in line


def test_a_version_word_gets_a_suggestion(example: Path) -> None:
    line = one_error_line(cli("mark", "prod", "curent", "--bad", "--cwd", str(example)))
    assert "'curent' is not a version number; did you mean 'current'?" in line


def test_a_bare_path_or_the_pulumi_folder_as_backend(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(example)
    line = one_error_line(cli("history", "prod", "--backend", "backend"))
    assert "not a backend URL infra-rollback can read; did you mean file://./backend?" in line
    line = one_error_line(cli("history", "prod", "--backend", str(example / "backend" / ".pulumi")))
    assert f"did you mean file://{example / 'backend'}?" in line
    line = one_error_line(cli("history", "prod", "--backend", f"file://{example / 'backend' / '.pulumi'}"))
    assert f"names the .pulumi folder itself; did you mean file://{example / 'backend'}" in line


def test_mark_current(example: Path) -> None:
    doc = invoke_json(cli("mark", "prod", "current", "--bad", "--reason", "pages at night", "--json", "--cwd",
                          str(example)))
    assert doc["version"] == 6 and doc["mark"] == "bad"


def test_completion_offers_targets_after_to() -> None:
    env = {"_INFRA_ROLLBACK_COMPLETE": "complete_bash", "COMP_WORDS": "infra-rollback rollback prod --to ",
           "COMP_CWORD": "4"}
    result = CliRunner().invoke(app, [], env=env, prog_name="infra-rollback")
    assert result.stdout.split() == ["previous", "last-good", "git:"]
    env.update(COMP_WORDS="infra-rollback rollback prod --to la")
    assert CliRunner().invoke(app, [], env=env, prog_name="infra-rollback").stdout.split() == ["last-good"]


# -- --json whatever the outcome --------------------------------------------------------------------------
def test_json_on_bad_input(example: Path) -> None:
    result = cli("rollback", "prod", "--to", "v9", "--preview", "--json", "--cwd", str(example))
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc == {"stack": "prod", "outcome": "bad-input", "error": result.stderr.strip()[len("error: "):],
                   "exit_code": 2}
    for args in (["history", "qa"], ["show", "prod", "v9"], ["mark", "prod", "9", "--bad"],
                 ["write-config", "prod", "--to", "v9"], ["diff", "prod", "--from", "9", "--to", "current"]):
        result = cli(*args, "--json", "--cwd", str(example))
        assert result.exit_code == 2 and json.loads(result.stdout)["outcome"] == "bad-input", args


def test_json_when_there_is_no_pulumi_cli(example: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    result = cli("rollback", "prod", "--yes", "--json", "--cwd", str(example))
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["outcome"] == "failed" and "Pulumi CLI is not installed" in doc["error"] and doc["exit_code"] == 1
    assert "--preview` works without it" in doc["error"]     # the hint that fits a rollback


def test_json_on_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["history", "prod", "--limit", "0", "--json"])
    assert exc.value.code == 2
    out = capsys.readouterr()
    assert json.loads(out.out)["outcome"] == "bad-input" and out.err.startswith("error: ")


# -- show -----------------------------------------------------------------------------------------------
def test_show_a_version(example: Path) -> None:
    doc = invoke_json(cli("show", "prod", "v2", "--json", "--cwd", str(example)))
    assert doc["version"]["version"] == 2 and doc["current"] is False
    bot = next(w for w in doc["workloads"] if w["kind"] == "Deployment" and w["container"] == "bot")
    assert {"field": "image", "value": "ghcr.io/omniserve/bot:1.4.0"} in bot["fields"]
    ecs = next(w for w in doc["workloads"] if w["kind"] == "ECS task definition" and w["container"] == "bot")
    assert {"name": "SENTIMENT_THRESHOLD", "value": "0.7", "shown": '"0.7"'} in ecs["env"]
    assert doc["config"]["omniserve:apiToken"] == "[secret]" and doc["config"]["omniserve:image"].endswith("1.4.0")
    assert doc["outputs"]["taskDefinitionArn"].endswith("task-definition/omniserve:2")
    text = cli("show", "prod", "2", "--cwd", str(example)).stdout
    assert text.startswith('omniserve/prod v2  update succeeded  2026-11-05 14:02 UTC  "release 1.4.0')
    assert '      env SENTIMENT_THRESHOLD="0.7"' in text and "  omniserve:apiToken: [secret]" in text
    assert "Workloads" in text and "Config" in text and "Outputs" in text
    current = cli("show", "prod", "--cwd", str(example)).stdout
    assert current.splitlines()[0].endswith("(current state)") and "bot:1.5.0" in current
    assert cli("show", "prod", "previous", "--cwd", str(example)).stdout.startswith("omniserve/prod v2  update")


def test_show_without_a_passphrase_shows_secrets_as_secret(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    result = cli("show", "prod", "v5", "--cwd", str(example))
    assert result.exit_code == 0, result.stderr
    assert "  omniserve:apiToken: [secret]" in result.stdout and "v1:" not in result.stdout
