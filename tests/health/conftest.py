"""Fixtures of the health gate tests: a moto server (once per session), a Kubernetes API stub, a
metrics server, and a fake clock.

moto and ECS rollouts (moto 5.2): a service gets one PRIMARY deployment when it is created, with
``runningCount`` taken from the ``MOTO_ECS_SERVICE_RUNNING`` environment variable (read at
``create_service`` time, in this process since the server runs in a thread here) and ``rolloutState``
COMPLETED if that count reaches ``desiredCount``, else IN_PROGRESS. Nothing ever moves it along
afterwards, there is no circuit breaker, and ``update_service`` does not touch the deployment. So the
tests set ``MOTO_ECS_SERVICE_RUNNING`` with monkeypatch before creating a service, and the
:func:`ecs_rollout` seam below edits moto's in-process backend objects (``moto.ecs.models.ecs_backends``)
to script rollout states (FAILED with a reason, IN_PROGRESS -> COMPLETED) and the running task definition.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.health.k8s_stub import kube_api_stub, kubeconfig_text
from tests.health.stub_server import ScriptedServer

REGION = "eu-west-1"


class FakeClock:
    """``clock()`` and ``sleep()`` for the runner: sleeping advances time; ``on_sleep`` may script the world."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.on_sleep: Any = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def health_moto() -> Iterator[str]:
    """A moto server of the health tests' own (they reset its state per test); yields its URL."""
    from tests.support.moto import moto_server

    with moto_server() as url:
        yield url


@pytest.fixture
def aws_env(health_moto: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Fresh moto state plus an environment in which boto3 talks to it with fake credentials."""
    request = urllib.request.Request(f"{health_moto}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL_ECS",
                 "AWS_ENDPOINT_URL_CLOUDWATCH", "MOTO_ECS_SERVICE_RUNNING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", health_moto)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return health_moto


def ecs_rollout(cluster: str, service: str, *, state: str | None = None, reason: str | None = None,
                running: int | None = None, task_definition: str | None = None, region: str = REGION) -> None:
    """Test seam: set the PRIMARY deployment's rollout state / counts / task definition inside moto."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ecs.models import ecs_backends

    svc = ecs_backends[DEFAULT_ACCOUNT_ID][region].services[f"{cluster}:{service}"]
    primary = next(d for d in svc.deployments if d["status"] == "PRIMARY")
    if state is not None:
        primary["rolloutState"] = state
        primary["rolloutStateReason"] = reason or f"ECS deployment {primary['id']} {state.lower()}."
    if running is not None:
        svc.running_count = running
        svc.pending_count = max(svc.desired_count - running, 0)
        primary["runningCount"] = running
        primary["pendingCount"] = svc.pending_count
    if task_definition is not None:
        svc.task_definition = task_definition
        primary["taskDefinition"] = task_definition


@pytest.fixture
def kube_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ScriptedServer, Path]]:
    """A Kubernetes API stub and a kubeconfig (context ``stub``) pointing at it, exported as KUBECONFIG."""
    server = kube_api_stub().start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig_text(server.base_url))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    try:
        yield server, kubeconfig
    finally:
        server.stop()


@pytest.fixture
def metrics_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer().start()
    try:
        yield server
    finally:
        server.stop()
