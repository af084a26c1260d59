"""The ecs-service and cloudwatch-alarms gates: real boto3 calls against an in-process moto server.

Rollout states are scripted with the ``ecs_rollout`` seam of conftest.py (moto keeps a service's one
deployment as it was created).
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from rollback.actions.verify import Verify
from rollback.render.health import health_text
from tests.health.conftest import FakeClock, ecs_rollout
from tests.health.targets import (
    BAD_IMAGE,
    GOOD_IMAGE,
    container,
    omniserve_target,
    secret_plaintext,
    target,
    task_definition,
)

CLUSTER, SERVICE = "omniserve-prod", "omniserve"


def health(*gates: dict[str, Any], timeout: float = 30, interval: float = 0.02) -> dict[str, Any]:
    return {"infra-rollback:health": {"timeout": timeout, "interval": interval, "gates": list(gates)}}


ECS_GATE = {"kind": "ecs-service", "cluster": CLUSTER, "service": SERVICE}


def register(ecs: Any, containers: list[dict[str, Any]], *, cpu: str = "512", memory: str = "1024") -> str:
    answer = ecs.register_task_definition(family="omniserve", containerDefinitions=containers, cpu=cpu,
                                          memory=memory, networkMode="awsvpc", requiresCompatibilities=["FARGATE"])
    return answer["taskDefinition"]["taskDefinitionArn"]


def ecs_service(monkeypatch: pytest.MonkeyPatch, containers_by_revision: list[list[dict[str, Any]]], *,
                running: int = 2, desired: int = 2, on_revision: int | None = None) -> list[str]:
    """A cluster, task definition revisions 1..n, and the service on ``on_revision`` (default: the last)."""
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    arns = [register(ecs, containers) for containers in containers_by_revision]
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", str(running))   # read by moto at create_service
    ecs.create_service(cluster=CLUSTER, serviceName=SERVICE, desiredCount=desired, launchType="FARGATE",
                       taskDefinition=arns[(on_revision or len(arns)) - 1])
    return arns


def test_completed_rollout_running_the_target_content_is_healthy(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    tgt = omniserve_target()
    recorded = next(r for r in tgt.resources if r.type == "aws:ecs/taskDefinition:TaskDefinition")
    good = json.loads(recorded.inputs["containerDefinitions"])
    bad = [dict(good[0], image=BAD_IMAGE)]
    # v1 (the target) registered revision 1, the bad deploy 2, the rollback 3 with the old content.
    arns = ecs_service(monkeypatch, [good, bad, good])
    assert arns[2].endswith("omniserve:3") and recorded.outputs["revision"] != 3
    report = Verify(config=health(ECS_GATE), target=tgt).run("prod")
    assert report.healthy, report.to_dict()
    assert report.gates[0].detail == ("rollout COMPLETED, 2/2 tasks running, task definition omniserve:3; "
                                      "content matches the target")


def test_failed_rollout_fails_at_once_with_the_circuit_breaker_reason(aws_env: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ecs_service(monkeypatch, [[container()]], running=0)
    ecs_rollout(CLUSTER, SERVICE, state="FAILED",
                reason="ECS deployment circuit breaker: tasks failed to start.")
    started = time.monotonic()
    report = Verify(config=health(ECS_GATE, timeout=30, interval=0.5)).run("prod")
    assert time.monotonic() - started < 5          # well before the 30 s timeout
    assert not report.healthy and not report.timed_out
    assert report.gates[0].state == "unhealthy"
    assert report.gates[0].detail == ("rollout FAILED (deployment circuit breaker): "
                                      "ECS deployment circuit breaker: tasks failed to start.")


def test_running_content_that_differs_from_the_target_is_unhealthy_naming_the_differences(
        aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    running = [container(image=BAD_IMAGE, memory=2048, env={"LOG_LEVEL": "debug", "DEBUG_TOKEN": "sk-live-4242"})]
    ecs_service(monkeypatch, [running])
    tgt = target(task_definition([container(image=GOOD_IMAGE, memory=1024, env={"LOG_LEVEL": "info"})]))
    report = Verify(config=health(ECS_GATE), target=tgt).run("prod")
    assert not report.healthy and not report.timed_out
    detail = report.gates[0].detail
    assert detail.startswith("running task definition omniserve:1 differs from the target: ")
    assert f'container "bot": image is {BAD_IMAGE}, target {GOOD_IMAGE}' in detail
    assert 'container "bot": memory is 2048, target 1024' in detail
    assert 'container "bot": environment LOG_LEVEL differs (target "info")' in detail
    assert 'container "bot": environment DEBUG_TOKEN is set but not in the target' in detail
    # Running values of environment variables are never shown (they may be the bad version's secrets).
    assert "sk-live-4242" not in json.dumps(report.to_dict()) and "sk-live-4242" not in health_text(report)


def test_in_progress_then_completed(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ecs_service(monkeypatch, [[container()]], running=0)
    clock = FakeClock()
    clock.on_sleep = lambda n: ecs_rollout(CLUSTER, SERVICE, state="COMPLETED", running=2) if n == 2 else None
    states: list[str] = []
    report = Verify(config=health(ECS_GATE, timeout=600, interval=15), clock=clock, sleep=clock.sleep,
                    on_round=lambda g: states.append(g[0].detail)).run("prod")
    assert report.healthy and report.elapsed_seconds == 30
    assert states[0] == "rollout IN_PROGRESS, 0/2 tasks running"
    assert report.gates[0].seconds == 30


def test_task_count_short_of_desired_is_progressing_until_the_timeout(aws_env: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ecs_service(monkeypatch, [[container()]], running=2, desired=2)
    ecs_rollout(CLUSTER, SERVICE, running=1)
    clock = FakeClock()
    report = Verify(config=health(ECS_GATE, timeout=60, interval=20), clock=clock, sleep=clock.sleep).run("prod")
    assert report.timed_out and report.elapsed_seconds == 60
    assert report.gates[0].detail == "1/2 tasks running"


def test_secret_container_definitions_in_the_target_are_not_compared_and_not_shown(
        aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ecs_service(monkeypatch, [[container(image=BAD_IMAGE)]])
    hidden = json.dumps([container(image="registry.internal/hidden:9", env={"API_TOKEN": "tok-secret-77"})])
    tgt = target(task_definition(secret=secret_plaintext(hidden)))
    report = Verify(config=health(ECS_GATE), target=tgt).run("prod")
    assert report.healthy
    assert report.gates[0].detail.endswith("containerDefinitions is secret in the target: content not compared")
    shown = json.dumps(report.to_dict()) + health_text(report)
    assert "hidden:9" not in shown and "tok-secret-77" not in shown


def test_missing_service_and_missing_cluster_are_unhealthy(aws_env: str) -> None:
    boto3.client("ecs").create_cluster(clusterName=CLUSTER)
    report = Verify(config=health(ECS_GATE, {"kind": "ecs-service", "cluster": "nope", "service": SERVICE})).run("prod")
    assert [g.detail for g in report.gates] == [f"service {SERVICE} not found in cluster {CLUSTER} (MISSING)",
                                                "cluster nope not found"]


def test_no_credentials_is_one_unknown_line(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    clock = FakeClock()
    report = Verify(config=health(ECS_GATE, timeout=30, interval=10), clock=clock, sleep=clock.sleep).run("prod")
    assert not report.healthy and report.verdict == "unknown" and report.gates[0].state == "unknown"
    assert report.gates[0].detail == ("no usable AWS credentials for "
                                      "describe_services (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")


def test_region_comes_from_the_gate_then_the_environment(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from rollback.errors import BadInput

    boto3.client("ecs", region_name="us-east-2").create_cluster(clusterName=CLUSTER)
    report = Verify(config=health(dict(ECS_GATE, region="us-east-2"))).run("prod")
    assert "(MISSING)" in report.gates[0].detail         # found the cluster in us-east-2, not eu-west-1
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(BadInput, match="no AWS region"):
        Verify(config=health(ECS_GATE)).run("prod")
    monkeypatch.setenv("AWS_REGION", "us-east-2")
    assert "(MISSING)" in Verify(config=health(ECS_GATE)).run("prod").gates[0].detail


# --------------------------------------------------------------------------- CloudWatch alarms

ALARMS = ["omniserve-prod-errors", "omniserve-prod-unhealthy-targets"]
ALARM_GATE = {"kind": "cloudwatch-alarms", "alarms": ALARMS}


def alarms(states: dict[str, str]) -> None:
    cw = boto3.client("cloudwatch")
    for name, state in states.items():
        cw.put_metric_alarm(AlarmName=name, MetricName="5XXError", Namespace="omniserve", Statistic="Sum",
                            Period=60, EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanThreshold")
        cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"Threshold crossed: test says {state}")


def test_all_alarms_ok_is_healthy(aws_env: str) -> None:
    alarms({ALARMS[0]: "OK", ALARMS[1]: "OK"})
    report = Verify(config=health(ALARM_GATE)).run("prod")
    assert report.healthy and report.gates[0].detail == "2 alarms OK"
    assert report.gates[0].name == ", ".join(ALARMS)


def test_an_alarm_in_alarm_is_unhealthy_naming_it(aws_env: str) -> None:
    alarms({ALARMS[0]: "ALARM", ALARMS[1]: "OK"})
    report = Verify(config=health(ALARM_GATE)).run("prod")
    assert not report.healthy and not report.timed_out
    assert report.gates[0].detail == "alarm omniserve-prod-errors is in ALARM: Threshold crossed: test says ALARM"


def test_a_missing_alarm_is_unhealthy_and_insufficient_data_is_progressing(aws_env: str) -> None:
    alarms({ALARMS[0]: "OK"})
    report = Verify(config=health(ALARM_GATE)).run("prod")
    assert report.gates[0].detail == "alarm omniserve-prod-unhealthy-targets not found"
    alarms({ALARMS[1]: "INSUFFICIENT_DATA"})
    clock = FakeClock()
    waiting = Verify(config=health(ALARM_GATE, timeout=30, interval=10), clock=clock, sleep=clock.sleep).run("prod")
    assert waiting.timed_out
    assert waiting.gates[0].detail == "alarm omniserve-prod-unhealthy-targets is INSUFFICIENT_DATA"
