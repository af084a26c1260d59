"""Real engine, real Kubernetes provider (render-to-YAML mode: manifests written to a folder, no cluster).

The story: v1 runs the bot at image 1.1.0 with 512Mi, its env vars, a ConfigMap and a Secret; v2 (the bad
release) moves to 1.2.0 with 1Gi, a new env var, a rotated secret and a new Service. `infra-rollback prod --to
previous --yes` brings back v1: the rendered manifests are v1's byte for byte, resources that were only updated
keep their URN and id, the Service v2 added is gone, the engine sees nothing left to change with v1's program,
and history, the audit record and the marks say what happened.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pulumi
import pytest

from tests.engine.double_world import DoubleWorld, outcome
from tests.engine.world import EngineWorld

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]

RELEASES = {
    1: {"image": "ghcr.io/story/bot:1.1.0", "memory": "512Mi", "model": "distilroberta-v1", "token": "tok-v1-0001",
        "env": {"LOG_LEVEL": "info"}},
    2: {"image": "ghcr.io/story/bot:1.2.0", "memory": "1Gi", "model": "sentiment-urgent-v2", "token": "tok-v2-0002",
        "env": {"LOG_LEVEL": "info", "SENTIMENT_THRESHOLD": "0.2"}},
}


def release(render_dir: Path, n: int):
    import pulumi_kubernetes as k8s
    from pulumi_kubernetes.apps.v1 import Deployment, DeploymentSpecArgs
    from pulumi_kubernetes.core.v1 import (
        ConfigMap,
        ConfigMapEnvSourceArgs,
        ContainerArgs,
        EnvFromSourceArgs,
        EnvVarArgs,
        PodSpecArgs,
        PodTemplateSpecArgs,
        ResourceRequirementsArgs,
        Secret,
        SecretEnvSourceArgs,
        Service,
        ServicePortArgs,
        ServiceSpecArgs,
    )
    from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs

    r = RELEASES[n]

    def program() -> None:
        provider = k8s.Provider("render", render_yaml_to_directory=str(render_dir))
        opts = pulumi.ResourceOptions(provider=provider)
        labels = {"app": "bot"}
        config = ConfigMap("bot-config", metadata=ObjectMetaArgs(name="bot-config", namespace="story"),
                           data={"SENTIMENT_MODEL": r["model"]}, opts=opts)
        secret = Secret("bot-secrets", metadata=ObjectMetaArgs(name="bot-secrets", namespace="story"),
                        string_data={"API_TOKEN": r["token"]}, opts=opts)
        Deployment("bot", metadata=ObjectMetaArgs(name="bot", namespace="story"), spec=DeploymentSpecArgs(
            replicas=2, selector=LabelSelectorArgs(match_labels=labels),
            template=PodTemplateSpecArgs(metadata=ObjectMetaArgs(labels=labels), spec=PodSpecArgs(containers=[
                ContainerArgs(name="bot", image=r["image"],
                              env=[EnvVarArgs(name=k, value=v) for k, v in r["env"].items()],
                              env_from=[EnvFromSourceArgs(config_map_ref=ConfigMapEnvSourceArgs(name=config.metadata.name)),
                                        EnvFromSourceArgs(secret_ref=SecretEnvSourceArgs(name=secret.metadata.name))],
                              resources=ResourceRequirementsArgs(limits={"memory": r["memory"]},
                                                                 requests={"memory": r["memory"]}))])),
        ), opts=opts)
        if n == 2:
            Service("bot-metrics", metadata=ObjectMetaArgs(name="bot-metrics", namespace="story"),
                    spec=ServiceSpecArgs(selector=labels, ports=[ServicePortArgs(port=9090)]), opts=opts)
        pulumi.export("image", r["image"])

    return program


def manifests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def scenario(world, rendered: Path):
    world.up(release(rendered, 1), message="release 1.1.0")
    v1 = world.resources()
    world.up(release(rendered, 2), message="release 1.2.0: new sentiment model")
    before = world.resources()
    preview = world.cli("prod", "--to", "previous", "--preview", "--verbose")
    result = world.cli("prod", "--to", "previous", "--yes", "--no-verify", "--json",
                       "--reason", "tags every ticket urgent escalation")
    return v1, before, preview, result


def test_the_story_on_kubernetes_in_render_mode(tmp_path: Path, engine_bin_dir: Path) -> None:
    world = EngineWorld(tmp_path / "real", engine_bin_dir, project="story")
    rendered = tmp_path / "rendered"
    v1_manifests: dict[str, str] = {}
    original_up = world.up

    def up(program, **kw):   # keep what v1 rendered
        out = original_up(program, **kw)
        if kw.get("message", "").startswith("release 1.1.0"):
            v1_manifests.update(manifests(rendered))
        return out

    world.up = up   # type: ignore[method-assign]
    v1, before, preview, result = scenario(world, rendered)
    assert any("deployment" in name.lower() for name in v1_manifests)
    assert preview.returncode == 0, preview.stderr
    text = preview.stdout
    assert "image ghcr.io/story/bot:1.2.0 -> ghcr.io/story/bot:1.1.0" in text
    assert "memory limit 1Gi -> 512Mi" in text
    assert "tok-v1" not in text and "tok-v2" not in text and "[secret]" in text

    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["outcome"] == "rolled-back" and out["to_version"] == 1 and out["from_version"] == 2
    assert "tok-v1" not in result.stdout + result.stderr and "tok-v2" not in result.stdout + result.stderr
    # What the engine did is what the preview said. The ConfigMap and Secret keep their names, so they are
    # deleted before they are replaced, and the Deployment that reads them is replaced with them (the engine's
    # dependent replacement: our diff predicts it too).
    steps = {s["urn"].rsplit("::", 1)[-1]: (s["op"], s["predicted_op"]) for s in out["engine"]["steps"]}
    assert steps["bot"] == ("replace", "replace") and steps["bot-metrics"] == ("delete", "delete")
    assert out["engine"]["disagreements"] == []

    assert manifests(rendered) == v1_manifests                 # byte for byte what v1 rendered
    now = world.resources()
    assert set(now) == set(v1)                                 # the Service v2 added is gone
    assert not any(u.endswith("::bot-metrics") for u in now)
    for urn, res in now.items():
        if res["type"] == "kubernetes:apps/v1:Deployment":
            assert res["id"] == before[urn]["id"] == v1[urn]["id"] == "story/bot"   # same URN, same object
    assert set(world.preview(release(rendered, 1))) == {"same"}

    history = world.cli_json("history", "prod")
    newest = history["versions"][0]
    assert newest["rollback"]["to_version"] == 1 and newest["rollback"]["reason"] == "tags every ticket urgent escalation"
    assert [v["mark"] for v in history["versions"] if v["version"] == 2] == ["bad"]
    records = list((world.backend / ".infra-rollback").rglob("records/*.json"))
    assert len(records) == 1
    assert "tok-v" not in records[0].read_text()

    double = DoubleWorld(tmp_path / "double", project="story")
    _, d_before, _, d_result = scenario(double, tmp_path / "rendered-double")
    assert outcome(double, d_before, d_result) == outcome(world, before, result)
