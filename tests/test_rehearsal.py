"""Rehearsal: the replay program run under the SDK's mock runtime, checked against the target checkpoint."""

from __future__ import annotations

import dataclasses
import time

import pytest

from rollback.errors import Refused
from rollback.models import Deployment
from rollback.replay import ReplayPlan, build_replay_program, rehearse
from rollback.state.codec import parse_deployment
from rollback.state.secrets import SecretBox
from rollback.state.values import Revealed
from tests.paths import FIXTURES
from tests.replay_support.checkpoints import (
    PROJECT,
    STACK,
    box,
    checkpoint,
    default_provider,
    resource,
    root,
    secret,
)

pytestmark = pytest.mark.timeout(60)

# file -> (project, stack, resources the replay registers: live ones minus the root stack and the
# default providers, which the engine makes itself)
CHECKPOINTS = {
    "pulumi-testdata/checkpoint-v0.json": ("countdown", "foo", 30),
    "pulumi-testdata/checkpoint-v1.json": ("countdown", "foo", 30),
    "pulumi-testdata/checkpoint-v3.json": ("countdown", "foo", 30),
    "pulumi-testdata/checkpoint-v4.json": ("countdown", "foo", 30),
    "pulumi-testdata/checkpoint-secrets.json": ("countdown", "foo", 30),
    "real-world/awsx-ts-lb-simple-ecs-2024-04.json": ("ts-lb-simple", "test", 20 - 1 - 4),
    "real-world/awsx-ts-lb-simple-ecs-2024-05.json": ("ts-lb-simple", "test", 19 - 1 - 3),
    "real-world/eks-encryption-provider-2.5.2-plaintext.json": ("encryption-provider", "test", 36 - 1 - 4),
    "real-world/eks-encryption-provider-3.0.0-plaintext.json": ("encryption-provider", "test", 39 - 1 - 5),
    "real-world/gcp-cloudrunv2-multicontainer.json": ("test", "test", 3 - 1),
    "real-world/camsoper-homelab-docker.json": ("home-lab-iac", "home-lab", 7 - 1 - 1),
    # saved mid-replacement: 15 pending deletes (duplicate URNs) skipped, 3 pending replacements
    "real-world/privatermq-azure-aci.checkpoint.json": ("pulumi-rabbitmq-azure", "dev", 42 - 15 - 1 - 1),
    "real-world/privatermq-stacks-dev-bak-pending-delete.json": ("pulumi-rabbitmq-azure", "dev", 0),
}


def load(name: str) -> tuple[Deployment, SecretBox]:
    path = FIXTURES / name
    dep = parse_deployment(path.read_bytes(), source=name)
    return dep, SecretBox(dep.secrets_provider, source=name, passphrase=lambda: None)


@pytest.fixture(scope="module")
def eks() -> tuple[Deployment, SecretBox, ReplayPlan]:
    dep, secrets = load("real-world/eks-encryption-provider-3.0.0-plaintext.json")
    return dep, secrets, build_replay_program(dep, secrets=secrets)


def tampered(plan: ReplayPlan, name: str, **changes) -> ReplayPlan:
    steps = tuple(dataclasses.replace(s, **changes) if s.name == name else s for s in plan.steps)
    return dataclasses.replace(plan, steps=steps)


def test_a_checkpoint_whose_files_are_gone_is_refused_naming_them():
    """The 2017 todo app uploaded files from a laptop (/Users/luke/...): a replay would read them again, and they
    are not here, so it is refused naming the file and the hash it must have."""
    dep, secrets = load("real-world/pulumi-legacy-target-latest-todo.json")
    with pytest.raises(Refused) as err:
        build_replay_program(dep, secrets=secrets)
    assert "favicon.ico, which cannot be read now" in err.value.message
    assert "3e928d52d10b060711c530e190e862cb8c1e32ae582da57a633d197c09475081" in err.value.message


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_every_readable_checkpoint_rehearses_cleanly(name):
    project, stack, count = CHECKPOINTS[name]
    dep, secrets = load(name)
    plan = build_replay_program(dep, secrets=secrets)
    assert (plan.project, plan.stack) == (project, stack) or count == 0
    result = rehearse(plan, dep, secrets=secrets, project=project, stack=stack)
    assert result.mismatches == ()
    assert result.to_dict() == {"scope": "full", "ok": True, "resources": count, "total": count, "mismatches": []}
    assert plan.resource_count == count


def test_pending_replacements_of_the_privatermq_checkpoint_are_forced_delete_before_replace():
    dep, secrets = load("real-world/privatermq-azure-aci.checkpoint.json")
    plan = build_replay_program(dep, secrets=secrets)
    forced = sorted(s.name for s in plan.steps if s.delete_before_replace)
    assert forced == ["example.internal", "zoneline-rmq", "zonelink-vm"]
    assert len({s.urn for s in plan.steps}) == plan.resource_count     # duplicates collapsed to the live one
    live_ids = {r.id for r in dep.resources if not r.delete}
    assert all(s.id is None or s.id in live_ids for s in plan.steps)


@pytest.mark.parametrize("policy", ["current", "target"])
def test_rolling_eks_back_from_3_0_to_2_5_rehearses_with_either_provider_version_policy(policy):
    target, secrets = load("real-world/eks-encryption-provider-2.5.2-plaintext.json")
    current, _ = load("real-world/eks-encryption-provider-3.0.0-plaintext.json")
    plan = build_replay_program(target, secrets=secrets, current=current, provider_versions=policy)
    aws = {s.version for s in plan.steps if s.type.startswith("aws:")}
    assert aws == ({"6.45.0", "6.56.1"} if policy == "current" else {"6.0.4", "6.38.0"})
    if policy == "current":
        assert "provider random: the checkpoint used 4.16.2, the replay keeps the current 4.16.7 (1 resource; " \
               "restore it by choosing the target's provider versions)" in plan.cannot_restore
    else:
        assert any(n.startswith("provider random: the replay restores 4.16.2 (1 resource)") for n in plan.notes)
    result = rehearse(plan, target, secrets=secrets, project="encryption-provider", stack="test")
    assert result.ok, result.mismatches
    assert result.resources == 31


def test_a_2017_checkpoint_replayed_with_the_current_provider_versions_rehearses_cleanly():
    dep, secrets = load("pulumi-testdata/checkpoint-v3.json")
    aws = default_provider("aws", "6.0.0")
    aws["urn"] = aws["urn"].replace("prod::shop", "foo::countdown")
    current = parse_deployment({"version": 3, "deployment": {"resources": [aws]}}, source="current")
    plan = build_replay_program(dep, secrets=secrets, current=current)
    assert {s.version for s in plan.steps if s.custom} == {"6.0.0"}
    assert any("the checkpoint used an unrecorded version, the replay keeps the current 6.0.0" in c
               for c in plan.cannot_restore)
    result = rehearse(plan, dep, secrets=secrets, project="countdown", stack="foo")
    assert result.ok, result.mismatches


def test_a_dropped_resource_is_reported_by_urn(eks):
    dep, secrets, plan = eks
    nginx = next(s for s in plan.steps if s.name == "nginx")
    broken = dataclasses.replace(plan, steps=tuple(s for s in plan.steps if s is not nginx))
    result = rehearse(broken, dep, secrets=secrets, project=plan.project, stack=plan.stack)
    assert not result.ok
    assert result.mismatches == (f"{nginx.urn}: not registered",)
    assert result.to_dict()["ok"] is False


def test_a_changed_type_is_reported_on_both_urns(eks):
    dep, secrets, plan = eks
    broken = tampered(plan, "nginx", type="kubernetes:apps/v1:StatefulSet")
    result = rehearse(broken, dep, secrets=secrets, project=plan.project, stack=plan.stack)
    assert not result.ok
    assert ("urn:pulumi:test::encryption-provider::kubernetes:apps/v1:Deployment::nginx: not registered"
            in result.mismatches)
    assert any(m.startswith("urn:pulumi:test::encryption-provider::kubernetes:apps/v1:StatefulSet::nginx: "
                            "registered") for m in result.mismatches)


def test_a_changed_secret_is_reported_without_showing_it(eks):
    dep, secrets, plan = eks
    step = next(s for s in plan.steps if s.type == "kubernetes:core/v1:Secret")
    original = step.inputs["data"].value
    forged = {k: "Zm9yZ2VkLXZhbHVl" for k in original}
    result = rehearse(tampered(plan, step.name, inputs={**step.inputs, "data": Revealed(forged)}),
                      dep, secrets=secrets, project=plan.project, stack=plan.stack)
    assert not result.ok
    assert any(m.startswith(f"{step.urn}: input data.") and m.endswith(" differs") for m in result.mismatches)
    text = "\n".join(result.mismatches)
    assert all(v not in text for v in list(original.values()) + list(forged.values()))


def test_a_secret_sent_in_the_clear_is_reported(eks):
    dep, secrets, plan = eks
    step = next(s for s in plan.steps if s.type == "kubernetes:core/v1:Secret")
    leaked = {**step.inputs, "data": step.inputs["data"].value}
    result = rehearse(tampered(plan, step.name, inputs=leaked), dep, secrets=secrets,
                      project=plan.project, stack=plan.stack)
    assert f"{step.urn}: input data is secret in the checkpoint only" in result.mismatches


def test_provider_parent_options_and_dependencies_are_checked(eks):
    dep, secrets, plan = eks
    broken = tampered(plan, "nginx", provider=None, depends_on=(), property_dependencies={})
    broken = tampered(broken, "encryption-provider-eksCluster", version="9.9.9", protect=True,
                      ignore_changes=())
    result = rehearse(broken, dep, secrets=secrets, project=plan.project, stack=plan.stack)
    text = "\n".join(result.mismatches)
    assert "::nginx: provider differs (sent the default provider, expected " in text
    assert "::nginx: dependencies not sent: urn:pulumi:test::encryption-provider::kubernetes:core/v1:Secret" in text
    assert "encryption-provider-eksCluster: provider version differs (sent 9.9.9, expected 6.45.0)" in text
    assert "encryption-provider-eksCluster: protect differs (sent True, recorded False)" in text
    assert "encryption-provider-eksCluster: ignoreChanges differs" in text


def test_a_rehearsal_for_another_stack_does_not_pass(eks):
    dep, secrets, plan = eks
    result = rehearse(plan, dep, secrets=secrets, project=plan.project, stack="prod")
    assert not result.ok
    assert result.mismatches[0] == "the plan was built for encryption-provider/test, the rehearsal runs " \
                                   "encryption-provider/prod"


def test_a_program_that_fails_is_reported_without_secrets():
    dep = checkpoint([root(), resource("aws:s3/bucket:Bucket", "b", provider=None,
                                       inputs={"tag": secret("s3cr3t-tag-value")})])
    plan = build_replay_program(dep, secrets=box(dep))

    def failing() -> None:
        raise RuntimeError("could not send s3cr3t-tag-value")

    result = rehearse(plan, dep, secrets=box(dep), project=PROJECT, stack=STACK, program=failing)
    assert result.mismatches == ("the replay program failed under mocks: RuntimeError: could not send [secret]",)


def test_a_hanging_program_times_out_instead_of_hanging():
    dep = checkpoint([root()])
    plan = build_replay_program(dep, secrets=box(dep))

    def hanging() -> None:
        import asyncio

        import pulumi

        pulumi.export("never", pulumi.Output.from_input(asyncio.get_event_loop().create_future()))

    started = time.monotonic()
    result = rehearse(plan, dep, secrets=box(dep), project=PROJECT, stack=STACK, timeout=1.5, program=hanging)
    assert time.monotonic() - started < 10
    assert result.mismatches == ("the replay program did not finish under mocks within 2 s",)
    # and the runtime is usable again right after
    again = rehearse(plan, dep, secrets=box(dep), project=PROJECT, stack=STACK)
    assert again.ok


def test_rehearsals_are_isolated_from_other_pulumi_runtime_use():
    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.mocks import MockMonitor, Mocks, set_mocks

    class Plain(Mocks):
        def new_resource(self, args):
            return f"{args.name}-id", {}

        def call(self, args):
            return {}, []

    # someone else's mock runtime in this thread, with another project and a resource registered
    settings.reset_options(project="other-project", stack="other-stack", preview=True)
    set_mocks(Plain(), project="other-project", stack="other-stack", preview=True, monitor=MockMonitor(Plain()))
    pulumi.CustomResource("aws:s3/bucket:Bucket", "leftover", {})
    try:
        dep, secrets = load("real-world/awsx-ts-lb-simple-ecs-2024-04.json")
        plan = build_replay_program(dep, secrets=secrets)
        first = rehearse(plan, dep, secrets=secrets, project="ts-lb-simple", stack="test")
        second = rehearse(plan, dep, secrets=secrets, project="ts-lb-simple", stack="test")
        assert first.ok and second.ok and first.registered == second.registered == 16
        assert pulumi.get_project() == "other-project" and pulumi.get_stack() == "other-stack"
    finally:
        settings.reset_options()


def _synthetic(n_services: int) -> Deployment:
    k8s = default_provider("kubernetes", "4.18.0")
    resources = [root(), k8s]
    for i in range(n_services):
        comp = resource("shop:app:Service", f"svc{i}", custom=False)
        resources.append(comp)
        prev = None
        for j in range(9):
            r = resource("shop:app:Service$kubernetes:core/v1:ConfigMap", f"cm-{i}-{j}", parent=comp["urn"],
                         provider=k8s, inputs={
                             "apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": f"cm-{i}-{j}", "labels": {"app": "shop"}},
                             "data": {"MODE": "safe", "N": str(j), "PASSWORD": secret("pw")}},
                         dependencies=[prev] if prev else [], propertyDependencies={"data": [prev]} if prev else {})
            resources.append(r)
            prev = r["urn"]
    return checkpoint(resources)


def test_rehearsal_is_no_slower_than_registering_typed_resources_under_mocks():
    """1,000 resources (components of ConfigMaps with dependencies and secrets) against the SDK's typed
    ConfigMap class under the stock mocks; at 5,000 both take about 20 s on the reference machine."""
    import pulumi
    from pulumi.runtime.mocks import MockMonitor, Mocks
    from pulumi_kubernetes.core.v1 import ConfigMap

    from rollback.replay.mocks import run_under_mocks

    n = 100
    dep = _synthetic(n)
    plan = build_replay_program(dep, secrets=box(dep))
    started = time.monotonic()
    result = rehearse(plan, dep, secrets=box(dep), project=PROJECT, stack=STACK)
    ours = time.monotonic() - started
    assert result.ok and result.resources == 10 * n

    class Plain(Mocks):
        def new_resource(self, args):
            return f"{args.name}-id", {}

        def call(self, args):
            return {}, []

    def typed() -> None:
        for i in range(n):
            comp = pulumi.ComponentResource("shop:app:Service", f"svc{i}")
            prev = None
            for j in range(9):
                prev = ConfigMap(f"cm-{i}-{j}", metadata={"name": f"cm-{i}-{j}", "labels": {"app": "shop"}},
                                 data={"MODE": "safe", "N": str(j), "PASSWORD": pulumi.Output.secret("pw")},
                                 opts=pulumi.ResourceOptions(parent=comp, depends_on=[prev] if prev else None,
                                                             version="4.18.0"))

    started = time.monotonic()
    run = run_under_mocks(typed, project=PROJECT, stack=STACK, monitor=MockMonitor(Plain()), timeout=60)
    baseline = time.monotonic() - started
    assert run.error is None and not run.timed_out
    assert ours <= 1.5 * baseline + 0.5, f"rehearsal {ours:.2f} s, typed SDK registration {baseline:.2f} s"


def test_live_references_resolve_to_the_recorded_outputs_and_a_wrong_one_is_caught():
    from rollback.replay._common import FollowOutput

    dep, secrets = load("real-world/awsx-ts-lb-simple-ecs-2024-05.json")
    plan = build_replay_program(dep, secrets=secrets)
    service = next(s for s in plan.steps if s.type == "aws:ecs/service:Service")
    followed = {r.path: r.output for r in service.live_refs}
    assert followed["taskDefinition"] == "arn" and followed["cluster"] == "arn"
    assert rehearse(plan, dep, secrets=secrets, project=plan.project, stack=plan.stack).ok

    # Following the task definition's id instead of its arn sends the family name: the rehearsal says so.
    ref = service.inputs["taskDefinition"]
    forged = dataclasses.replace(service, inputs={**service.inputs, "taskDefinition": FollowOutput(ref.urn, "id", ref.value)})
    wrong = dataclasses.replace(plan, steps=tuple(forged if s is service else s for s in plan.steps))
    result = rehearse(wrong, dep, secrets=secrets, project=plan.project, stack=plan.stack)
    assert not result.ok
    assert any(m.startswith(f"{service.urn}: input taskDefinition differs (sent 'my-service-") for m in result.mismatches)


def test_a_live_reference_inside_a_secret_rehearses_as_a_secret():
    aws = default_provider("aws", "6.50.0")
    creds = resource("aws:secretsmanager/secret:Secret", "creds", provider=aws,
                     inputs={"__defaults": ["name"], "name": "creds-5d1e2f0"})
    creds["outputs"] = {"name": "creds-5d1e2f0", "arn": "arn:aws:secretsmanager:eu-west-1:1:secret:creds-5d1e2f0-Q"}
    fn = resource("aws:lambda/function:Function", "api", provider=aws, inputs={
        "environment": secret({"variables": {"CREDS": "creds-5d1e2f0"}})},
        propertyDependencies={"environment": [creds["urn"]]})
    dep = checkpoint([root(), aws, creds, fn])
    plan = build_replay_program(dep, secrets=box(dep))
    assert [r.path for s in plan.steps for r in s.live_refs] == ["environment.variables.CREDS"]
    result = rehearse(plan, dep, secrets=box(dep), project=PROJECT, stack=STACK)
    assert result.ok, result.mismatches
    leaked = tampered(plan, "api", inputs={"environment": plan.steps[-1].inputs["environment"].value})
    result = rehearse(leaked, dep, secrets=box(dep), project=PROJECT, stack=STACK)
    assert f"{fn['urn']}: input environment is secret in the checkpoint only" in result.mismatches


# -- what a preview rehearses -------------------------------------------------------------------------
def _scoped_world() -> tuple[Deployment, SecretBox, ReplayPlan, dict[str, str]]:
    """A component with two children on an explicit provider, a consumer of one child, a resource that
    refers to the other, and a bystander."""
    from tests.replay_support.checkpoints import ref, urn

    aws = default_provider("aws", "6.50.0")
    prov = resource("pulumi:providers:kubernetes", "k8s", inputs={"kubeconfig": "cfg"})
    comp = resource("shop:index:Web", "web", custom=False)
    child_urn = "shop:index:Web$kubernetes:apps/v1:Deployment"
    child = resource(child_urn, "web", parent=comp["urn"], provider=prov, inputs={"image": "web:2"})
    other = resource("shop:index:Web$kubernetes:core/v1:Service", "web", parent=comp["urn"], provider=prov,
                     inputs={"port": 80})
    consumer = resource("aws:s3/bucket:Bucket", "logs", provider=aws, inputs={"tag": "x"},
                        dependencies=[child["urn"]])
    referrer = resource("aws:s3/bucket:Bucket", "ref", provider=aws, inputs={"svc": ref(other["urn"], "web-id")})
    bystander = resource("aws:s3/bucket:Bucket", "other", provider=aws, inputs={"tag": "y"})
    dep = checkpoint([root(), aws, prov, comp, child, other, consumer, referrer, bystander])
    names = {"prov": prov["urn"], "comp": comp["urn"], "child": child["urn"], "other": other["urn"],
             "consumer": consumer["urn"], "referrer": referrer["urn"], "bystander": bystander["urn"]}
    assert urn(child_urn, "web") == names["child"]
    secrets = box(dep)
    return dep, secrets, build_replay_program(dep, secrets=secrets), names


@pytest.mark.parametrize("changed, scope", [
    # a child: itself, what it needs (its parent, its provider), and what depends on it (the consumer)
    (["child"], ["child", "comp", "prov", "consumer"]),
    # a provider: everything it provides for, their parents and dependents
    (["prov"], ["prov", "child", "other", "comp", "consumer", "referrer"]),
    # a component: its children come with it
    (["comp"], ["comp", "child", "other", "prov", "consumer", "referrer"]),
    (["bystander"], ["bystander"]),
    ([], []),
])
def test_a_preview_rehearses_what_changed_and_what_comes_with_it(changed: list[str], scope: list[str]) -> None:
    from rollback.replay import changed_scope

    dep, secrets, plan, names = _scoped_world()
    urns = changed_scope(plan, [names[n] for n in changed] + ["urn:pulumi:prod::shop::gone:Type::deleted"])
    assert urns == {names[n] for n in scope}
    result = rehearse(plan, dep, secrets=secrets, project=PROJECT, stack=STACK, only=urns)
    assert (result.ok, result.mismatches, result.resources, result.scope) == (True, (), len(scope), "changed")
    assert result.to_dict()["total"] == len(plan.steps) == 7


def test_a_narrowed_rehearsal_still_finds_a_mismatch_in_what_it_rehearses() -> None:
    from rollback.replay import changed_scope

    dep, secrets, plan, names = _scoped_world()
    wrong = tuple(dataclasses.replace(s, inputs={"image": "web:1"}) if s.urn == names["child"] else s
                  for s in plan.steps)
    tampered = dataclasses.replace(plan, steps=wrong)
    result = rehearse(tampered, dep, secrets=secrets, project=PROJECT, stack=STACK,
                      only=changed_scope(tampered, [names["child"]]))
    assert not result.ok and any("input image differs" in m for m in result.mismatches)
