"""Workload summaries: images, memory and cpu, env vars and replicas, per container, in plain lines."""

from __future__ import annotations

import copy
import json
from typing import Any

from rollback.models import Deployment
from rollback.render.summary import workload_lines
from rollback.state.codec import parse_deployment
from rollback.summary import (
    WorkloadChange,
    workload_summary,
    workloads_to_dicts,
)
from tests.paths import FIXTURES
from tests.test_diff import PASSPHRASE_PROVIDER, b64_secret, box, dep, pp_secret, res

REAL = FIXTURES / "real-world"


def summarize(current: Deployment, target: Deployment, passphrase: str | None = "correct horse battery staple"
              ) -> list[WorkloadChange]:
    return workload_summary(current, target, current_secrets=box(current, passphrase),
                            target_secrets=box(target, passphrase))


def lines(current: Deployment, target: Deployment, **kw: Any) -> list[str]:
    return workload_lines(summarize(current, target, **kw))


def bot(image: str, memory: str, replicas: int, env: list[dict[str, Any]], cpu: str = "500m") -> dict[str, Any]:
    return {"metadata": {"name": "omniserve", "namespace": "omniserve"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "omniserve"}},
                     "template": {"spec": {"containers": [{
                         "name": "bot", "image": image, "env": env,
                         "resources": {"limits": {"memory": memory, "cpu": cpu},
                                       "requests": {"memory": "256Mi", "cpu": "250m"}}}]}}}}


DEPLOY = "kubernetes:apps/v1:Deployment"


def test_kubernetes_deployment_reads_like_ecs_deploy() -> None:
    current = dep([res(DEPLOY, "omniserve", bot("ghcr.io/omniserve/bot:1.5.0", "1Gi", 5, [
        {"name": "SENTIMENT_MODEL", "value": "distilroberta-urgent"},
        {"name": "LOG_LEVEL", "value": "debug"},
        {"name": "API_KEY", "value": pp_secret("key-one")},
    ]))], secrets=PASSPHRASE_PROVIDER)
    target = dep([res(DEPLOY, "omniserve", bot("ghcr.io/omniserve/bot:1.4.0", "512Mi", 3, [
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "API_KEY", "value": pp_secret("key-two")},
        {"name": "SENTIMENT_THRESHOLD", "value": "0.7"},
    ], cpu="0.5"))], secrets=PASSPHRASE_PROVIDER)
    assert lines(current, target) == [
        "Deployment omniserve: replicas 5 -> 3",
        'Deployment omniserve, container "bot": image ghcr.io/omniserve/bot:1.5.0 -> ghcr.io/omniserve/bot:1.4.0',
        'Deployment omniserve, container "bot": memory limit 1Gi -> 512Mi',
        'Deployment omniserve, container "bot": env SENTIMENT_MODEL removed (was "distilroberta-urgent")',
        'Deployment omniserve, container "bot": env LOG_LEVEL "debug" -> "info"',
        'Deployment omniserve, container "bot": env API_KEY changed ([secret])',
        'Deployment omniserve, container "bot": env SENTIMENT_THRESHOLD added: "0.7"',
    ]          # cpu 500m -> 0.5 is the same quantity: not a change
    text = json.dumps(workloads_to_dicts(summarize(current, target)))
    assert "key-one" not in text and "key-two" not in text


def test_unchanged_secret_env_and_identical_workloads_say_nothing() -> None:
    env = [{"name": "API_KEY", "value": pp_secret("same")}]
    current = dep([res(DEPLOY, "omniserve", bot("bot:1", "1Gi", 2, env))], secrets=PASSPHRASE_PROVIDER)
    env2 = [{"name": "API_KEY", "value": pp_secret("same")}]
    target = dep([res(DEPLOY, "omniserve", bot("bot:1", "1Gi", 2, env2))], secrets=PASSPHRASE_PROVIDER)
    assert summarize(current, target) == []
    assert summarize(current, current) == []


def test_whole_workloads_and_containers_coming_and_going() -> None:
    with_sidecar = bot("bot:2", "1Gi", 2, [])
    with_sidecar["spec"]["template"]["spec"]["containers"].append({"name": "proxy", "image": "envoy:1.30"})
    with_init = bot("bot:2", "1Gi", 2, [{"name": "A", "value": "1"}])
    with_init["spec"]["template"]["spec"]["initContainers"] = [{"name": "migrate", "image": "bot:2"}]
    current = dep([res(DEPLOY, "api", with_sidecar), res(DEPLOY, "old-worker", bot("w:1", "1Gi", 1, []))])
    target = dep([res(DEPLOY, "api", with_init), res("kubernetes:batch/v1:CronJob", "report", {
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "report", "image": "report:7", "env": [{"name": "X", "value": "1"}]}]}}}}}})])
    assert lines(current, target) == [
        'Deployment api, container "bot": env A added: "1"',
        'Deployment api, container "proxy" removed (was image envoy:1.30)',
        'Deployment api, init container "migrate" added: image bot:2',
        "Deployment old-worker: deleted (not in the target)",
        "CronJob report: re-created (only in the target)",
        'CronJob report, container "report" added: image report:7, 1 env var(s)',
    ]


def test_secret_pod_template_without_a_passphrase_is_named_not_read() -> None:
    spec_a = bot("bot:2", "1Gi", 2, [{"name": "TOKEN", "value": "t0ps3cret"}])
    spec_b = bot("bot:1", "1Gi", 2, [{"name": "TOKEN", "value": "t0ps3cret"}])
    current = dep([res(DEPLOY, "api", {"metadata": spec_a["metadata"], "spec": pp_secret(spec_a["spec"])})],
                  secrets=PASSPHRASE_PROVIDER)
    target = dep([res(DEPLOY, "api", {"metadata": spec_b["metadata"], "spec": pp_secret(spec_b["spec"])})],
                 secrets=PASSPHRASE_PROVIDER)
    assert lines(current, target, passphrase=None) == [
        ("Deployment api: spec is secret and could not be read: no passphrase "
        "(set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE)")]
    # With the passphrase, everything that came out of the secret shows as [secret].
    with_pass = lines(current, target)
    assert with_pass == [
        "Deployment api: the pod template is secret: its values show as [secret]",
        "Deployment api, container #0: image changed ([secret])",
    ]
    assert "t0ps3cret" not in "".join(with_pass) and "bot:2" not in "".join(with_pass)


ECS = "aws:ecs/taskDefinition:TaskDefinition"


def task(image: str, memory: int, env: dict[str, str], secrets: dict[str, str] | None = None) -> str:
    return json.dumps([{
        "name": "bot", "image": image, "memory": memory, "memoryReservation": 256, "cpu": 256, "essential": True,
        "environment": [{"name": k, "value": v} for k, v in env.items()],
        "secrets": [{"name": k, "valueFrom": v} for k, v in (secrets or {}).items()]}])


def test_ecs_container_definitions() -> None:
    arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/omniserve/"
    current = dep([res(ECS, "bot", {"family": "bot", "cpu": "512", "memory": "1024",
                                    "containerDefinitions": task("bot:1.5.0", 1024, {"MODE": "fast"},
                                                                 {"DB_URL": arn + "db"})}),
                   res("aws:ecs/service:Service", "bot-svc", {"desiredCount": 4})])
    target = dep([res(ECS, "bot", {"family": "bot", "cpu": "512", "memory": "2048",
                                   "containerDefinitions": task("bot:1.4.0", 512, {"MODE": "safe"},
                                                                {"DB_URL": arn + "db-old"})}),
                  res("aws:ecs/service:Service", "bot-svc", {"desiredCount": 2})])
    assert lines(current, target) == [
        "ECS task definition bot: task memory 1024 -> 2048",
        'ECS task definition bot, container "bot": image bot:1.5.0 -> bot:1.4.0',
        'ECS task definition bot, container "bot": memory limit 1024 -> 512',
        'ECS task definition bot, container "bot": env MODE "fast" -> "safe"',
        f'ECS task definition bot, container "bot": env DB_URL from secret {arn}db -> from secret {arn}db-old',
        "ECS service bot-svc: desiredCount 4 -> 2",
    ]


def test_secret_container_definitions_say_so() -> None:
    current = dep([res(ECS, "bot", {"containerDefinitions": pp_secret(task("bot:2", 512, {"K": "hunter2"}))})],
                  secrets=PASSPHRASE_PROVIDER)
    target = dep([res(ECS, "bot", {"containerDefinitions": pp_secret(task("bot:1", 512, {"K": "hunter3"}))})],
                  secrets=PASSPHRASE_PROVIDER)
    out = lines(current, target)
    assert out == [
        "ECS task definition bot: containerDefinitions is secret: its values show as [secret]",
        "ECS task definition bot, container #0: image changed ([secret])",
        "ECS task definition bot, container #0: env #0 changed ([secret])",
    ]   # names inside a secret are secret too
    text = json.dumps(workloads_to_dicts(summarize(current, target))) + "\n".join(out)
    assert "hunter" not in text and "bot:1" not in text
    assert lines(current, target, passphrase=None) == [
        ("ECS task definition bot: containerDefinitions is secret and could not be read: no passphrase "
        "(set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE)")]


def real(name: str) -> dict[str, Any]:
    return json.loads((REAL / name).read_text())


def resources(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["deployment"]["resources"]


def test_cloud_run_multicontainer_real_file() -> None:
    doc = real("gcp-cloudrunv2-multicontainer.json")
    changed = copy.deepcopy(doc)
    service = next(r for r in resources(changed) if r["type"] == "gcp:cloudrunv2/service:Service")
    hello1, hello2 = service["inputs"]["template"]["containers"]
    hello1["image"] = "us-docker.pkg.dev/cloudrun/container/hello:previous"
    hello2["resources"] = {"limits": {"memory": "512Mi", "cpu": "1"}}
    hello2["envs"] = [{"name": "GREETING", "value": "hi"},
                      {"name": "DB_PASS", "valueSource": {"secretKeyRef": {"secret": "db-pass", "version": "3"}}}]
    current, target = parse_deployment(doc, source="now"), parse_deployment(changed, source="then")
    assert lines(current, target, passphrase=None) == [
        ('Cloud Run service tested-resource, container "hello-1": image us-docker.pkg.dev/cloudrun/container/hello'
        ' -> us-docker.pkg.dev/cloudrun/container/hello:previous'),
        'Cloud Run service tested-resource, container "hello-2": memory limit unset -> 512Mi',
        'Cloud Run service tested-resource, container "hello-2": cpu limit unset -> 1',
        'Cloud Run service tested-resource, container "hello-2": env GREETING added: "hi"',
        'Cloud Run service tested-resource, container "hello-2": env DB_PASS added: from secret db-pass:3',
    ]
    assert summarize(current, parse_deployment(copy.deepcopy(doc), source="copy"), passphrase=None) == []


def test_docker_containers_real_file() -> None:
    doc = real("camsoper-homelab-docker.json")
    changed = copy.deepcopy(doc)
    nodered = next(r for r in resources(changed)
                   if r["type"] == "docker:index/container:Container" and r["urn"].endswith("::nodered"))
    nodered["inputs"]["image"] = "nodered/node-red:4.0.9"
    nodered["inputs"]["envs"] = ["TZ=Europe/Berlin", "NODE_RED_ENABLE_PROJECTS=true"]
    nodered["inputs"]["memory"] = 512
    nodered["inputs"]["restart"] = "always"
    current, target = parse_deployment(doc, source="now"), parse_deployment(changed, source="then")
    out = lines(current, target, passphrase=None)
    assert out == [
        'Docker container nodered, container "nodered": image nodered/node-red:4.1.0 -> nodered/node-red:4.0.9',
        'Docker container nodered, container "nodered": memory limit unset -> 512',
        'Docker container nodered, container "nodered": env TZ "America/Chicago" -> "Europe/Berlin"',
        'Docker container nodered, container "nodered": env NODE_RED_ENABLE_PROJECTS added: "true"',
        'Docker container nodered, container "nodered": other settings change: restart',
    ]
    # The service secrets provider cannot be opened here, yet nothing secret was needed.
    assert (current.secrets_provider or {}).get("type") == "service"


def test_summary_is_json_able() -> None:
    current = dep([res(DEPLOY, "omniserve", bot("bot:2", "1Gi", 2, [{"name": "S", "value": b64_secret("x1")}]))])
    target = dep([res(DEPLOY, "omniserve", bot("bot:1", "1Gi", 3, [{"name": "S", "value": b64_secret("x2")}]))])
    data = workloads_to_dicts(summarize(current, target))
    assert json.loads(json.dumps(data)) == data
    assert data[1]["env"] == [{"name": "S", "op": "changed", "before": "[secret]", "after": "[secret]",
                               "secret": True}]
