"""Expectations derived from a target checkpoint."""

from __future__ import annotations

import json

from rollback.health.expect import EcsContainerExpectation, expectations_from
from tests.health.targets import (
    GOOD_IMAGE,
    container,
    k8s_deployment,
    k8s_provider,
    omniserve_target,
    secret_ciphertext,
    secret_plaintext,
    target,
    task_definition,
)


def test_the_omniserve_checkpoint_gives_its_deployment_images_and_task_definition_content() -> None:
    exp = expectations_from(omniserve_target())
    assert exp.kubernetes["omniserve/omniserve"].images == {"bot": GOOD_IMAGE}
    task = exp.ecs["omniserve"]
    assert not task.skipped
    (bot,) = task.containers
    assert bot == EcsContainerExpectation(name="bot", image=GOOD_IMAGE, memory=1024, cpu=512,
                                          environment={"LOG_LEVEL": "info", "TICKET_QUEUE": "support-prod"})
    assert (task.cpu, task.memory) == ("512", "1024")


def test_no_target_means_no_expectations() -> None:
    assert expectations_from(None).empty


def test_namespace_falls_back_to_the_provider_then_default() -> None:
    provider = k8s_provider("team-a")
    dep = k8s_deployment("api", namespace=None, provider=f"{provider['urn']}::{provider['id']}")
    exp = expectations_from(target(provider, dep, k8s_deployment("web", namespace=None)))
    assert set(exp.kubernetes) == {"team-a/api", "default/web"}


def test_secret_container_definitions_are_skipped_and_say_so_without_reading_them() -> None:
    exp = expectations_from(target(task_definition(secret=secret_plaintext(json.dumps([container(image="x/hidden:1")])))))
    task = exp.ecs["omniserve"]
    assert task.containers == () and "secret in the target" in task.skipped
    assert "hidden" not in repr(exp)
    exp2 = expectations_from(target(task_definition(secret=secret_ciphertext())))
    assert "secret" in exp2.ecs["omniserve"].skipped


def test_secret_pod_spec_or_image_is_skipped_per_level() -> None:
    whole = k8s_deployment("a", spec=secret_ciphertext())
    one = k8s_deployment("b", spec={"template": {"spec": {"containers": [
        {"name": "bot", "image": secret_plaintext("x/hidden:2")}, {"name": "sidecar", "image": "envoy:1.30"}]}}})
    exp = expectations_from(target(whole, one))
    assert exp.kubernetes["omniserve/a"].images == {} and "spec is secret" in exp.kubernetes["omniserve/a"].skipped
    b = exp.kubernetes["omniserve/b"]
    assert b.images == {"sidecar": "envoy:1.30"} and "image of container bot is secret" in b.skipped
    assert "hidden" not in repr(exp)


def test_pending_delete_resources_do_not_count() -> None:
    old = dict(task_definition([container(image="old:1")]), delete=True)
    exp = expectations_from(target(task_definition([container(image="new:2")]), old))
    assert exp.ecs["omniserve"].containers[0].image == "new:2"
