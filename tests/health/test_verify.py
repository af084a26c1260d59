"""The Verify action: finding the stack's gates, overrides, secrets, and what it imports."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest

from rollback.actions.verify import Verify
from rollback.errors import BadInput, SecretsError
from rollback.health.expect import Expectations
from rollback.health.runner import Gate, GateResult
from rollback.health.spec import HealthSpec
from tests.health.conftest import FakeClock
from tests.health.targets import k8s_deployment, target
from tests.paths import ROOT

ONE_GATE = {"infra-rollback:health": {"timeout": 100, "interval": 10,
                                      "gates": [{"kind": "cloudwatch-alarms", "alarms": ["a"]}]}}


class Progressing:
    name, kind = "a", "cloudwatch-alarms"

    def check(self) -> GateResult:
        return GateResult.progressing("alarm a is INSUFFICIENT_DATA")


def test_a_stack_without_gates_is_bad_input_saying_where_to_declare_them() -> None:
    with pytest.raises(BadInput) as err:
        Verify(config={"config": {"aws:region": "us-east-1"}}).run("organization/omniserve/dev")
    assert str(err.value) == ("stack organization/omniserve/dev declares no health gates (add "
                              "infra-rollback:health with gates to its stack config, e.g. stacks/Pulumi.dev.yaml)")
    assert err.value.exit_code == 2


def test_timeout_and_interval_from_config_unless_overridden() -> None:
    seen: list[Any] = []

    def gates_for(spec: HealthSpec, expectations: Expectations | None) -> Sequence[Gate]:
        seen.append((spec, expectations))
        return [Progressing()]

    clock = FakeClock()
    report = Verify(config=ONE_GATE, clock=clock, sleep=clock.sleep, gates_for=gates_for).run("prod")
    assert report.timed_out and report.elapsed_seconds == 100 and clock.sleeps == [10] * 10
    assert seen[0][1] is None                        # no target, no expectations

    clock = FakeClock()
    report = Verify(config=ONE_GATE, timeout=15, interval=4, target=target(k8s_deployment()), clock=clock,
                    sleep=clock.sleep, gates_for=gates_for).run("prod")
    assert report.elapsed_seconds == 15 and clock.sleeps == [4, 4, 4, 3]
    assert report.to_dict()["timed_out"] is True
    assert set(seen[1][1].kubernetes) == {"omniserve/omniserve"}


def test_a_history_entry_config_with_the_value_as_json_text_works_too() -> None:
    import json

    clock = FakeClock()
    recorded = {"aws:region": "us-east-1", "infra-rollback:health": json.dumps(ONE_GATE["infra-rollback:health"])}
    report = Verify(config=recorded, timeout=1, clock=clock, sleep=clock.sleep,
                    gates_for=lambda spec, exp: [Progressing()]).run("prod")
    assert report.timed_out


def secret_header_config(ciphertext: str, salt: str | None) -> dict[str, Any]:
    gate = {"kind": "http", "url": "http://127.0.0.1:9/m", "headers": {"Authorization": {"secure": ciphertext}}}
    doc: dict[str, Any] = {"config": {"infra-rollback:health": {"gates": [gate]}}}
    if salt:
        doc["encryptionsalt"] = salt
    return doc


def test_secret_headers_need_the_passphrase() -> None:
    from rollback.state.secrets import PassphraseCrypter

    crypter, salt = PassphraseCrypter.create("right", salt=b"0123456789ab", nonce=b"nonce-123456")
    doc = secret_header_config(crypter.encrypt("Bearer tok-9"), salt)
    with pytest.raises(BadInput, match="header Authorization is a secret and cannot be decrypted here"):
        Verify(config=doc, passphrase=lambda: None).run("prod")
    with pytest.raises(SecretsError, match="incorrect passphrase") as err:
        Verify(config=doc, passphrase=lambda: "wrong").run("prod")
    assert "tok-9" not in str(err.value)


def test_the_real_prod_stack_file_builds_its_four_gates_without_network() -> None:
    from rollback.health.gates import build_gates
    from rollback.health.spec import load_health_spec
    from rollback.stackconfig import read_stack_config

    spec = load_health_spec(read_stack_config(ROOT / "stacks" / "Pulumi.prod.yaml"))
    assert spec is not None
    gates = build_gates(spec)
    assert [(g.kind, g.name) for g in gates] == [
        ("kubernetes-rollout", "omniserve/omniserve"), ("ecs-service", "omniserve-prod/omniserve"),
        ("http", "https://omniserve.example.com/metrics/triage"),
        ("cloudwatch-alarms", "omniserve-prod-errors, omniserve-prod-unhealthy-targets")]


def test_importing_the_verify_action_and_building_gates_imports_no_boto3_or_kubernetes() -> None:
    code = ("import sys; import rollback.actions.verify, rollback.health, rollback.health.gates;"
            "from rollback.health.gates import build_gates; from rollback.health.spec import load_health_spec; "
            "from rollback.stackconfig import read_stack_config; import pathlib;"
            "build_gates(load_health_spec(read_stack_config(pathlib.Path('stacks/Pulumi.prod.yaml'))));"
            "heavy = [m for m in ('boto3', 'botocore', 'kubernetes', 'pulumi', 'grpc') if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
