"""What should be running, derived from a target checkpoint (optional: gates work without it).

- Kubernetes Deployments (``kubernetes:apps/*:Deployment``): ``"namespace/name" -> {container: image}``
  from the resource's inputs (``spec.template.spec.containers``).
- ECS task definitions (``aws:ecs/taskDefinition:TaskDefinition``, and a Terraform state's
  ``aws_ecs_task_definition`` with ``container_definitions``), by family: per container image,
  memory, cpu and environment parsed from ``containerDefinitions`` (a JSON string), plus task-level
  cpu and memory. When the whole ``containerDefinitions`` is a secret, the content is not checked and
  the expectation says so (``skipped``); nothing secret is ever read or shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rollback.models import Deployment, Resource, split_provider_ref
from rollback.state.values import UNKNOWN, Secret

ECS_TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
TF_ECS_TASK_DEFINITION = "aws_ecs_task_definition"   # a Terraform state's (rollback.terraform.state.to_deployment)
_DEFINITIONS_KEY = {ECS_TASK_DEFINITION: "containerDefinitions", TF_ECS_TASK_DEFINITION: "container_definitions"}


@dataclass(frozen=True)
class KubernetesExpectation:
    key: str                                   # namespace/name
    images: dict[str, str] = field(default_factory=dict)   # container name -> image
    skipped: str = ""                          # why (some) images are not checked, e.g. secret


@dataclass(frozen=True)
class EcsContainerExpectation:
    name: str
    image: str | None = None
    memory: int | None = None
    cpu: int | None = None
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EcsTaskExpectation:
    family: str
    containers: tuple[EcsContainerExpectation, ...] = ()
    cpu: str | None = None                     # task-level, as recorded ("256")
    memory: str | None = None                  # task-level, as recorded ("512")
    skipped: str = ""                          # non-empty: content not comparable (and why)


@dataclass(frozen=True)
class Expectations:
    source: str = ""
    kubernetes: dict[str, KubernetesExpectation] = field(default_factory=dict)
    ecs: dict[str, EcsTaskExpectation] = field(default_factory=dict)   # by family

    @property
    def empty(self) -> bool:
        return not self.kubernetes and not self.ecs


NO_EXPECTATIONS = Expectations()


def _plain(value: Any) -> bool:
    return not isinstance(value, Secret) and value is not UNKNOWN


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _is_k8s_deployment(resource: Resource) -> bool:
    t = resource.type
    return t.startswith("kubernetes:") and t.endswith(":Deployment") and "/" in t and \
        t.split(":")[1].split("/")[0] in ("apps", "extensions")


def _provider_namespace(resource: Resource, deployment: Deployment) -> str | None:
    if not resource.provider:
        return None
    urn, _ = split_provider_ref(resource.provider)
    provider = deployment.by_urn().get(urn)
    ns = provider.inputs.get("namespace") if provider else None
    return ns if isinstance(ns, str) and ns else None


def _k8s_expectation(resource: Resource, deployment: Deployment) -> KubernetesExpectation | None:
    name = _get(resource.outputs, "metadata", "name")
    if not (isinstance(name, str) and name):
        name = _get(resource.inputs, "metadata", "name")
    if not (isinstance(name, str) and name):
        return None
    namespace = _get(resource.outputs, "metadata", "namespace")
    if not (isinstance(namespace, str) and namespace):
        namespace = _get(resource.inputs, "metadata", "namespace")
    if not (isinstance(namespace, str) and namespace):
        namespace = _provider_namespace(resource, deployment) or "default"
    key = f"{namespace}/{name}"
    node: Any = resource.inputs
    path: list[str] = []
    for part in ("spec", "template", "spec", "containers"):
        node = node.get(part) if isinstance(node, Mapping) else None
        path.append(part)
        if isinstance(node, Secret):
            return KubernetesExpectation(key=key, skipped=f"{'.'.join(path)} is secret in the target: "
                                                          f"images not compared")
    containers = node
    if not isinstance(containers, list):
        return KubernetesExpectation(key=key, skipped="the target records no containers: images not compared")
    images: dict[str, str] = {}
    notes: list[str] = []
    for c in containers:
        if isinstance(c, Secret):
            notes.append("a container is secret in the target")
            continue
        if not isinstance(c, Mapping) or not isinstance(c.get("name"), str):
            continue
        image = c.get("image")
        if isinstance(image, str) and image:
            images[c["name"]] = image
        elif not _plain(image):
            notes.append(f"image of container {c['name']} is {'secret' if isinstance(image, Secret) else 'unknown'} "
                         f"in the target")
    return KubernetesExpectation(key=key, images=images, skipped="; ".join(notes))


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return None
    return None


def _str_or_none(value: Any) -> str | None:
    if isinstance(value, bool) or not _plain(value) or value is None:
        return None
    return str(value)


def parse_container_definitions(text: str) -> tuple[EcsContainerExpectation, ...]:
    """The containers of an ECS ``containerDefinitions`` JSON text (ValueError / TypeError when it is not one)."""
    doc = json.loads(text)
    if not isinstance(doc, list):
        raise TypeError("containerDefinitions is not a JSON list")
    out: list[EcsContainerExpectation] = []
    for c in doc:
        if not isinstance(c, Mapping):
            continue
        env: dict[str, str] = {}
        for item in c.get("environment") or []:
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                env[item["name"]] = "" if item.get("value") is None else str(item.get("value"))
        out.append(EcsContainerExpectation(
            name=str(c.get("name") or ""),
            image=c.get("image") if isinstance(c.get("image"), str) else None,
            memory=_int_or_none(c.get("memory")),
            cpu=_int_or_none(c.get("cpu")),
            environment=env,
        ))
    return tuple(out)


def _ecs_expectation(resource: Resource) -> EcsTaskExpectation | None:
    family = resource.inputs.get("family")
    if not isinstance(family, str) or not family:
        return None
    cpu = _str_or_none(resource.inputs.get("cpu"))
    memory = _str_or_none(resource.inputs.get("memory"))
    defs = resource.inputs.get(_DEFINITIONS_KEY.get(resource.type, "containerDefinitions"))
    if isinstance(defs, Secret):
        return EcsTaskExpectation(family=family, cpu=cpu, memory=memory,
                                  skipped="containerDefinitions is secret in the target: content not compared")
    if defs is UNKNOWN or not isinstance(defs, (str, list)):
        return EcsTaskExpectation(family=family, cpu=cpu, memory=memory,
                                  skipped="the target records no containerDefinitions: content not compared")
    try:
        containers = parse_container_definitions(defs if isinstance(defs, str) else json.dumps(defs))
    except (ValueError, TypeError):
        return EcsTaskExpectation(family=family, cpu=cpu, memory=memory,
                                  skipped="containerDefinitions in the target is not valid JSON: content not compared")
    return EcsTaskExpectation(family=family, containers=containers, cpu=cpu, memory=memory)


def expectations_from(deployment: Deployment | None) -> Expectations:
    """Expectations of every Kubernetes Deployment and ECS task definition in a checkpoint."""
    if deployment is None:
        return NO_EXPECTATIONS
    kubernetes: dict[str, KubernetesExpectation] = {}
    ecs: dict[str, EcsTaskExpectation] = {}
    for resource in deployment.live_resources():
        if not resource.custom:
            continue
        if _is_k8s_deployment(resource):
            k = _k8s_expectation(resource, deployment)
            if k is not None:
                kubernetes[k.key] = k
        elif resource.type in _DEFINITIONS_KEY:
            e = _ecs_expectation(resource)
            if e is not None:
                ecs[e.family] = e
    return Expectations(source=deployment.source, kubernetes=kubernetes, ecs=ecs)
