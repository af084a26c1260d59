"""The engine's own plan decides (issue 9), on the engine double: its steps held against our diff, guards on its
steps, a concurrent writer between our read and the apply, and the preview's refusals and engine section.
The same stories run on the real engine in tests/engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from rollback.actions.context import Context
from rollback.actions.rollback import Rollback
from rollback.enginecheck import EngineStep, Facts, Predicted, check
from rollback.errors import EXIT_REFUSED, Refused
from rollback.models import Outcome
from statekit.pulumi_writer import DiyBackend
from tests.paths import EXAMPLES
from tests.support.backends import cli
from tests.support.fake_engine import FakeEngine

PASS = "omniserve-example"
TABLE = {
    "urn": "urn:pulumi:prod::omniserve::aws:dynamodb/table:Table::omniserve-sessions",
    "custom": True, "id": "omniserve-sessions", "type": "aws:dynamodb/table:Table",
    "inputs": {"name": "omniserve-sessions", "hashKey": "ticket"}, "outputs": {"name": "omniserve-sessions"},
    "parent": "urn:pulumi:prod::omniserve::pulumi:pulumi:Stack::omniserve-prod",
}


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(EXAMPLES / "backend", tmp_path / "backend")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASS)
    monkeypatch.delenv("CI", raising=False)
    return tmp_path


def action(world: Path, engine: Any, **kw: Any) -> Rollback:
    ctx = Context(cwd=world, backend_flag=f"file://{world / 'backend'}", passphrase=lambda: PASS)
    return Rollback(ctx=ctx, engine=engine, verifier=lambda **_: None, **kw)


def stack_file(world: Path) -> Path:
    return world / "backend" / ".pulumi" / "stacks" / "omniserve" / "prod.json"


def hotfix(world: Path) -> None:
    """Another engineer's update: the current state plus a sessions table."""
    writer = DiyBackend(world / "backend", seed=5)
    dep = writer.latest("omniserve", "prod")
    dep["resources"].append(dict(TABLE))
    writer.record_operation("omniserve", "prod", dep, kind="update", message="hotfix: sessions table",
                            start_time=1_795_100_000, end_time=1_795_100_060,
                            environment={"git.author": "Sam Ortiz"})


# -- the comparison itself --------------------------------------------------------------------------------------

def _step(name: str, op: str, type_: str = "aws:sns/topic:Topic") -> EngineStep:
    return EngineStep(f"urn:pulumi:prod::p::{type_}::{name}", type_, op)


def test_a_destructive_surprise_refuses_naming_the_resource() -> None:
    steps = [_step("a", "update"), _step("b", "replace"), _step("c", "delete")]
    predicted = {steps[0].urn: Predicted("update", steps[0].type), steps[1].urn: Predicted("update", steps[1].type)}
    out = check(steps, predicted, current={}, allow_data_loss=False)
    assert [r.split(" which ")[0] for r in out.refusals] == [
        "the engine would replace urn:pulumi:prod::p::aws:sns/topic:Topic::b,",
        "the engine would delete urn:pulumi:prod::p::aws:sns/topic:Topic::c,"]
    assert len(out.disagreements) == 2 and "(we predicted: update it)" in out.disagreements[0]
    assert [(s["op"], s["predicted_op"]) for s in out.steps] == [("update", "update"), ("replace", "update"),
                                                                ("delete", "same")]


def test_less_than_predicted_is_not_restored_and_a_surprise_update_is_only_shown() -> None:
    steps = [_step("a", "same"), _step("b", "update"), _step("r", "read")]
    predicted = {steps[0].urn: Predicted("update", steps[0].type), _step("gone", "x").urn: Predicted(
        "delete", "aws:sns/topic:Topic")}
    out = check(steps, predicted, current={}, allow_data_loss=False)
    assert out.refusals == []
    assert out.not_restored == [
        "aws:sns/topic:Topic a: the engine will leave it as it is (we predicted: update); what differs will not "
        "be restored",
        "aws:sns/topic:Topic gone: the engine will leave it as it is now (we predicted: delete)"]
    assert out.disagreements == [
        "the engine will leave it as it is: aws:sns/topic:Topic a (we predicted: update it)",
        "the engine will update it: aws:sns/topic:Topic b (we predicted: leave it as it is)"]   # the read: nothing


def test_guards_run_on_the_engines_steps_too() -> None:
    table = _step("t", "replace", "aws:dynamodb/table:Table")
    topic = _step("p", "delete", "aws:sns/topic:Topic")
    predicted = {table.urn: Predicted("replace", table.type), topic.urn: Predicted("delete", topic.type)}
    out = check([table, topic], predicted, current={topic.urn: Facts(protected=True)}, allow_data_loss=False)
    assert any("data-bearing aws:dynamodb/table:Table" in r for r in out.refusals)
    assert any("protected resource" in r and "::p" in r for r in out.refusals)
    allowed = check([table], predicted, current={}, allow_data_loss=True)
    assert allowed.refusals == []


# -- the rollback, on the double --------------------------------------------------------------------------------

def test_a_hotfix_landing_before_the_engines_preview_is_never_deleted(world: Path) -> None:
    engine = FakeEngine(world / "backend", PASS, concurrent_writer=lambda: hotfix(world),
                        concurrent_at="before_preview")
    with pytest.raises(Refused) as err:
        action(world, engine).run("prod", "previous").raise_for_error()
    assert err.value.exit_code == EXIT_REFUSED
    assert f"the engine would delete {TABLE['urn']}" in err.value.message
    assert "data-bearing aws:dynamodb/table:Table" in err.value.message
    assert "up" not in [c[0] for c in engine.calls]
    current = json.loads(stack_file(world).read_text())["checkpoint"]["latest"]
    assert any(r["urn"] == TABLE["urn"] for r in current["resources"])     # the table is still there


def test_a_hotfix_landing_after_the_engines_preview_refuses_naming_it(world: Path) -> None:
    landed: dict[str, bytes] = {}

    def land() -> None:
        hotfix(world)
        landed["stack"] = stack_file(world).read_bytes()

    engine = FakeEngine(world / "backend", PASS, concurrent_writer=land, concurrent_at="after_preview")
    with pytest.raises(Refused) as err:
        action(world, engine).run("prod", "previous").raise_for_error()
    assert err.value.message.startswith("the stack changed since the preview (v7: update by Sam Ortiz at ")
    assert "preview again" in err.value.message
    assert "up" not in [c[0] for c in engine.calls]
    assert stack_file(world).read_bytes() == landed["stack"]               # as the hotfix left it
    assert not list((world / "backend" / ".infra-rollback").rglob("records/*.json"))   # nothing written


def test_what_the_engine_will_not_restore_is_shown_and_recorded(world: Path) -> None:
    """A provider that normalises a value: the engine leaves the Deployment as it is although we predicted an
    update. The rollback goes on, and says so in the preview and the audit record."""
    deployment = "kubernetes:apps/v1:Deployment::omniserve"

    class Normalising(FakeEngine):
        def open(self, spec: Any, program: Any) -> Any:
            stack = super().open(spec, program)
            preview = stack.preview

            def filtered(**kw: Any) -> dict[str, int]:
                on_event = kw.get("on_event")
                if on_event is not None:
                    kw["on_event"] = lambda e: None if (e.resource_pre_event and e.resource_pre_event.metadata.urn
                                                        .endswith(deployment)) else on_event(e)
                return preview(**kw)

            stack.preview = filtered
            return stack

    outcome = action(world, Normalising(world / "backend", PASS)).run("prod", "previous")
    assert outcome.outcome is Outcome.ROLLED_BACK
    engine = outcome.to_dict()["engine"]
    assert any("Deployment omniserve: the engine will leave it as it is now (we predicted:" in line
               for line in engine["not_restored"]), engine
    assert any(n.startswith("not restored: kubernetes:apps/v1:Deployment omniserve") for n in outcome.record.notes)


def test_the_preview_evaluates_every_guard(world: Path) -> None:
    DiyBackend(world / "backend").write_lock("omniserve", "prod", pid=4242, username="alice",
                                             hostname="ci-runner-7", timestamp=1_795_000_000)
    hotfix(world)
    result = cli("rollback", "prod", "--to", "v6", "--preview", "--json", "--backend", f"file://{world / 'backend'}",
                 "--cwd", str(world))
    assert result.exit_code == 0, result.stderr                    # a preview, whatever it finds
    doc = json.loads(result.stdout)
    assert any("stack is locked by alice@ci-runner-7" in r for r in doc["refusals"])
    assert any(r.startswith("DATA LOSS: would delete data-bearing aws:dynamodb/table:Table omniserve-sessions")
               for r in doc["refusals"])
    assert doc["engine"]["ran"] is False and "pulumi" in doc["engine"]["note"]


def test_the_preview_asks_the_engine_when_there_is_one(world: Path) -> None:
    from rollback.engine import use_engine

    engine = FakeEngine(world / "backend", PASS)
    with use_engine(engine):
        result = cli("rollback", "prod", "--to", "previous", "--preview", "--json", "--backend",
                     f"file://{world / 'backend'}", "--cwd", str(world))
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["engine"]["ran"] is True and doc["refusals"] == []
    assert [c[0] for c in engine.calls] == ["open", "preview"]      # a preview: nothing applied
    ops = {s["urn"].rsplit("::", 1)[-1]: (s["op"], s["predicted_op"]) for s in doc["engine"]["steps"]}
    assert ops["omniserve-sentiment-model"] == ("delete", "delete")
    # In the engine's preview the replaced task definition's new arn is unknown; the service that follows it is
    # an update, as predicted (the double answers previews with unknown ids and outputs, as the engine does).
    steps = {s["urn"].split("::")[-2].rsplit("$", 1)[-1]: s["op"] for s in doc["engine"]["steps"]}
    assert steps["aws:ecs/taskDefinition:TaskDefinition"] == "replace" and steps["aws:ecs/service:Service"] == "update"
    assert doc["engine"]["disagreements"] == []
