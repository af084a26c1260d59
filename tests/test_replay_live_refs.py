"""A rollback that replaces a resource points its consumers at the new object, not at the recorded old one.

The story of examples/backend: v2 (good) ran the ECS task definition omniserve at revision 2 and the
service pointed at it; the bad release v5 replaced it (revision 3; Pulumi's delete deregistered
revision 2, which is INACTIVE now). Rolling back to v2 registers v2's content again as a new revision
(4); sending the service the recorded ARN of revision 2 would fail in ECS. The replay sends the
service a live reference to the re-registered task definition's ``arn`` instead.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from rollback.actions.context import Context
from rollback.actions.rollback import Rollback
from rollback.console import Console
from rollback.models import Outcome
from rollback.render.text import rollback_result
from rollback.replay import build_replay_program, rehearse
from tests.paths import EXAMPLES
from tests.support.fake_engine import FakeEngine

pytestmark = pytest.mark.timeout(60)

PASS = "omniserve-example"
ECS = "urn:pulumi:prod::omniserve::omniserve:bot:EcsBot$"
TASK_DEFINITION = ECS + "aws:ecs/taskDefinition:TaskDefinition::omniserve"
SERVICE = ECS + "aws:ecs/service:Service::omniserve"
REVISION = "arn:aws:ecs:us-east-1:381492026117:task-definition/omniserve:{}"
HEALTHY = {"stack": "prod", "healthy": True, "timed_out": False, "elapsed_seconds": 0.1, "gates": []}


@pytest.fixture()
def world(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / "backend", tmp_path / "backend")
    return tmp_path


def ctx_for(world: Path) -> Context:
    return Context(cwd=world, backend_flag=f"file://{world / 'backend'}", passphrase=lambda: PASS)


def test_the_prod_rollback_to_v2_plans_the_service_to_follow_the_new_task_definition(world: Path) -> None:
    history = ctx_for(world).history("prod")
    target, current = history.checkpoint(2), history.current()
    secrets = history.secrets_for(target)
    plan = build_replay_program(target, secrets=secrets, current=current)

    service = next(s for s in plan.steps if s.urn == SERVICE)
    refs = {r.path: r for r in service.live_refs}
    td = refs["taskDefinition"]
    assert (td.source, td.output, td.recorded, td.current) == (TASK_DEFINITION, "arn", REVISION.format(2),
                                                              REVISION.format(3))
    assert "arn" in next(s for s in plan.steps if s.urn == TASK_DEFINITION).exposed_outputs
    assert ("aws:ecs/service:Service omniserve: taskDefinition follows the re-registered "
            f"aws:ecs/taskDefinition:TaskDefinition omniserve's arn (now {REVISION.format(3)}; the target recorded "
            f"{REVISION.format(2)})") in plan.notes
    # Inputs whose dependency keeps its value (the cluster's arn) follow it too, but need no note.
    assert refs["cluster"].output in ("arn", "id")
    assert sum("follows the re-registered" in n for n in plan.notes) == 1
    # The rehearsal still checks every input against the checkpoint, the followed ones included.
    result = rehearse(plan, target, secrets=secrets, project="omniserve", stack="prod")
    assert result.ok, result.mismatches


def test_after_the_rollback_the_service_runs_the_new_revision_not_the_deregistered_one(world: Path) -> None:
    engine = FakeEngine(world / "backend", PASS)
    out, err = io.StringIO(), io.StringIO()
    action = Rollback(ctx=ctx_for(world), engine=engine, verifier=lambda **_: HEALTHY,
                      listener=Console(out=out, err=err, verbose=True))
    outcome = action.run("prod", "previous")
    assert outcome.outcome is Outcome.ROLLED_BACK and outcome.error is None
    assert rollback_result(outcome.to_dict()) == f"rolled back prod to v2 as v7 in {outcome.record.timings['applied_seconds']:.1f} s"
    assert "taskDefinition follows the re-registered aws:ecs/taskDefinition:TaskDefinition omniserve's arn" \
        in out.getvalue()
    # the convergence check (a preview expecting no changes) ran after the update and passed
    assert [c[0] for c in engine.calls] == ["open", "preview", "up", "preview"]

    history = ctx_for(world).history("prod")
    now = history.current().by_urn()
    td, service = now[TASK_DEFINITION], now[SERVICE]
    assert td.outputs["arn"] == REVISION.format(4)                # v2's content registered again, as revision 4
    assert service.inputs["taskDefinition"] == td.outputs["arn"]  # and the service points at it
    assert service.inputs["taskDefinition"] != history.checkpoint(2).by_urn()[SERVICE].inputs["taskDefinition"]
    assert service.property_dependencies["taskDefinition"] == (TASK_DEFINITION,)
    # the task definition's content is v2's again
    assert td.inputs["containerDefinitions"] == history.checkpoint(2).by_urn()[TASK_DEFINITION].inputs[
        "containerDefinitions"]


@pytest.mark.parametrize("current_name, target_name", [
    ("eks-encryption-provider-3.0.0-plaintext.json", "eks-encryption-provider-2.5.2-plaintext.json"),
    ("eks-encryption-provider-2.5.2-plaintext.json", "eks-encryption-provider-3.0.0-plaintext.json"),
])
def test_the_diff_and_the_replay_agree_on_what_is_a_dependencys_output(current_name: str, target_name: str) -> None:
    """One rule (rollback.liverefs): an instance profile's `role` holds the role's auto-name. The replay sends it
    as a live reference to the role's `name`; the diff compares it by what it points at (the role, kept), so it
    predicts no change, where a value comparison would have reported the old name. The role policy attachments
    echo the same name in their `role` outputs, but those are inputs they send, not outputs their provider
    computes: not candidates, so the match is not ambiguous."""
    from rollback.diff import diff_deployments
    from rollback.state.codec import parse_deployment
    from rollback.state.secrets import SecretBox
    from tests.paths import FIXTURES

    current, target = (parse_deployment((FIXTURES / "real-world" / n).read_bytes(), source=n)
                       for n in (current_name, target_name))
    boxes = {id(d): SecretBox(d.secrets_provider, source=d.source, passphrase=lambda: None) for d in (current, target)}
    profile = next(r.urn for r in target.resources if r.type == "aws:iam/instanceProfile:InstanceProfile")
    plan = build_replay_program(target, secrets=boxes[id(target)], current=current)
    (ref,) = next(s for s in plan.steps if s.urn == profile).live_refs
    assert (ref.path, ref.output) == ("role", "name") and ref.source.endswith("aws:iam/role:Role::"
                                                                                "encryption-provider-instanceRole-role")
    diff = diff_deployments(current, target, current_secrets=boxes[id(current)], target_secrets=boxes[id(target)])
    assert profile not in {c.urn for c in diff.changes}


def test_a_state_without_property_dependencies_still_follows_the_new_task_definition(world: Path) -> None:
    """Older states (and some real files) record only `dependencies`: every input then counts as computed from
    all of them, as Pulumi's own migration decides, so the service still follows the re-registered task
    definition instead of being sent back to the deregistered revision."""
    import dataclasses

    history = ctx_for(world).history("prod")
    target, current = history.checkpoint(2), history.current()
    from rollback.models import Resource

    def without_property_dependencies(r: Resource) -> Resource:
        fields = {f: getattr(r, f) for f in Resource.FIELDS if f != "property_dependencies"}
        raw = {k: v for k, v in r.raw.items() if k != "propertyDependencies"}
        return Resource(**fields, raw=raw, source=r.source)

    bare = dataclasses.replace(target, resources=tuple(without_property_dependencies(r) for r in target.resources))
    assert not any(r.property_dependencies for r in bare.resources)
    plan = build_replay_program(bare, secrets=history.secrets_for(target), current=current)
    service = next(s for s in plan.steps if s.urn == SERVICE)
    td = {r.path: r for r in service.live_refs}["taskDefinition"]
    assert (td.source, td.output, td.recorded) == (TASK_DEFINITION, "arn", REVISION.format(2))
    assert rehearse(plan, bare, secrets=history.secrets_for(target), project="omniserve", stack="prod").ok
