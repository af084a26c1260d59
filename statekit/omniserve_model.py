"""The omniserve bot's checkpoint for a given release, as the infra/ program registers it (shared by the tests, scripts and benchmarks).

Mirrors ``infra/kubernetes_bot.py``, ``infra/ecs_bot.py`` and ``infra/__main__.py`` (types, names, inputs,
component and stack outputs), with what the engine and the providers add on top: ``apiVersion``/``kind``,
bridge ``__defaults`` and auto-names, ids, live outputs (Kubernetes status, ECS revisions), dependencies.

- root ``pulumi:pulumi:Stack`` ``omniserve-<stack>``; default providers ``kubernetes`` 4.18.0 and ``aws`` 6.50.0;
- ``omniserve:bot:KubernetesBot`` ``omniserve``: ConfigMap ``omniserve-config`` (the env), Secret
  ``omniserve-secrets`` (``stringData.API_TOKEN``), ConfigMap ``omniserve-sentiment-model`` (only with a
  sentiment model), Deployment ``omniserve``, Service ``omniserve`` (namespace ``omniserve``, fixed names);
- ``omniserve:bot:EcsBot`` ``omniserve``: Cluster ``omniserve`` (``omniserve-<stack>``), Repository ``omniserve``,
  Role ``omniserve-execution`` (+ RolePolicyAttachment ``omniserve-execution`` and RolePolicy
  ``omniserve-execution-ssm``), Parameter ``omniserve-api-token``, TaskDefinition ``omniserve`` (family
  ``omniserve``), Service ``omniserve``, MetricAlarms ``omniserve-errors`` / ``omniserve-unhealthy-targets``
  (``omniserve-<stack>-errors`` / ``-unhealthy-targets``).

A release is a dict: ``image``, ``memory`` (``512Mi``), ``cpu`` (``500m``), ``replicas``, ``env`` (dict),
``api_token``, optional ``sentiment_model``, ``memory_request`` / ``cpu_request`` (default: the limits),
``subnets``, ``version`` (default: the image tag).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable, Mapping
from typing import Any

from statekit.pulumi_writer import (
    SecretEncrypter,
    b64,
    comparable,
    deployment,
    go_time,
    make_urn,
    provider_ref,
    resource,
    resource_changes,
    secret,
    stable_uuid,
)

__all__ = ["PROJECT", "K8S_VERSION", "AWS_VERSION", "ACCOUNT", "REGION", "NAMESPACE", "REPLACE_KEYS",
           "DEFAULT_SUBNETS", "omniserve_deployment", "omniserve_changes", "cpu_units", "memory_mib",
           "fargate_task_size"]

PROJECT = "omniserve"
K8S_VERSION = "4.18.0"
AWS_VERSION = "6.50.0"
ACCOUNT = "381492026117"
REGION = "us-east-1"
NAMESPACE = "omniserve"
PORT = 8080
HEALTH_PATH = "/healthz"
DEFAULT_SUBNETS = ("subnet-0a4c9e2b7d1f36a58", "subnet-0d83b6f2c9e14a7b0")
EXECUTION_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"

STACK_TYPE = "pulumi:pulumi:Stack"
K8S_BOT = "omniserve:bot:KubernetesBot"
ECS_BOT = "omniserve:bot:EcsBot"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
CLUSTER = "aws:ecs/cluster:Cluster"
REPOSITORY = "aws:ecr/repository:Repository"
ROLE = "aws:iam/role:Role"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
PARAMETER = "aws:ssm/parameter:Parameter"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
ECS_SERVICE = "aws:ecs/service:Service"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"

# Inputs whose change makes the provider replace the resource (pulumi-kubernetes replaces ConfigMaps and
# Secrets on data changes; ECS task definitions are immutable; names are ForceNew in the AWS provider).
REPLACE_KEYS: dict[str, tuple[str, ...]] = {
    CONFIG_MAP: ("data", "binaryData"),
    SECRET: ("data", "stringData", "type"),
    TASK_DEFINITION: ("containerDefinitions", "cpu", "memory", "family", "networkMode",
                      "requiresCompatibilities", "executionRoleArn"),
    REPOSITORY: ("name",),
    CLUSTER: ("name",),
    PARAMETER: ("name",),
    ROLE_POLICY_ATTACHMENT: ("role", "policyArn"),
    ROLE_POLICY: ("name", "role"),
}

# Valid Fargate task sizes (cpu units -> memory MiB), as infra/config.py chooses them.
_FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
}

_STEP = 2_600_000_000  # ~2.6 s between the resource steps of one operation


def cpu_units(cpu: str) -> int:
    """Kubernetes CPU (``500m``, ``1``, ``1.5``) as ECS CPU units (1024 per vCPU)."""
    millis = int(cpu[:-1]) if cpu.endswith("m") else round(float(cpu) * 1000)
    return max(1, math.floor(millis * 1024 / 1000 + 0.5))


def memory_mib(memory: str) -> int:
    """Kubernetes memory (``512Mi``, ``1Gi``) in MiB."""
    if memory.endswith("Gi"):
        return math.ceil(float(memory[:-2]) * 1024)
    if memory.endswith("Mi"):
        return math.ceil(float(memory[:-2]))
    raise ValueError(f"unsupported memory quantity {memory!r}")


def fargate_task_size(units: int, mib: int) -> tuple[int, int]:
    """The smallest valid Fargate task size (cpu units, MiB) holding the container."""
    for size_cpu in sorted(_FARGATE_SIZES):
        if size_cpu >= units:
            for size_memory in _FARGATE_SIZES[size_cpu]:
                if size_memory >= mib:
                    return size_cpu, size_memory
    raise ValueError(f"{units} cpu units / {mib} MiB exceed the Fargate sizes modelled here")


def _version(release: Mapping[str, Any]) -> str:
    return str(release.get("version") or str(release["image"]).rsplit(":", 1)[-1])


def _whole_seconds(nanos: int) -> str:
    return go_time(nanos - nanos % 1_000_000_000)


def _arn(service: str, rest: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}"


class _Builder:
    """Builds the resource list in registration order, carrying ids, counters and timestamps over from
    the previous checkpoint the way an update leaves them."""

    def __init__(self, *, stack: str, crypter: SecretEncrypter, rng: random.Random, time: int,
                 previous: Mapping[str, Any] | None) -> None:
        self.stack = stack
        self.crypter = crypter
        self.rng = rng
        self.time = time
        self.step = 0
        self.previous = {r["urn"]: r for r in (previous or {}).get("resources") or [] if not r.get("delete")}
        self.resources: list[dict[str, Any]] = []
        self.stack_urn = make_urn(stack, PROJECT, STACK_TYPE, f"{PROJECT}-{stack}")

    def urn(self, type_: str, name: str, parent: str | None) -> str:
        return make_urn(self.stack, PROJECT, type_, name, parent=parent)

    def now(self) -> int:
        self.step += 1
        return self.time + self.step * _STEP + self.rng.randrange(0, 900_000_000)

    def upcoming(self) -> int:
        """About when the next resource step happens (without consuming randomness)."""
        return self.time + (self.step + 1) * _STEP

    def before(self, urn: str) -> dict[str, Any] | None:
        return self.previous.get(urn)

    def prev_output(self, urn: str, key: str, default: Any = None) -> Any:
        prev = self.before(urn)
        return default if prev is None else (prev.get("outputs") or {}).get(key, default)

    def same(self, a: Any, b: Any) -> bool:
        return comparable(a, self.crypter.reveal) == comparable(b, self.crypter.reveal)

    def change(self, type_: str, urn: str, inputs: Mapping[str, Any]) -> str:
        """``create``, ``replace``, ``update`` or ``same`` for these inputs against the previous state."""
        prev = self.before(urn)
        if prev is None:
            return "create"
        old = prev.get("inputs") or {}
        if self.same(old, inputs):
            return "same"
        if any(not self.same(old.get(k), inputs.get(k)) for k in REPLACE_KEYS.get(type_, ())):
            return "replace"
        return "update"

    def add(self, *, urn: str, type_: str, custom: bool, op: str, outputs: Mapping[str, Any] | None,
            inputs: Mapping[str, Any] | None = None, id_: str | None = None, parent: str | None = None,
            provider: str | None = None, dependencies: list[str] | None = None,
            property_dependencies: Mapping[str, list[str]] | None = None, **extra: Any) -> int:
        """Append a resource (``created`` kept unless created/replaced now, ``modified`` kept when nothing
        changed); returns its index so a component can fill in its outputs after its children."""
        prev = self.before(urn)
        stamp = self.now()
        if prev is None or op in ("create", "replace"):
            created = modified = stamp
        else:
            created = prev.get("created") or stamp
            unchanged = op == "same" and self.same(prev.get("outputs") or {}, outputs or {})
            modified = (prev.get("modified") or stamp) if unchanged else stamp
        self.resources.append(resource(
            urn=urn, type=type_, custom=custom, id=id_, inputs=inputs, outputs=outputs, parent=parent,
            provider=provider, dependencies=dependencies, property_dependencies=property_dependencies,
            created=created, modified=modified, **extra))
        return len(self.resources) - 1

    def finish_component(self, index: int, outputs: Mapping[str, Any]) -> None:
        """Set a component's (or the root stack's) outputs once registered, keeping ``modified`` when equal."""
        placeholder = self.resources[index]
        prev = self.before(placeholder["urn"])
        keep = prev is not None and self.same(prev.get("outputs") or {}, outputs)
        self.resources[index] = resource(
            urn=placeholder["urn"], type=placeholder["type"], custom=False, outputs=outputs,
            parent=placeholder.get("parent"), dependencies=placeholder.get("dependencies"),
            created=placeholder["created"], modified=prev["modified"] if keep and prev else placeholder["modified"])

    def default_provider(self, pkg: str, version: str, inputs: dict[str, Any]) -> str:
        urn = self.urn(f"pulumi:providers:{pkg}", "default_" + version.replace(".", "_"), None)
        index = self.add(urn=urn, type_=f"pulumi:providers:{pkg}", custom=True,
                         op="same" if self.before(urn) else "create",
                         id_=stable_uuid(self.stack, urn), inputs=inputs, outputs=dict(inputs))
        return provider_ref(self.resources[index])

    def custom(self, *, type_: str, name: str, parent: str, provider: str, inputs: dict[str, Any],
               outputs: Any, id_: Any, dependencies: list[str] | None = None,
               property_dependencies: Mapping[str, list[str]] | None = None,
               **extra: Any) -> tuple[dict[str, Any], str]:
        """A custom resource; ``outputs``/``id_`` may be callables of the step (``create``, ``update``...)."""
        urn = self.urn(type_, name, parent)
        op = self.change(type_, urn, inputs)
        outs = outputs(op) if callable(outputs) else outputs
        rid = id_(outs) if callable(id_) else id_
        self.add(urn=urn, type_=type_, custom=True, op=op, id_=rid, inputs=inputs, outputs=outs, parent=parent,
                 provider=provider, dependencies=dependencies,
                 property_dependencies=property_dependencies or {k: [] for k in inputs if not k.startswith("__")},
                 **extra)
        return outs, urn

    def k8s_object(self, *, type_: str, name: str, parent: str, provider: str, inputs: dict[str, Any],
                   live: Callable[[int], dict[str, Any]] | None = None, dependencies: list[str] | None = None,
                   generation: bool = False, **extra: Any) -> str:
        """A Kubernetes object: outputs are the provider's bookkeeping, the inputs echoed, the live metadata
        (uid, resourceVersion, generation) continued from the previous state, plus ``live(generation)``."""
        urn = self.urn(type_, name, parent)
        op = self.change(type_, urn, inputs)
        prev_meta = self.prev_output(urn, "metadata", {}) or {}
        if op in ("create", "replace"):
            created_at = _whole_seconds(self.upcoming())
            uid, rv, gen = stable_uuid(self.stack, urn, created_at), 1000 + self.rng.randrange(1, 90_000), 1
        else:
            created_at = prev_meta.get("creationTimestamp") or _whole_seconds(self.time)
            uid = prev_meta.get("uid") or stable_uuid(self.stack, urn)
            rv, gen = int(prev_meta.get("resourceVersion") or 1000), int(prev_meta.get("generation") or 1)
            if op == "update":
                rv, gen = rv + self.rng.randrange(40, 9_000), gen + 1
        metadata = {**inputs["metadata"], "creationTimestamp": created_at, "resourceVersion": str(rv), "uid": uid}
        if generation:
            metadata["generation"] = gen
            metadata["annotations"] = {"deployment.kubernetes.io/revision": str(gen)}
        outputs: dict[str, Any] = {
            "__fieldManager": "pulumi-kubernetes-" + stable_uuid(self.stack, urn, "fm")[:8],
            "__initialApiVersion": inputs["apiVersion"],
            "__inputs": inputs,
            **{k: v for k, v in inputs.items() if k != "metadata"},
            "metadata": metadata,
        }
        if live is not None:
            outputs.update(live(gen))
        self.add(urn=urn, type_=type_, custom=True, op=op, id_=f"{NAMESPACE}/{metadata['name']}",
                 inputs=inputs, outputs=outputs, parent=parent, provider=provider, dependencies=dependencies,
                 property_dependencies={k: [] for k in inputs}, **extra)
        return urn


# ----------------------------------------------------------------------------------------------
# Kubernetes (infra/kubernetes_bot.py)
# ----------------------------------------------------------------------------------------------

def _config_hash(env: Mapping[str, str], model: str | None) -> str:
    payload = json.dumps({"env": dict(env), "sentimentModel": model}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _kubernetes(b: _Builder, release: Mapping[str, Any]) -> dict[str, Any]:
    env = {k: str(v) for k, v in sorted(dict(release["env"]).items())}
    model = release.get("sentiment_model") or None
    labels = {"app": PROJECT}
    comp_urn = b.urn(K8S_BOT, PROJECT, b.stack_urn)
    comp_index = b.add(urn=comp_urn, type_=K8S_BOT, custom=False, op="same", outputs={}, parent=b.stack_urn)
    # The default provider is registered when the first Kubernetes resource needs it.
    provider = b.default_provider("kubernetes", K8S_VERSION, {"version": K8S_VERSION})

    def meta(name: str) -> dict[str, Any]:
        return {"labels": labels, "name": name, "namespace": NAMESPACE}

    cm_urn = b.k8s_object(type_=CONFIG_MAP, name=f"{PROJECT}-config", parent=comp_urn, provider=provider,
                          inputs={"apiVersion": "v1", "data": env, "kind": "ConfigMap",
                                  "metadata": meta(f"{PROJECT}-config")})
    token = str(release["api_token"])
    sec_urn = b.k8s_object(
        type_=SECRET, name=f"{PROJECT}-secrets", parent=comp_urn, provider=provider,
        inputs={"apiVersion": "v1", "kind": "Secret", "metadata": meta(f"{PROJECT}-secrets"),
                "stringData": secret({"API_TOKEN": token}), "type": "Opaque"},
        live=lambda _: {"data": secret({"API_TOKEN": b64(token)})},
        additionalSecretOutputs=["data", "stringData"])
    needs = [cm_urn, sec_urn]
    container_env: list[dict[str, Any]] = [
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"key": "API_TOKEN", "name": f"{PROJECT}-secrets"}}},
    ]
    if model:
        needs.append(b.k8s_object(
            type_=CONFIG_MAP, name=f"{PROJECT}-sentiment-model", parent=comp_urn, provider=provider,
            inputs={"apiVersion": "v1", "data": {"model": str(model)}, "kind": "ConfigMap",
                    "metadata": meta(f"{PROJECT}-sentiment-model")}))
        container_env.append({"name": "SENTIMENT_MODEL_CONFIG", "value": f"{PROJECT}-sentiment-model"})

    cpu, memory, replicas = str(release["cpu"]), str(release["memory"]), int(release["replicas"])

    def probe(initial: int, period: int) -> dict[str, Any]:
        return {"failureThreshold": 3, "httpGet": {"path": HEALTH_PATH, "port": PORT},
                "initialDelaySeconds": initial, "periodSeconds": period, "timeoutSeconds": 3}

    container = {
        "env": container_env,
        "envFrom": [{"configMapRef": {"name": f"{PROJECT}-config"}}],
        "image": release["image"],
        "livenessProbe": probe(15, 10),
        "name": "bot",
        "ports": [{"containerPort": PORT, "name": "http", "protocol": "TCP"}],
        "readinessProbe": probe(5, 5),
        "resources": {"limits": {"cpu": cpu, "memory": memory},
                      "requests": {"cpu": str(release.get("cpu_request") or cpu),
                                   "memory": str(release.get("memory_request") or memory)}},
    }
    template_meta = {"annotations": {"omniserve.dev/config-hash": _config_hash(env, model)}, "labels": labels}
    strategy = {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}, "type": "RollingUpdate"}
    dep_inputs = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(PROJECT), "spec": {
        "progressDeadlineSeconds": 300, "replicas": replicas, "selector": {"matchLabels": labels},
        "strategy": strategy, "template": {"metadata": template_meta, "spec": {"containers": [container]}}}}

    def live_probe(p: dict[str, Any]) -> dict[str, Any]:
        return {**p, "httpGet": {**p["httpGet"], "scheme": "HTTP"}, "successThreshold": 1}

    live_container = {**container, "imagePullPolicy": "IfNotPresent",
                      "livenessProbe": live_probe(container["livenessProbe"]),
                      "readinessProbe": live_probe(container["readinessProbe"]),
                      "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
    live_spec = {"progressDeadlineSeconds": 300, "replicas": replicas, "revisionHistoryLimit": 10,
                 "selector": {"matchLabels": labels}, "strategy": strategy,
                 "template": {"metadata": template_meta, "spec": {
                     "containers": [live_container], "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                     "schedulerName": "default-scheduler", "securityContext": {},
                     "terminationGracePeriodSeconds": 30}}}
    dep_urn = b.urn(DEPLOYMENT, PROJECT, comp_urn)
    prev_status = b.prev_output(dep_urn, "status")
    rolled = b.change(DEPLOYMENT, dep_urn, dep_inputs) != "same" or prev_status is None
    rollout = _whole_seconds(b.upcoming() + 38_000_000_000)
    replica_set = f"{PROJECT}-" + hashlib.sha256(json.dumps(dep_inputs["spec"]["template"], sort_keys=True,
                                                            default=str).encode()).hexdigest()[:10]

    def deployment_live(gen: int) -> dict[str, Any]:
        status = {
            "availableReplicas": replicas,
            "conditions": [
                {"lastTransitionTime": rollout, "lastUpdateTime": rollout,
                 "message": "Deployment has minimum availability.", "reason": "MinimumReplicasAvailable",
                 "status": "True", "type": "Available"},
                {"lastTransitionTime": rollout, "lastUpdateTime": rollout,
                 "message": f'ReplicaSet "{replica_set}" has successfully progressed.',
                 "reason": "NewReplicaSetAvailable", "status": "True", "type": "Progressing"},
            ],
            "observedGeneration": gen, "readyReplicas": replicas, "replicas": replicas, "updatedReplicas": replicas,
        }
        return {"spec": live_spec, "status": status if rolled else prev_status}

    b.k8s_object(type_=DEPLOYMENT, name=PROJECT, parent=comp_urn, provider=provider, inputs=dep_inputs,
                 live=deployment_live, generation=True, dependencies=needs)

    svc_spec = {"ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": PORT}],
                "selector": labels, "type": "ClusterIP"}
    svc_urn = b.urn(SERVICE, PROJECT, comp_urn)
    digest = hashlib.sha256(svc_urn.encode()).digest()
    cluster_ip = f"10.100.{digest[0] % 250 + 2}.{digest[1] % 250 + 2}"
    b.k8s_object(type_=SERVICE, name=PROJECT, parent=comp_urn, provider=provider,
                 inputs={"apiVersion": "v1", "kind": "Service", "metadata": meta(PROJECT), "spec": svc_spec},
                 live=lambda _: {"spec": {**svc_spec, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                                          "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"],
                                          "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None"},
                                 "status": {"loadBalancer": {}}})

    outputs = {"deployment": PROJECT, "image": release["image"], "namespace": NAMESPACE, "service": PROJECT}
    b.finish_component(comp_index, outputs)
    return outputs


# ----------------------------------------------------------------------------------------------
# ECS (infra/ecs_bot.py)
# ----------------------------------------------------------------------------------------------

def _ecs(b: _Builder, release: Mapping[str, Any]) -> dict[str, Any]:
    stack = b.stack
    comp_urn = b.urn(ECS_BOT, PROJECT, b.stack_urn)
    comp_index = b.add(urn=comp_urn, type_=ECS_BOT, custom=False, op="same", outputs={}, parent=b.stack_urn)
    provider = b.default_provider("aws", AWS_VERSION, {
        "region": REGION, "skipCredentialsValidation": "false", "skipRegionValidation": "true",
        "version": AWS_VERSION})

    def custom(type_: str, name: str, inputs: dict[str, Any], outputs: Any, id_: Any,
               dependencies: list[str] | None = None,
               property_dependencies: Mapping[str, list[str]] | None = None) -> tuple[dict[str, Any], str]:
        return b.custom(type_=type_, name=name, parent=comp_urn, provider=provider, inputs=inputs,
                        outputs=outputs, id_=id_, dependencies=dependencies,
                        property_dependencies=property_dependencies)

    def live(inputs: Mapping[str, Any], **more: Any) -> dict[str, Any]:
        """Outputs: the inputs without bridge bookkeeping (nested ``__defaults`` too), plus live fields."""
        def strip(v: Any) -> Any:
            if isinstance(v, dict):
                return {k: strip(x) for k, x in v.items() if k != "__defaults"}
            if isinstance(v, list):
                return [strip(x) for x in v]
            return v
        return {**strip(dict(inputs)), "tags": {}, "tagsAll": {}, **more}

    cluster_name = f"{PROJECT}-{stack}"
    cluster_arn = _arn("ecs", f"cluster/{cluster_name}")
    cluster_in = {"__defaults": [], "name": cluster_name,
                  "settings": [{"__defaults": [], "name": "containerInsights", "value": "enabled"}]}
    _, cluster_urn = custom(CLUSTER, PROJECT, cluster_in,
                            live(cluster_in, arn=cluster_arn, configuration=None, id=cluster_arn,
                                 serviceConnectDefaults=None), cluster_arn)

    repo_name = f"{PROJECT}-{stack}"
    repo_in = {"__defaults": [], "imageScanningConfiguration": {"__defaults": [], "scanOnPush": True},
               "imageTagMutability": "IMMUTABLE", "name": repo_name}
    repo_url = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repo_name}"
    custom(REPOSITORY, PROJECT, repo_in, live(
        repo_in, arn=_arn("ecr", f"repository/{repo_name}"),
        encryptionConfigurations=[{"encryptionType": "AES256", "kmsKey": ""}], forceDelete=None, id=repo_name,
        registryId=ACCOUNT, repositoryUrl=repo_url), repo_name)

    role_urn = b.urn(ROLE, f"{PROJECT}-execution", comp_urn)
    role_name = f"{PROJECT}-execution-" + stable_uuid(stack, role_urn).replace("-", "")[:7]
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role_name}"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role_in = {"__defaults": ["forceDetachPolicies", "maxSessionDuration", "name", "path"],
               "assumeRolePolicy": json.dumps(trust), "description": f"ECS task execution role of {PROJECT} ({stack})",
               "forceDetachPolicies": False, "maxSessionDuration": 3600, "name": role_name, "path": "/"}
    created_role = b.prev_output(role_urn, "createDate") or _whole_seconds(b.upcoming())
    custom(ROLE, f"{PROJECT}-execution", role_in, live(
        role_in, arn=role_arn, assumeRolePolicy=json.dumps(trust, sort_keys=True, separators=(",", ":")),
        createDate=created_role, id=role_name, inlinePolicies=[], managedPolicyArns=[], namePrefix="",
        permissionsBoundary="", uniqueId="AROA" + stable_uuid(stack, role_urn, "uid").replace("-", "").upper()[:17]),
        role_name)

    attach_in = {"__defaults": [], "policyArn": EXECUTION_POLICY_ARN, "role": role_name}
    attach_urn = b.urn(ROLE_POLICY_ATTACHMENT, f"{PROJECT}-execution", comp_urn)
    attach_id = f"{role_name}-2026{stable_uuid(stack, attach_urn).replace('-', '')[:22]}"
    custom(ROLE_POLICY_ATTACHMENT, f"{PROJECT}-execution", attach_in,
           {"id": attach_id, "policyArn": EXECUTION_POLICY_ARN, "role": role_name}, attach_id,
           dependencies=[role_urn], property_dependencies={"policyArn": [], "role": [role_urn]})

    param_name = f"/{PROJECT}/{stack}/api-token"
    param_arn = _arn("ssm", f"parameter{param_name}")
    token = str(release["api_token"])
    param_in = {"__defaults": [], "description": f"API token of {PROJECT} ({stack})", "name": param_name,
                "type": "SecureString", "value": secret(token)}
    param_urn = b.urn(PARAMETER, f"{PROJECT}-api-token", comp_urn)
    param_version = int(b.prev_output(param_urn, "version", 0) or 0)
    custom(PARAMETER, f"{PROJECT}-api-token", param_in, lambda op: live(
        param_in, allowedPattern="", arn=param_arn, dataType="text", id=param_name, insecureValue=None,
        keyId="alias/aws/ssm", overwrite=None, tier="Standard", value=secret(token),
        version=param_version + (0 if op == "same" else 1)), param_name)

    ssm_urn = b.urn(ROLE_POLICY, f"{PROJECT}-execution-ssm", comp_urn)
    ssm_name = f"{PROJECT}-execution-ssm-" + stable_uuid(stack, ssm_urn).replace("-", "")[:7]
    ssm_policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ssm:GetParameters"], "Resource": [param_arn]}]})
    ssm_in = {"__defaults": ["name"], "name": ssm_name, "policy": ssm_policy, "role": role_name}
    custom(ROLE_POLICY, f"{PROJECT}-execution-ssm", ssm_in,
           {"id": f"{role_name}:{ssm_name}", "name": ssm_name, "namePrefix": "", "policy": ssm_policy,
            "role": role_name}, f"{role_name}:{ssm_name}", dependencies=[role_urn, param_urn],
           property_dependencies={"policy": [param_urn], "role": [role_urn]})

    units, mib = cpu_units(str(release["cpu"])), memory_mib(str(release["memory"]))
    reservation = memory_mib(str(release.get("memory_request") or release["memory"]))
    task_cpu, task_memory = fargate_task_size(units, mib)
    env = dict(release["env"])
    health = {"command": ["CMD-SHELL", f"curl -f http://localhost:{PORT}{HEALTH_PATH} || exit 1"],
              "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 15}
    container = {
        "name": "bot", "image": release["image"], "essential": True, "cpu": units, "memory": mib,
        "memoryReservation": reservation,
        "portMappings": [{"containerPort": PORT, "hostPort": PORT, "protocol": "tcp"}],
        "environment": [{"name": k, "value": str(env[k])} for k in sorted(env)],
        "secrets": [{"name": "API_TOKEN", "valueFrom": param_arn}],
        "healthCheck": health,
    }
    registered = {**container, "mountPoints": [], "systemControls": [], "volumesFrom": []}
    td_in = {"__defaults": ["skipDestroy"], "containerDefinitions": json.dumps([container]),
             "cpu": str(task_cpu), "executionRoleArn": role_arn, "family": PROJECT, "memory": str(task_memory),
             "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "skipDestroy": False}
    td_urn = b.urn(TASK_DEFINITION, PROJECT, comp_urn)
    revision0 = int(b.prev_output(td_urn, "revision", 0) or 0)

    def td_outputs(op: str) -> dict[str, Any]:
        revision = revision0 if op == "same" else revision0 + 1
        return live(td_in, __meta='{"schema_version":"1"}', arn=_arn("ecs", f"task-definition/{PROJECT}:{revision}"),
                    arnWithoutRevision=_arn("ecs", f"task-definition/{PROJECT}"),
                    containerDefinitions=json.dumps([registered], sort_keys=True, separators=(",", ":")),
                    ephemeralStorage=None, id=PROJECT, inferenceAccelerators=[], ipcMode="", pidMode="",
                    placementConstraints=[], proxyConfiguration=None, revision=revision, runtimePlatform=None,
                    taskRoleArn="", trackLatest=False, volumes=[])

    td_outs, td_urn = custom(TASK_DEFINITION, PROJECT, td_in, td_outputs, PROJECT,
                             dependencies=[role_urn, param_urn],
                             property_dependencies={"containerDefinitions": [param_urn], "cpu": [],
                                                    "executionRoleArn": [role_urn], "family": [], "memory": [],
                                                    "networkMode": [], "requiresCompatibilities": []})
    td_arn = td_outs["arn"]

    subnets = list(release.get("subnets") or DEFAULT_SUBNETS)
    svc_in = {"__defaults": ["enableEcsManagedTags", "enableExecuteCommand", "schedulingStrategy"],
              "cluster": cluster_arn,
              "deploymentCircuitBreaker": {"__defaults": [], "enable": True, "rollback": True},
              "deploymentMaximumPercent": 200, "deploymentMinimumHealthyPercent": 100,
              "desiredCount": int(release["replicas"]), "enableEcsManagedTags": False,
              "enableExecuteCommand": False, "launchType": "FARGATE", "name": PROJECT,
              "networkConfiguration": {"__defaults": [], "assignPublicIp": False, "subnets": subnets},
              "schedulingStrategy": "REPLICA", "taskDefinition": td_arn}
    svc_id = _arn("ecs", f"service/{cluster_name}/{PROJECT}")
    _, svc_urn = custom(ECS_SERVICE, PROJECT, svc_in, live(
        svc_in, __meta='{"e2bfb730-ecaa-11e6-8f88-34363bc7c4c0":{"create":1200000000000,'
                       '"delete":1200000000000,"update":1200000000000}}',
        alarms=None, availabilityZoneRebalancing="DISABLED", capacityProviderStrategies=[],
        deploymentController={"type": "ECS"}, forceNewDeployment=None, healthCheckGracePeriodSeconds=0,
        iamRole="aws-service-role", id=svc_id, loadBalancers=[],
        networkConfiguration={"assignPublicIp": False, "securityGroups": [], "subnets": subnets},
        orderedPlacementStrategies=[], placementConstraints=[], platformVersion="LATEST", propagateTags="NONE",
        serviceConnectConfiguration=None, serviceRegistries=None, triggers={}, waitForSteadyState=False),
        svc_id, dependencies=[cluster_urn, td_urn, b.urn(ROLE_POLICY_ATTACHMENT, f"{PROJECT}-execution", comp_urn),
                              ssm_urn],
        property_dependencies={"cluster": [cluster_urn], "deploymentCircuitBreaker": [],
                               "deploymentMaximumPercent": [], "deploymentMinimumHealthyPercent": [],
                               "desiredCount": [], "launchType": [], "name": [], "networkConfiguration": [],
                               "taskDefinition": [td_urn]})

    replicas = int(release["replicas"])
    alarm_names = []
    for suffix, spec, deps in (
        ("errors", {"alarmDescription": f"{PROJECT} ({stack}) reports errors (custom metric Omniserve/Errors)",
                    "comparisonOperator": "GreaterThanThreshold", "dimensions": {"Stack": stack},
                    "evaluationPeriods": 3, "metricName": "Errors", "namespace": "Omniserve", "period": 60,
                    "statistic": "Sum", "threshold": 5, "treatMissingData": "notBreaching"}, []),
        ("unhealthy-targets", {"alarmDescription": f"{PROJECT} ({stack}) runs fewer healthy tasks than the "
                                                   f"{replicas} desired",
                               "comparisonOperator": "LessThanThreshold",
                               "dimensions": {"ClusterName": cluster_name, "ServiceName": PROJECT},
                               "evaluationPeriods": 3, "metricName": "RunningTaskCount",
                               "namespace": "ECS/ContainerInsights", "period": 60, "statistic": "Minimum",
                               "threshold": replicas, "treatMissingData": "breaching"}, [cluster_urn, svc_urn]),
    ):
        alarm_name = f"{PROJECT}-{stack}-{suffix}"
        alarm_names.append(alarm_name)
        alarm_in = {"__defaults": ["actionsEnabled"], "actionsEnabled": True, "name": alarm_name, **spec}
        custom(ALARM, f"{PROJECT}-{suffix}", alarm_in, live(
            alarm_in, alarmActions=[], arn=_arn("cloudwatch", f"alarm:{alarm_name}"), datapointsToAlarm=0,
            evaluateLowSampleCountPercentiles="", extendedStatistic="", id=alarm_name, insufficientDataActions=[],
            metricQueries=[], okActions=[], thresholdMetricId="", unit=""), alarm_name,
            dependencies=deps or None,
            property_dependencies={**{k: [] for k in alarm_in if not k.startswith("__")}, "dimensions": deps})

    outputs = {"alarms": alarm_names, "cluster": cluster_name, "repositoryUrl": repo_url, "service": PROJECT,
               "taskDefinitionArn": td_arn}
    b.finish_component(comp_index, outputs)
    return outputs


# ----------------------------------------------------------------------------------------------
# the whole checkpoint
# ----------------------------------------------------------------------------------------------

def omniserve_deployment(*, stack: str, release: Mapping[str, Any], crypter: SecretEncrypter,
                         rng: random.Random, time: int, previous: Mapping[str, Any] | None = None,
                         ecs_release: Mapping[str, Any] | None = None, refresh: bool = False,
                         manifest_time: int | None = None) -> dict[str, Any]:
    """The deployment (``checkpoint.latest``) after deploying ``release`` to ``stack``.

    ``time`` (unix nanoseconds) is when the operation started; resources get ``created``/``modified``
    stamps a few seconds apart after it, kept from ``previous`` where nothing changed. Ids, Kubernetes
    uids/resourceVersions/generations, SSM versions and the task definition revision continue from
    ``previous``. ``ecs_release`` builds the partial state of an update that failed half-way: Kubernetes
    already on ``release``, ECS (and the stack outputs, never re-registered) still on ``ecs_release``.
    ``refresh`` re-encrypts output secrets (new nonces); unchanged secrets otherwise keep their ciphertexts.
    Secrets are sealed with ``crypter`` (one salt per stack).
    """
    b = _Builder(stack=stack, crypter=crypter, rng=rng, time=time, previous=previous)
    stack_index = b.add(urn=b.stack_urn, type_=STACK_TYPE, custom=False, op="same", outputs={})
    k8s = _kubernetes(b, release)
    ecs = _ecs(b, ecs_release or release)

    prev_stack = b.before(b.stack_urn)
    if ecs_release is not None and prev_stack is not None:
        stack_outputs = dict(prev_stack.get("outputs") or {})  # the failed program never re-registered them
    else:
        stack_outputs = {"ecrRepositoryUrl": ecs["repositoryUrl"], "ecsCluster": ecs["cluster"],
                         "ecsService": ecs["service"], "image": k8s["image"],
                         "kubernetesDeployment": k8s["deployment"], "kubernetesNamespace": k8s["namespace"],
                         "platforms": ["kubernetes", "ecs"], "taskDefinitionArn": ecs["taskDefinitionArn"]}
    b.finish_component(stack_index, stack_outputs)
    if not (prev_stack is not None and b.same(prev_stack.get("outputs") or {}, stack_outputs)):
        # the root stack's outputs are registered when the program ends
        b.resources[stack_index]["modified"] = go_time(b.now())

    dep = deployment(time=manifest_time if manifest_time is not None else b.now(), resources=b.resources,
                     secrets_providers=crypter.secrets_providers())
    return crypter.seal(dep, previous=previous, reencrypt=("outputs",) if refresh else ())


def omniserve_changes(previous: Mapping[str, Any] | None, current: Mapping[str, Any], *,
                      crypter: SecretEncrypter, refresh: bool = False) -> dict[str, int]:
    """``resourceChanges`` for an operation from ``previous`` to ``current`` (replacements as the providers
    decide them for these types)."""
    return resource_changes(previous, current, reveal=crypter.reveal, replace_keys=REPLACE_KEYS,
                            refresh=refresh)
