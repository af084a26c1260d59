"""Target checkpoints for health gate tests: small hand-made ones and the omniserve model's."""

from __future__ import annotations

import json
import random
from typing import Any

from rollback.models import Deployment
from rollback.state.codec import parse_deployment
from rollback.state.values import SECRET_SIG, SIG

ACCOUNT = "123456789012"
REGION = "eu-west-1"
GOOD_IMAGE = "ghcr.io/omniserve/bot:1.4.0"
BAD_IMAGE = "ghcr.io/omniserve/bot:1.5.0"

RELEASE_1_4 = {"image": GOOD_IMAGE, "memory": "1Gi", "cpu": "500m", "replicas": 3,
               "env": {"LOG_LEVEL": "info", "TICKET_QUEUE": "support-prod"}, "api_token": "tok-prod-1"}


def secret_plaintext(value: Any) -> dict[str, Any]:
    """A secret as ``pulumi stack export --show-secrets`` writes it."""
    return {SIG: SECRET_SIG, "plaintext": json.dumps(value)}


def secret_ciphertext() -> dict[str, Any]:
    return {SIG: SECRET_SIG, "ciphertext": "v1:bm9uY2Vub25jZQ==:Y2lwaGVydGV4dA=="}


def k8s_deployment(name: str = "omniserve", *, namespace: str | None = "omniserve",
                   images: dict[str, str] | None = None, spec: Any = None,
                   provider: str | None = None) -> dict[str, Any]:
    images = images or {"bot": GOOD_IMAGE}
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if spec is None:
        spec = {"replicas": 3, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                             "spec": {"containers": [{"name": c, "image": i} for c, i in images.items()]}}}
    out = {"urn": f"urn:pulumi:prod::omniserve::kubernetes:apps/v1:Deployment::{name}", "custom": True,
           "id": f"{namespace or 'default'}/{name}", "type": "kubernetes:apps/v1:Deployment",
           "inputs": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}}
    if provider:
        out["provider"] = provider
    return out


def k8s_provider(namespace: str) -> dict[str, Any]:
    urn = "urn:pulumi:prod::omniserve::pulumi:providers:kubernetes::k8s"
    return {"urn": urn, "custom": True, "id": "prov-1", "type": "pulumi:providers:kubernetes",
            "inputs": {"namespace": namespace, "version": "4.18.0"}}


def container(name: str = "bot", image: str = GOOD_IMAGE, *, memory: int = 1024, cpu: int = 512,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    env = {"LOG_LEVEL": "info"} if env is None else env
    return {"name": name, "image": image, "essential": True, "memory": memory, "cpu": cpu,
            "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
            "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}]}


def task_definition(containers: list[dict[str, Any]] | None = None, *, family: str = "omniserve",
                    revision: int = 1, cpu: str = "512", memory: str = "1024",
                    secret: dict[str, Any] | None = None) -> dict[str, Any]:
    """A TaskDefinition resource; ``secret`` replaces ``containerDefinitions`` by that secret value."""
    defs: Any = secret if secret is not None else json.dumps(containers or [container()])
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:{revision}"
    return {"urn": f"urn:pulumi:prod::omniserve::aws:ecs/taskDefinition:TaskDefinition::{family}", "custom": True,
            "id": family, "type": "aws:ecs/taskDefinition:TaskDefinition",
            "inputs": {"family": family, "cpu": cpu, "memory": memory, "networkMode": "awsvpc",
                       "requiresCompatibilities": ["FARGATE"], "containerDefinitions": defs},
            "outputs": {"arn": arn, "revision": revision, "family": family}}


def target(*resources: dict[str, Any]) -> Deployment:
    return parse_deployment({"version": 3, "deployment": {"manifest": {}, "resources": list(resources)}},
                            source="target.json")


def omniserve_target(release: dict[str, Any] | None = None) -> Deployment:
    """The checkpoint the omniserve program leaves after deploying ``release`` (tests/support model)."""
    from statekit.omniserve_model import omniserve_deployment
    from statekit.pulumi_writer import SecretEncrypter

    crypter = SecretEncrypter.create("health-tests", rng=random.Random(7))
    dep = omniserve_deployment(stack="prod", release=release or RELEASE_1_4, crypter=crypter,
                               rng=random.Random(8), time=1_735_689_600 * 10**9)
    return parse_deployment({"version": 3, "deployment": dep}, source="omniserve-prod-v3.json")
