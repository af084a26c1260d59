"""The semantic diff of two checkpoints: rules, secrets, ordering, speed, and real Pulumi files."""

from __future__ import annotations

import base64
import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from rollback.diff import DiffResult, diff_deployments
from rollback.errors import SecretsError
from rollback.models import Deployment
from rollback.paths import ANY, format_path, parse_path
from rollback.render.summary import workload_lines
from rollback.rules import DATA_BEARING_TYPES, REPLACE_RULES, is_data_bearing, replacement_reason
from rollback.state.codec import parse_deployment
from rollback.state.secrets import PassphraseCrypter, SecretBox
from rollback.state.values import SECRET_SIG, SIG
from rollback.summary import workload_summary, workloads_to_dicts
from tests.paths import FIXTURES

GOLDEN = Path(__file__).parent / "golden"
REAL = FIXTURES / "real-world"
STACK = "urn:pulumi:prod::omniserve::"
AWS = STACK + "pulumi:providers:aws::default_6_50_0"
AWS_REF = AWS + "::04da6b54-0000-0000-0000-000000000001"
K8S = STACK + "pulumi:providers:kubernetes::default_4_18_0"
K8S_REF = K8S + "::04da6b54-0000-0000-0000-000000000002"
PASSPHRASE = "correct horse battery staple"


# -- building small deployments ------------------------------------------------------------------


def urn(type_: str, name: str) -> str:
    return f"{STACK}{type_}::{name}"


def res(type_: str, name: str, inputs: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    provider = K8S_REF if type_.startswith("kubernetes:") else AWS_REF
    return {"urn": urn(type_, name), "custom": True, "type": type_, "id": f"{name}-id",
            "inputs": inputs or {}, "outputs": {}, "provider": provider, **extra}


def providers(aws: dict[str, Any] | None = None, k8s: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [
        {"urn": STACK + "pulumi:pulumi:Stack::omniserve-prod", "custom": False, "type": "pulumi:pulumi:Stack"},
        {"urn": AWS, "custom": True, "type": "pulumi:providers:aws", "id": AWS_REF.rsplit("::", 1)[1],
         "inputs": aws if aws is not None else {"region": "eu-west-1", "version": "6.50.0"}},
        {"urn": K8S, "custom": True, "type": "pulumi:providers:kubernetes", "id": K8S_REF.rsplit("::", 1)[1],
         "inputs": k8s if k8s is not None else {"version": "4.18.0"}},
    ]


def dep(resources: list[dict[str, Any]], *, secrets: dict[str, Any] | None = None,
        provider_inputs: dict[str, Any] | None = None, source: str = "test") -> Deployment:
    doc = {"version": 3, "deployment": {
        "manifest": {"time": "2025-01-01T00:00:00Z", "magic": "", "version": "v3.150.0"},
        "secrets_providers": secrets or {"type": "b64"},
        "resources": providers(**(provider_inputs or {})) + resources}}
    return parse_deployment(doc, source=source)


def box(d: Deployment, passphrase: str | None = PASSPHRASE) -> SecretBox:
    return SecretBox(d.secrets_provider, source=d.source, passphrase=lambda: passphrase)


def run(current: Deployment, target: Deployment, passphrase: str | None = PASSPHRASE) -> DiffResult:
    return diff_deployments(current, target, current_secrets=box(current, passphrase),
                            target_secrets=box(target, passphrase))


def b64_secret(value: Any, *, text: str | None = None) -> dict[str, Any]:
    plain = text if text is not None else json.dumps(value)
    return {SIG: SECRET_SIG, "ciphertext": base64.b64encode(plain.encode()).decode()}


_CRYPTER, _SALT_STATE = PassphraseCrypter.create(PASSPHRASE, salt=b"omniserv", nonce=b"\x01" * 12)
PASSPHRASE_PROVIDER = {"type": "passphrase", "state": {"salt": _SALT_STATE}}


def pp_secret(value: Any) -> dict[str, Any]:
    """A passphrase ciphertext: a fresh random nonce every call, as Pulumi does."""
    return {SIG: SECRET_SIG, "ciphertext": _CRYPTER.encrypt(json.dumps(value))}


def only(result: DiffResult) -> Any:
    assert len(result.changes) == 1, [c.to_dict() for c in result.changes]
    return result.changes[0]


def props(change: Any) -> dict[str, tuple[Any, Any]]:
    return {p.path: (p.before, p.after) for p in change.properties}


# -- values --------------------------------------------------------------------------------------


def test_numbers_compare_numerically_but_booleans_are_not_numbers() -> None:
    a = dep([res("aws:sqs/queue:Queue", "q", {"delaySeconds": 3, "fifoQueue": True, "maxSize": 1})])
    b = dep([res("aws:sqs/queue:Queue", "q", {"delaySeconds": 3.0, "fifoQueue": True, "maxSize": 1.0})])
    assert run(a, b).changes == ()
    assert run(a, b).unchanged == 3     # 2 providers and the queue (the root stack is not compared)
    c = dep([res("aws:sqs/queue:Queue", "q", {"delaySeconds": 3, "fifoQueue": 1, "maxSize": 1})])
    change = only(run(a, c))
    assert props(change) == {"fifoQueue": (True, 1)}
    assert change.replace_rule == "known-force-new"


def test_reserved_keys_are_ignored_at_any_depth() -> None:
    a = dep([res("aws:lambda/function:Function", "f", {
        "__defaults": [], "__meta": '{"schema_version":"1"}', "runtime": "python3.12",
        "environment": {"__defaults": [], "variables": {"A": "1"}}})])
    b = dep([res("aws:lambda/function:Function", "f", {
        "__defaults": ["timeout"], "runtime": "python3.12",
        "environment": {"variables": {"A": "1", "__internal": "x"}}})])
    assert run(a, b).changes == ()


def test_lists_compare_element_wise_and_paths_quote_odd_keys() -> None:
    a = dep([res("kubernetes:apps/v1:Deployment", "bot", {
        "metadata": {"name": "bot", "labels": {"app.kubernetes.io/name": "bot"}},
        "spec": {"template": {"spec": {"containers": [{"name": "bot", "image": "bot:1.5.0"}]}}}})])
    b = dep([res("kubernetes:apps/v1:Deployment", "bot", {
        "metadata": {"name": "bot", "labels": {"app.kubernetes.io/name": "omni"}},
        "spec": {"template": {"spec": {"containers": [{"name": "bot", "image": "bot:1.4.0"},
                                                      {"name": "side", "image": "side:1"}]}}}})])
    change = only(run(a, b))
    assert change.op == "update"
    assert props(change) == {
        'metadata.labels["app.kubernetes.io/name"]': ("bot", "omni"),
        "spec.template.spec.containers[0].image": ("bot:1.5.0", "bot:1.4.0"),
        "spec.template.spec.containers[1]": (None, {"name": "side", "image": "side:1"}),
    }


def test_json_strings_compare_as_documents() -> None:
    defs_a = json.dumps([{"name": "web", "image": "web:2", "memory": 512, "essential": True}])
    defs_b = json.dumps([{"essential": True, "memory": 512.0, "image": "web:2", "name": "web"}], indent=2)
    td = "aws:ecs/taskDefinition:TaskDefinition"
    assert run(dep([res(td, "web", {"containerDefinitions": defs_a})]),
               dep([res(td, "web", {"containerDefinitions": defs_b})])).changes == ()
    defs_c = json.dumps([{"name": "web", "image": "web:1", "memory": 512, "essential": True}])
    change = only(run(dep([res(td, "web", {"containerDefinitions": defs_a})]),
                      dep([res(td, "web", {"containerDefinitions": defs_c})])))
    assert props(change) == {"containerDefinitions[0].image": ("web:2", "web:1")}


def test_paths_format_and_parse_like_pulumi() -> None:
    assert format_path(("spec", "template", "spec", "containers", 0, "image")) == "spec.template.spec.containers[0].image"
    assert format_path(("metadata", "annotations", "pulumi.com/autonamed")) == 'metadata.annotations["pulumi.com/autonamed"]'
    assert format_path(("a.b",)) == '["a.b"]'
    assert parse_path('metadata.annotations["pulumi.com/autonamed"]') == ("metadata", "annotations", "pulumi.com/autonamed")
    assert parse_path("spec.containers[*].image") == ("spec", "containers", ANY, "image")
    assert parse_path("tags[0]") == ("tags", 0)
    with pytest.raises(ValueError):
        parse_path("a.")


# -- create, delete, replace, order ------------------------------------------------------------------


def test_create_and_delete_from_the_rollbacks_point_of_view() -> None:
    current = dep([res("aws:lambda/function:Function", "new-in-bad-release", {"runtime": "python3.12"})])
    target = dep([res("aws:lambda/function:Function", "deleted-by-bad-release", {"runtime": "python3.12"})])
    result = run(current, target)
    assert [(c.op, c.name) for c in result.changes] == [("delete", "new-in-bad-release"),
                                                        ("create", "deleted-by-bad-release")]
    assert result.to_dict()["summary"]["create"] == 1
    assert result.to_dict()["summary"]["delete"] == 1


def test_data_bearing_deletes_and_replacements_come_first_and_are_data_loss() -> None:
    current = dep([
        res("aws:lambda/function:Function", "a-fn", {"runtime": "python3.12"}),
        res("aws:rds/instance:Instance", "z-db", {"engine": "postgres", "identifier": "omni"}),
        res("aws:s3/bucketV2:BucketV2", "m-bucket", {"bucket": "omni-new"}),
        res("aws:iam/role:Role", "b-role", {"description": "x"}),
    ])
    target = dep([
        res("aws:s3/bucketV2:BucketV2", "m-bucket", {"bucket": "omni-old"}),
        res("aws:iam/role:Role", "b-role", {"description": "y"}),
    ])
    result = run(current, target)
    assert [(c.op, c.name, c.data_bearing) for c in result.changes] == [
        ("delete", "z-db", True), ("replace", "m-bucket", True), ("delete", "a-fn", False),
        ("update", "b-role", False)]
    bucket = result.changes[1]
    assert bucket.replace_reason == "physical-name-change: bucket changed; it pins the physical resource"
    loss = result.to_dict()["summary"]["data_loss"]
    assert [(d["urn"], d["op"]) for d in loss] == [(urn("aws:rds/instance:Instance", "z-db"), "delete"),
                                                  (urn("aws:s3/bucketV2:BucketV2", "m-bucket"), "replace")]
    assert "physical-name-change" in loss[1]["reason"]


def test_ecs_task_definition_changes_are_replacements_except_tags() -> None:
    td = "aws:ecs/taskDefinition:TaskDefinition"
    a = dep([res(td, "web", {"family": "web", "cpu": "256", "tags": {"team": "a"}})])
    assert only(run(a, dep([res(td, "web", {"family": "web", "cpu": "512", "tags": {"team": "a"}})]))
                ).replace_rule == "ecs-task-definition-immutable"
    tags_only = only(run(a, dep([res(td, "web", {"family": "web", "cpu": "256", "tags": {"team": "b"}})])))
    assert (tags_only.op, tags_only.replace_reason) == ("update", None)


def deployment(selector: str = "bot", image: str = "bot:1", **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "bot", "namespace": "omniserve", **meta},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": selector}},
                     "template": {"spec": {"containers": [{"name": "bot", "image": image}]}}}}


@pytest.mark.parametrize("before,after,rule", [
    (deployment(), deployment(selector="omni"), "kubernetes-immutable-field"),
    (deployment(), dict(deployment(), metadata={"name": "bot2", "namespace": "omniserve"}), "kubernetes-immutable-field"),
    (deployment(), deployment(image="bot:0"), None),
])
def test_kubernetes_immutable_fields(before: dict[str, Any], after: dict[str, Any], rule: str | None) -> None:
    t = "kubernetes:apps/v1:Deployment"
    change = only(run(dep([res(t, "bot", before)]), dep([res(t, "bot", after)])))
    assert change.replace_rule == rule


def test_replace_on_changes_of_the_target_fires() -> None:
    t = "kubernetes:apps/v1:Deployment"
    change = only(run(dep([res(t, "bot", deployment())]),
                      dep([res(t, "bot", deployment(image="bot:0"),
                               replaceOnChanges=["spec.template.spec.containers[*].image"])])))
    assert change.replace_reason == "replace-on-changes: replaceOnChanges covers spec.template.spec.containers[0].image"


@pytest.mark.parametrize("kind,before,after,provider,op", [
    ("PersistentVolumeClaim", {"spec": {"resources": {"requests": {"storage": "10Gi"}}}},
     {"spec": {"resources": {"requests": {"storage": "20Gi"}}}}, {}, "update"),
    ("PersistentVolumeClaim", {"spec": {"storageClassName": "gp2"}}, {"spec": {"storageClassName": "gp3"}}, {}, "replace"),
    ("ConfigMap", {"data": {"a": "1"}}, {"data": {"a": "2"}}, {}, "replace"),
    ("ConfigMap", {"data": {"a": "1"}}, {"data": {"a": "2"}}, {"enableConfigMapMutable": "true"}, "update"),
    ("ConfigMap", {"data": {"a": "1"}, "immutable": True}, {"data": {"a": "2"}, "immutable": True},
     {"enableConfigMapMutable": "true"}, "replace"),
    ("Service", {"spec": {"type": "ClusterIP"}}, {"spec": {"type": "ExternalName"}}, {}, "replace"),
    ("Service", {"spec": {"type": "ClusterIP"}}, {"spec": {"type": "LoadBalancer"}}, {}, "update"),
])
def test_kubernetes_kind_specific_rules(kind: str, before: dict[str, Any], after: dict[str, Any],
                                        provider: dict[str, Any], op: str) -> None:
    t = f"kubernetes:core/v1:{kind}"
    k8s = {"version": "4.18.0", **provider}
    change = only(run(dep([res(t, "x", before)], provider_inputs={"k8s": k8s}),
                      dep([res(t, "x", after)], provider_inputs={"k8s": k8s})))
    assert change.op == op
    if op == "replace":
        assert change.replace_rule == "kubernetes-immutable-field"


def test_a_pvc_replacement_is_data_loss() -> None:
    t = "kubernetes:core/v1:PersistentVolumeClaim"
    result = run(dep([res(t, "data", {"spec": {"storageClassName": "gp2"}})]),
                 dep([res(t, "data", {"spec": {"storageClassName": "gp3"}})]))
    assert result.to_dict()["summary"]["data_loss"][0]["op"] == "replace"


def test_provider_defaults_kept_on_both_sides_are_not_changes() -> None:
    lg = "aws:cloudwatch/logGroup:LogGroup"
    a = dep([res(lg, "logs", {"__defaults": ["name"], "name": "logs-1a2b3c", "retentionInDays": 7})])
    b = dep([res(lg, "logs", {"__defaults": ["name"], "name": "logs-9f8e7d", "retentionInDays": 7})])
    result = run(a, b)
    assert result.changes == ()
    assert result.to_dict()["summary"]["defaults_kept"] == 1
    # Explicit now, provider-filled in the target: the replay sends nothing, the provider makes a new
    # name: a replacement.
    explicit = dep([res(lg, "logs", {"__defaults": [], "name": "my-logs", "retentionInDays": 7})])
    assert only(run(explicit, b)).replace_rule == "physical-name-change"


def test_a_default_filled_now_and_unset_in_the_target_is_kept() -> None:
    cluster = "aws:eks/cluster:Cluster"
    now = dep([res(cluster, "eks", {"__defaults": ["bootstrapSelfManagedAddons"], "bootstrapSelfManagedAddons": True,
                                    "version": "1.30"})])
    then = dep([res(cluster, "eks", {"__defaults": [], "version": "1.29"})])
    change = only(run(now, then))
    assert props(change) == {"version": ("1.30", "1.29")}
    assert run(now, then).defaults_kept == ((urn(cluster, "eks"), "bootstrapSelfManagedAddons"),)
    # Set explicitly now and unset in the target: the replay stops sending it, that is a change.
    explicit = dep([res(cluster, "eks", {"__defaults": [], "bootstrapSelfManagedAddons": True, "version": "1.29"})])
    assert props(only(run(explicit, then))) == {"bootstrapSelfManagedAddons": (True, None)}


def test_external_reads_are_not_data_loss() -> None:
    table = res("aws:dynamodb/table:Table", "shared", {"name": "shared"}, external=True)
    result = run(dep([table]), dep([]))
    assert (only(result).op, only(result).data_bearing) == ("delete", True)
    assert result.to_dict()["summary"]["data_loss"] == []


def test_an_unset_kubernetes_namespace_is_the_default_one() -> None:
    t = "kubernetes:core/v1:PersistentVolumeClaim"
    now = dep([res(t, "data", {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}})])
    then = dep([res(t, "data", {"metadata": {"name": "data", "namespace": "default"},
                                "spec": {"resources": {"requests": {"storage": "2Gi"}}}})])
    change = only(run(now, then))
    assert (change.op, change.replace_reason) == ("update", None)
    moved = dep([res(t, "data", {"metadata": {"name": "data", "namespace": "omniserve"},
                                 "spec": {"resources": {"requests": {"storage": "1Gi"}}}})])
    assert only(run(now, moved)).replace_reason == "kubernetes-immutable-field: metadata.namespace changed"


def test_provider_change_replaces_only_when_the_configuration_forces_it() -> None:
    q = res("aws:sqs/queue:Queue", "q", {"name": "q"})
    same = run(dep([q]), dep([q], provider_inputs={"aws": {"region": "eu-west-1", "version": "6.60.0"}}))
    # Same provider URN, only its plugin version differs: the provider updates, the queue stays.
    assert [(c.op, c.type, props(c)) for c in same.changes] == [
        ("update", "pulumi:providers:aws", {"version": ("6.50.0", "6.60.0")})]
    other = copy.deepcopy(q)
    other["provider"] = STACK + "pulumi:providers:aws::eu-central::1234"
    target = dep([other, {"urn": STACK + "pulumi:providers:aws::eu-central", "custom": True,
                          "type": "pulumi:providers:aws", "id": "1234",
                          "inputs": {"region": "eu-central-1", "version": "6.50.0"}}])
    result = run(dep([q]), target)
    queue = next(c for c in result.changes if c.name == "q")
    assert queue.replace_reason == "provider-change: provider default_6_50_0 -> eu-central: region differ"
    assert queue.data_bearing
    assert any("region differ, which replaces them" in w for w in result.warnings)
    version_only = copy.deepcopy(target.resources[-1].raw)
    version_only["inputs"] = {"region": "eu-west-1", "version": "6.40.0"}
    result = run(dep([q]), dep([other, version_only]))
    assert [c.op for c in result.changes if c.name == "q"] == []
    assert any("same configuration" in w for w in result.warnings)


def test_pending_replacement_and_pending_deletes_are_flagged() -> None:
    db = res("aws:rds/instance:Instance", "db", {"engine": "postgres"})
    current = dep([dict(db, pendingReplacement=True), dict(db, id="old-db", delete=True)])
    result = run(current, dep([db]))
    change = only(result)
    assert (change.op, change.replace_rule) == ("replace", "pending-replacement")
    loss = result.to_dict()["summary"]["data_loss"]
    assert len(loss) == 2 and "pending deletion" in loss[1]["reason"]
    assert any("pending deletion" in w for w in result.warnings)


def test_protected_resources_that_would_go_are_flagged() -> None:
    current = dep([res("aws:dynamodb/table:Table", "t", {"name": "t"}, protect=True)])
    result = run(current, dep([]))
    change = only(result)
    assert (change.op, change.protected, change.data_bearing) == ("delete", True, True)
    assert result.to_dict()["summary"]["protected"] == [{"urn": change.urn, "type": change.type, "op": "delete"}]
    assert any("is protected" in w for w in result.warnings)


def test_ignored_paths_of_the_target_do_not_roll_back() -> None:
    t = "aws:lambda/function:Function"
    result = run(dep([res(t, "f", {"runtime": "python3.12", "tags": {"v": "2"}})]),
                 dep([res(t, "f", {"runtime": "python3.11", "tags": {"v": "1"}}, ignoreChanges=["tags"])]))
    assert props(only(result)) == {"runtime": ("python3.12", "python3.11")}
    assert any("tags.v differs but the target ignores changes to tags (ignoreChanges): it will not roll back" in w
               for w in result.warnings)


def test_rules_table_has_named_described_rules() -> None:
    names = [r.name for r in REPLACE_RULES]
    assert len(set(names)) == len(names)
    assert {"ecs-task-definition-immutable", "kubernetes-immutable-field", "physical-name-change",
            "replace-on-changes", "provider-change"} <= set(names)
    assert all(r.description and "\n" not in r.description for r in REPLACE_RULES)
    assert replacement_reason("aws:s3/bucket:Bucket", ["tags.team"], None, None) is None


def test_data_bearing_types_match_sensibly() -> None:
    assert "aws:sqs/queue:Queue" in DATA_BEARING_TYPES
    assert is_data_bearing("aws:rds/Instance:Instance")                       # older module casing
    assert is_data_bearing("azure-native:storage/v20230101:StorageAccount")   # versioned module
    assert is_data_bearing("kubernetes:core/v1:PersistentVolumeClaim")
    assert not is_data_bearing("aws:lambda/function:Function")
    sts = "kubernetes:apps/v1:StatefulSet"
    claims = {"volumeClaimTemplates": [{"metadata": {"name": "data"}}]}
    assert not is_data_bearing(sts, {"spec": claims})
    assert is_data_bearing(sts, {"spec": dict(claims, persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete"})})


# -- secrets ------------------------------------------------------------------------------------------


def test_secrets_compare_by_value_not_ciphertext_b64() -> None:
    t = "aws:ssm/parameter:Parameter"
    a = dep([res(t, "p", {"value": b64_secret({"user": "omni", "port": 5432})})])
    b = dep([res(t, "p", {"value": b64_secret(None, text='{ "port": 5432.0, "user": "omni" }')})])
    assert a.resources[-1].raw["inputs"] != b.resources[-1].raw["inputs"]
    assert run(a, b).changes == ()


def test_secrets_compare_by_value_not_ciphertext_passphrase() -> None:
    t = "kubernetes:core/v1:Secret"
    a = dep([res(t, "db", {"stringData": pp_secret({"password": "hunter2"})})], secrets=PASSPHRASE_PROVIDER)
    b = dep([res(t, "db", {"stringData": pp_secret({"password": "hunter2"})})], secrets=PASSPHRASE_PROVIDER)
    assert a.resources[-1].raw != b.resources[-1].raw       # fresh nonces: different ciphertexts
    assert run(a, b).changes == ()
    c = dep([res(t, "db", {"stringData": pp_secret({"password": "correct-horse"})})], secrets=PASSPHRASE_PROVIDER)
    change = only(run(a, c))
    assert [p.to_dict() for p in change.properties] == [
        {"path": "stringData", "before": "[secret]", "after": "[secret]", "secret": True}]
    assert change.replace_rule == "kubernetes-immutable-field"


def test_without_a_passphrase_secrets_are_listed_as_uncompared() -> None:
    t = "kubernetes:core/v1:Secret"
    a = dep([res(t, "db", {"type": "Opaque", "stringData": pp_secret({"password": "hunter2"})})],
            secrets=PASSPHRASE_PROVIDER)
    b = dep([res(t, "db", {"type": "Opaque", "stringData": pp_secret({"password": "other"})})],
            secrets=PASSPHRASE_PROVIDER)
    result = run(a, b, passphrase=None)
    assert result.changes == ()
    assert [(u.urn, u.path) for u in result.uncompared_secrets] == [(urn(t, "db"), "stringData")]
    (listed,) = result.to_dict()["summary"]["uncompared_secrets"]
    assert (listed["urn"], listed["path"]) == (urn(t, "db"), "stringData") and "passphrase" in listed["reason"]
    assert result.warnings == ((f"secret at {urn(t, 'db')} stringData could not be compared: no passphrase "
                               f"(set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE)"),)


def test_a_wrong_passphrase_is_an_error() -> None:
    t = "kubernetes:core/v1:Secret"
    a = dep([res(t, "db", {"stringData": pp_secret({"password": "hunter2"})})], secrets=PASSPHRASE_PROVIDER)
    b = dep([res(t, "db", {"stringData": pp_secret({"password": "other"})})], secrets=PASSPHRASE_PROVIDER)
    with pytest.raises(SecretsError) as err:
        run(a, b, passphrase="wrong")
    assert err.value.exit_code == 2


def test_no_plaintext_anywhere_in_the_result() -> None:
    plaintexts = ["hunter2", "s3cr3t-token", "sk_live_123", "db.internal:5432"]
    t = "kubernetes:apps/v1:Deployment"
    before = deployment()
    before["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "TOKEN", "value": pp_secret("s3cr3t-token")}]
    after = deployment()
    after["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "TOKEN", "value": pp_secret("hunter2")}, {"name": "STRIPE", "value": pp_secret("sk_live_123")}]
    current = dep([res(t, "bot", before),
                   res("aws:ssm/parameter:Parameter", "p", {"value": "plain", "tags": pp_secret({"x": "hunter2"})}),
                   res("aws:ssm/parameter:Parameter", "gone", {"value": pp_secret("sk_live_123")})],
                  secrets=PASSPHRASE_PROVIDER)
    target = dep([res(t, "bot", after),
                  res("aws:ssm/parameter:Parameter", "p", {"value": pp_secret("db.internal:5432"), "tags": {"x": "y"}}),
                  res("aws:ssm/parameter:Parameter", "new", {"value": pp_secret("hunter2")})],
                 secrets=PASSPHRASE_PROVIDER)
    result = run(current, target)
    text = json.dumps(result.to_dict()) + "\n".join(result.warnings)
    workloads = workload_summary(current, target, current_secrets=box(current), target_secrets=box(target))
    text += json.dumps(workloads_to_dicts(workloads)) + "\n".join(workload_lines(workloads))
    for secret in plaintexts:
        assert secret not in text
    by_name = {c.name: c for c in result.changes}
    assert props(by_name["bot"]) == {
        "spec.template.spec.containers[0].env[0].value": ("[secret]", "[secret]"),
        "spec.template.spec.containers[0].env[1]": (None, {"name": "STRIPE", "value": "[secret]"})}
    assert all(p.secret for p in by_name["bot"].properties)
    assert props(by_name["p"]) == {"tags": ("[secret]", "[secret]"), "value": ("[secret]", "[secret]")}


# -- speed --------------------------------------------------------------------------------------------


def test_five_thousand_resources_diff_fast() -> None:
    def many(image: str, secret_of: Any) -> Deployment:
        rs = []
        for i in range(5000):
            d = deployment(image=image if i % 10 == 0 else "bot:1")
            d["metadata"]["name"] = f"bot-{i}"
            d["spec"]["template"]["spec"]["containers"][0]["env"] = [
                {"name": f"V{j}", "value": str(j)} for j in range(10)] + [{"name": "S", "value": secret_of(i)}]
            rs.append(res("kubernetes:apps/v1:Deployment", f"bot-{i}", d))
        return dep(rs, secrets={"type": "b64"})

    fixed = {i: b64_secret("same") for i in range(5000)}
    current, target = many("bot:2", fixed.__getitem__), many("bot:3", fixed.__getitem__)
    start = time.perf_counter()
    result = run(current, target)
    elapsed = time.perf_counter() - start
    assert len(result.changes) == 500
    assert elapsed < 2.0, elapsed


# -- real Pulumi files ----------------------------------------------------------------------------------

PAIRS = {
    "awsx-2024-04-to-2024-05": ("awsx-ts-lb-simple-ecs-2024-04.json", "awsx-ts-lb-simple-ecs-2024-05.json"),
    "awsx-2024-05-to-2024-04": ("awsx-ts-lb-simple-ecs-2024-05.json", "awsx-ts-lb-simple-ecs-2024-04.json"),
    "eks-2.5.2-to-3.0.0": ("eks-encryption-provider-2.5.2-plaintext.json", "eks-encryption-provider-3.0.0-plaintext.json"),
    "eks-3.0.0-to-2.5.2": ("eks-encryption-provider-3.0.0-plaintext.json", "eks-encryption-provider-2.5.2-plaintext.json"),
}


def load(name: str) -> Deployment:
    return parse_deployment((REAL / name).read_bytes(), source=name)


def check_golden(path: Path, text: str) -> None:
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run the tests with UPDATE_GOLDEN=1 and read it"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", sorted(PAIRS))
def test_real_state_files_against_golden(case: str) -> None:
    current, target = (load(n) for n in PAIRS[case])
    result = run(current, target, passphrase=None)
    check_golden(GOLDEN / f"{case}.json", json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
    workloads = workload_summary(current, target, current_secrets=box(current, None), target_secrets=box(target, None))
    check_golden(GOLDEN / f"{case}.summary.txt", "\n".join(workload_lines(workloads)) + "\n")


def _plaintexts(doc: Any) -> set[str]:
    """Every secret plaintext in a state file, plus the strings inside it (and base64-decoded ones)."""
    found: set[str] = set()

    def strings(v: Any) -> None:
        if isinstance(v, str):
            found.add(v)
            try:
                found.add(base64.b64decode(v, validate=True).decode())
            except (ValueError, UnicodeDecodeError):
                pass        # not base64 text: the string itself is enough
        elif isinstance(v, dict):
            for x in v.values():
                strings(x)
        elif isinstance(v, list):
            for x in v:
                strings(x)

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            if v.get(SIG) == SECRET_SIG and "plaintext" in v:
                found.add(v["plaintext"])
                strings(json.loads(v["plaintext"]))
                return
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(doc)
    return {s for s in found if len(s) >= 8}


def test_plaintext_secrets_of_real_files_are_never_printed() -> None:
    a, b = PAIRS["eks-2.5.2-to-3.0.0"]
    secrets = _plaintexts(json.loads((REAL / a).read_text())) | _plaintexts(json.loads((REAL / b).read_text()))
    assert any("dbPassword" in s for s in secrets) and len(secrets) >= 6
    for current, target in ((load(a), load(b)), (load(b), load(a))):
        result = run(current, target, passphrase=None)
        workloads = workload_summary(current, target, current_secrets=box(current, None),
                                     target_secrets=box(target, None))
        text = (json.dumps(result.to_dict()) + json.dumps(workloads_to_dicts(workloads))
                + "\n".join(workload_lines(workloads)))
        leaked = [s for s in secrets if s in text]
        assert leaked == []
        secret_change = next(c for c in result.changes if c.type == "kubernetes:core/v1:Secret")
        assert {"path": "data", "before": "[secret]", "after": "[secret]", "secret": True} in \
            [p.to_dict() for p in secret_change.properties]


def test_real_ciphertexts_without_a_passphrase() -> None:
    name = "eks-encryption-provider-1.0.4-ciphertext.json"
    doc = json.loads((REAL / name).read_text())
    same = run(parse_deployment(doc, source="a"), parse_deployment(copy.deepcopy(doc), source="b"), passphrase=None)
    assert (same.changes, same.warnings) == ((), ())       # identical: nothing decrypted, nothing to say
    changed = copy.deepcopy(doc)
    deployment_res = next(r for r in changed["deployment"]["resources"]
                          if r["type"] == "kubernetes:apps/v1:Deployment")
    deployment_res["inputs"]["spec"]["ciphertext"] = "v1:AAAAAAAAAAAAAAAA:AAAA"
    result = run(parse_deployment(doc, source="a"), parse_deployment(changed, source="b"), passphrase=None)
    assert result.changes == ()
    assert [(u.urn, u.path) for u in result.uncompared_secrets] == [(deployment_res["urn"], "spec")]
    assert "could not be compared: no passphrase" in result.warnings[0]


def test_a_reference_to_a_replaced_dependency_follows_it_and_an_unchanged_one_is_no_change() -> None:
    """Compare what an input points at, not the literal id: ECS task definitions by content, never revision."""
    from rollback.state.codec import parse_deployment
    from rollback.state.secrets import SecretBox

    def dep(revision: int, image: str, role_suffix: str) -> Any:
        td = f"arn:aws:ecs:us-east-1:1:task-definition/bot:{revision}"
        role = f"arn:aws:iam::1:role/exec-{role_suffix}"
        stack = "urn:pulumi:p::proj::pulumi:pulumi:Stack::proj-p"
        return parse_deployment({"version": 3, "deployment": {"resources": [
            {"urn": stack, "type": "pulumi:pulumi:Stack", "custom": False},
            {"urn": "urn:pulumi:p::proj::aws:iam/role:Role::exec", "type": "aws:iam/role:Role", "custom": True,
             "id": f"exec-{role_suffix}", "inputs": {"assumeRolePolicy": "{}"}, "outputs": {"arn": role}},
            {"urn": "urn:pulumi:p::proj::aws:ecs/taskDefinition:TaskDefinition::bot",
             "type": "aws:ecs/taskDefinition:TaskDefinition", "custom": True, "id": "bot",
             "inputs": {"family": "bot", "executionRoleArn": role,
                        "containerDefinitions": json.dumps([{"name": "bot", "image": image}])},
             "outputs": {"arn": td, "revision": revision},
             "propertyDependencies": {"executionRoleArn": ["urn:pulumi:p::proj::aws:iam/role:Role::exec"]}},
            {"urn": "urn:pulumi:p::proj::aws:ecs/service:Service::bot", "type": "aws:ecs/service:Service",
             "custom": True, "id": "svc", "inputs": {"taskDefinition": td, "desiredCount": 2},
             "propertyDependencies": {
                 "taskDefinition": ["urn:pulumi:p::proj::aws:ecs/taskDefinition:TaskDefinition::bot"]}},
        ]}}, source=f"rev{revision}")

    box = SecretBox(None, source="x")
    # The bad release registered revision 3 (and the role was recreated with a new name suffix, same content).
    now, then = dep(3, "bot:1.5.0", "b2"), dep(2, "bot:1.4.0", "a1")
    result = diff_deployments(now, then, current_secrets=box, target_secrets=box).to_dict()
    by_type = {c["type"]: c for c in result["changes"]}
    assert set(by_type) == {"aws:ecs/taskDefinition:TaskDefinition", "aws:ecs/service:Service"}
    service = by_type["aws:ecs/service:Service"]["properties"]
    assert service == [{"path": "taskDefinition", "before": "arn:aws:ecs:us-east-1:1:task-definition/bot:3",
                        "after": "[arn of the new aws:ecs/taskDefinition:TaskDefinition bot]"}]
    td_paths = [p["path"] for p in by_type["aws:ecs/taskDefinition:TaskDefinition"]["properties"]]
    assert "executionRoleArn" not in td_paths          # the same role (by content), whatever its ARN

    # The same release again, only with revision numbers apart: no change at all.
    same = diff_deployments(dep(3, "bot:1.4.0", "b2"), dep(2, "bot:1.4.0", "a1"), current_secrets=box,
                            target_secrets=box)
    assert same.changes == ()
