"""What a person reads first: per container, what the rollback changes in the running workloads.

:func:`workload_summary` looks at the containers of Kubernetes pod templates (Deployment,
StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, Pod), ECS task definitions
(their ``containerDefinitions`` JSON string) and services, Cloud Run services and Docker containers,
and reports image, memory and CPU limits and requests, environment variables and replica counts
before (now) and after (the target). :func:`rollback.render.summary.workload_lines` turns that into
lines such as::

    Deployment omniserve, container "bot": image ghcr.io/omniserve/bot:1.5.0 -> ghcr.io/omniserve/bot:1.4.0
    Deployment omniserve, container "bot": env SENTIMENT_MODEL removed (was "distilroberta-urgent")
    Deployment omniserve: replicas 5 -> 3

Secrets: anything that was inside a secret shows as ``[secret]`` (a changed secret says
"changed"); a secret that cannot be revealed (no passphrase) is named in a note. Values from a
Kubernetes Secret or an SSM/Secrets Manager ARN are references, shown as such; their contents are
never read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from rollback.models import Deployment, Resource, WorkloadStatus, urn_name
from rollback.rules import kubernetes_gvk, type_key
from rollback.state.secrets import SecretBox, SecretUnavailable
from rollback.state.values import SECRET_TEXT, Revealed, Secret, to_display

# ----------------------------------------------------------------------------------------------
# Public result types


@dataclass(frozen=True)
class FieldChange:
    field: str                 # "image", "memory limit", "cpu request", "replicas", "desiredCount", ...
    before: str | None         # display text (None: unset / absent)
    after: str | None
    secret: bool = False       # before/after came from a secret: shown as [secret]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"field": self.field, "before": self.before, "after": self.after}
        if self.secret:
            d["secret"] = True
        return d


@dataclass(frozen=True)
class EnvChange:
    name: str
    op: str                    # added | removed | changed
    before: str | None         # display: a JSON-quoted value, a reference, or [secret]
    after: str | None
    secret: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "op": self.op, "before": self.before, "after": self.after}
        if self.secret:
            d["secret"] = True
        return d


@dataclass(frozen=True)
class WorkloadChange:
    """One container (or, with ``container=None``, the workload itself) that the rollback changes."""

    urn: str
    type: str
    kind: str                  # what a person calls it: "Deployment", "ECS task definition", ...
    name: str                  # the resource's logical name (from the URN)
    container: str | None      # None: workload-level (replicas, desiredCount, task size, created/deleted)
    status: WorkloadStatus
    fields: tuple[FieldChange, ...] = ()
    env: tuple[EnvChange, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def secret(self) -> bool:
        return any(f.secret for f in self.fields) or any(e.secret for e in self.env)

    def to_dict(self) -> dict[str, Any]:
        return {
            "urn": self.urn, "type": self.type, "kind": self.kind, "name": self.name,
            "container": self.container, "status": self.status,
            "fields": [f.to_dict() for f in self.fields], "env": [e.to_dict() for e in self.env],
            "notes": list(self.notes),
        }


def workloads_to_dicts(changes: Sequence[WorkloadChange]) -> list[dict[str, Any]]:
    return [c.to_dict() for c in changes]


# ----------------------------------------------------------------------------------------------
# Values that came out of secrets


class _Opaque:
    """A secret that cannot be revealed here."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return SECRET_TEXT

    __str__ = __repr__


class _Unknown(Exception):
    """A comparison that needs a secret we cannot open."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _hide(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _hide(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_hide(x) for x in v]
    if isinstance(v, (Revealed, _Opaque)):
        return v
    return Revealed(v)


def _open(v: Any, box: SecretBox) -> Any:
    """The value with every secret revealed into :class:`Revealed` leaves (or :class:`_Opaque`)."""
    if isinstance(v, Secret):
        try:
            inner = box.reveal(v)
        except SecretUnavailable as exc:
            return _Opaque(str(exc))
        return _hide(_open(inner, box))
    if isinstance(v, dict):
        return {k: _open(x, box) for k, x in v.items()}
    if isinstance(v, list):
        return [_open(x, box) for x in v]
    return v


def _is_secret(v: Any) -> bool:
    if isinstance(v, (Revealed, _Opaque)):
        return True
    if isinstance(v, dict):
        return any(_is_secret(x) for x in v.values())
    if isinstance(v, list):
        return any(_is_secret(x) for x in v)
    return False


def _plain(v: Any) -> Any:
    """A comparable value (secrets unwrapped); raises _Unknown for a secret we cannot open."""
    if isinstance(v, Revealed):
        return v.value
    if isinstance(v, _Opaque):
        raise _Unknown(v.reason)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items() if not k.startswith("__")}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _get(obj: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(key, int):
            if not isinstance(obj, list) or key >= len(obj):
                return None
            obj = obj[key]
        else:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(key)
    return obj


def _json_doc(v: Any) -> Any:
    """Parse a JSON string (possibly from a secret: the parsed leaves stay hidden)."""
    if isinstance(v, Revealed) and isinstance(v.value, str):
        try:
            return _hide(json.loads(v.value))
        except ValueError:
            return None
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return None
    return None


def _text(v: Any) -> str | None:
    """Display text for a scalar-ish value."""
    if v is None:
        return None
    if isinstance(v, (Revealed, _Opaque)):
        return SECRET_TEXT
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float, str)):
        return str(v)
    if _is_secret(v):
        return SECRET_TEXT
    return json.dumps(to_display(v), sort_keys=True, ensure_ascii=False)


# Kubernetes quantities: "1000m" == "1", "1Gi" == "1024Mi" (compare, but display as written).
_SUFFIXES = {
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60, "n": Decimal("1e-9"), "u": Decimal("1e-6"),
    "m": Decimal("1e-3"), "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"),
    "T": Decimal("1e12"), "P": Decimal("1e15"), "E": Decimal("1e18"),
}


def _quantity(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return Decimal(str(v))
    if isinstance(v, str):
        s = v.strip()
        for suffix in sorted(_SUFFIXES, key=len, reverse=True):
            if s.endswith(suffix):
                try:
                    return Decimal(s[: -len(suffix)]) * _SUFFIXES[suffix]
                except InvalidOperation:
                    return v
        try:
            return Decimal(s)
        except InvalidOperation:
            return v
    return v


def _same(a: Any, b: Any, *, quantity: bool = False) -> bool:
    """Equal by value (secrets revealed); raises _Unknown when a secret cannot be opened."""
    pa, pb = _plain(a), _plain(b)
    if quantity:
        return bool(_quantity(pa) == _quantity(pb))
    return _json_equal(pa, pb)


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and bool(a == b)


# ----------------------------------------------------------------------------------------------
# What we extract from a resource


@dataclass
class _Env:
    display: str               # what a person sees
    value: Any                 # what is compared
    secret: bool


@dataclass
class _Container:
    key: str                   # identity used to match containers across versions
    label: str                 # 'container "bot"', 'init container "migrate"', 'container #0'
    image: Any = None
    limits: dict[str, Any] = field(default_factory=dict)   # field name -> raw value (may be Revealed)
    env: dict[str, _Env] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rest: dict[str, Any] = field(default_factory=dict)     # the container's other settings, by key


@dataclass
class _Workload:
    kind: str
    containers: list[_Container]
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


def _env_display_value(value: Any) -> _Env:
    if isinstance(value, (Revealed, _Opaque)):
        return _Env(SECRET_TEXT, value, True)
    if isinstance(value, str):
        return _Env(json.dumps(value, ensure_ascii=False), value, False)
    return _Env(_text(value) or "null", value, _is_secret(value))


def _k8s_env(container: Mapping[str, Any]) -> dict[str, _Env]:
    out: dict[str, _Env] = {}
    for i, item in enumerate(container.get("env") or []):
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        key = name if isinstance(name, str) else f"#{i}"
        if "valueFrom" in item and item.get("valueFrom") is not None:
            ref = item["valueFrom"]
            if _is_secret(ref):
                out[key] = _Env(SECRET_TEXT, ref, True)
            elif isinstance(_get(ref, "secretKeyRef"), dict):
                r = ref["secretKeyRef"]
                out[key] = _Env(f"from secret {r.get('name')}/{r.get('key')}", ref, False)
            elif isinstance(_get(ref, "configMapKeyRef"), dict):
                r = ref["configMapKeyRef"]
                out[key] = _Env(f"from configmap {r.get('name')}/{r.get('key')}", ref, False)
            elif isinstance(_get(ref, "fieldRef"), dict):
                out[key] = _Env(f"from field {ref['fieldRef'].get('fieldPath')}", ref, False)
            else:
                out[key] = _Env(_text(ref) or "null", ref, False)
        else:
            out[key] = _env_display_value(item.get("value", ""))
    for i, item in enumerate(container.get("envFrom") or []):
        if not isinstance(item, dict):
            continue
        for ref_kind, word in (("secretRef", "secret"), ("configMapRef", "configmap")):
            ref = item.get(ref_kind)
            if isinstance(ref, dict):
                prefix = item.get("prefix") or ""
                out[f"(envFrom #{i})"] = _Env(f"all keys of {word} {ref.get('name')}"
                                              + (f" with prefix {prefix}" if prefix else ""), item, False)
    return out


_K8S_LIMITS = (("memory limit", ("limits", "memory")), ("cpu limit", ("limits", "cpu")),
               ("memory request", ("requests", "memory")), ("cpu request", ("requests", "cpu")))


def _k8s_containers(spec: Any) -> list[_Container]:
    out: list[_Container] = []
    for init in (False, True):
        items = _get(spec, "initContainers" if init else "containers")
        if isinstance(items, (Revealed, _Opaque)):
            out.append(_Container(key="init:*" if init else "*",
                                  label="init containers" if init else "containers", image=items))
            continue
        for i, c in enumerate(items or []):
            if not isinstance(c, dict):
                continue
            key, label = _container_label(c.get("name"), i, init)
            resources = c.get("resources")
            limits = {f: _get(resources, *p) for f, p in _K8S_LIMITS}
            out.append(_Container(key=key, label=label, image=c.get("image"), limits=limits, env=_k8s_env(c),
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


def _kubernetes(res: Resource, inputs: Any) -> _Workload | None:
    gvk = kubernetes_gvk(res.type)
    if gvk is None or gvk[2] not in _POD_SPEC_PATHS:
        return None
    kind = gvk[2]
    path = _POD_SPEC_PATHS[kind]
    unread: list[str] = []
    info: list[str] = []
    spec: Any = inputs
    for i, key in enumerate(path):
        spec = _get(spec, key)
        if isinstance(spec, _Opaque):
            unread.append(f"{'.'.join(path[: i + 1])} is secret and could not be read: {spec.reason}")
            break
    if not unread and any(isinstance(_get(spec, key, i, "name"), Revealed)
                          for key in ("containers", "initContainers")
                          for i in range(len(_get(spec, key) or []) if isinstance(_get(spec, key), list) else 0)):
        info.append("the pod template is secret: its values show as [secret]")
    scalars: dict[str, Any] = {}
    if kind in _REPLICA_KINDS:
        scalars["replicas"] = _get(inputs, "spec", "replicas")
    if kind == "Job":
        scalars["parallelism"] = _get(inputs, "spec", "parallelism")
    if kind == "CronJob":
        scalars["schedule"] = _get(inputs, "spec", "schedule")
        scalars["suspend"] = _get(inputs, "spec", "suspend")
    containers = [] if isinstance(spec, _Opaque) else _k8s_containers(spec)
    return _Workload(kind=kind, containers=containers, scalars=scalars,
                     quantity_fields=frozenset(f for f, _ in _K8S_LIMITS), info=info, unread=unread)


_ECS_TASK = type_key("aws:ecs/taskDefinition:TaskDefinition")
_ECS_SERVICE = type_key("aws:ecs/service:Service")
_CLOUDRUN_V2 = type_key("gcp:cloudrunv2/service:Service")
_CLOUDRUN_V1 = type_key("gcp:cloudrun/service:Service")
_DOCKER = type_key("docker:index/container:Container")


def _ecs_task(res: Resource, inputs: Any) -> _Workload:
    unread: list[str] = []
    info: list[str] = []
    raw = _get(inputs, "containerDefinitions")
    defs: Any = None
    if isinstance(raw, _Opaque):
        unread.append(f"containerDefinitions is secret and could not be read: {raw.reason}")
    else:
        defs = _json_doc(raw)
        if isinstance(raw, Revealed):
            info.append("containerDefinitions is secret: its values show as [secret]")
        elif raw is not None and defs is None:
            unread.append("containerDefinitions is not valid JSON")
    containers: list[_Container] = []
    for i, c in enumerate(defs if isinstance(defs, list) else []):
        if not isinstance(c, dict):
            continue
        key, label = _container_label(_plain_or_none(c.get("name")), i)
        if isinstance(c.get("name"), Revealed):
            key, label = _container_label(None, i)
        env: dict[str, _Env] = {}
        for j, item in enumerate(c.get("environment") or []):
            if isinstance(item, dict):
                name = item.get("name")
                env[name if isinstance(name, str) else f"#{j}"] = _env_display_value(item.get("value"))
        for j, item in enumerate(c.get("secrets") or []):
            if isinstance(item, dict):
                name = item.get("name")
                ref = item.get("valueFrom")
                shown = SECRET_TEXT if isinstance(ref, (Revealed, _Opaque)) else f"from secret {ref}"
                env[name if isinstance(name, str) else f"#s{j}"] = _Env(shown, ref, isinstance(ref, (Revealed, _Opaque)))
        limits = {"memory limit": c.get("memory"), "memory request": c.get("memoryReservation"),
                  "cpu units": c.get("cpu")}
        containers.append(_Container(key=key, label=label, image=c.get("image"), limits=limits, env=env,
                                     rest=_rest(c, {"name", "image", "memory", "memoryReservation", "cpu",
                                                    "environment", "secrets"})))
    scalars = {"task cpu": _get(inputs, "cpu"), "task memory": _get(inputs, "memory")}
    return _Workload(kind="ECS task definition", containers=containers, scalars=scalars, info=info, unread=unread)


def _plain_or_none(v: Any) -> Any:
    return None if isinstance(v, (Revealed, _Opaque)) else v


def _ecs_service(res: Resource, inputs: Any) -> _Workload:
    return _Workload(kind="ECS service", containers=[], scalars={"desiredCount": _get(inputs, "desiredCount")})


def _cloud_run_env(c: Mapping[str, Any], v1: bool) -> dict[str, _Env]:
    out: dict[str, _Env] = {}
    for i, item in enumerate(c.get("envs" if not v1 and "envs" in c else "env") or []):
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        key = name if isinstance(name, str) else f"#{i}"
        source = item.get("valueSource") if not v1 else item.get("valueFrom")
        if source:
            ref = _get(source, "secretKeyRef")
            if isinstance(ref, dict) and not _is_secret(ref):
                what = (f"{ref.get('secret')}:{ref.get('version')}" if not v1
                        else f"{ref.get('name')}/{ref.get('key')}")
                out[key] = _Env(f"from secret {what}", source, False)
            else:
                out[key] = _Env(SECRET_TEXT if _is_secret(source) else (_text(source) or "null"), source,
                                _is_secret(source))
        else:
            out[key] = _env_display_value(item.get("value", ""))
    return out


def _cloud_run(res: Resource, inputs: Any) -> _Workload:
    v1 = type_key(res.type) == _CLOUDRUN_V1
    items = _get(inputs, "template", "spec", "containers") if v1 else _get(inputs, "template", "containers")
    containers: list[_Container] = []
    unread: list[str] = []
    if isinstance(items, _Opaque):
        unread.append(f"the container list is secret and could not be read: {items.reason}")
        items = []
    elif isinstance(items, Revealed):
        items = []
    for i, c in enumerate(items or []):
        if not isinstance(c, dict):
            continue
        key, label = _container_label(_plain_or_none(c.get("name")), i)
        resources = c.get("resources")
        limits = {"memory limit": _get(resources, "limits", "memory"), "cpu limit": _get(resources, "limits", "cpu")}
        if v1:
            limits["memory request"] = _get(resources, "requests", "memory")
            limits["cpu request"] = _get(resources, "requests", "cpu")
        containers.append(_Container(key=key, label=label, image=c.get("image"), limits=limits,
                                     env=_cloud_run_env(c, v1),
                                     rest=_rest(c, {"name", "image", "resources", "env", "envs"})))
    scalars: dict[str, Any] = {}
    if not v1:
        scalars["min instances"] = _get(inputs, "template", "scaling", "minInstanceCount")
        scalars["max instances"] = _get(inputs, "template", "scaling", "maxInstanceCount")
    return _Workload(kind="Cloud Run service", containers=containers, scalars=scalars,
                     quantity_fields=frozenset({"memory limit", "cpu limit", "memory request", "cpu request"}),
                     unread=unread)


def _docker(res: Resource, inputs: Any) -> _Workload:
    env: dict[str, _Env] = {}
    envs = _get(inputs, "envs")
    if isinstance(envs, (Revealed, _Opaque)):
        env["(envs)"] = _Env(SECRET_TEXT, envs, True)
    else:
        for i, item in enumerate(envs or []):
            if isinstance(item, str):
                name, _, value = item.partition("=")
                env[name] = _env_display_value(value)
            elif isinstance(item, (Revealed, _Opaque)):
                # "NAME=value" inside a secret: the name is part of the secret too.
                env[f"#{i}"] = _Env(SECRET_TEXT, item, True)
    name = _get(inputs, "name")
    label_name = name if isinstance(name, str) else res.name
    limits = {"memory limit": _get(inputs, "memory"), "cpu shares": _get(inputs, "cpuShares"),
              "cpus": _get(inputs, "cpus")}
    rest = _rest(inputs, {"name", "image", "memory", "cpuShares", "cpus", "envs"}) if isinstance(inputs, dict) else {}
    container = _Container(key="main", label=f'container "{label_name}"', image=_get(inputs, "image"),
                           limits=limits, env=env, rest=rest)
    return _Workload(kind="Docker container", containers=[container], scalars={})


def _extractor(res: Resource) -> Callable[[Resource, Any], _Workload | None] | None:
    key = type_key(res.type)
    if key[0] == "kubernetes":
        gvk = kubernetes_gvk(res.type)
        return _kubernetes if gvk is not None and gvk[2] in _POD_SPEC_PATHS else None
    return {_ECS_TASK: _ecs_task, _ECS_SERVICE: _ecs_service, _CLOUDRUN_V2: _cloud_run,
            _CLOUDRUN_V1: _cloud_run, _DOCKER: _docker}.get(key)


# ----------------------------------------------------------------------------------------------
# Comparing


class _Compare:
    def __init__(self) -> None:
        self.notes: list[str] = []

    def field(self, name: str, a: Any, b: Any, *, quantity: bool = False) -> FieldChange | None:
        if a is None and b is None:
            return None
        try:
            if a is not None and b is not None and _same(a, b, quantity=quantity):
                return None
        except _Unknown as exc:
            self.notes.append(f"{name} is secret and could not be compared: {exc.reason}")
            return None
        return FieldChange(name, _text(a), _text(b), _is_secret(a) or _is_secret(b))

    def env(self, a: dict[str, _Env], b: dict[str, _Env]) -> list[EnvChange]:
        out: list[EnvChange] = []
        for name in list(a) + [n for n in b if n not in a]:
            ea, eb = a.get(name), b.get(name)
            if ea is None and eb is not None:
                out.append(EnvChange(name, "added", None, eb.display, eb.secret))
            elif eb is None and ea is not None:
                out.append(EnvChange(name, "removed", ea.display, None, ea.secret))
            elif ea is not None and eb is not None:
                try:
                    if _same(ea.value, eb.value):
                        continue
                except _Unknown as exc:
                    self.notes.append(f"env {name} is secret and could not be compared: {exc.reason}")
                    continue
                secret = ea.secret or eb.secret
                out.append(EnvChange(name, "changed", SECRET_TEXT if secret else ea.display,
                                     SECRET_TEXT if secret else eb.display, secret))
        return out

    def other(self, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
        """Keys of the container's other settings that differ."""
        out = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(key)
                continue
            try:
                if not _same(a[key], b[key]):
                    out.append(key)
            except _Unknown as exc:
                self.notes.append(f"{key} is secret and could not be compared: {exc.reason}")
        return out


def _container_fields(cmp: _Compare, a: _Container | None, b: _Container | None,
                      quantity_fields: frozenset[str]) -> list[FieldChange]:
    fields: list[FieldChange] = []
    fc = cmp.field("image", a.image if a else None, b.image if b else None)
    if fc:
        fields.append(fc)
    names = list((a.limits if a else None) or {}) + [n for n in ((b.limits if b else None) or {})
                                                     if n not in ((a.limits if a else None) or {})]
    for n in names:
        fc = cmp.field(n, ((a.limits if a else None) or {}).get(n), ((b.limits if b else None) or {}).get(n),
                       quantity=n in quantity_fields)
        if fc:
            fields.append(fc)
    return fields


def _compare(res_now: Resource | None, res_then: Resource | None, now: _Workload | None,
             then: _Workload | None) -> list[WorkloadChange]:
    res = res_then or res_now
    w = then or now
    assert res is not None and w is not None

    def change(**kw: Any) -> WorkloadChange:
        return WorkloadChange(urn=res.urn, type=res.type, kind=w.kind, name=urn_name(res.urn), **kw)

    cmp = _Compare()
    if now is None or then is None:
        status = WorkloadStatus.ADDED if now is None else WorkloadStatus.REMOVED
        out = [change(container=None, status=status,
                              notes=tuple(w.unread) if status is WorkloadStatus.ADDED else ())]
        if status is WorkloadStatus.ADDED:
            for c in w.containers:
                out.append(change(container=_label_name(c), status=WorkloadStatus.ADDED,
                                          fields=tuple(_container_fields(cmp, None, c, w.quantity_fields)),
                                          notes=_env_count(c) + tuple(c.notes)))
        return out

    containers: list[WorkloadChange] = []
    by_key_now = {c.key: c for c in now.containers}
    by_key_then = {c.key: c for c in then.containers}
    for key in list(by_key_now) + [k for k in by_key_then if k not in by_key_now]:
        a, b = by_key_now.get(key), by_key_then.get(key)
        if a is None:
            assert b is not None
            containers.append(change(
                container=_label_name(b), status=WorkloadStatus.ADDED,
                fields=tuple(_container_fields(cmp, None, b, then.quantity_fields)),
                notes=_env_count(b) + tuple(b.notes)))
            continue
        if b is None:
            image = cmp.field("image", a.image, None)
            containers.append(change(container=_label_name(a), status=WorkloadStatus.REMOVED,
                                             fields=(image,) if image else ()))
            continue
        fields = _container_fields(cmp, a, b, then.quantity_fields)
        env = cmp.env(a.env, b.env)
        other = cmp.other(a.rest, b.rest)
        unknown = list(cmp.notes)
        cmp.notes.clear()
        if fields or env or other:
            notes = unknown + b.notes + ([f"other settings change: {', '.join(other)}"] if other else [])
            containers.append(change(container=_label_name(b), status=WorkloadStatus.CHANGED,
                                             fields=tuple(fields), env=tuple(env),
                                             notes=tuple(dict.fromkeys(notes))))
        elif unknown:
            containers.append(change(container=_label_name(b), status=WorkloadStatus.UNKNOWN,
                                             notes=tuple(dict.fromkeys(unknown))))

    scalars = [fc for n in list(now.scalars) + [k for k in then.scalars if k not in now.scalars]
               if (fc := cmp.field(n, now.scalars.get(n), then.scalars.get(n))) is not None]
    notes = list(dict.fromkeys(then.unread + now.unread + cmp.notes))
    if containers or scalars:
        notes += [n for n in then.info if n not in notes]
    out = []
    if scalars or notes:
        out.append(change(container=None, status=WorkloadStatus.CHANGED, fields=tuple(scalars),
                                  notes=tuple(notes)))
    return out + containers


def _env_count(c: _Container) -> tuple[str, ...]:
    return (f"{len(c.env)} env var(s)",) if c.env else ()


def _label_name(c: _Container) -> str:
    """The container name as shown ('bot', 'init container migrate', '#0')."""
    if c.label.startswith('container "'):
        return c.label[len('container "'):-1]
    if c.label.startswith('init container "'):
        return "init:" + c.label[len('init container "'):-1]
    return c.label.replace("container ", "")


# ----------------------------------------------------------------------------------------------


def workload_summary(current: Deployment, target: Deployment, *, current_secrets: SecretBox,
                     target_secrets: SecretBox) -> list[WorkloadChange]:
    """Per workload and container, what rolling ``current`` back to ``target`` changes."""
    cur = current.by_urn()
    tgt = target.by_urn()
    out: list[WorkloadChange] = []
    for urn in list(cur) + [u for u in tgt if u not in cur]:
        now, then = cur.get(urn), tgt.get(urn)
        res = then or now
        assert res is not None
        extract = _extractor(res)
        if extract is None:
            continue
        if now is not None and then is not None:
            if now.type != then.type:
                continue
            if "inputs" in now.raw and "inputs" in then.raw and now.raw["inputs"] == then.raw["inputs"]:
                try:
                    if json.dumps(now.raw["inputs"], sort_keys=True) == json.dumps(then.raw["inputs"], sort_keys=True):
                        continue
                except (TypeError, ValueError):
                    pass
        wn = extract(now, _open(now.inputs, current_secrets)) if now is not None else None
        wt = extract(then, _open(then.inputs, target_secrets)) if then is not None else None
        if wn is None and wt is None:
            continue
        out.extend(_compare(now, then, wn, wt))
    return out


__all__ = [
    "EnvChange", "FieldChange", "WorkloadChange", "workload_summary",
    "workloads_to_dicts",
]
