"""Parsing the infra-rollback:health stack config value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollback.errors import BadInput
from rollback.health.spec import (
    CloudWatchAlarmsSpec,
    EcsServiceSpec,
    HttpSpec,
    KubernetesRolloutSpec,
    SecureValue,
    Threshold,
    load_health_spec,
    parse_health_spec,
)
from rollback.stackconfig import read_stack_config, stack_config_path
from tests.paths import ROOT as REPO

GOOD = {
    "timeout": 120,
    "interval": 2,
    "gates": [
        {"kind": "kubernetes-rollout", "namespace": "omniserve", "deployment": "omniserve", "context": "prod"},
        {"kind": "ecs-service", "cluster": "omniserve-prod", "service": "omniserve", "region": "us-east-1"},
        {"kind": "http", "url": "https://omniserve.example.com/metrics/triage?token=abc",
         "thresholds": [{"metric": "tags.urgent_escalation_share", "max": 0.2},
                        {"metric": "latency.p99", "min": 0, "max": 800}],
         "headers": {"Authorization": {"secure": "v1:abc:def"}, "X-Env": "prod"}},
        {"kind": "cloudwatch-alarms", "alarms": ["a-errors", "a-targets"]},
    ],
}


def test_every_gate_kind_is_parsed_into_frozen_dataclasses() -> None:
    spec = parse_health_spec(GOOD)
    assert (spec.timeout, spec.interval) == (120.0, 2.0)
    k8s, ecs, http, cw = spec.gates
    assert k8s == KubernetesRolloutSpec(namespace="omniserve", deployment="omniserve", context="prod")
    assert k8s.label == "omniserve/omniserve"
    assert ecs == EcsServiceSpec(cluster="omniserve-prod", service="omniserve", region="us-east-1")
    assert isinstance(http, HttpSpec)
    assert http.thresholds == (Threshold("tags.urgent_escalation_share", max=0.2),
                               Threshold("latency.p99", max=800.0, min=0.0))
    assert dict(http.headers)["X-Env"] == "prod"
    assert isinstance(dict(http.headers)["Authorization"], SecureValue)
    assert "token=abc" not in http.label and http.label == "https://omniserve.example.com/metrics/triage"
    assert cw == CloudWatchAlarmsSpec(alarms=("a-errors", "a-targets"))
    assert spec.has_secrets
    with pytest.raises(AttributeError):
        spec.timeout = 1  # type: ignore[misc]


def test_the_versioned_prod_stack_config_declares_four_gates() -> None:
    path = stack_config_path(REPO, "organization/omniserve/prod")
    assert path == REPO / "stacks" / "Pulumi.prod.yaml"
    spec = load_health_spec(read_stack_config(path))
    assert spec is not None
    assert [g.kind for g in spec.gates] == ["kubernetes-rollout", "ecs-service", "http", "cloudwatch-alarms"]
    assert spec.timeout == 600


def test_load_accepts_the_config_mapping_the_whole_file_or_json_text_and_none_without_gates() -> None:
    assert load_health_spec({"infra-rollback:health": GOOD}) == parse_health_spec(GOOD)
    assert load_health_spec({"config": {"infra-rollback:health": GOOD}}) == parse_health_spec(GOOD)
    assert load_health_spec({"infra-rollback:health": json.dumps(GOOD)}) == parse_health_spec(GOOD)
    assert load_health_spec({"config": {"aws:region": "us-east-1"}}) is None
    assert load_health_spec({}) is None
    defaults = parse_health_spec({"gates": [{"kind": "cloudwatch-alarms", "alarms": ["x"]}]})
    assert (defaults.timeout, defaults.interval) == (600.0, 5.0)


@pytest.mark.parametrize(("gates_or_value", "message"), [
    ({"gates": [{"kind": "ecs-service", "cluster": "c"}]},
     "infra-rollback:health: gates[0] (ecs-service): service: is required"),
    ({"gates": [{"kind": "ecs-service", "cluster": "c", "service": "s"}, {"kind": "dns", "host": "x"}]},
     "infra-rollback:health: gates[1]: kind: 'dns' is not a known gate kind"),
    ({"gates": [{"namespace": "n"}]}, "gates[0]: kind: is required"),
    ({"gates": [{"kind": "http", "url": "https://x/m", "thresholds": [{"metric": "a.b", "max": "high"}]}]},
     "gates[0] (http): thresholds[0].max: 'high' is not a number"),
    ({"gates": [{"kind": "http", "url": "https://x/m", "thresholds": [{"metric": "a.b"}]}]},
     "gates[0] (http): thresholds[0]: needs max and/or min"),
    ({"gates": [{"kind": "http", "url": "https://x/m", "thresholds": [{"metric": "a", "min": 2, "max": 1}]}]},
     "thresholds[0]: min 2 is greater than max 1"),
    ({"gates": [{"kind": "http", "url": "file:///etc/passwd"}]}, "gates[0] (http): url: 'file:///etc/passwd' is not an http"),
    ({"gates": [{"kind": "kubernetes-rollout", "namespace": "n", "deployment": "d", "contxt": "x"}]},
     "gates[0] (kubernetes-rollout): contxt: unknown key"),
    ({"gates": [{"kind": "cloudwatch-alarms", "alarms": []}]}, "gates[0] (cloudwatch-alarms): alarms: is required"),
    ({"gates": []}, "infra-rollback:health: gates: is required"),
    ({"timeout": -1, "gates": [{"kind": "cloudwatch-alarms", "alarms": ["a"]}]},
     "infra-rollback:health: timeout: -1 must be greater than 0"),
    ({"interval": True, "gates": [{"kind": "cloudwatch-alarms", "alarms": ["a"]}]}, "interval: True is not a number"),
    ({"secure": "v1:abc"}, "infra-rollback:health: must not be a secret"),
    (["not", "a", "mapping"], "is not a mapping"),
])
def test_malformed_gates_are_one_line_bad_input_naming_index_and_key(gates_or_value: object, message: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_health_spec(gates_or_value)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert err.value.exit_code == 2


def test_a_secret_value_where_none_is_allowed_is_refused_without_showing_it() -> None:
    with pytest.raises(BadInput) as err:
        parse_health_spec({"gates": [{"kind": "http", "url": {"secure": "v1:c2VjcmV0"}}]})
    assert "url: must not be a secret" in str(err.value)
    assert "c2VjcmV0" not in str(err.value)


def test_error_messages_name_the_stack_file_when_given(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config:\n  infra-rollback:health:\n    gates:\n      - kind: http\n")
    with pytest.raises(BadInput, match=r"Pulumi\.dev\.yaml: infra-rollback:health: gates\[0\] \(http\): url: is required"):
        load_health_spec(read_stack_config(path), source=f"{path}: infra-rollback:health")
    with pytest.raises(BadInput, match="stack config file not found"):
        read_stack_config(tmp_path / "Pulumi.nope.yaml")
