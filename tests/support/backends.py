"""Small DIY backends for CLI tests, written through the DIY writer (test support).

A :class:`ShopBackend` is one stack (``shop/prod`` by default) whose releases are a Kubernetes
Deployment ``web`` (image, replicas, env) plus a Secret ``web-secrets`` holding an API token, under
the passphrase secrets provider. Each :meth:`ShopBackend.deploy` records one operation exactly as the
CLI does (stack file, history entry, checkpoint); :meth:`ShopBackend.stack_import` rewrites the stack
file only, as ``pulumi stack import`` does.

Every backend made here uses the same passphrase and a salt derived from ``seed``, so the
million-round key derivation happens once per seed in a test session (both the writer and the reader
share :func:`rollback.state.secrets.derive_key`'s cache).

    shop = ShopBackend(tmp_path / "state")
    shop.deploy(image="ghcr.io/shop/web:1.0.0", message="release 1.0.0")
    shop.deploy(image="ghcr.io/shop/web:1.1.0", result="failed")
    runner.invoke(app, ["history", "prod", "--backend", shop.url, "--json"])
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from statekit.pulumi_writer import (
    Compression,
    DiyWriter,
    Layout,
    SecretEncrypter,
    deployment,
    make_urn,
    provider_ref,
    resource,
    secret,
    stable_uuid,
)
from tests.paths import EXAMPLES

__all__ = [
    "EXAMPLE_PASSPHRASE",
    "PASSPHRASE",
    "PROJECT",
    "STACK",
    "T0",
    "ShopBackend",
    "copy_example",
    "invoke_json",
    "isolate_env",
    "shop_deployment",
]

PASSPHRASE = "correct-horse-battery-staple"
EXAMPLE_PASSPHRASE = "omniserve-example"
PROJECT = "shop"
STACK = "prod"
T0 = 1_790_000_000            # unix seconds (2026-09-21), the first operation's start
K8S_VERSION = "4.18.0"


def shop_deployment(*, stack: str, project: str, time_ns: int, image: str, token: str, replicas: int = 2,
                    env: Mapping[str, Any] | None = None, extra: Sequence[Mapping[str, Any]] = (),
                    pending_operations: Sequence[Mapping[str, Any]] | None = None,
                    stack_outputs: Mapping[str, Any] | None = None,
                    secrets_providers: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The deployment of one release, secrets still as :func:`secret` placeholders (seal it).

    ``env`` values may be :func:`secret` placeholders (a secret nested deep in the pod template);
    ``extra`` resources are appended as given (build them with :meth:`ShopBackend.custom`).
    """
    root = make_urn(stack, project, "pulumi:pulumi:Stack", f"{project}-{stack}")
    prov_urn = make_urn(stack, project, "pulumi:providers:kubernetes", "default_" + K8S_VERSION.replace(".", "_"))
    provider = resource(urn=prov_urn, type="pulumi:providers:kubernetes", custom=True,
                        id=stable_uuid(stack, prov_urn), inputs={"version": K8S_VERSION},
                        outputs={"version": K8S_VERSION})
    meta = {"labels": {"app": "web"}, "namespace": project}
    env_list = [{"name": k, "value": v} for k, v in sorted((env or {"MODE": "prod"}).items())]
    dep_inputs = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {**meta, "name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"env": env_list, "image": image, "name": "web"}]}}},
    }
    sec_inputs = {"apiVersion": "v1", "kind": "Secret", "metadata": {**meta, "name": "web-secrets"},
                  "stringData": secret({"API_TOKEN": token}), "type": "Opaque"}
    resources = [
        resource(urn=root, type="pulumi:pulumi:Stack", custom=False,
                 outputs=dict(stack_outputs if stack_outputs is not None else {"image": image})),
        provider,
        resource(urn=make_urn(stack, project, "kubernetes:core/v1:Secret", "web-secrets", parent=root),
                 type="kubernetes:core/v1:Secret", custom=True, id=f"{project}/web-secrets",
                 inputs=sec_inputs, outputs=dict(sec_inputs), parent=root, provider=provider_ref(provider)),
        resource(urn=make_urn(stack, project, "kubernetes:apps/v1:Deployment", "web", parent=root),
                 type="kubernetes:apps/v1:Deployment", custom=True, id=f"{project}/web",
                 inputs=dep_inputs, outputs={**dep_inputs, "status": {"replicas": replicas}}, parent=root,
                 provider=provider_ref(provider)),
        *[dict(r) for r in extra],
    ]
    return deployment(time=time_ns, resources=resources, pending_operations=pending_operations,
                      secrets_providers=secrets_providers)


class ShopBackend:
    """One stack on a local DIY backend, grown one recorded operation at a time."""

    def __init__(self, root: Path, *, project: str = PROJECT, stack: str = STACK, layout: Layout = "project",
                 compress: Compression = None, passphrase: str = PASSPHRASE, seed: int = 7) -> None:
        self.root = Path(root)
        self.project = project
        self.stack = stack
        self.writer = DiyWriter(self.root, layout=layout, compress=compress, backups=False, seed=seed)
        self.secrets = SecretEncrypter.create(passphrase, rng=random.Random(seed))
        self.previous: dict[str, Any] | None = None
        self.clock = T0
        self.nanos: list[int] = []   # unixnano of each recorded operation, in recording order

    @property
    def url(self) -> str:
        return f"file://{self.root}"

    @property
    def pulumi(self) -> Path:
        return self.root / ".pulumi"

    def urn(self, type_: str, name: str) -> str:
        root = make_urn(self.stack, self.project, "pulumi:pulumi:Stack", f"{self.project}-{self.stack}")
        return make_urn(self.stack, self.project, type_, name, parent=root)

    def custom(self, type_: str, name: str, inputs: Mapping[str, Any], *,
               outputs: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        """An extra custom resource (no provider reference: a default provider of its package)."""
        root = make_urn(self.stack, self.project, "pulumi:pulumi:Stack", f"{self.project}-{self.stack}")
        return resource(urn=self.urn(type_, name), type=type_, custom=True, id=f"{name}-id",
                        inputs=dict(inputs), outputs=dict(outputs if outputs is not None else inputs),
                        parent=root, **extra)

    def build(self, *, image: str = "ghcr.io/shop/web:1.0.0", token: str = "tok-1", refresh: bool = False,
              **kwargs: Any) -> dict[str, Any]:
        """A sealed deployment following the previous one (unchanged secrets keep their ciphertexts;
        ``refresh`` re-encrypts every output secret, as a refresh does)."""
        dep = shop_deployment(stack=self.stack, project=self.project, time_ns=self.clock * 1_000_000_000 + 5,
                              image=image, token=token, secrets_providers=self.secrets.secrets_providers(),
                              **kwargs)
        return self.secrets.seal(dep, previous=self.previous, reencrypt=("outputs",) if refresh else ())

    def deploy(self, *, kind: str = "update", result: str = "succeeded", message: str = "",
               git_head: str | None = None, unixnano: int | None = None, config: Mapping[str, Any] | None = None,
               version: int = 3, features: Sequence[str] | None = None, dep: dict[str, Any] | None = None,
               **release: Any) -> int:
        """Record one operation (``kind`` update/refresh/destroy) of ``release`` (see :meth:`build`)."""
        if dep is None:
            dep = self.build(refresh=kind == "refresh", **release)
        env = {"git.head": git_head} if git_head else {}
        nanos = self.writer.record_operation(
            self.project, self.stack, dep, kind=kind, result=result, message=message,
            start_time=self.clock, end_time=self.clock + 60, environment=env, config=config,
            resource_changes={"update": 1} if kind == "update" else {"same": 4},
            unixnano=unixnano if unixnano is not None else (self.clock + 61) * 1_000_000_000 + 123,
            version=version, features=features)
        self.previous = dep
        self.nanos.append(nanos)
        self.clock += 3600
        return nanos

    def stack_import(self, **release: Any) -> Path:
        """Rewrite the stack file with another state and no history entry (``pulumi stack import``)."""
        dep = self.build(**release)
        self.previous = dep
        return self.writer.write_stack(self.project, self.stack, dep)

    def stack_file(self) -> Path:
        path = self.writer.existing_stack_path(self.project, self.stack)
        assert path is not None
        return path

    def history_paths(self, number: int) -> tuple[Path, Path]:
        """(history.json, checkpoint.json) of version ``number`` (1 = the oldest unixnano)."""
        return self.writer.history_paths(self.project, self.stack, sorted(self.nanos)[number - 1])


def copy_example(dest: Path) -> Path:
    """A private copy of ``examples/`` (Pulumi.yaml pointing at ``file://./backend``); returns its root."""
    shutil.copytree(EXAMPLES, dest, ignore=shutil.ignore_patterns("README.md"))
    return dest


def invoke_json(result: Any) -> Any:
    """The JSON document a successful CLI run printed (with a readable failure otherwise)."""
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)


ENV_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL",
            "INFRA_ROLLBACK_DEBUG", "PULUMI_HOME", "NO_COLOR", "CI")


def isolate_env(monkeypatch: Any, home: Path, *, passphrase: str | None = None) -> None:
    """No Pulumi settings from the machine running the tests: an empty ``PULUMI_HOME`` (no login),
    no backend URL, and the given passphrase (or none)."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("PULUMI_HOME", str(home))
    if passphrase is not None:
        monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", passphrase)


def cli(*args: str) -> Any:
    """Run the CLI app in process (Typer's CliRunner), exceptions not caught."""
    from typer.testing import CliRunner

    from rollback.cli import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def one_error_line(result: Any) -> str:
    """The single `error: ...` line of a run that exited 2 (bad input), with no traceback anywhere."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]
