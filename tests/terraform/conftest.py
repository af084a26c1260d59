"""A real engine, a real provider and an AWS API emulator for the Terraform tests.

The engine is OpenTofu built by ``scripts/build_terraform.sh`` (or any ``tofu``/``terraform`` named by
``INFRA_ROLLBACK_TF_ENGINE``), the provider the official hashicorp/aws 3.39 binary from that script's
filesystem mirror, AWS moto's server on 127.0.0.1. Where the engine or the mirror is missing, the tests
that need them skip with one line saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.paths import EXAMPLES
from tests.support.moto import moto_server
from tests.test_json_contract import CHANGE_KEYS, VERSION_KEYS
from tests.test_json_contract import PREVIEW_KEYS as PULUMI_PREVIEW_KEYS

#: The Pulumi preview's keys (tests/test_json_contract.py) where they apply: not the replay's, plus "terraform".
REPLAY_KEYS = {"rehearsal", "cannot_restore", "provider_versions", "notes"}
PREVIEW_KEYS = PULUMI_PREVIEW_KEYS - REPLAY_KEYS

TF_HOME = Path(os.environ.get("INFRA_ROLLBACK_TF_HOME") or Path.home() / ".cache" / "infra-rollback" / "terraform")
CLI_CONFIG = TF_HOME / "terraformrc"
SKIP_WHY = ("needs OpenTofu/Terraform and the hashicorp/aws mirror: run scripts/build_terraform.sh first "
            "(or name an engine with INFRA_ROLLBACK_TF_ENGINE)")


__all__ = ["CHANGE_KEYS", "PREVIEW_KEYS", "VERSION_KEYS"]


def engine_binary() -> str | None:
    named = os.environ.get("INFRA_ROLLBACK_TF_ENGINE")
    if named:
        return named if os.access(named, os.X_OK) else shutil.which(named)
    built = TF_HOME / "bin" / "tofu"
    return str(built) if os.access(built, os.X_OK) else None


def engine_available() -> bool:
    return engine_binary() is not None and CLI_CONFIG.is_file()


# Built when missing by the suite's conftest (tests/conftest.py), like the Pulumi engine; skipped only where
# there is no Go to build it with.
needs_engine = pytest.mark.terraform

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true"}


def make_engine() -> Any:
    from rollback.terraform.engine import Engine

    binary = engine_binary()
    assert binary is not None
    return Engine(binary, env={"TF_CLI_CONFIG_FILE": str(CLI_CONFIG), **AWS_ENV})


def tf_env() -> dict[str, str]:
    """What a user of the tests' engine sets: the engine, its CLI config (the provider mirror), AWS credentials."""
    binary = engine_binary()
    assert binary is not None
    return {"INFRA_ROLLBACK_TF_ENGINE": binary, "TF_CLI_CONFIG_FILE": str(CLI_CONFIG), **AWS_ENV}


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def _command() -> list[str]:
    """The installed `infra-rollback` command (the console script beside this Python), else `python -m rollback`."""
    script = Path(sys.executable).parent / "infra-rollback"
    return [str(script)] if os.access(script, os.X_OK) else [sys.executable, "-m", "rollback"]


@dataclass
class Cli:
    """`infra-rollback ARGS --cwd DIR` as a user runs it: a process of its own, no terminal, no colour."""

    cwd: Path
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 engine: bool = True) -> Result:
        full = {**os.environ, **(tf_env() if engine else AWS_ENV), "NO_COLOR": "1", **self.env, **(env or {})}
        for name in ("CI", "INFRA_ROLLBACK_DEBUG", "TF_WORKSPACE"):
            full.pop(name, None)
        proc = subprocess.run([*_command(), *args, "--cwd", str(cwd or self.cwd)], env=full, capture_output=True,
                              text=True, timeout=600, stdin=subprocess.DEVNULL)
        return Result(proc.returncode, proc.stdout, proc.stderr)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def init_repo(repo: Path) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "config", "user.email", "dev@example.invalid")
    git(repo, "config", "user.name", "Dev")
    (repo / ".gitignore").write_text(".terraform/\n*.tfbackend\n.infra-rollback/\nterraform.tfstate*\n")


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def s3_backend_settings(endpoint: str, *, bucket: str, key: str, lock_table: str | None) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "bucket": bucket, "key": key, "region": "us-east-1", "access_key": "testing", "secret_key": "testing",
        "endpoints": {"s3": endpoint, "dynamodb": endpoint, "sts": endpoint, "iam": endpoint},
        "use_path_style": True, "skip_credentials_validation": True, "skip_requesting_account_id": True,
        "skip_metadata_api_check": True, "skip_region_validation": True,
    }
    if lock_table:
        settings["dynamodb_table"] = lock_table
    return settings


def write_backend_file(path: Path, settings: Mapping[str, Any]) -> Path:
    """A ``-backend-config`` file (HCL attribute syntax) from settings."""
    lines = []
    for k, v in settings.items():
        if isinstance(v, dict):
            inner = ", ".join(f"{ik} = {json.dumps(iv)}" for ik, iv in v.items())
            lines.append(f"{k} = {{ {inner} }}")
        else:
            lines.append(f"{k} = {json.dumps(v)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def send_json(handler: Any, doc: Any) -> None:
    """Answer an ``http.server`` request with ``doc`` as JSON (200): the metrics the health gates read."""
    body = json.dumps(doc).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def boto(endpoint: str, service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@dataclass
class Aws:
    endpoint: str

    def client(self, service: str) -> Any:
        return boto(self.endpoint, service)


@pytest.fixture(scope="package")
def aws() -> Iterator[Aws]:
    with moto_server() as url:
        yield Aws(url)


@pytest.fixture(scope="package")
def state_bucket(aws: Aws, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """examples/terraform/state-bucket applied with the real engine: a versioned bucket and a lock table."""
    if not engine_available():
        pytest.skip(SKIP_WHY)
    work = tmp_path_factory.mktemp("state-bucket")
    shutil.copytree(EXAMPLES / "terraform" / "state-bucket", work, dirs_exist_ok=True)
    engine = make_engine()
    engine.init(work)
    engine.plan(work, out=work / "p.tfplan", variables={"aws_endpoint": aws.endpoint})
    engine.apply(work, work / "p.tfplan")
    return {"bucket": "bot-tfstate", "lock_table": "bot-tflock"}
