"""The benchmarks' DIY backends, written with the state writer (``statekit/``) as the Pulumi CLI writes them.

A stack of ``resources`` Kubernetes resources: a provider, and per app a ConfigMap, a Secret (data
encrypted with the passphrase provider), a Deployment (depending on both) and a Service. Its history:

- ``history`` entries in all; the oldest ``history - 2 - noops`` are the stack's early days (a handful of
  resources each: nothing may read them, and if something does, the request count shows it);
- two releases, the newer changing ``changed`` resources of the older (Deployments' images, ConfigMaps'
  data, Secrets' values, spread over the apps);
- ``noops`` updates after the newer release that change nothing (CI runs of ``pulumi up``): each writes a
  checkpoint that differs from the previous one only in its manifest's time, as the CLI's do.

Everything is seeded: the same arguments give byte-identical files.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from statekit.pulumi_writer import DiyBackend, SecretEncrypter, deployment, make_urn, provider_ref, resource, secret

PASSPHRASE = "bench-passphrase"
PROJECT, STACK = "bench", "prod"
T0 = 1_790_000_000
PER_APP = 4


def _changed_sets(apps: int, changed: int) -> tuple[set[int], set[int], set[int]]:
    """Which apps' Deployment, ConfigMap and Secret change in a release: ``changed`` resources in all,
    cycling over the three kinds and spread evenly over the apps."""
    changed = min(changed, apps * 3)
    step = max(1, apps // max(1, changed))
    kinds: tuple[set[int], set[int], set[int]] = (set(), set(), set())
    for j in range(changed):
        kinds[j % 3].add((j * step) % apps)
    return kinds


def build_resources(n: int, release: int, *, changed: int = 10) -> list[dict[str, Any]]:
    """The stack's resources at ``release``; apps in the changed sets carry the release number."""
    stack_urn = make_urn(STACK, PROJECT, "pulumi:pulumi:Stack", f"{PROJECT}-{STACK}")
    k8s = resource(urn=make_urn(STACK, PROJECT, "pulumi:providers:kubernetes", "default_4_18_0"),
                   type="pulumi:providers:kubernetes", custom=True, id="prov-k8s",
                   inputs={"version": "4.18.0"}, outputs={"version": "4.18.0"})
    out = [resource(urn=stack_urn, type="pulumi:pulumi:Stack", custom=False, outputs={"release": release}), k8s]
    apps = max(1, (n - 2) // PER_APP)
    deps, cms, secs = _changed_sets(apps, changed)
    for i in range(apps):
        name = f"app{i:05d}"
        cm_urn = make_urn(STACK, PROJECT, "kubernetes:core/v1:ConfigMap", f"{name}-config")
        sec_urn = make_urn(STACK, PROJECT, "kubernetes:core/v1:Secret", f"{name}-secret")
        dep_urn = make_urn(STACK, PROJECT, "kubernetes:apps/v1:Deployment", name)
        svc_urn = make_urn(STACK, PROJECT, "kubernetes:core/v1:Service", name)
        meta = {"name": name, "namespace": "bench", "labels": {"app": name}}
        env = {"LOG_LEVEL": f"debug-{release}" if i in cms else "info", "APP": name}
        token = {"TOKEN": f"tok-{name}-{release if i in secs else 0}"}
        out.append(resource(urn=cm_urn, type="kubernetes:core/v1:ConfigMap", custom=True, id=f"bench/{name}-config",
                            inputs={"apiVersion": "v1", "kind": "ConfigMap", "metadata": dict(meta, name=f"{name}-config"),
                                    "data": env},
                            outputs={"apiVersion": "v1", "kind": "ConfigMap", "data": env},
                            parent=stack_urn, provider=provider_ref(k8s)))
        out.append(resource(urn=sec_urn, type="kubernetes:core/v1:Secret", custom=True, id=f"bench/{name}-secret",
                            inputs={"apiVersion": "v1", "kind": "Secret", "metadata": dict(meta, name=f"{name}-secret"),
                                    "stringData": secret(token)},
                            outputs={"apiVersion": "v1", "kind": "Secret", "data": secret(token)},
                            parent=stack_urn, provider=provider_ref(k8s)))
        container = {"name": "app", "image": f"ghcr.io/bench/{name}:1.{release if i in deps else 0}.0",
                     "resources": {"limits": {"memory": "512Mi", "cpu": "500m"},
                                   "requests": {"memory": "256Mi", "cpu": "250m"}},
                     "envFrom": [{"configMapRef": {"name": f"{name}-config"}}]}
        spec = {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}
        out.append(resource(urn=dep_urn, type="kubernetes:apps/v1:Deployment", custom=True, id=f"bench/{name}",
                            inputs={"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec},
                            outputs={"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec,
                                     "status": {"replicas": 2, "readyReplicas": 2}},
                            parent=stack_urn, provider=provider_ref(k8s), dependencies=[cm_urn, sec_urn],
                            property_dependencies={"apiVersion": [], "kind": [], "metadata": [],
                                                   "spec": [cm_urn, sec_urn]}))
        out.append(resource(urn=svc_urn, type="kubernetes:core/v1:Service", custom=True, id=f"bench/{name}",
                            inputs={"apiVersion": "v1", "kind": "Service", "metadata": meta,
                                    "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}},
                            parent=stack_urn, provider=provider_ref(k8s)))
    return out


def build_backend(root: Path, *, resources: int, history: int = 10, changed: int = 10, noops: int = 0) -> Path:
    """Write the backend under ``root`` (see the module's docstring); returns ``root``."""
    if history < 2 + noops:
        raise ValueError("history must hold the two releases and the no-op updates")
    backend = DiyBackend(root, backups=False, seed=1)
    secrets = SecretEncrypter.create(PASSPHRASE, rng=random.Random(2))
    early = history - 2 - noops
    previous = None
    v = 0

    def record(dep: dict[str, Any], message: str) -> None:
        nonlocal v
        v += 1
        backend.record_operation(PROJECT, STACK, dep, kind="update", result="succeeded", message=message,
                                 start_time=T0 + v * 3600, end_time=T0 + v * 3600 + 60,
                                 environment={"git.head": f"{v:040x}"}, config={"bench:release": str(v)})

    for _ in range(early):   # the early days: a few resources, a new image each time
        dep = deployment(time=(T0 + (v + 1) * 3600) * 1_000_000_000, resources=build_resources(6, v + 1, changed=1),
                         secrets_providers=secrets.secrets_providers())
        secrets.seal(dep, previous=previous)
        record(dep, f"early release {v + 1}")
        previous = dep
    for release in (early + 1, early + 2):
        dep = deployment(time=(T0 + (v + 1) * 3600) * 1_000_000_000,
                         resources=build_resources(resources, release, changed=changed),
                         secrets_providers=secrets.secrets_providers())
        secrets.seal(dep, previous=previous)
        record(dep, f"release {release}")
        previous = dep
    for _ in range(noops):
        assert previous is not None
        dep = dict(previous, manifest=dict(previous["manifest"]))
        noop = deployment(time=(T0 + (v + 1) * 3600) * 1_000_000_000, resources=[],
                          secrets_providers=secrets.secrets_providers())
        dep["manifest"] = noop["manifest"]
        record(dep, "ci: pulumi up (no changes)")
    return root


def checkpoint_paths(root: Path, *, noops: int = 0) -> tuple[Path, Path]:
    """(the stack file, the checkpoint ``--to previous`` picks: the older of the two releases, before
    the no-op updates)."""
    stack_file = root / ".pulumi" / "stacks" / PROJECT / f"{STACK}.json"
    hist = sorted((root / ".pulumi" / "history" / PROJECT / STACK).glob("*.checkpoint.json"))
    return stack_file, hist[-(noops + 2)]


def size_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6
