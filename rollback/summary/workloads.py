"""What a workload is made of, read from a resource's (opened) inputs: its containers (image, limits,
env, other settings) and workload-level fields (replicas, desired count, task size), for Kubernetes pod
templates, ECS task definitions and services, Cloud Run services and Docker containers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollback.models import Resource
from rollback.rules import kubernetes_gvk, type_key
from rollback.state.values import SECRET_TEXT, Revealed
from rollback.summary.values import Opaque, as_text, get, is_secret, json_doc


@dataclass
class Env:
    display: str               # what a person sees: a literal value JSON-quoted ("info"), a reference, [secret]
    value: Any                 # what is compared
    secret: bool
    plain: str | None = None   # the literal value itself, for JSON (None: the display is all there is)

    @property
    def json(self) -> str:
        """What JSON carries: the literal value as it is (never JSON-encoded twice), else the display."""
        return self.plain if self.plain is not None else self.display


@dataclass
class Container:
    key: str                   # identity used to match containers across versions
    label: str                 # 'container "bot"', 'init container "migrate"', 'container #0'
    image: Any = None
    limits: dict[str, Any] = field(default_factory=dict)   # field name -> raw value (may be Revealed)
    env: dict[str, Env] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rest: dict[str, Any] = field(default_factory=dict)     # the container's other settings, by key


@dataclass
class Workload:
    kind: str
    containers: list[Container]
    scalars: dict[str, Any]    # workload-level fields: replicas, desiredCount, task cpu, ...
    quantity_fields: frozenset[str] = frozenset()
    info: list[str] = field(default_factory=list)      # said when something changed ("... is secret")
    unread: list[str] = field(default_factory=list)    # parts that could not be read at all


def _rest(c: Mapping[str, Any], handled: set[str]) -> dict[str, Any]:
    return {k: v for k, v in c.items() if k not in handled and not k.startswith("__")}


def _container_label(name: Any, index: int, init: bool = False) -> tuple[str, str]:
    prefix = "init container" if init else "container"
    if isinstance(name, str) and name:
        return (f"{'init:' if init else ''}{name}", f'{prefix} "{name}"')
    return (f"{'init:' if init else ''}#{index}", f"{prefix} #{index}")


def _env_display_value(value: Any) -> Env:
    if isinstance(value, (Revealed, Opaque)):
        return Env(SECRET_TEXT, value, True)
    if isinstance(value, str):
        return Env(json.dumps(value, ensure_ascii=False), value, False, value)
    return Env(as_text(value) or "null", value, is_secret(value))


def _k8s_env(container: Mapping[str, Any]) -> dict[str, Env]:
    out: dict[str, Env] = {}
    for i, item in enumerate(container.get("env") or []):
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        key = name if isinstance(name, str) else f"#{i}"
        if "valueFrom" in item and item.get("valueFrom") is not None:
            ref = item["valueFrom"]
            if is_secret(ref):
                out[key] = Env(SECRET_TEXT, ref, True)
            elif isinstance(get(ref, "secretKeyRef"), dict):
                r = ref["secretKeyRef"]
                out[key] = Env(f"from secret {r.get('name')}/{r.get('key')}", ref, False)
            elif isinstance(get(ref, "configMapKeyRef"), dict):
                r = ref["configMapKeyRef"]
                out[key] = Env(f"from configmap {r.get('name')}/{r.get('key')}", ref, False)
            elif isinstance(get(ref, "fieldRef"), dict):
                out[key] = Env(f"from field {ref['fieldRef'].get('fieldPath')}", ref, False)
            else:
                out[key] = Env(as_text(ref) or "null", ref, False)
        else:
            out[key] = _env_display_value(item.get("value", ""))
    for i, item in enumerate(container.get("envFrom") or []):
        if not isinstance(item, dict):
            continue
        for ref_kind, word in (("secretRef", "secret"), ("configMapRef", "configmap")):
            ref = item.get(ref_kind)
            if isinstance(ref, dict):
                prefix = item.get("prefix") or ""
                out[f"(envFrom #{i})"] = Env(f"all keys of {word} {ref.get('name')}"
                                              + (f" with prefix {prefix}" if prefix else ""), item, False)
    return out


_K8S_LIMITS = (("memory limit", ("limits", "memory")), ("cpu limit", ("limits", "cpu")),
               ("memory request", ("requests", "memory")), ("cpu request", ("requests", "cpu")))


def _k8s_containers(spec: Any) -> list[Container]:
    out: list[Container] = []
    for init in (False, True):
        items = get(spec, "initContainers" if init else "containers")
        if isinstance(items, (Revealed, Opaque)):
            out.append(Container(key="init:*" if init else "*",
                                  label="init containers" if init else "containers", image=items))
            continue
        for i, c in enumerate(items or []):
            if not isinstance(c, dict):
                continue
            key, label = _container_label(c.get("name"), i, init)
            resources = c.get("resources")
            limits = {f: get(resources, *p) for f, p in _K8S_LIMITS}
            out.append(Container(key=key, label=label, image=c.get("image"), limits=limits, env=_k8s_env(c),
                                  rest=_rest(c, {"name", "image", "resources", "env", "envFrom"})))
    return out


_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}
_REPLICA_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"})


def _kubernetes(res: Resource, inputs: Any) -> Workload | None:
    gvk = kubernetes_gvk(res.type)
    if gvk is None or gvk[2] not in _POD_SPEC_PATHS:
        return None
    kind = gvk[2]
    path = _POD_SPEC_PATHS[kind]
    unread: list[str] = []
    info: list[str] = []
    spec: Any = inputs
    for i, key in enumerate(path):
        spec = get(spec, key)
        if isinstance(spec, Opaque):
            unread.append(f"{'.'.join(path[: i + 1])} is secret and could not be read: {spec.reason}")
            break
    if not unread and any(isinstance(get(spec, key, i, "name"), Revealed)
                          for key in ("containers", "initContainers")
                          for i in range(len(get(spec, key) or []) if isinstance(get(spec, key), list) else 0)):
        info.append("the pod template is secret: its values show as [secret]")
    scalars: dict[str, Any] = {}
    if kind in _REPLICA_KINDS:
        scalars["replicas"] = get(inputs, "spec", "replicas")
    if kind == "Job":
        scalars["parallelism"] = get(inputs, "spec", "parallelism")
    if kind == "CronJob":
        scalars["schedule"] = get(inputs, "spec", "schedule")
        scalars["suspend"] = get(inputs, "spec", "suspend")
    containers = [] if isinstance(spec, Opaque) else _k8s_containers(spec)
    return Workload(kind=kind, containers=containers, scalars=scalars,
                     quantity_fields=frozenset(f for f, _ in _K8S_LIMITS), info=info, unread=unread)


_ECS_TASK = type_key("aws:ecs/taskDefinition:TaskDefinition")
_ECS_SERVICE = type_key("aws:ecs/service:Service")
_CLOUDRUN_V2 = type_key("gcp:cloudrunv2/service:Service")
_CLOUDRUN_V1 = type_key("gcp:cloudrun/service:Service")
_DOCKER = type_key("docker:index/container:Container")


def _ecs_task(res: Resource, inputs: Any) -> Workload:
    unread: list[str] = []
    info: list[str] = []
    raw = get(inputs, "containerDefinitions")
    defs: Any = None
    if isinstance(raw, Opaque):
        unread.append(f"containerDefinitions is secret and could not be read: {raw.reason}")
    else:
        defs = json_doc(raw)
        if isinstance(raw, Revealed):
            info.append("containerDefinitions is secret: its values show as [secret]")
        elif raw is not None and defs is None:
            unread.append("containerDefinitions is not valid JSON")
    containers: list[Container] = []
    for i, c in enumerate(defs if isinstance(defs, list) else []):
        if not isinstance(c, dict):
            continue
        key, label = _container_label(_plain_or_none(c.get("name")), i)
        if isinstance(c.get("name"), Revealed):
            key, label = _container_label(None, i)
        env: dict[str, Env] = {}
        for j, item in enumerate(c.get("environment") or []):
            if isinstance(item, dict):
                name = item.get("name")
                env[name if isinstance(name, str) else f"#{j}"] = _env_display_value(item.get("value"))
        for j, item in enumerate(c.get("secrets") or []):
            if isinstance(item, dict):
                name = item.get("name")
                ref = item.get("valueFrom")
                shown = SECRET_TEXT if isinstance(ref, (Revealed, Opaque)) else f"from secret {ref}"
                env[name if isinstance(name, str) else f"#s{j}"] = Env(shown, ref, isinstance(ref, (Revealed, Opaque)))
        limits = {"memory limit": c.get("memory"), "memory request": c.get("memoryReservation"),
                  "cpu units": c.get("cpu")}
        containers.append(Container(key=key, label=label, image=c.get("image"), limits=limits, env=env,
                                     rest=_rest(c, {"name", "image", "memory", "memoryReservation", "cpu",
                                                    "environment", "secrets"})))
    scalars = {"task cpu": get(inputs, "cpu"), "task memory": get(inputs, "memory")}
    return Workload(kind="ECS task definition", containers=containers, scalars=scalars, info=info, unread=unread)


def _plain_or_none(v: Any) -> Any:
    return None if isinstance(v, (Revealed, Opaque)) else v


def _ecs_service(res: Resource, inputs: Any) -> Workload:
    return Workload(kind="ECS service", containers=[], scalars={"desiredCount": get(inputs, "desiredCount")})


def _cloud_run_env(c: Mapping[str, Any], v1: bool) -> dict[str, Env]:
    out: dict[str, Env] = {}
    for i, item in enumerate(c.get("envs" if not v1 and "envs" in c else "env") or []):
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        key = name if isinstance(name, str) else f"#{i}"
        source = item.get("valueSource") if not v1 else item.get("valueFrom")
        if source:
            ref = get(source, "secretKeyRef")
            if isinstance(ref, dict) and not is_secret(ref):
                what = (f"{ref.get('secret')}:{ref.get('version')}" if not v1
                        else f"{ref.get('name')}/{ref.get('key')}")
                out[key] = Env(f"from secret {what}", source, False)
            else:
                out[key] = Env(SECRET_TEXT if is_secret(source) else (as_text(source) or "null"), source,
                                is_secret(source))
        else:
            out[key] = _env_display_value(item.get("value", ""))
    return out


def _cloud_run(res: Resource, inputs: Any) -> Workload:
    v1 = type_key(res.type) == _CLOUDRUN_V1
    items = get(inputs, "template", "spec", "containers") if v1 else get(inputs, "template", "containers")
    containers: list[Container] = []
    unread: list[str] = []
    if isinstance(items, Opaque):
        unread.append(f"the container list is secret and could not be read: {items.reason}")
        items = []
    elif isinstance(items, Revealed):
        items = []
    for i, c in enumerate(items or []):
        if not isinstance(c, dict):
            continue
        key, label = _container_label(_plain_or_none(c.get("name")), i)
        resources = c.get("resources")
        limits = {"memory limit": get(resources, "limits", "memory"), "cpu limit": get(resources, "limits", "cpu")}
        if v1:
            limits["memory request"] = get(resources, "requests", "memory")
            limits["cpu request"] = get(resources, "requests", "cpu")
        containers.append(Container(key=key, label=label, image=c.get("image"), limits=limits,
                                     env=_cloud_run_env(c, v1),
                                     rest=_rest(c, {"name", "image", "resources", "env", "envs"})))
    scalars: dict[str, Any] = {}
    if not v1:
        scalars["min instances"] = get(inputs, "template", "scaling", "minInstanceCount")
        scalars["max instances"] = get(inputs, "template", "scaling", "maxInstanceCount")
    return Workload(kind="Cloud Run service", containers=containers, scalars=scalars,
                     quantity_fields=frozenset({"memory limit", "cpu limit", "memory request", "cpu request"}),
                     unread=unread)


def _docker(res: Resource, inputs: Any) -> Workload:
    env: dict[str, Env] = {}
    envs = get(inputs, "envs")
    if isinstance(envs, (Revealed, Opaque)):
        env["(envs)"] = Env(SECRET_TEXT, envs, True)
    else:
        for i, item in enumerate(envs or []):
            if isinstance(item, str):
                name, _, value = item.partition("=")
                env[name] = _env_display_value(value)
            elif isinstance(item, (Revealed, Opaque)):
                # "NAME=value" inside a secret: the name is part of the secret too.
                env[f"#{i}"] = Env(SECRET_TEXT, item, True)
    name = get(inputs, "name")
    label_name = name if isinstance(name, str) else res.name
    limits = {"memory limit": get(inputs, "memory"), "cpu shares": get(inputs, "cpuShares"),
              "cpus": get(inputs, "cpus")}
    rest = _rest(inputs, {"name", "image", "memory", "cpuShares", "cpus", "envs"}) if isinstance(inputs, dict) else {}
    container = Container(key="main", label=f'container "{label_name}"', image=get(inputs, "image"),
                           limits=limits, env=env, rest=rest)
    return Workload(kind="Docker container", containers=[container], scalars={})


def extractor(res: Resource) -> Callable[[Resource, Any], Workload | None] | None:
    key = type_key(res.type)
    if key[0] == "kubernetes":
        gvk = kubernetes_gvk(res.type)
        return _kubernetes if gvk is not None and gvk[2] in _POD_SPEC_PATHS else None
    return {_ECS_TASK: _ecs_task, _ECS_SERVICE: _ecs_service, _CLOUDRUN_V2: _cloud_run,
            _CLOUDRUN_V1: _cloud_run, _DOCKER: _docker}.get(key)
