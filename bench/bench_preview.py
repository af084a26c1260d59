"""Preview benchmark: prints numbers, asserts nothing.

Generates DIY backends of 5,000 resources with 100 and with 10 history entries (in a temp dir, with
the state writer in ``statekit/``), then measures, in process:

- the floor: json-loading the two checkpoints a rollback needs (current and target) plus deriving
  the passphrase key once;
- ``Preview.run`` (read, resolve ``previous``, semantic diff, workload summary) plus ``to_dict``;
- the same at 100 versus 10 history entries (history metadata must be read lazily);
- ``infra-rollback --help`` wall time in a fresh interpreter, and which heavy modules it imported.

Run: ``python bench/bench_preview.py [--resources 5000] [--repeat 3] [--rehearse]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from statekit.pulumi_writer import (  # noqa: E402
    DiyBackend,
    SecretEncrypter,
    deployment,
    make_urn,
    provider_ref,
    resource,
    secret,
)

PASSPHRASE = "bench-passphrase"
PROJECT, STACK = "bench", "prod"
T0 = 1_790_000_000


def build_resources(n: int, release: int) -> list[dict]:
    stack_urn = make_urn(STACK, PROJECT, "pulumi:pulumi:Stack", f"{PROJECT}-{STACK}")
    k8s = resource(urn=make_urn(STACK, PROJECT, "pulumi:providers:kubernetes", "default_4_18_0"),
                   type="pulumi:providers:kubernetes", custom=True, id="prov-k8s",
                   inputs={"version": "4.18.0"}, outputs={"version": "4.18.0"})
    out = [resource(urn=stack_urn, type="pulumi:pulumi:Stack", custom=False, outputs={"release": release}), k8s]
    per_app = 4
    apps = max(1, (n - 2) // per_app)
    for i in range(apps):
        name = f"app{i:04d}"
        # One app in a hundred changes per release: a realistic partial rollout.
        tag = f"1.{release if i % 100 == 0 else 0}.0"
        cm_urn = make_urn(STACK, PROJECT, "kubernetes:core/v1:ConfigMap", f"{name}-config")
        sec_urn = make_urn(STACK, PROJECT, "kubernetes:core/v1:Secret", f"{name}-secret")
        dep_urn = make_urn(STACK, PROJECT, "kubernetes:apps/v1:Deployment", name)
        svc_urn = make_urn(STACK, PROJECT, "kubernetes:core/v1:Service", name)
        meta = {"name": name, "namespace": "bench", "labels": {"app": name}}
        env = {"LOG_LEVEL": "info" if i % 100 else ("debug" if release % 2 else "info"), "APP": name}
        out.append(resource(urn=cm_urn, type="kubernetes:core/v1:ConfigMap", custom=True, id=f"bench/{name}-config",
                            inputs={"apiVersion": "v1", "kind": "ConfigMap", "metadata": dict(meta, name=f"{name}-config"),
                                    "data": env},
                            outputs={"apiVersion": "v1", "kind": "ConfigMap", "data": env},
                            parent=stack_urn, provider=provider_ref(k8s)))
        out.append(resource(urn=sec_urn, type="kubernetes:core/v1:Secret", custom=True, id=f"bench/{name}-secret",
                            inputs={"apiVersion": "v1", "kind": "Secret", "metadata": dict(meta, name=f"{name}-secret"),
                                    "stringData": secret({"TOKEN": f"tok-{name}-{release if i % 100 == 0 else 0}"})},
                            outputs={"apiVersion": "v1", "kind": "Secret",
                                     "data": secret({"TOKEN": f"tok-{name}-{release if i % 100 == 0 else 0}"})},
                            parent=stack_urn, provider=provider_ref(k8s)))
        container = {"name": "app", "image": f"ghcr.io/bench/{name}:{tag}",
                     "resources": {"limits": {"memory": "512Mi" if release % 2 or i % 100 else "1Gi", "cpu": "500m"},
                                   "requests": {"memory": "256Mi", "cpu": "250m"}},
                     "envFrom": [{"configMapRef": {"name": f"{name}-config"}}]}
        spec = {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}
        out.append(resource(urn=dep_urn, type="kubernetes:apps/v1:Deployment", custom=True, id=f"bench/{name}",
                            inputs={"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec},
                            outputs={"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec,
                                     "status": {"replicas": 2, "readyReplicas": 2}},
                            parent=stack_urn, provider=provider_ref(k8s), dependencies=[cm_urn, sec_urn]))
        out.append(resource(urn=svc_urn, type="kubernetes:core/v1:Service", custom=True, id=f"bench/{name}",
                            inputs={"apiVersion": "v1", "kind": "Service", "metadata": meta,
                                    "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}},
                            parent=stack_urn, provider=provider_ref(k8s)))
    return out


def build_backend(root: Path, *, resources: int, history: int) -> None:
    backend = DiyBackend(root, backups=False, seed=1)
    secrets = SecretEncrypter.create(PASSPHRASE, rng=random.Random(2))
    previous = None
    for v in range(1, history + 1):
        release = v
        dep = deployment(time=(T0 + v * 3600) * 1_000_000_000, resources=build_resources(resources, release),
                         secrets_providers=secrets.secrets_providers())
        secrets.seal(dep, previous=previous)
        backend.record_operation(PROJECT, STACK, dep, kind="update", result="succeeded",
                                 message=f"release {release}", start_time=T0 + v * 3600,
                                 end_time=T0 + v * 3600 + 60, environment={"git.head": f"{v:040x}"},
                                 config={"bench:release": str(release)})
        previous = dep


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def preview_once(root: Path, rehearse: bool) -> dict:
    from rollback.actions.context import Context
    from rollback.actions.preview import Preview
    from rollback.state import secrets as secrets_mod

    secrets_mod._KEY_CACHE.clear()  # every run pays for the key derivation, as a real run does
    ctx = Context(cwd=root, backend_flag=f"file://{root}")
    plan = Preview(ctx=ctx, rehearse=rehearse).run(STACK, "previous")
    return plan.to_dict()


def floor_once(root: Path, history: int) -> None:
    import hashlib

    hist = root / ".pulumi" / "history" / PROJECT / STACK
    files = sorted(hist.glob("*.checkpoint.json"))
    json.loads((root / ".pulumi" / "stacks" / PROJECT / f"{STACK}.json").read_bytes())
    doc = json.loads(files[-2].read_bytes())
    salt = doc["checkpoint"]["latest"]["secrets_providers"]["state"]["salt"].split(":")[1]
    import base64

    hashlib.pbkdf2_hmac("sha256", PASSPHRASE.encode(), base64.b64decode(salt), 1_000_000, 32)


def help_once() -> tuple[float, list[str]]:
    code = ("import sys, time; t=time.perf_counter()\n"
            "from rollback.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy=[m for m in ('pulumi','grpc','boto3','botocore','kubernetes') if m in sys.modules]\n"
            "sys.stderr.write(repr(heavy))\n")
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    return wall, eval(proc.stderr.strip().splitlines()[-1])  # noqa: S307 - our own repr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rehearse", action="store_true", help="include the rehearsal in the preview")
    args = parser.parse_args()
    os.environ["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-preview-") as tmp:
        for history in (10, 100):
            root = Path(tmp) / f"h{history}"
            t = time.perf_counter()
            build_backend(root, resources=args.resources, history=history)
            build_s = time.perf_counter() - t
            size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
            floor = timed(lambda root=root, history=history: floor_once(root, history), args.repeat)
            data = preview_once(root, args.rehearse)
            preview = timed(lambda root=root: preview_once(root, args.rehearse), args.repeat)
            results[history] = (floor, preview)
            print(f"history={history:>3}  resources={args.resources}  backend={size / 1e6:.0f} MB "
                  f"(built in {build_s:.0f} s)")
            print(f"  floor (json-load 2 checkpoints + derive key once): {floor:.3f} s")
            print(f"  preview --to previous (v{data['from_version']} -> v{data['to_version']}, "
                  f"{len(data['changes'])} resource changes): {preview:.3f} s  = {preview / floor:.2f}x floor "
                  f"(goal <= 3x)")
    r10, r100 = results[10][1], results[100][1]
    print(f"preview at 100 vs 10 history entries: {r100:.3f} s / {r10:.3f} s = {r100 / r10:.2f}x (goal <= 1.5x)")
    walls, heavy = [], []
    for _ in range(args.repeat):
        w, h = help_once()
        walls.append(w)
        heavy = h
    print(f"infra-rollback --help: {statistics.median(walls):.3f} s wall (goal < 0.5 s); "
          f"heavy modules imported: {heavy or 'none'}")


if __name__ == "__main__":
    main()
