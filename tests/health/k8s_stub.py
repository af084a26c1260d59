"""A Kubernetes API server stub: Deployments at /apis/apps/v1/namespaces/<ns>/deployments/<name>.

Objects are shaped the way the real API server returns them (zero-valued status counters omitted,
as Go's ``omitempty`` does; unknown names get a ``Status`` 404). Tests script a Deployment's
status progression with :func:`deployment` answers.
"""

from __future__ import annotations

from typing import Any

from tests.health.stub_server import ScriptedServer


def deployment_path(namespace: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


def _not_found(path: str) -> tuple[int, dict[str, Any]]:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return 404, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": f'deployments.apps "{name}" not found', "reason": "NotFound",
                 "details": {"name": name, "group": "apps", "kind": "deployments"}, "code": 404}


def kube_api_stub() -> ScriptedServer:
    return ScriptedServer(fallback=_not_found)


def deployment(*, namespace: str = "omniserve", name: str = "omniserve", replicas: int = 3,
               generation: int = 2, observed: int = 2, updated: int = 3, ready: int = 3, available: int = 3,
               total: int | None = None, images: dict[str, str] | None = None,
               deadline_exceeded: bool = False) -> tuple[int, dict[str, Any]]:
    """One answer: a Deployment object with the given counters."""
    images = images or {"bot": "ghcr.io/omniserve/bot:1.4.0"}
    labels = {"app.kubernetes.io/name": name}
    status: dict[str, Any] = {"observedGeneration": observed}
    for key, value in (("replicas", updated if total is None else total), ("updatedReplicas", updated),
                       ("readyReplicas", ready), ("availableReplicas", available)):
        if value:
            status[key] = value
    if available < replicas:
        status["unavailableReplicas"] = replicas - available
    progressing = ({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                    "message": f'ReplicaSet "{name}-7d9c" has timed out progressing.'}
                   if deadline_exceeded else
                   {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"
                    if updated == replicas else "ReplicaSetUpdated",
                    "message": f'ReplicaSet "{name}-7d9c" is progressing.'})
    stamp = "2025-01-01T00:00:00Z"
    status["conditions"] = [
        {"type": "Available", "status": "True" if available >= replicas else "False",
         "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.",
         "lastUpdateTime": stamp, "lastTransitionTime": stamp},
        dict(progressing, lastUpdateTime=stamp, lastTransitionTime=stamp),
    ]
    return 200, {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": name, "namespace": namespace, "uid": "0b6c5f4e-1111-2222-3333-444455556666",
                     "resourceVersion": "1234", "generation": generation, "creationTimestamp": stamp,
                     "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": c, "image": i, "resources": {}}
                                                 for c, i in images.items()]}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
        },
        "status": status,
    }


def kubeconfig_text(server_url: str, *, token: str = "stub-token", current: str = "stub",
                    dead_url: str = "http://127.0.0.1:9") -> str:
    """A kubeconfig with context ``stub`` (``server_url``) and ``dead`` (nothing listens); ``current`` is current."""
    return f"""apiVersion: v1
kind: Config
clusters:
- name: stub
  cluster:
    server: {server_url}
- name: dead
  cluster:
    server: {dead_url}
users:
- name: stub
  user:
    token: {token}
contexts:
- name: stub
  context:
    cluster: stub
    user: stub
- name: dead
  context:
    cluster: dead
    user: stub
current-context: {current}
"""
