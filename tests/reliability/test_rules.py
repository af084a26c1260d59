"""Replacement and data-loss rules a user meets in the preview, and provider versions in the replay.

Each case is a state a rollback really meets: a Kubernetes Service whose clusterIP differs (the API server
refuses to change it: a replace), a ``replaceOnChanges`` pattern deeper than the path that changed, a
StatefulSet whose claims are deleted with it only under the current spec, and an explicit provider that
the default keep-current-versions policy must not downgrade.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rollback.replay import build_replay_program, inline_program
from tests.reliability.conftest import run
from tests.replay_support.capture import capture
from tests.replay_support.checkpoints import box, checkpoint, resource, root
from tests.support.backends import ShopBackend


def two_releases(tmp_path: Path, target: list[dict[str, Any]], current: list[dict[str, Any]]) -> ShopBackend:
    """v1 (the target) with ``target`` resources added, v2 (current) with ``current``."""
    shop = ShopBackend(tmp_path / "state")
    shop.deploy(image="web:1", token="tok", extra=target)
    shop.deploy(image="web:1", token="tok", extra=current)
    return shop


def change_of(doc: dict[str, Any], name: str) -> dict[str, Any]:
    (change,) = [c for c in doc["changes"] if c["urn"].endswith(f"::{name}")]
    return change


def rollback_preview(shop: ShopBackend) -> dict[str, Any]:
    result = run("rollback", "prod", "--to", "1", "--preview", "--json", "--backend", shop.url)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def service(shop: ShopBackend, cluster_ip: str, port: int = 80) -> dict[str, Any]:
    inputs = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
              "spec": {"clusterIP": cluster_ip, "ports": [{"port": port}], "selector": {"app": "web"}}}
    return shop.custom("kubernetes:core/v1:Service", "web-svc", inputs)


def test_a_kubernetes_service_whose_cluster_ip_changes_is_replaced(tmp_path: Path) -> None:
    shop = ShopBackend(tmp_path / "unused")
    shop = two_releases(tmp_path, [service(shop, "10.0.0.10")], [service(shop, "10.0.0.99")])
    change = change_of(rollback_preview(shop), "web-svc")
    assert change["op"] == "replace"
    assert "spec.clusterIP" in change["replace_reason"]


def test_a_kubernetes_service_whose_port_changes_is_updated_in_place(tmp_path: Path) -> None:
    """The control: the same Service, another field: no replacement."""
    shop = ShopBackend(tmp_path / "unused")
    shop = two_releases(tmp_path, [service(shop, "10.0.0.10", 80)], [service(shop, "10.0.0.10", 8080)])
    change = change_of(rollback_preview(shop), "web-svc")
    assert change["op"] == "update" and not change.get("replace_reason")


def widget(shop: ShopBackend, name: str, config: dict[str, Any]) -> dict[str, Any]:
    return shop.custom("shop:index:Widget", name, {"config": config},
                       replaceOnChanges=["config.retention.days"])


def test_a_replace_on_changes_pattern_deeper_than_the_changed_path_replaces(tmp_path: Path) -> None:
    """The target has no ``config.retention`` at all: the changed path is ``config.retention``, and the
    pattern ``config.retention.days`` lies within it. A change elsewhere is an update."""
    shop = ShopBackend(tmp_path / "unused")
    target = [widget(shop, "keeps", {"owner": "a"}), widget(shop, "other", {"owner": "a", "retention": {"days": 7}})]
    current = [widget(shop, "keeps", {"owner": "a", "retention": {"days": 7}}),
               widget(shop, "other", {"owner": "b", "retention": {"days": 7}})]
    doc = rollback_preview(two_releases(tmp_path, target, current))
    keeps = change_of(doc, "keeps")
    assert keeps["op"] == "replace" and "replaceOnChanges" in keeps["replace_reason"]
    assert change_of(doc, "other")["op"] == "update"


def statefulset(shop: ShopBackend, *, when_deleted: str, service_name: str) -> dict[str, Any]:
    spec = {"serviceName": service_name, "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "pg:16"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                      "spec": {"resources": {"requests": {"storage": "10Gi"}}}}],
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": when_deleted}}
    return shop.custom("kubernetes:apps/v1:StatefulSet", "db",
                       {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"}, "spec": spec})


def test_a_resource_data_bearing_only_on_the_current_side_is_data_loss(tmp_path: Path) -> None:
    """Now the StatefulSet's claims are deleted with it (whenDeleted: Delete); the target's spec kept them.
    Replacing it (serviceName cannot change in place) deletes the object as it is now: data loss, refused."""
    shop = ShopBackend(tmp_path / "unused")
    shop = two_releases(tmp_path, [statefulset(shop, when_deleted="Retain", service_name="db-v1")],
                        [statefulset(shop, when_deleted="Delete", service_name="db-v2")])
    doc = rollback_preview(shop)
    change = change_of(doc, "db")
    assert change["op"] == "replace" and change["data_bearing"] is True
    assert [d["urn"] for d in doc["summary"]["data_loss"]] == [change["urn"]]
    result = run("rollback", "prod", "--to", "1", "--yes", "--backend", shop.url)
    assert result.code == 3 and "data-bearing kubernetes:apps/v1:StatefulSet" in result.stderr


def explicit_aws(version: str) -> dict[str, Any]:
    provider = resource("pulumi:providers:aws", "east", inputs={"region": "us-east-1", "version": version})
    provider["outputs"] = {"region": "us-east-1", "version": version}
    return provider


def test_an_explicit_provider_is_not_downgraded_under_the_keep_current_versions_policy() -> None:
    old, new = explicit_aws("6.0.0"), explicit_aws("6.50.0")
    target = checkpoint([root(), old, resource("aws:s3/bucket:Bucket", "b", provider=old, inputs={"bucket": "b"})])
    current = checkpoint([root(), new, resource("aws:s3/bucket:Bucket", "b", provider=new, inputs={"bucket": "b"})])

    kept = build_replay_program(target, secrets=box(target), current=current)     # the default policy
    sent = capture(inline_program(kept)).registered
    assert sent["east"].version == "6.50.0"                                        # what runs now, not 6.0.0
    assert sent["b"].provider.rsplit("::", 1)[0].endswith("pulumi:providers:aws::east")
    assert any("6.0.0" in c and "6.50.0" in c for c in kept.cannot_restore)      # and the preview says so

    restored = build_replay_program(target, secrets=box(target), current=current, provider_versions="target")
    assert capture(inline_program(restored)).registered["east"].version == "6.0.0"
