"""The replay program: what it registers, proven on the requests the SDK really sends under mocks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rollback.errors import Refused, SecretsError
from rollback.replay import build_replay_program, inline_program
from rollback.state.codec import parse_deployment
from rollback.state.secrets import SecretBox
from rollback.state.values import ARCHIVE_SIG, ASSET_SIG, RESOURCE_REF_SIG, SIG
from tests.paths import FIXTURES
from tests.paths import ROOT as PROJECT_ROOT
from tests.replay_support.capture import capture, is_wire_secret
from tests.replay_support.checkpoints import (
    UNKNOWN,
    asset_archive,
    box,
    checkpoint,
    default_provider,
    file_archive,
    file_asset,
    hash_only_asset,
    ref,
    remote_archive,
    remote_asset,
    resource,
    root,
    secret,
    text_asset,
    urn,
)

pytestmark = pytest.mark.timeout(60)

AWS = default_provider("aws", "5.35.0", region="eu-west-1")


def plan_of(resources: list[dict], **kwargs):
    dep = checkpoint(resources)
    return dep, build_replay_program(dep, secrets=box(dep), **kwargs)


def names(urns) -> set[str]:
    return {u.rsplit("::", 1)[-1] for u in urns}


def test_importing_and_planning_does_not_load_pulumi():
    code = (
        "import sys\n"
        "from rollback.replay import build_replay_program\n"
        "from rollback.state.codec import parse_deployment\n"
        "from rollback.state.secrets import SecretBox\n"
        f"p = {str(FIXTURES / 'real-world/awsx-ts-lb-simple-ecs-2024-04.json')!r}\n"
        "d = parse_deployment(open(p, 'rb').read(), source=p)\n"
        "plan = build_replay_program(d, secrets=SecretBox(d.secrets_provider, source=p, passphrase=lambda: None))\n"
        "assert plan.resource_count == 15, plan.resource_count\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'grpc', 'google'))\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_defaults_are_dropped_at_any_depth_and_reserved_keys_only_at_the_top():
    web = resource("kubernetes:apps/v1:Deployment", "web", provider=None, inputs={
        "__defaults": ["name"], "__meta": '{"schema_version":"1"}', "name": "web-1a2b3c",
        "spec": {"replicas": 2, "strategy": "RollingUpdate", "__defaults": ["strategy"],
                 "containers": [{"image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                                 "__defaults": ["imagePullPolicy"]}]},
        "data": {"__init__.py": "print('hi')", "__defaults": []},
    })
    _, plan = plan_of([root(), web])
    got = capture(inline_program(plan)).props("web")
    assert got == {"spec": {"replicas": 2, "containers": [{"image": "nginx:1.25"}]},
                   "data": {"__init__.py": "print('hi')"}}


def test_secrets_are_rewrapped_at_the_same_depth_and_never_printed():
    db = resource("aws:rds/instance:Instance", "db", provider=AWS, inputs={
        "engine": "postgres",
        "auth": {"user": "app", "password": secret("hunter2-pass")},
        "token": secret({"value": "tok-991", "ttl": 60, "__defaults": ["ttl"]}),
    }, propertyDependencies={"auth": [AWS["urn"]]})
    _, plan = plan_of([root(), AWS, db])
    props = capture(inline_program(plan)).props("db")
    assert props["engine"] == "postgres"
    assert not is_wire_secret(props["auth"])
    assert not is_wire_secret(props["auth"]["user"])
    assert is_wire_secret(props["auth"]["password"]) and props["auth"]["password"]["value"] == "hunter2-pass"
    assert is_wire_secret(props["token"]) and props["token"]["value"] == {"value": "tok-991"}
    shown = repr(plan) + str(plan.steps) + json.dumps(plan.to_dict(inputs=True))
    assert "hunter2" not in shown and "tok-991" not in shown
    assert "[secret]" in json.dumps(plan.to_dict(inputs=True))


def test_parents_before_children_even_when_the_file_lists_them_the_other_way():
    comp = urn("my:app:Service", "svc")
    sub = urn("my:app:Service$my:app:Worker", "worker")
    bucket = resource("my:app:Service$my:app:Worker$aws:s3/bucket:Bucket", "logs", parent=sub, provider=AWS)
    worker = resource("my:app:Service$my:app:Worker", "worker", custom=False, parent=comp)
    service = resource("my:app:Service", "svc", custom=False)
    queue = resource("aws:sqs/queue:Queue", "q", provider=AWS, dependencies=[bucket["urn"]])
    _, plan = plan_of([queue, bucket, worker, AWS, service, root()])
    order = [s.name for s in plan.steps]
    assert order.index("svc") < order.index("worker") < order.index("logs") < order.index("q")
    assert plan.steps[order.index("logs")].engine_urn == bucket["urn"]
    got = capture(inline_program(plan))
    assert got.order.index("my:app:Worker::worker") < got.order.index("aws:s3/bucket:Bucket::logs")
    assert got.registered["logs"].parent.endswith("::worker")


def test_checkpoints_from_2017_list_children_first_and_get_parents_first():
    path = FIXTURES / "pulumi-testdata/checkpoint-v3.json"
    dep = parse_deployment(path.read_bytes(), source=str(path))
    assert any(dep.resources.index(r) < dep.resources.index(p)
               for r in dep.resources for p in dep.resources if r.parent == p.urn)
    plan = build_replay_program(dep, secrets=SecretBox(dep.secrets_provider, source="v3"))
    position = {s.urn: i for i, s in enumerate(plan.steps)}
    for s in plan.steps:
        if s.parent:
            assert position[s.parent] < position[s.urn]
    # their URNs predate parent-type chains: re-registered under the engine's URN with an alias
    sns = next(s for s in plan.steps if s.type == "aws:sns/topic:Topic" and s.name == "countDown")
    assert sns.engine_urn == "urn:pulumi:foo::countdown::cloud:topic:Topic$aws:sns/topic:Topic::countDown"
    got = capture(inline_program(plan), project="countdown", stack="foo")
    aliases = [a.urn for a in got.registered["countDown_watcher-iamrole"].aliases]
    assert aliases == ["urn:pulumi:foo::countdown::aws:iam/role:Role::countDown_watcher-iamrole"]


def test_external_resources_are_read_by_id_and_nothing_is_imported():
    vpc = resource("aws:ec2/vpc:Vpc", "shared-vpc", provider=AWS, external=True, id="vpc-0abc",
                   inputs={"cidrBlock": "10.0.0.0/16"})
    bucket = resource("aws:s3/bucket:Bucket", "imported", provider=AWS, importID="imported-bucket-1",
                      inputs={"bucket": "imported-bucket-1"})
    _, plan = plan_of([root(), AWS, vpc, bucket])
    got = capture(inline_program(plan))
    assert "shared-vpc" not in got.registered
    assert got.read["shared-vpc"].id == "vpc-0abc"
    assert got.read["shared-vpc"].version == "5.35.0"
    assert got.registered["imported"].importId == ""


def test_options_are_carried_over():
    other = resource("aws:s3/bucket:Bucket", "other", provider=AWS)
    comp = resource("my:app:Bundle", "bundle", custom=False, protect=True)
    child = resource("my:app:Bundle$aws:s3/bucketObject:BucketObject", "obj", parent=comp["urn"], provider=AWS)
    table = resource(
        "aws:dynamodb/table:Table", "orders", provider=AWS, protect=True, retainOnDelete=True,
        ignoreChanges=["tags", "billingMode"], replaceOnChanges=["hashKey"],
        additionalSecretOutputs=["streamArn"], customTimeouts={"create": 600, "update": 90.5, "delete": 0},
        dependencies=[other["urn"]], deletedWith=other["urn"], inputs={"hashKey": "id"})
    _, plan = plan_of([root(), AWS, other, comp, child, table])
    req = capture(inline_program(plan)).registered
    t = req["orders"]
    assert t.protect is True and t.retainOnDelete is True
    assert list(t.ignoreChanges) == ["tags", "billingMode"]
    assert list(t.replaceOnChanges) == ["hashKey"]
    assert list(t.additionalSecretOutputs) == ["streamArn"]
    assert (t.customTimeouts.create, t.customTimeouts.update, t.customTimeouts.delete) == ("600s", "90.5s", "")
    assert names(t.dependencies) == {"other"}
    assert t.deletedWith.endswith("::other")
    # protect is sent explicitly: a child of a protected component is not protected unless recorded so
    assert req["bundle"].protect is True and req["obj"].protect is False
    assert not req["other"].protect
    assert any("ignoreChanges tags, billingMode" in c for c in plan.cannot_restore)


def test_property_dependencies_are_sent_as_dependencies():
    role = resource("aws:iam/role:Role", "role", provider=AWS, inputs={"name": "r"})
    attach = resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "attach", provider=AWS,
                      inputs={"role": "r", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
                              "extra": {"note": secret("classified")}},
                      propertyDependencies={"role": [role["urn"]], "extra": [role["urn"]], "policyArn": []})
    _, plan = plan_of([root(), AWS, attach, role])
    got = capture(inline_program(plan))
    req = got.registered["attach"]
    assert names(req.propertyDependencies["role"].urns) == {"role"}
    assert names(req.dependencies) == {"role"}
    assert list(req.propertyDependencies["policyArn"].urns) == []
    props = got.props("attach")
    assert props["role"] == "r"
    assert not is_wire_secret(props["extra"]) and is_wire_secret(props["extra"]["note"])


def test_default_provider_consumers_get_its_version_and_download_url():
    custom = default_provider("acme", "1.2.3-beta.1", __internal={"pluginDownloadURL": "https://get.example.com/"})
    custom["urn"] = urn("pulumi:providers:acme", "default_1_2_3_beta_1_https_get_example_com_")
    thing = resource("acme:index:Thing", "thing", provider=custom)
    bucket = resource("aws:s3/bucket:Bucket", "b", provider=AWS)
    _, plan = plan_of([root(), AWS, custom, thing, bucket])
    req = capture(inline_program(plan)).registered
    assert "default_5_35_0" not in req and AWS["urn"] not in [s.urn for s in plan.steps]
    assert req["b"].version == "5.35.0" and req["b"].provider == ""
    assert req["thing"].version == "1.2.3-beta.1"
    assert req["thing"].pluginDownloadURL == "https://get.example.com/"


def test_explicit_providers_are_registered_and_referenced():
    cluster = resource("eks:index:Cluster", "c", custom=False)
    k8s = resource("eks:index:Cluster$pulumi:providers:kubernetes", "c-k8s", parent=cluster["urn"],
                   inputs={"__internal": {}, "kubeconfig": secret('{"apiVersion":"v1"}'),
                           "enableServerSideApply": "true", "version": "4.15.0"})
    k8s["outputs"] = {"version": "4.15.0"}
    cm = resource("kubernetes:core/v1:ConfigMap", "settings", provider=k8s,
                  inputs={"apiVersion": "v1", "kind": "ConfigMap", "data": {"MODE": "safe"}})
    _, plan = plan_of([root(), cluster, cm, k8s])
    got = capture(inline_program(plan))
    p = got.registered["c-k8s"]
    assert p.type == "pulumi:providers:kubernetes" and p.custom and p.version == "4.15.0"
    props = got.props("c-k8s")
    assert set(props) == {"kubeconfig", "enableServerSideApply"} and is_wire_secret(props["kubeconfig"])
    provider_urn, provider_id = got.registered["settings"].provider.rsplit("::", 1)
    assert provider_urn.endswith("::c-k8s") and provider_id == "c-k8s-id"
    assert got.registered["settings"].version == ""


def test_current_provider_versions_are_kept_by_default_and_target_ones_on_request():
    bucket = resource("aws:s3/bucket:Bucket", "b", provider=AWS)
    aws6 = default_provider("aws", "6.0.0", region="eu-west-1")
    dep = checkpoint([root(), AWS, bucket])
    current = checkpoint([root(), aws6, resource("aws:s3/bucket:Bucket", "b", provider=aws6)])

    kept = build_replay_program(dep, secrets=box(dep), current=current)
    step = next(s for s in kept.steps if s.name == "b")
    assert step.version == "6.0.0"
    assert kept.version_overrides == {bucket["urn"]: ("5.35.0", "6.0.0")}
    assert any("provider aws" in c and "5.35.0" in c and "6.0.0" in c for c in kept.cannot_restore)
    assert capture(inline_program(kept)).registered["b"].version == "6.0.0"

    restored = build_replay_program(dep, secrets=box(dep), current=current, provider_versions="target")
    assert next(s for s in restored.steps if s.name == "b").version == "5.35.0"
    assert not restored.version_overrides
    assert any("rolling a provider back can fail" in n for n in restored.notes)

    with pytest.raises(ValueError):
        build_replay_program(dep, secrets=box(dep), provider_versions="newest")  # type: ignore[arg-type]


def test_the_root_stack_is_not_registered_but_its_outputs_are_exported():
    bucket = resource("aws:s3/bucket:Bucket", "b", provider=AWS)
    outputs = {"url": "https://shop.example.com", "apiToken": secret("tok-5150"), "sizes": [1, 2],
               "bucket": ref(bucket["urn"], "b-id")}
    _, plan = plan_of([root(outputs), AWS, bucket])
    assert all(s.type != "pulumi:pulumi:Stack" for s in plan.steps)
    got = capture(inline_program(plan))
    stacks = [r for r in got.raw.registered if r.type == "pulumi:pulumi:Stack"]
    assert len(stacks) == 1          # the runtime's own, not one from the program
    out = got.stack_outputs
    assert out["url"] == "https://shop.example.com" and out["sizes"] == [1, 2]
    assert is_wire_secret(out["apiToken"]) and out["apiToken"]["value"] == "tok-5150"
    assert out["bucket"][SIG] == RESOURCE_REF_SIG and out["bucket"]["urn"] == bucket["urn"]


def test_components_are_local_with_their_outputs_registered():
    svc = resource("my:app:Service", "svc", custom=False, inputs={"replicas": 3},
                   outputs={"endpoint": "http://svc", "secretKey": secret("k3y-77")})
    _, plan = plan_of([root(), svc])
    got = capture(inline_program(plan))
    req = got.registered["svc"]
    assert req.custom is False and req.remote is False and req.provider == ""
    outputs = [o for o in got.raw.outputs if o.urn.endswith("::svc")]
    from google.protobuf import json_format
    out = json_format.MessageToDict(outputs[0].outputs)
    assert out["endpoint"] == "http://svc" and is_wire_secret(out["secretKey"])
    assert got.props("svc") == {"replicas": 3}


def test_pending_replacements_force_delete_before_replace_and_pending_deletes_are_skipped():
    azure = default_provider("azure", "3.11.0")
    zone = resource("azure:privatedns/zone:Zone", "zone", provider=azure, pendingReplacement=True)
    vnet_live = resource("azure:network/virtualNetwork:VirtualNetwork", "vnet", provider=azure, id="vnet-new")
    vnet_old = dict(vnet_live, id="vnet-old", delete=True)
    _, plan = plan_of([root(), azure, vnet_live, zone, vnet_old])
    assert [s.name for s in plan.steps].count("vnet") == 1
    got = capture(inline_program(plan)).registered
    assert got["zone"].deleteBeforeReplace is True and got["vnet"].deleteBeforeReplace is False
    assert any("4522" in c and "::zone" in c for c in plan.cannot_restore)
    assert any("1 pending-delete entry skipped" in n for n in plan.notes)


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_assets_and_archives_are_rebuilt(tmp_path):
    (tmp_path / "README.md").write_text("# the bot\n")
    (tmp_path / "lib").mkdir()
    fn = resource("aws:lambda/function:Function", "fn", provider=AWS, inputs={
        "code": asset_archive({"index.js": text_asset("exports.handler = () => 1"),
                               "lib": file_archive("./lib"), "cfg.json": remote_asset("https://x/cfg.json")}),
        "layer": remote_archive("https://x/layer.zip"),
        "readme": file_asset("README.md", _sha256(b"# the bot\n"))})
    _, plan = plan_of([root(), AWS, fn], base_dir=str(tmp_path))
    props = capture(inline_program(plan)).props("fn")
    code = props["code"]
    assert code[SIG] == ARCHIVE_SIG
    assert code["assets"]["index.js"] == {SIG: ASSET_SIG, "text": "exports.handler = () => 1"}
    # files are read again by the engine, from wherever it runs an inline program: sent by absolute path
    assert code["assets"]["lib"] == {SIG: ARCHIVE_SIG, "path": str(tmp_path / "./lib")}
    assert code["assets"]["cfg.json"] == {SIG: ASSET_SIG, "uri": "https://x/cfg.json"}
    assert props["layer"] == {SIG: ARCHIVE_SIG, "uri": "https://x/layer.zip"}
    assert props["readme"] == {SIG: ASSET_SIG, "path": str(tmp_path / "README.md")}
    # a folder's recorded hash cannot be checked here: said, not silently trusted
    assert any("'./lib'" in c and "cannot be checked" in c for c in plan.cannot_restore)


def test_a_file_asset_that_changed_since_the_target_is_refused_with_both_hashes(tmp_path):
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights v2")
    recorded = _sha256(b"weights v1")
    fn = resource("aws:lambda/function:Function", "fn", provider=AWS,
                  inputs={"model": file_asset("model.bin", recorded)})
    with pytest.raises(Refused) as err:
        plan_of([root(), AWS, fn], base_dir=str(tmp_path))
    message = str(err.value)
    assert err.value.exit_code == 3 and str(model) in message
    assert recorded in message and _sha256(b"weights v2") in message


def test_a_file_asset_whose_file_is_gone_is_refused(tmp_path):
    fn = resource("aws:lambda/function:Function", "fn", provider=AWS,
                  inputs={"model": file_asset("gone.bin", _sha256(b"x"))})
    with pytest.raises(Refused, match=r"gone\.bin, which cannot be read now"):
        plan_of([root(), AWS, fn], base_dir=str(tmp_path))


def test_resource_references_become_the_reregistered_objects():
    bucket = resource("aws:s3/bucket:Bucket", "b", provider=AWS)
    policy = resource("aws:s3/bucketPolicy:BucketPolicy", "p", provider=AWS,
                      inputs={"bucket": ref(bucket["urn"], "b-id"), "policy": "{}"})
    _, plan = plan_of([root(), AWS, policy, bucket])
    got = capture(inline_program(plan))
    value = got.props("p")["bucket"]
    assert value[SIG] == RESOURCE_REF_SIG and value["urn"].endswith("::b") and value["id"] == "b-id"
    assert names(got.registered["p"].dependencies) == {"b"}


def test_a_hash_only_asset_is_refused_naming_resource_and_path():
    fn = resource("aws:lambda/function:Function", "fn", provider=AWS,
                  inputs={"code": asset_archive({"handler.js": hash_only_asset()})})
    with pytest.raises(Refused) as err:
        plan_of([root(), AWS, fn])
    assert err.value.exit_code == 3
    assert fn["urn"] in str(err.value) and "code/handler.js" in str(err.value) and "hash" in str(err.value)


def test_an_unknown_value_is_refused():
    topic = resource("aws:sns/topic:Topic", "t", provider=AWS, inputs={"policy": {"arn": UNKNOWN}})
    with pytest.raises(Refused, match=r"::t: input policy\.arn is an unknown value"):
        plan_of([root(), AWS, topic])


def test_a_dependency_cycle_is_refused_naming_it():
    a = resource("aws:s3/bucket:Bucket", "a", provider=AWS, dependencies=[urn("aws:s3/bucket:Bucket", "b")])
    b = resource("aws:s3/bucket:Bucket", "b", provider=AWS, dependencies=[a["urn"]])
    with pytest.raises(Refused, match="dependency cycle") as err:
        plan_of([root(), AWS, a, b])
    assert a["urn"] in str(err.value) and b["urn"] in str(err.value)


def test_a_missing_parent_is_refused():
    orphan = resource("my:app:Service$aws:s3/bucket:Bucket", "orphan", provider=AWS,
                      parent=urn("my:app:Service", "gone"))
    with pytest.raises(Refused, match="parent .*gone is not in the checkpoint"):
        plan_of([root(), AWS, orphan])


def test_an_undecryptable_secret_is_a_secrets_error_without_plaintext():
    path = FIXTURES / "real-world/eks-encryption-provider-1.0.4-ciphertext.json"
    dep = parse_deployment(path.read_bytes(), source=str(path))
    with pytest.raises(SecretsError, match="cannot be decrypted here"):
        build_replay_program(dep, secrets=SecretBox(dep.secrets_provider, source=str(path),
                                                    passphrase=lambda: None))


def test_children_do_not_inherit_a_parents_explicit_provider():
    k8s = resource("pulumi:providers:kubernetes", "blue", inputs={"context": "blue"})
    k8s_default = default_provider("kubernetes", "4.18.0")
    parent = resource("kubernetes:core/v1:Namespace", "ns", provider=k8s)
    child = resource("kubernetes:core/v1:Namespace$kubernetes:core/v1:ConfigMap", "cm", parent=parent["urn"],
                     provider=k8s_default)
    _, plan = plan_of([root(), k8s, k8s_default, parent, child])
    got = capture(inline_program(plan)).registered
    assert got["ns"].provider.endswith("providers:kubernetes::blue::blue-id")
    assert got["cm"].provider == "" and got["cm"].version == "4.18.0"


def test_dynamic_resources_keep_their_serialized_provider_and_providers_lose_their_metadata():
    dyn = resource("pulumi-nodejs:dynamic:Resource", "dyn", provider=default_provider("pulumi-nodejs", "3.0.0"),
                   inputs={"__provider": "exports.handler = ...", "__meta": "x", "value": 7})
    legacy = resource("pulumi:providers:aws", "old-style", inputs={"region": "us-east-1", "version": "4.1.0",
                                                                  "pluginDownloadURL": "s3://plugins/"})
    _, plan = plan_of([root(), dyn, legacy])
    got = capture(inline_program(plan))
    assert got.props("dyn") == {"__provider": "exports.handler = ...", "value": 7}
    assert got.props("old-style") == {"region": "us-east-1"}
    assert got.registered["old-style"].version == "4.1.0"
    assert got.registered["old-style"].pluginDownloadURL == "s3://plugins/"


# -- live references to dependencies' outputs ------------------------------------------------------

TD_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"


def _ecs(*, td_outputs: dict | None = None) -> tuple[dict, dict]:
    td = resource("aws:ecs/taskDefinition:TaskDefinition", "web-td", provider=AWS,
                  inputs={"family": "web", "containerDefinitions": "[]", "skipDestroy": False,
                          "__defaults": ["skipDestroy"]})
    td["outputs"] = td_outputs if td_outputs is not None else {
        "family": "web", "containerDefinitions": "[]", "arn": TD_ARN, "revision": 2, "id": "web"}
    svc = resource("aws:ecs/service:Service", "web", provider=AWS,
                   inputs={"name": "web", "desiredCount": 2, "taskDefinition": TD_ARN},
                   dependencies=[td["urn"]],
                   propertyDependencies={"name": [], "desiredCount": [], "taskDefinition": [td["urn"]]})
    return td, svc


def test_an_input_recorded_from_a_dependencys_output_follows_the_re_registered_dependency():
    td, svc = _ecs()
    _, plan = plan_of([root(), AWS, td, svc])
    service = next(s for s in plan.steps if s.name == "web")
    task = next(s for s in plan.steps if s.name == "web-td")
    (ref,) = service.live_refs
    assert (ref.path, ref.source, ref.output, ref.recorded) == ("taskDefinition", td["urn"], "arn", TD_ARN)
    assert task.exposed_outputs == ("arn",)
    assert service.to_dict()["live_refs"] == [{"path": "taskDefinition", "from": td["urn"], "output": "arn",
                                               "was": TD_ARN, "current": None}]
    assert plan.to_dict()["live_refs"][0]["urn"] == svc["urn"]

    # The engine gives the re-registered task definition a new revision: the service follows it.
    new_arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:4"
    got = capture(inline_program(plan), answers={"web-td": (None, {"arn": new_arn, "revision": 4})})
    assert got.props("web")["taskDefinition"] == new_arn
    assert names(got.registered["web"].propertyDependencies["taskDefinition"].urns) == {"web-td"}
    assert names(got.registered["web"].dependencies) == {"web-td"}
    # the placeholder that makes `arn` readable is not sent as an input
    assert got.props("web-td") == {"family": "web", "containerDefinitions": "[]"}


def test_the_note_says_which_inputs_will_not_keep_their_recorded_value():
    td, svc = _ecs()
    current_td = dict(td, outputs=dict(td["outputs"], arn=TD_ARN.replace(":2", ":3"), revision=3))
    dep = checkpoint([root(), AWS, td, svc])
    plan = build_replay_program(dep, secrets=box(dep), current=checkpoint([root(), AWS, current_td, svc]))
    (ref,) = next(s for s in plan.steps if s.name == "web").live_refs
    assert ref.current == TD_ARN.replace(":2", ":3")
    assert ("aws:ecs/service:Service web: taskDefinition follows the re-registered "
            f"aws:ecs/taskDefinition:TaskDefinition web-td's arn (now {TD_ARN.replace(':2', ':3')}; the target "
            f"recorded {TD_ARN})") in plan.notes
    # nothing to say when the dependency's value is the recorded one
    same = build_replay_program(dep, secrets=box(dep), current=dep)
    assert not any("follows" in n for n in same.notes)


def test_ids_and_auto_names_are_followed_inside_secrets_which_stay_secret():
    creds = resource("aws:secretsmanager/secret:Secret", "db-creds", provider=AWS,
                     inputs={"__defaults": ["name"], "name": "db-creds-7f3a9c1", "description": "db"})
    creds["outputs"] = {"name": "db-creds-7f3a9c1", "description": "db", "id": "arn:aws:sm:db-creds-7f3a9c1-Xy",
                        "arn": "arn:aws:sm:db-creds-7f3a9c1-Xy"}
    creds["id"] = "arn:aws:sm:db-creds-7f3a9c1-Xy"
    fn = resource("aws:lambda/function:Function", "api", provider=AWS, inputs={
        "environment": secret({"variables": {"DB_SECRET_NAME": "db-creds-7f3a9c1", "MODE": "safe"}}),
        "secretArn": "arn:aws:sm:db-creds-7f3a9c1-Xy"},
        propertyDependencies={"environment": [creds["urn"]], "secretArn": [creds["urn"]]})
    _, plan = plan_of([root(), AWS, creds, fn])
    refs = {r.path: r for r in next(s for s in plan.steps if s.name == "api").live_refs}
    assert set(refs) == {"environment.variables.DB_SECRET_NAME", "secretArn"}
    assert refs["environment.variables.DB_SECRET_NAME"].output == "name"     # the auto-name, not the id
    assert refs["environment.variables.DB_SECRET_NAME"].recorded == "[secret]"
    assert refs["secretArn"].output == "arn"                                  # arn and id agree: the arn
    shown = next(r for r in plan.to_dict()["live_refs"] if r["path"].startswith("environment"))
    assert shown["was"] == "[secret]" and "db-creds-7f3a9c1" not in json.dumps(shown).replace(creds["urn"], "")

    got = capture(inline_program(plan), answers={"db-creds": ("arn:aws:sm:db-creds-01b2c3d-Ab",
                                                      {"name": "db-creds-01b2c3d", "arn": "arn:aws:sm:db-creds-01b2c3d-Ab"})})
    env = got.props("api")["environment"]
    assert is_wire_secret(env) and env["value"] == {"variables": {"DB_SECRET_NAME": "db-creds-01b2c3d", "MODE": "safe"}}
    assert got.props("api")["secretArn"] == "arn:aws:sm:db-creds-01b2c3d-Ab"


def test_values_that_do_not_say_where_they_came_from_are_sent_as_recorded():
    role = resource("aws:iam/role:Role", "app", provider=AWS, inputs={"name": "app-role"})
    role["outputs"] = {"name": "app-role", "arn": "arn:aws:iam::1:role/app-role", "maxSessionDuration": 3600}
    sg_a = resource("aws:ec2/securityGroup:SecurityGroup", "a", provider=AWS, inputs={})
    sg_b = resource("aws:ec2/securityGroup:SecurityGroup", "b", provider=AWS, inputs={})
    for sg in (sg_a, sg_b):
        sg["outputs"] = {"vpcId": "vpc-0abc", "port": 443, "enabled": True, "owner": ""}
    use = resource("aws:ec2/instance:Instance", "vm", provider=AWS, inputs={
        "role": "app-role",                 # the role's name is an input the replay sends: already right
        "vpcId": "vpc-0abc",                # equal to an output of two dependencies: ambiguous
        "port": 443, "enabled": True, "owner": "",   # small numbers, booleans, empty strings
        "duration": 3600,                   # the role is not a dependency of this key
        "policy": "arn:aws:iam::1:role/app-role"},  # no property dependency recorded for this key
        propertyDependencies={"role": [role["urn"]], "vpcId": [sg_a["urn"], sg_b["urn"]],
                              "port": [sg_a["urn"]], "enabled": [sg_a["urn"]], "owner": [sg_a["urn"]],
                              "duration": [sg_a["urn"]]})
    _, plan = plan_of([root(), AWS, role, sg_a, sg_b, use])
    assert next(s for s in plan.steps if s.name == "vm").live_refs == ()
    assert all(not s.exposed_outputs for s in plan.steps)
    assert any("vm: vpcId equals outputs of 2 dependencies" in n and "sent as recorded" in n for n in plan.notes)


def test_a_component_with_a_provider_reference_is_refused_not_silently_replaced():
    """A multi-language component (or one that inherited its parent's provider) recorded with a provider: a
    local replay would register it without one, which the engine replaces, with what is deleted with it."""
    comp = resource("awsx:ecs:FargateService", "svc", provider=AWS, custom=False)
    with pytest.raises(Refused) as err:
        plan_of([root(), AWS, comp])
    assert comp["urn"] in str(err.value) and "component with a provider reference" in str(err.value)
    assert "roll it back with its own program" in str(err.value)


def test_an_explicit_providers_env_var_mappings_are_sent_again():
    k8s = resource("pulumi:providers:kubernetes", "cluster", provider=None, inputs={
        "kubeconfig": "{}", "version": "4.25.0",
        "__internal": {"envVarMappings": {"KUBECONFIG_OTHER": "KUBECONFIG"}, "pluginChecksums": {"linux": "ab"}}})
    _, plan = plan_of([root(), k8s])
    step = next(s for s in plan.steps if s.name == "cluster")
    assert step.env_var_mappings == {"KUBECONFIG_OTHER": "KUBECONFIG"}
    assert any("pluginChecksums" in c for c in plan.cannot_restore)
    got = capture(inline_program(plan))
    assert "__internal" not in got.props("cluster")
