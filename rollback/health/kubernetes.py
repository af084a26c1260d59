"""Kubernetes Deployment gate: the rule of ``kubectl rollout status``, plus the image check.

Once the controller has observed the latest generation (``status.observedGeneration >= metadata.generation``):

- a ``Progressing`` condition with reason ``ProgressDeadlineExceeded`` is unhealthy at once;
- otherwise it is done when ``updatedReplicas``, ``availableReplicas`` and ``readyReplicas`` all equal
  ``spec.replicas`` and no old replicas are left (``status.replicas == updatedReplicas``).

Before that, the conditions are the previous rollout's and are not trusted (progressing).

With a target checkpoint, the pod template's images must equal the target's per container, else
unhealthy naming the container, the expected and the running image.

Connection: kubeconfig path and context from the gate (``kubeconfig``, ``context``), else ``KUBECONFIG``,
else ``~/.kube/config``; in a pod with none of those, the in-cluster service account.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from rollback.errors import BadInput, OperationFailed
from rollback.health.expect import Expectations, KubernetesExpectation
from rollback.health.runner import GateResult, GateUnreachable
from rollback.health.spec import KUBERNETES_ROLLOUT, KubernetesRolloutSpec

TIMED_OUT_REASON = "ProgressDeadlineExceeded"


def _n(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _pod_images(obj: Mapping[str, Any]) -> dict[str, str]:
    containers = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return {str(c.get("name")): str(c.get("image")) for c in containers if isinstance(c, Mapping)}


def image_problems(obj: Mapping[str, Any], expected: KubernetesExpectation) -> list[str]:
    running = _pod_images(obj)
    problems: list[str] = []
    for name, image in expected.images.items():
        actual = running.get(name)
        if actual is None:
            problems.append(f"container {name}: expected image {image}, but the deployment has no such container")
        elif actual != image:
            problems.append(f"container {name}: expected image {image}, running {actual}")
    if not expected.skipped:
        for name in sorted(set(running) - set(expected.images)):
            problems.append(f"container {name} ({running[name]}) is not in the target")
    return problems


def rollout_verdict(obj: Mapping[str, Any], expected: KubernetesExpectation | None = None,
                    note: str = "") -> GateResult:
    """Judge one Deployment object (camelCase JSON as the API server returns it)."""
    if expected is not None:
        problems = image_problems(obj, expected)
        if problems:
            return GateResult.unhealthy("wrong image: " + "; ".join(problems))
        if expected.skipped:
            note = expected.skipped
        elif expected.images:
            note = "images match the target"
    tail = f"; {note}" if note else ""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    generation, observed = _n(meta.get("generation")), _n(status.get("observedGeneration"))
    if observed < generation:
        return GateResult.progressing(f"waiting for the controller to observe generation {generation} "
                                      f"(observed {observed}){tail}")
    for cond in status.get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == "Progressing" and cond.get("reason") == TIMED_OUT_REASON:
            message = " ".join(str(cond.get("message") or "").split())
            return GateResult.unhealthy(f"rollout exceeded its progress deadline ({TIMED_OUT_REASON})"
                                        + (f": {message}" if message else ""))
    desired = _n(spec.get("replicas")) if spec.get("replicas") is not None else 1
    total = _n(status.get("replicas"))
    updated = _n(status.get("updatedReplicas"))
    available = _n(status.get("availableReplicas"))
    ready = _n(status.get("readyReplicas"))
    if updated != desired:
        return GateResult.progressing(f"{updated} of {desired} new replicas updated{tail}")
    if total != updated:
        return GateResult.progressing(f"{total - updated} old replicas pending termination{tail}")
    if available != desired:
        return GateResult.progressing(f"{available} of {desired} updated replicas available{tail}")
    if ready != desired:
        return GateResult.progressing(f"{ready} of {desired} updated replicas ready{tail}")
    return GateResult.healthy(f"{desired}/{desired} replicas updated, ready and available "
                              f"(generation {generation}){tail}")


class KubernetesRolloutGate:
    kind = KUBERNETES_ROLLOUT

    def __init__(self, spec: KubernetesRolloutSpec, *, expectations: Expectations | None = None,
                 api: Any = None, environ: Mapping[str, str] | None = None,
                 request_timeout: float = 10.0) -> None:
        self.spec = spec
        self.name = spec.label
        self.expectations = expectations
        self._api = api
        self._environ = os.environ if environ is None else environ
        self._request_timeout = request_timeout

    @property
    def who(self) -> str:
        return f"{self.kind} {self.name}"

    def _kubeconfig(self) -> str | None:
        if self.spec.kubeconfig:
            return os.path.expanduser(self.spec.kubeconfig)
        env = self._environ.get("KUBECONFIG")
        if env:
            return os.pathsep.join(os.path.expanduser(p) for p in env.split(os.pathsep) if p)
        default = os.path.expanduser("~/.kube/config")
        if os.path.exists(default) or not self._environ.get("KUBERNETES_SERVICE_HOST"):
            return default
        return None     # in a pod without a kubeconfig

    def _connect(self) -> Any:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        path = self._kubeconfig()
        try:
            if path is None:
                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)
                api_client = client.ApiClient(configuration)
            else:
                missing = [p for p in path.split(os.pathsep) if not os.path.exists(p)]
                if missing and len(missing) == len(path.split(os.pathsep)):
                    raise BadInput(f"{self.who}: kubeconfig {path} not found (set kubeconfig: in the gate "
                                   f"or KUBECONFIG)")
                api_client = config.new_client_from_config(config_file=path, context=self.spec.context,
                                                           persist_config=False)
        except ConfigException as exc:
            where = f"kubeconfig {path}" if path else "in-cluster config"
            context = f", context {self.spec.context}" if self.spec.context else ""
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            raise BadInput(f"{self.who}: cannot use {where}{context}: {first}") from exc
        return client.AppsV1Api(api_client)

    def _read(self) -> Mapping[str, Any] | GateResult:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        if self._api is None:
            self._api = self._connect()
        ns, name = self.spec.namespace, self.spec.deployment
        try:
            deployment = self._api.read_namespaced_deployment(name, ns, _request_timeout=self._request_timeout)
        except ApiException as exc:
            status = exc.status or 0
            if status == 404:
                return GateResult.unhealthy(f"deployment {ns}/{name} not found")
            if status == 429 or status >= 500:
                return GateResult.progressing(f"API server answered {status} {exc.reason or ''}".rstrip())
            if status in (401, 403):   # we may not look: that says nothing about the deployment
                return GateResult.unknown(f"the Kubernetes API refused to read deployment {ns}/{name}: "
                                          f"{status} {exc.reason or ''}".rstrip())
            raise OperationFailed(f"{self.who}: the Kubernetes API refused to read deployment {ns}/{name}: "
                                  f"{status} {exc.reason or ''}".rstrip()) from exc
        except HTTPError as exc:
            host = getattr(getattr(self._api, "api_client", None), "configuration", None)
            where = f" at {host.host}" if host is not None else ""
            reason = getattr(exc, "reason", None) or exc
            text = str(reason).rsplit(": ", 1)[-1].strip() or exc.__class__.__name__
            raise GateUnreachable(f"{self.who}: cannot reach the Kubernetes API server{where}: {text}") from exc
        if isinstance(deployment, Mapping):
            return deployment
        obj: Mapping[str, Any] = self._api.api_client.sanitize_for_serialization(deployment)
        return obj

    def check(self) -> GateResult:
        obj = self._read()
        if isinstance(obj, GateResult):
            return obj
        expected = None
        note = ""
        if self.expectations is not None:
            key = f"{self.spec.namespace}/{self.spec.deployment}"
            expected = self.expectations.kubernetes.get(key)
            if expected is None:
                note = f"images not compared: the target has no Deployment {key}"
        return rollout_verdict(obj, expected, note)
