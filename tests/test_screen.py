"""The 3 a.m. screen (issue 12): the verdict first, what refuses or worries right under it, details behind
--verbose, counts that say when they are lower bounds, values never cut inside, colour by meaning.

Most tests feed the renderers documents built here, as the actions write them: with the keys issue 9 adds
(``refusals``, ``engine``) and without them (older audit records), so both keep rendering.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from rollback.console import Console
from rollback.render import preview_markdown, preview_text
from rollback.render import sections as s
from rollback.render.style import color_wanted, paint, visible_len, wrap
from rollback.render.text import Options
from tests.support.backends import EXAMPLE_PASSPHRASE, ShopBackend, cli, copy_example, invoke_json, isolate_env

ARN = "arn:aws:ecs:us-east-1:381492026117:task-definition/omniserve-very-long-family-name-for-wrapping:3"
TABLE = "urn:pulumi:prod::omniserve::aws:dynamodb/table:Table::sessions"


def doc(**extra: Any) -> dict[str, Any]:
    """A rollback preview document (the JSON contract) of a small release: image, memory, one env var,
    a secret, an ECS service that follows a re-registered task definition, a table deleted."""
    d: dict[str, Any] = {
        "stack": "prod", "project": "omniserve", "backend": "file://./state", "from_version": 6, "to_version": 2,
        "target": {"version": 2, "kind": "update", "result": "succeeded", "start_time": 1_794_000_000,
                   "end_time": None, "message": "release 1.4.0", "git_head": "8b2e6d4aa", "mark": "good",
                   "mark_reason": "healthy for a week", "resource_changes": {}, "has_checkpoint": True},
        "skipped": [{"version": 6, "reason": "a refresh"}],
        "changes": [
            {"urn": TABLE, "type": "aws:dynamodb/table:Table", "op": "delete", "properties": [],
             "data_bearing": True, "protected": False},
            {"urn": "urn:pulumi:prod::omniserve::aws:ecs/service:Service::omniserve", "type": "aws:ecs/service:Service",
             "op": "update", "data_bearing": False, "protected": False,
             "properties": [{"path": "taskDefinition", "before": ARN, "after": "[arn of the new task]"}]},
            {"urn": "urn:pulumi:prod::omniserve::kubernetes:core/v1:Secret::tok", "type": "kubernetes:core/v1:Secret",
             "op": "replace", "replace_reason": "immutable", "data_bearing": False, "protected": False,
             "properties": [{"path": "stringData", "before": "[secret]", "after": "[secret]", "secret": True}]},
        ],
        "summary": {
            "data_loss": [{"urn": TABLE, "type": "aws:dynamodb/table:Table", "op": "delete",
                           "reason": "a DynamoDB table holds data"}],
            "protected": [], "uncompared_secrets": [],
            "workloads": [{"urn": "u", "type": "kubernetes:apps/v1:Deployment", "kind": "Deployment", "name": "bot",
                           "container": "bot", "status": "changed",
                           "fields": [{"field": "image", "before": "ghcr.io/o/bot:1.5.0", "after": "ghcr.io/o/bot:1.4.0"},
                                      {"field": "memory limit", "before": "1Gi", "after": "512Mi"}],
                           "env": [{"name": "LOG_LEVEL", "op": "changed", "before": "debug", "after": "info"}],
                           "notes": []}],
            "lines": ['Deployment bot, container "bot": image ghcr.io/o/bot:1.5.0 -> ghcr.io/o/bot:1.4.0'],
        },
        "warnings": ["v4 is a failed update: its checkpoint is the partial state it left"],
        "rehearsal": {"ok": True, "resources": 5, "mismatches": []},
        "provider_versions": [{"package": "aws", "target": "6.50.0", "used": "6.50.0", "current": ["6.50.0"]}],
        "cannot_restore": ["deleteBeforeReplace is not stored in state: a replacement uses the default order"],
        "notes": ["aws:ecs/service:Service omniserve: taskDefinition follows the re-registered task definition"],
    }
    d.update(extra)
    return d


ISSUE9 = {
    "refusals": ["stack is locked by ana@ci-7 pid 4242 since 2026-11-13T07:50:00Z (.pulumi/locks/x.json)",
                 "would delete data-bearing aws:dynamodb/table:Table " + TABLE + " (pass --allow-data-loss)"],
    "engine": {"ran": True,
               "steps": [{"urn": TABLE, "type": "aws:dynamodb/table:Table", "op": "delete", "predicted_op": "delete"},
                         {"urn": "urn:pulumi:prod::omniserve::aws:ecs/service:Service::omniserve",
                          "type": "aws:ecs/service:Service", "op": "replace", "predicted_op": "update"}],
               "disagreements": ["the engine will replace aws:ecs/service:Service omniserve (we predicted update)"],
               "not_restored": []},
}


# -- the verdict --------------------------------------------------------------------------------------
def test_the_verdict_comes_first_and_last_with_the_command_that_applies_it() -> None:
    lines = preview_text(doc()).splitlines()
    assert lines[0] == ("omniserve/prod v6 (image 1.5.0) -> v2 (image 1.4.0, marked good): image, memory 1Gi->512Mi, "
                        "1 env var, 1 secret revert | 1 delete, 1 replace, 1 update")
    # a data-bearing delete refuses the rollback as it stands: the next step says so instead of "apply"
    assert lines[1] == "preview only, nothing changed | a rollback would be refused as it stands (below)"
    assert lines[-2:] == lines[:2]


def test_refusals_and_worries_sit_directly_under_the_verdict() -> None:
    lines = preview_text(doc()).splitlines()
    assert lines[2] == ("  ✗ would be refused: DATA LOSS: would delete data-bearing aws:dynamodb/table:Table sessions "
                        "(a DynamoDB table holds data); --allow-data-loss allows it")
    assert lines[3] == "  ! v4 is a failed update: its checkpoint is the partial state it left"
    assert lines[4].startswith("  target  v2  update succeeded") and "[good: healthy for a week]" in lines[4]


def test_issue9_refusals_and_engine_are_rendered_when_present() -> None:
    text = preview_text(doc(**copy.deepcopy(ISSUE9))).splitlines()
    assert text[2] == ("  ✗ would be refused: stack is locked by ana@ci-7 pid 4242 since 2026-11-13T07:50:00Z "
                       "(.pulumi/locks/x.json)")
    assert text[3].startswith("  ✗ would be refused: would delete data-bearing aws:dynamodb/table:Table")
    assert "  ! engine: the engine will replace aws:ecs/service:Service omniserve (we predicted update)" in text
    assert not any("Engine plan" in line for line in text)          # the steps are a detail
    verbose = preview_text(doc(**copy.deepcopy(ISSUE9)), Options(verbose=True)).splitlines()
    at = verbose.index("Engine plan")
    assert verbose[at + 1:at + 3] == ["  delete    aws:dynamodb/table:Table  sessions",
                                      "  replace   aws:ecs/service:Service  omniserve  (we predicted update)"]
    md = preview_markdown(doc(**copy.deepcopy(ISSUE9)))
    assert "> **Would be refused:**" in md and "stack is locked by ana" in md
    assert "engine\\: the engine will replace" in md and "### Engine plan" in md and "**update**" in md


def test_an_engine_that_did_not_run_says_why() -> None:
    d = doc(engine={"ran": False, "steps": [], "disagreements": [], "not_restored": ["the ECS revision number"],
                    "note": "no Pulumi CLI on PATH"})
    lines = preview_text(d).splitlines()
    assert "  ! the engine's own plan was not checked: no Pulumi CLI on PATH" in lines
    assert "  ! the engine will not restore: the ECS revision number" in lines
    assert "Engine plan: not run (no Pulumi CLI on PATH)" in preview_text(d, Options(verbose=True))


def test_documents_without_the_newer_keys_still_render() -> None:
    """An older audit record's summary: no refusals, engine, notes, rehearsal or workloads."""
    old = {"stack": "prod", "from_version": 5, "to_version": 4, "target": {"version": 4}, "changes": [
        {"urn": "urn:pulumi:prod::p::kubernetes:apps/v1:Deployment::web", "op": "update", "properties": []}],
        "summary": {"lines": ["Deployment web: image a -> b"]}}
    lines = preview_text(old).splitlines()
    assert lines[0] == "prod v5 -> v4: no workload changes; other inputs revert | 1 update"
    assert lines[1] == "preview only, nothing changed | apply: infra-rollback prod --to v4"
    assert "  Deployment web: image a -> b" in lines
    assert preview_markdown(old).startswith("## Rollback preview: `prod` v5 → v4\n")
    assert preview_text({"stack": "prod", "from_version": 5, "to_version": 4, "target": {"version": 4}}).startswith(
        "prod v5 -> v4: nothing to roll back: the same desired state as now\npreview only, nothing changed")


def test_refusals_are_derived_from_protected_resources_and_a_failed_rehearsal() -> None:
    d = doc(summary=dict(doc()["summary"], data_loss=[], protected=[
        {"urn": "urn:pulumi:prod::o::aws:s3/bucketV2:BucketV2::logs", "type": "aws:s3/bucketV2:BucketV2",
         "op": "replace"}]), rehearsal={"ok": False, "resources": 5, "mismatches": ["a differs", "b differs"]})
    assert s.refusals(d) == ["would replace protected resource aws:s3/bucketV2:BucketV2 logs (unprotect it first)",
                             "the rehearsal under mocks failed: a differs (+1 more)"]
    allowed = doc(warnings=[f"allowed by --allow-data-loss: will delete data-bearing aws:dynamodb/table:Table {TABLE}"])
    assert s.refusals(allowed) == []
    assert s.refusals(doc(refused=["not confirmed"])) == ["not confirmed"]


def test_counts_are_lower_bounds_when_secrets_could_not_be_compared() -> None:
    d = doc(summary=dict(doc()["summary"], uncompared_secrets=[
        {"urn": "urn:pulumi:prod::o::kubernetes:core/v1:Secret::tok", "path": "stringData", "reason": "no passphrase"}]))
    lines = preview_text(d).splitlines()
    assert lines[0].endswith("| 1 delete, 1+ replace, 1+ update")
    assert ("  ! 1 secret could not be compared (no passphrase): tok stringData; the counts are lower bounds"
            in lines)
    assert "1\\+ replace" in preview_markdown(d)


def test_a_diff_speaks_forward() -> None:
    d = doc(from_version=2, to_version="current", changes=[
        {"urn": "urn:pulumi:prod::o::kubernetes:core/v1:ConfigMap::model", "type": "kubernetes:core/v1:ConfigMap",
         "op": "create", "properties": []}])
    del d["target"]
    text = preview_text(d, Options(verbose=True, mode="diff"))
    assert text.splitlines()[0].startswith("diff omniserve/prod v2 (image 1.5.0) -> current (image 1.4.0): ")
    assert text.splitlines()[0].endswith(" change | 1 create")
    assert "+  create    kubernetes:core/v1:ConfigMap  model" in text
    assert "re-create" not in text and "revert" not in text and "apply" not in text


# -- details behind --verbose ---------------------------------------------------------------------------
def test_details_only_with_verbose() -> None:
    short = preview_text(doc())
    for detail in ("Resources (", "Rehearsal: ok", "Provider plugins", "A replay cannot restore", "Notes",
                   "taskDefinition:"):
        assert detail not in short
    assert "--verbose shows each of the 3 resources and their 2 property changes, the rehearsal (ok, 5 resources " \
           "under mocks), provider plugins, 2 notes on the replay" in short
    full = preview_text(doc(), Options(verbose=True))
    for detail in ("Resources (1 to delete, 1 to update, 1 to replace)", "Rehearsal: ok", "Provider plugins",
                   "A replay cannot restore", "Notes", f'taskDefinition: "{ARN}"'):
        assert detail in full
    md = preview_markdown(doc())     # markdown always has every detail
    assert "### Resources" in md and "### A replay cannot restore" in md and "### Notes" in md


def test_a_note_about_replacements_only_when_something_is_replaced() -> None:
    d = doc()
    assert s.cannot_restore(d) == d["cannot_restore"]
    d["changes"] = [c for c in d["changes"] if c["op"] != "replace"]
    assert s.cannot_restore(d) == []


# -- values are never mangled ---------------------------------------------------------------------------
def test_long_strings_are_never_cut_compound_values_only_at_the_end() -> None:
    long_image = "registry.example.com/" + "x" * 120 + ":1.4.0"
    assert s.value_text(long_image) == json.dumps(long_image)
    assert s.value_text(ARN) == json.dumps(ARN)
    big = {"k" + str(i): "v" * 20 for i in range(30)}
    shown = s.value_text(big)
    assert shown.startswith(json.dumps(big, sort_keys=True)[:200]) and shown.endswith("more characters in --json)")
    assert s.prop_text({"path": "taskDefinition", "before": ARN, "after": "x"}) == f'taskDefinition: "{ARN}" -> "x"'


def test_long_lines_wrap_at_spaces_never_inside_an_arn() -> None:
    text = preview_text(doc(), Options(verbose=True, width=60))
    assert all(visible_len(line) <= 60 or " " not in line.strip() for line in text.splitlines())
    assert f'"{ARN}"' in text                                        # whole, on a line of its own
    assert wrap("  one two three four five six seven", 20) == ["  one two three four", "      five six seven"]


def test_env_values_are_not_json_encoded_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_env(monkeypatch, tmp_path / "home", passphrase=EXAMPLE_PASSPHRASE)
    example = copy_example(tmp_path / "example")
    plan = invoke_json(cli("rollback", "prod", "--preview", "--json", "--no-rehearse", "--cwd", str(example)))
    env = {e["name"]: e for w in plan["summary"]["workloads"] for e in w["env"]}
    assert (env["LOG_LEVEL"]["before"], env["LOG_LEVEL"]["after"]) == ("debug", "info")
    assert env["SENTIMENT_THRESHOLD"]["after"] == "0.7"
    # the text keeps quotes, so that an empty or padded value is visible
    assert 'env LOG_LEVEL "debug" -> "info"' in "\n".join(plan["summary"]["lines"])


# -- colour --------------------------------------------------------------------------------------------
def test_colour_by_meaning_only_when_asked() -> None:
    text = preview_text(doc(), Options(verbose=True, color=True))
    assert "\x1b[31m1 delete\x1b[0m" in text and "\x1b[33m1 replace\x1b[0m" in text
    assert "\x1b[1;31m  ✗ would be refused: \x1b[0m" in text
    assert "\x1b[31m  -  delete    aws:dynamodb/table:Table  sessions  [DATA]\x1b[0m" in text
    assert "\x1b" not in preview_text(doc(), Options(verbose=True))
    # whoever wrote the backend cannot colour anything: their text is made inert before ours is added
    assert paint([("\x1b[32mok\x1b[0m", "delete")], color=True) == "\x1b[31mok\x1b[0m"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_follows_the_terminal_no_color_and_force_color() -> None:
    assert color_wanted(_Tty(), {}) is True
    assert color_wanted(io.StringIO(), {}) is False                  # piped
    assert color_wanted(_Tty(), {"NO_COLOR": ""}) is False           # set at all, whatever its value
    assert color_wanted(io.StringIO(), {"FORCE_COLOR": "1"}) is True


def test_no_color_flag_and_env_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_env(monkeypatch, tmp_path / "home", passphrase=EXAMPLE_PASSPHRASE)
    example = copy_example(tmp_path / "example")
    args = ["rollback", "prod", "--preview", "--no-rehearse", "--cwd", str(example)]
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[31m1 delete\x1b[0m" in cli(*args).stdout
    assert "\x1b" not in cli("--no-color", *args).stdout
    assert "\x1b" not in cli(*args, "--json").stdout
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b" not in cli(*args).stdout
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.delenv("FORCE_COLOR")
    assert "\x1b" not in cli(*args).stdout                           # not a terminal: no colour


# -- progress and --quiet ------------------------------------------------------------------------------
def test_a_long_step_is_drawn_on_a_terminal_and_erased() -> None:
    err = _Tty()
    with Console(err=err).step("rehearsing 4,000 resources under mocks"):
        pass
    drawn = err.getvalue()
    assert drawn.startswith("\r\x1b[2K… rehearsing 4,000 resources under mocks (0 s)") and drawn.endswith("\r\x1b[2K")
    for quiet_console in (Console(err=_Tty(), quiet=True), Console(err=_Tty(), json=True), Console(err=io.StringIO())):
        with quiet_console.step("rehearsing"):
            pass
        assert quiet_console.err.getvalue() == ""


def test_gate_progress_is_one_line_on_a_terminal_and_erased_before_the_report() -> None:
    from rollback.health.runner import GateReport

    err = _Tty()
    console = Console(err=err, out=io.StringIO())
    on_round = console.gate_progress()
    assert on_round is not None
    on_round([GateReport("omniserve/omniserve", "kubernetes-rollout", "progressing", "1 of 3 new replicas updated",
                         1.0)])
    assert "0/1 gates healthy; waiting for kubernetes-rollout omniserve/omniserve: 1 of 3 new replicas updated" \
        in err.getvalue()
    console.health(None, "no gates")
    assert err.getvalue().endswith("\r\x1b[2Knote: no gates\n")
    assert Console(err=io.StringIO()).gate_progress() is None        # CI logs get the report once, not each round


def test_quiet_preview_prints_the_verdict_and_what_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_env(monkeypatch, tmp_path / "home", passphrase=EXAMPLE_PASSPHRASE)
    example = copy_example(tmp_path / "example")
    quiet = cli("--quiet", "rollback", "prod", "--preview", "--cwd", str(example))
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert quiet.stdout.splitlines() == [
        "omniserve/prod v6 (image 1.5.0) -> v2 (image 1.4.0): image, memory 1Gi->512Mi, cpu 1->500m, 4 env vars, "
        "2 secrets revert | 1 delete, 3 replace, 3 update",
        "preview only, nothing changed | apply: infra-rollback prod --to v2",
        "  ! the engine's own plan was not checked: no `pulumi` CLI on PATH; applying needs it "
        "(https://www.pulumi.com/docs/install/)"]
    assert cli("-q", "history", "prod", "--cwd", str(example)).stdout == cli("history", "prod", "--cwd",
                                                                           str(example)).stdout


def test_quiet_console_keeps_the_final_result_and_a_verdict_before_a_question() -> None:
    out = io.StringIO()
    console = Console(out=out, err=io.StringIO(), quiet=True)
    console.preview(doc())
    console.say("note: falling back to a fresh preview")
    console.result("rolled back prod to v2 as v7 in 3.0 s")
    assert out.getvalue() == "rolled back prod to v2 as v7 in 3.0 s\n"
    asking = Console(out=io.StringIO(), err=io.StringIO(), quiet=True, asks=True)
    asking.preview(doc())
    assert asking.out.getvalue().splitlines()[0].startswith("omniserve/prod v6 (image 1.5.0) -> v2")
    assert len(asking.out.getvalue().splitlines()) == 3               # verdict (1 line: apply mode) + 2 alerts
    silent = Console(out=io.StringIO(), json=True)
    silent.result("rolled back")
    assert silent.out.getvalue() == ""


# -- words -----------------------------------------------------------------------------------------------
def test_help_has_no_project_phrases_and_no_types_after_flags() -> None:
    from rollback.cli import app

    for command in ("rollback", "history", "show", "diff", "mark", "write-config", "verify", "deploy"):
        text = cli(command, "--help").stdout
        assert "<bool>" not in text and "<str>" not in text, command
        assert "the bot" not in text and "omniserve" not in text, command
    assert "--to TARGET" in cli("rollback", "--help").stdout
    assert app.info.name == "infra-rollback"


def test_a_refusal_reads_would_delete_data_bearing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_env(monkeypatch, tmp_path / "home")
    shop = ShopBackend(tmp_path / "state")
    shop.deploy(image="web:1")
    table = shop.custom("aws:dynamodb/table:Table", "sessions", {"name": "sessions"})
    shop.deploy(image="web:2", extra=[table])
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct-horse-battery-staple")
    result = cli("rollback", "prod", "--to", "1", "--yes", "--backend", shop.url)
    assert result.exit_code == 3
    assert "would delete data-bearing aws:dynamodb/table:Table " in result.stderr and " of " not in result.stderr
    assert "  ✗ would be refused: DATA LOSS: would delete data-bearing aws:dynamodb/table:Table sessions" \
        in result.stdout
