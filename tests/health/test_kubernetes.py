"""The kubernetes-rollout gate through the official client against an API server stub."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rollback.actions.verify import Verify
from rollback.errors import BadInput
from rollback.health.expect import expectations_from
from rollback.health.kubernetes import KubernetesRolloutGate, rollout_verdict
from rollback.health.runner import run_gates
from rollback.health.spec import KubernetesRolloutSpec
from tests.health.k8s_stub import deployment, deployment_path
from tests.health.stub_server import ScriptedServer
from tests.health.targets import BAD_IMAGE, GOOD_IMAGE, k8s_deployment, target

PATH = deployment_path("omniserve", "omniserve")
SPEC = KubernetesRolloutSpec(namespace="omniserve", deployment="omniserve")


def health(timeout: float = 5.0, **gate: str) -> dict[str, object]:
    return {"infra-rollback:health": {"timeout": timeout, "interval": 0.02, "gates": [
        {"kind": "kubernetes-rollout", "namespace": "omniserve", "deployment": "omniserve", **gate}]}}


def test_a_rollout_that_completes_goes_from_progressing_to_healthy(kube_api: tuple[ScriptedServer, Path]) -> None:
    server, _ = kube_api
    server.script(PATH,
                  deployment(generation=3, observed=2),                              # not observed yet
                  deployment(generation=3, observed=3, updated=1, total=4, ready=3, available=3),
                  deployment(generation=3, observed=3, updated=3, total=4, ready=3, available=3),
                  deployment(generation=3, observed=3, updated=3, ready=2, available=2),
                  deployment(generation=3, observed=3))
    seen: list[str] = []
    report = Verify(config=health(), target=target(k8s_deployment()),
                    on_round=lambda gates: seen.append(gates[0].detail)).run("prod")
    assert report.healthy, report.to_dict()
    assert seen[:4] == ["waiting for the controller to observe generation 3 (observed 2); images match the target",
                        "1 of 3 new replicas updated; images match the target",
                        "1 old replicas pending termination; images match the target",
                        "2 of 3 updated replicas available; images match the target"]
    (gate,) = report.gates
    assert gate.detail == "3/3 replicas updated, ready and available (generation 3); images match the target"
    assert gate.kind == "kubernetes-rollout" and gate.name == "omniserve/omniserve"
    assert server.hits(PATH) == 5
    # The kubeconfig's user was used.
    assert server.requests[-1][1].get("authorization") == "Bearer stub-token"


def test_a_rollout_that_never_completes_times_out(kube_api: tuple[ScriptedServer, Path]) -> None:
    server, _ = kube_api
    server.script(PATH, deployment(updated=1, total=4, ready=3, available=3))
    started = time.monotonic()
    report = Verify(config=health(timeout=0.3)).run("prod")
    assert time.monotonic() - started < 3
    assert not report.healthy and report.timed_out
    assert report.gates[0].state == "progressing"
    assert report.gates[0].detail == "1 of 3 new replicas updated"
    assert report.elapsed_seconds >= 0.3


def test_progress_deadline_exceeded_is_unhealthy_at_once(kube_api: tuple[ScriptedServer, Path]) -> None:
    server, _ = kube_api
    server.script(PATH, deployment(updated=1, ready=0, available=0, deadline_exceeded=True))
    report = Verify(config=health(timeout=30)).run("prod")
    assert not report.healthy and not report.timed_out
    assert report.elapsed_seconds < 5 and server.hits(PATH) == 1
    assert report.gates[0].detail == ('rollout exceeded its progress deadline (ProgressDeadlineExceeded): '
                                      'ReplicaSet "omniserve-7d9c" has timed out progressing.')


def test_a_stale_deadline_condition_before_the_new_generation_is_observed_is_not_a_failure(
        kube_api: tuple[ScriptedServer, Path]) -> None:
    # The bad rollout had timed out; the rollback bumped the generation; the controller catches up.
    server, _ = kube_api
    server.script(PATH, deployment(generation=5, observed=4, updated=1, deadline_exceeded=True),
                  deployment(generation=5, observed=5))
    report = Verify(config=health()).run("prod")
    assert report.healthy


def test_the_wrong_image_running_is_unhealthy_naming_container_expected_and_actual(
        kube_api: tuple[ScriptedServer, Path]) -> None:
    server, _ = kube_api
    server.script(PATH, deployment(images={"bot": BAD_IMAGE}))      # fully rolled out, on the wrong image
    report = Verify(config=health(timeout=30), target=target(k8s_deployment(images={"bot": GOOD_IMAGE}))).run("prod")
    assert not report.healthy and not report.timed_out and report.elapsed_seconds < 5
    assert report.gates[0].detail == f"wrong image: container bot: expected image {GOOD_IMAGE}, running {BAD_IMAGE}"


def test_a_deployment_the_target_does_not_have_is_still_checked_and_says_images_were_not_compared(
        kube_api: tuple[ScriptedServer, Path]) -> None:
    server, _ = kube_api
    server.script(PATH, deployment())
    report = Verify(config=health(), target=target(k8s_deployment("other"))).run("prod")
    assert report.healthy
    assert report.gates[0].detail.endswith("images not compared: the target has no Deployment omniserve/omniserve")


def test_missing_deployment_is_unhealthy(kube_api: tuple[ScriptedServer, Path]) -> None:
    report = Verify(config=health(timeout=30)).run("prod")
    assert not report.healthy and report.gates[0].detail == "deployment omniserve/omniserve not found"


def test_kubeconfig_and_context_come_from_the_gate_config(kube_api: tuple[ScriptedServer, Path],
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.health.k8s_stub import kubeconfig_text

    server, _ = kube_api
    server.script(PATH, deployment())
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(kubeconfig_text(server.base_url, current="dead"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "does-not-exist"))
    # The file's current context points at nothing: only context: stub reaches the API server.
    report = Verify(config=health(kubeconfig=str(elsewhere), context="stub")).run("prod")
    assert report.healthy
    dead = Verify(config=health(kubeconfig=str(elsewhere), timeout=0.3)).run("prod")
    assert not dead.healthy and dead.verdict == "unknown" and dead.gates[0].state == "unknown"
    assert dead.gates[0].detail.startswith("cannot reach the Kubernetes API server at http://127.0.0.1:9: ")
    assert "Connection refused" in dead.gates[0].detail
    with pytest.raises(BadInput, match="does-not-exist not found"):
        Verify(config=health()).run("prod")
    with pytest.raises(BadInput, match="context nope"):
        Verify(config=health(kubeconfig=str(elsewhere), context="nope")).run("prod")


def test_the_rule_on_plain_objects() -> None:
    # Scaled to zero and settled is done; replicas defaulting to 1 when the object omits it.
    _, zero = deployment(replicas=0, updated=0, ready=0, available=0)
    assert rollout_verdict(zero).state == "healthy"
    _, one = deployment(replicas=1, updated=1, ready=1, available=1)
    del one["spec"]["replicas"]
    assert rollout_verdict(one).state == "healthy"
    _, extra = deployment(images={"bot": GOOD_IMAGE, "debug": "busybox:1"})
    exp = expectations_from(target(k8s_deployment(images={"bot": GOOD_IMAGE})))
    verdict = rollout_verdict(extra, exp.kubernetes["omniserve/omniserve"])
    assert verdict.state == "unhealthy" and "container debug (busybox:1) is not in the target" in verdict.detail


def test_gate_accepts_an_injected_api() -> None:
    class FakeApi:
        def read_namespaced_deployment(self, name: str, namespace: str, **_: object) -> dict[str, object]:
            return deployment(namespace=namespace, name=name)[1]

    report = run_gates([KubernetesRolloutGate(SPEC, api=FakeApi())], timeout=1, interval=0.01)
    assert report.healthy
