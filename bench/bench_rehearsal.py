"""Rehearsal benchmark: prints numbers, asserts nothing.

Rehearses the replay of a 5,000-resource checkpoint under the SDK's mock runtime and, next to it,
the SDK's own cost of registering the same resources with typed classes (pulumi_kubernetes) under
mocks. Goal: the rehearsal is no slower than the typed registration.

Run: ``python bench/bench_rehearsal.py [--resources 5000]``
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_preview import PASSPHRASE, PROJECT, STACK, build_resources  # noqa: E402
from statekit.pulumi_writer import SecretEncrypter, deployment  # noqa: E402


def checkpoint(n: int):
    from rollback.state.codec import parse_deployment
    from rollback.state.secrets import SecretBox

    secrets = SecretEncrypter.create(PASSPHRASE, rng=random.Random(2))
    dep = deployment(time=1_790_000_000 * 10**9, resources=build_resources(n, 1),
                     secrets_providers=secrets.secrets_providers())
    secrets.seal(dep)
    parsed = parse_deployment({"version": 3, "deployment": dep}, source="bench")
    return parsed, SecretBox(parsed.secrets_provider, source="bench", passphrase=lambda: PASSPHRASE)


def rehearse(n: int) -> tuple[float, float, object]:
    from rollback.replay import build_replay_program
    from rollback.replay import rehearse as run

    target, box = checkpoint(n)
    box.check()  # derive the key outside the timing: this measures the rehearsal
    t = time.perf_counter()
    plan = build_replay_program(target, secrets=box, current=target)
    planned = time.perf_counter() - t
    result = run(plan, target, secrets=box, project=PROJECT, stack=STACK)
    return planned, time.perf_counter() - t, result


def typed(n: int) -> float:
    """The SDK registering the same shape of resources with typed classes under mocks."""
    import pulumi
    import pulumi_kubernetes as k8s

    from rollback.replay.mocks import recording_monitor, run_under_mocks

    apps = max(1, (n - 2) // 4)

    def program() -> None:
        for i in range(apps):
            name = f"app{i:04d}"
            meta = {"name": name, "namespace": "bench", "labels": {"app": name}}
            cm = k8s.core.v1.ConfigMap(f"{name}-config", metadata=dict(meta, name=f"{name}-config"),
                                       data={"LOG_LEVEL": "info", "APP": name})
            sec = k8s.core.v1.Secret(f"{name}-secret", metadata=dict(meta, name=f"{name}-secret"),
                                     string_data=pulumi.Output.secret({"TOKEN": f"tok-{name}"}))
            k8s.apps.v1.Deployment(name, metadata=meta, spec={
                "replicas": 2, "selector": {"match_labels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                    "name": "app", "image": f"ghcr.io/bench/{name}:1.0.0",
                    "resources": {"limits": {"memory": "512Mi", "cpu": "500m"},
                                  "requests": {"memory": "256Mi", "cpu": "250m"}},
                    "env_from": [{"config_map_ref": {"name": f"{name}-config"}}]}]}}},
                opts=pulumi.ResourceOptions(depends_on=[cm, sec]))
            k8s.core.v1.Service(name, metadata=meta, spec={"selector": {"app": name},
                                                           "ports": [{"port": 80, "target_port": 8080}]})

    monitor = recording_monitor(project=PROJECT, stack=STACK)
    t = time.perf_counter()
    run = run_under_mocks(program, project=PROJECT, stack=STACK, monitor=monitor, timeout=900)
    elapsed = time.perf_counter() - t
    if run.error:
        raise run.error
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=5000)
    args = parser.parse_args()
    os.environ["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
    import pulumi_kubernetes  # noqa: F401 - import cost is not registration cost

    planned, total, result = rehearse(args.resources)
    typed_s = typed(args.resources)
    print(f"resources={args.resources}")
    print(f"  rehearsal (plan {planned:.2f} s + run under mocks + compare): {total:.2f} s, "
          f"ok={result.ok}, {result.resources} resources checked")
    print(f"  SDK typed classes (pulumi_kubernetes) registering the same under mocks: {typed_s:.2f} s")
    print(f"  rehearsal / typed = {total / typed_s:.2f}x (goal <= 1.0x)")


if __name__ == "__main__":
    main()
