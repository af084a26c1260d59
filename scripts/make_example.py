#!/usr/bin/env python
"""Regenerate the example DIY backend in ``examples/`` (byte-identical on every run).

    python scripts/make_example.py            # writes examples/backend/** and examples/Pulumi*.yaml
    python scripts/make_example.py --out DIR  # the same into DIR (DIR/backend, DIR/Pulumi*.yaml)

The story (project ``omniserve``, passphrase ``omniserve-example``, November 2026):

prod     v1 update   succeeded  release 1.3.0
         v2 update   succeeded  release 1.4.0  (the good release)
         v3 refresh  succeeded  no changes (output secrets re-encrypted)
         v4 update   FAILED     rolling out 1.5.0: Kubernetes updated, ECS not yet (partial state)
         v5 update   succeeded  release 1.5.0  (the bad release)
         v6 refresh  succeeded  no changes; the stack file equals v6's checkpoint
staging  v1 update   succeeded  release 1.4.0
         v2 update   FAILED     rolling out 1.5.0 (the stack file holds the partial state)
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from statekit.omniserve_model import (  # noqa: E402
    DEFAULT_SUBNETS,
    NAMESPACE,
    PROJECT,
    REGION,
    omniserve_changes,
    omniserve_deployment,
)
from statekit.pulumi_writer import PULUMI_VERSION, DiyBackend, SecretEncrypter, unix_nanos  # noqa: E402

PASSPHRASE = "omniserve-example"
SEED = "omniserve-example"

# Made-up tokens: they must never appear in plaintext anywhere under examples/ (tests check it).
PROD_TOKEN_1 = "osv_live_7Qm2R9vXc4TfLp8WzK3nB6dJ"
PROD_TOKEN_2 = "osv_live_Hd5sJ2kWq9Vx6bNc1RtY8mPe"
STAGING_TOKEN_1 = "osv_test_4Lk8PzQ2mX7vR1cW9sTdA3fG"
STAGING_TOKEN_2 = "osv_test_Zr6Ny3Bq8Ju1Ke5Mw2Xc7Hp0"

RELEASE_1_3_0 = {
    "version": "1.3.0", "image": "ghcr.io/omniserve/bot:1.3.0", "memory": "512Mi", "cpu": "500m",
    "replicas": 2, "env": {"LOG_LEVEL": "info", "SENTIMENT_THRESHOLD": "0.6", "TICKET_QUEUE": "support"},
    "sentiment_model": None,
}
RELEASE_1_4_0 = {
    "version": "1.4.0", "image": "ghcr.io/omniserve/bot:1.4.0", "memory": "512Mi", "cpu": "500m",
    "replicas": 3, "env": {"LOG_LEVEL": "info", "SENTIMENT_THRESHOLD": "0.7", "TICKET_QUEUE": "support"},
    "sentiment_model": None,
}
RELEASE_1_5_0 = {
    "version": "1.5.0", "image": "ghcr.io/omniserve/bot:1.5.0", "memory": "1Gi", "cpu": "1",
    "replicas": 3, "env": {"LOG_LEVEL": "debug", "SENTIMENT_MODEL": "distilroberta-urgent",
                           "TICKET_QUEUE": "support"},
    "sentiment_model": "distilroberta-urgent",
}


def release(base: dict[str, Any], token: str) -> dict[str, Any]:
    return {**base, "api_token": token}


@dataclass(frozen=True)
class Author:
    name: str
    email: str


DANA = Author("Dana Okafor", "dana.okafor@omniserve.example")
RUI = Author("Rui Tanaka", "rui.tanaka@omniserve.example")
MINA = Author("Mina Haddad", "mina.haddad@omniserve.example")


@dataclass(frozen=True)
class Commit:
    head: str
    title: str
    author: Author


C_130 = Commit("3f9a1c27e4b8d05a6c1e9f72b34d8a0e5c7b1f26", "release 1.3.0: route tickets by queue", DANA)
C_140 = Commit("8b2e6d41f0a97c3e5d18b6f42a9c07e3d5b1a864", "release 1.4.0: tune sentiment threshold", RUI)
C_150 = Commit("c47d0e9b3a6f182d5e7c94b0a1f36e8d2c5b7a19", "release 1.5.0: new sentiment model", MINA)


@dataclass(frozen=True)
class Operation:
    kind: str                          # update | refresh
    result: str                        # succeeded | failed
    start: datetime
    seconds: int                       # duration
    release: dict[str, Any]
    commit: Commit
    ci_run: int | None = None          # GitHub Actions run id (None: run from a laptop)
    ecs_release: dict[str, Any] | None = None   # a failed rollout: ECS still on this release
    message: str | None = None         # -m; default: the commit title


def _t(day: int, hh: int, mm: int, ss: int) -> datetime:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=timezone.utc)


PROD = [
    Operation("update", "succeeded", _t(2, 9, 14, 7), 142, release(RELEASE_1_3_0, PROD_TOKEN_1), C_130,
              ci_run=11873045216),
    Operation("update", "succeeded", _t(5, 14, 2, 31), 118, release(RELEASE_1_4_0, PROD_TOKEN_1), C_140,
              ci_run=11962718344),
    Operation("refresh", "succeeded", _t(9, 8, 30, 12), 21, release(RELEASE_1_4_0, PROD_TOKEN_1), C_140),
    Operation("update", "failed", _t(12, 16, 40, 5), 96, release(RELEASE_1_5_0, PROD_TOKEN_2), C_150,
              ci_run=12094417761, ecs_release=release(RELEASE_1_4_0, PROD_TOKEN_1)),
    Operation("update", "succeeded", _t(12, 17, 3, 44), 131, release(RELEASE_1_5_0, PROD_TOKEN_2), C_150,
              ci_run=12094882105),
    Operation("refresh", "succeeded", _t(13, 7, 45, 19), 19, release(RELEASE_1_5_0, PROD_TOKEN_2), C_150),
]
STAGING = [
    Operation("update", "succeeded", _t(4, 11, 20, 40), 137, release(RELEASE_1_4_0, STAGING_TOKEN_1), C_140,
              ci_run=11931205573),
    Operation("update", "failed", _t(11, 15, 10, 2), 88, release(RELEASE_1_5_0, STAGING_TOKEN_2), C_150,
              ci_run=12061930448, ecs_release=release(RELEASE_1_4_0, STAGING_TOKEN_1)),
]
STACKS: dict[str, list[Operation]] = {"prod": PROD, "staging": STAGING}


def health_config(stack: str) -> dict[str, Any]:
    """``infra-rollback:health`` as docs/design.md describes it."""
    host = "omniserve.example.com" if stack == "prod" else f"{stack}.omniserve.example.com"
    return {
        "timeout": 600,
        "interval": 5,
        "gates": [
            {"kind": "kubernetes-rollout", "namespace": NAMESPACE, "deployment": PROJECT},
            {"kind": "ecs-service", "cluster": f"{PROJECT}-{stack}", "service": PROJECT},
            {"kind": "http", "url": f"https://{host}/metrics/triage",
             "thresholds": [{"metric": "tags.urgent_escalation_share", "max": 0.2}]},
            {"kind": "cloudwatch-alarms",
             "alarms": [f"{PROJECT}-{stack}-errors", f"{PROJECT}-{stack}-unhealthy-targets"]},
        ],
    }


def stack_config(stack: str, rel: dict[str, Any], secrets: SecretEncrypter) -> dict[str, Any]:
    """The stack config an operation ran with (as UpdateInfo ``config`` and Pulumi.<stack>.yaml hold it)."""
    cfg: dict[str, Any] = {
        "aws:region": REGION,
        "infra-rollback:health": health_config(stack),
        "omniserve:apiToken": secrets.config_secret(rel["api_token"]),
        "omniserve:cpu": rel["cpu"],
        "omniserve:env": dict(rel["env"]),
        "omniserve:image": rel["image"],
        "omniserve:memory": rel["memory"],
        "omniserve:platforms": ["kubernetes", "ecs"],
        "omniserve:replicas": str(rel["replicas"]),
        "omniserve:subnets": list(DEFAULT_SUBNETS),
    }
    if rel.get("sentiment_model"):
        cfg["omniserve:sentimentModel"] = rel["sentiment_model"]
    return cfg


def environment(op: Operation) -> dict[str, str]:
    """UpdateInfo ``environment`` as the CLI collects it (git, vcs, CI, flags; values never secrets)."""
    env = {
        "exec.kind": "cli",
        "git.author": op.commit.author.name,
        "git.author.email": op.commit.author.email,
        "git.committer": "GitHub",
        "git.committer.email": "noreply@github.com",
        "git.dirty": "false",
        "git.head": op.commit.head,
        "git.headName": "refs/heads/main",
        "pulumi.arch": "amd64",
        "pulumi.env.PULUMI_BACKEND_URL": "set",
        "pulumi.env.PULUMI_CONFIG_PASSPHRASE": "set",
        "pulumi.os": "linux",
        "pulumi.version": PULUMI_VERSION,
        "stack.environments": "[]",
        "updatePlan": "false",
        "vcs.kind": "github.com",
        "vcs.owner": "omniserve",
        "vcs.repo": "omniserve",
        "vcs.root": "infra",
    }
    if op.kind == "update":
        env["runtime.name"] = "python"
    if op.ci_run is not None:
        env.update({
            "ci.build.id": str(op.ci_run),
            "ci.build.number": str(op.ci_run % 1000),
            "ci.build.type": "push",
            "ci.build.url": f"https://github.com/omniserve/omniserve/actions/runs/{op.ci_run}",
            "ci.system": "GitHub Actions",
            "pulumi.flag.skip-preview": "true",
            "pulumi.flag.stack": "set",
            "pulumi.flag.yes": "true",
        })
    else:
        env.update({"pulumi.flag.stack": "set", "pulumi.flag.yes": "true"})
    return env


def _yaml(doc: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


def generate(out: Path) -> None:
    """Write ``out/backend`` (the DIY backend) and ``out/Pulumi.yaml`` / ``Pulumi.<stack>.yaml``."""
    out.mkdir(parents=True, exist_ok=True)
    backend_root = out / "backend"
    for generated in (backend_root / ".pulumi", backend_root / ".infra-rollback"):
        if generated.exists():
            shutil.rmtree(generated)
    backend = DiyBackend(backend_root, seed=SEED)
    stack_files: dict[str, str] = {}
    for stack, operations in STACKS.items():
        rng = random.Random(f"{SEED}/{stack}")
        secrets = SecretEncrypter.create(PASSPHRASE, rng=rng)
        previous: dict[str, Any] | None = None
        config: dict[str, Any] = {}
        for op in operations:
            start = unix_nanos(op.start)
            end = op.start + timedelta(seconds=op.seconds)
            refresh = op.kind == "refresh"
            config = stack_config(stack, op.release, secrets)
            current = omniserve_deployment(
                stack=stack, release=op.release, crypter=secrets, rng=rng, time=start, previous=previous,
                ecs_release=op.ecs_release, refresh=refresh,
                manifest_time=unix_nanos(end) - rng.randrange(200_000_000, 900_000_000))
            backend.record_operation(
                PROJECT, stack, current, kind=op.kind, result=op.result,
                message=op.message if op.message is not None else op.commit.title,
                start_time=op.start, end_time=end, environment=environment(op), config=config,
                resource_changes=omniserve_changes(previous, current, crypter=secrets, refresh=refresh))
            previous = current
        stack_files[stack] = _yaml({"encryptionsalt": secrets.salt_state,
                                    "config": {k: config[k] for k in sorted(config)}})
    (out / "Pulumi.yaml").write_text(_yaml({
        "name": PROJECT,
        "runtime": "python",
        "description": "Example omniserve stacks for infra-rollback (generated by scripts/make_example.py)",
        "backend": {"url": "file://./backend"},
    }))
    for stack, text in stack_files.items():
        (out / f"Pulumi.{stack}.yaml").write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "examples",
                        help="directory to write backend/ and Pulumi*.yaml into (default: examples/)")
    args = parser.parse_args(argv)
    generate(args.out)
    print(f"wrote {args.out / 'backend'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
