"""No secret plaintext ever reaches stdout or stderr, whatever the command, format or passphrase.

Three backends: the bundled example, a small one whose secrets hold distinctive canaries in every
place a secret hides (a Kubernetes Secret, an SSM parameter, an ECS ``containerDefinitions`` that is
itself secret, a secret deep inside a pod template, a secret object in the stack outputs, a secret
output, a config ``secure`` value), and one built from the eks fixtures exported with
``--show-secrets`` (plaintext under the secret markers). The plaintexts checked are not a hand-kept
list: every string found under a secret marker (or a config ``secure`` value) in the backend's files,
decrypted, that does not also appear outside secrets.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from typer.testing import CliRunner

from rollback.cli import app
from rollback.state.secrets import PassphraseCrypter
from rollback.state.values import SECRET_SIG, SIG
from statekit.pulumi_writer import DiyWriter, secret
from tests.paths import EXAMPLES, FIXTURES
from tests.support.backends import EXAMPLE_PASSPHRASE, PASSPHRASE, ShopBackend

runner = CliRunner()

EKS_OLD = FIXTURES / "real-world" / "eks-encryption-provider-2.5.2-plaintext.json"
EKS_NEW = FIXTURES / "real-world" / "eks-encryption-provider-3.0.0-plaintext.json"


# -- collecting what must never be printed ------------------------------------------------------------
def _decompress(data: bytes) -> bytes:
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def _strings(value: Any, out: set[str], *, keys: bool) -> None:
    """Every string value (and with ``keys`` every key) in a value; JSON documents in strings are opened."""
    if isinstance(value, dict):
        for k, v in value.items():
            if keys:
                out.add(k)
            _strings(v, out, keys=keys)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out, keys=keys)
    elif isinstance(value, str):
        out.add(value)
        if value[:1] in "[{":
            try:
                _strings(json.loads(value), out, keys=keys)
            except ValueError:
                pass


def _scan(value: Any, decrypt: Callable[[str], str] | None, secret_out: set[str], plain_out: set[str]) -> None:
    if isinstance(value, dict):
        if value.get(SIG) == SECRET_SIG:
            if "plaintext" in value:
                text = value["plaintext"]
            else:
                assert decrypt is not None, "a ciphertext but no way to decrypt it"
                text = decrypt(value["ciphertext"])
            secret_out.add(text)
            _strings(json.loads(text), secret_out, keys=False)   # key names are not secret values
            return
        if set(value) == {"secure"} and isinstance(value["secure"], str) and decrypt is not None:
            secret_out.add(decrypt(value["secure"]))   # a config secret: the plaintext is the raw string
            return
        for k, v in value.items():
            plain_out.add(k)
            _scan(v, decrypt, secret_out, plain_out)
    elif isinstance(value, list):
        for v in value:
            _scan(v, decrypt, secret_out, plain_out)
    elif isinstance(value, str):
        _strings(value, plain_out, keys=True)


def secret_plaintexts(root: Path, passphrase: str | None) -> set[str]:
    """Plaintexts found under secrets in every state file below ``root/.pulumi`` that never appear in
    the clear in those files (so an output containing one leaked it). Short strings are left out."""
    docs = [json.loads(_decompress(p.read_bytes())) for p in sorted((root / ".pulumi").rglob("*.json*"))
            if p.is_file() and not p.name.endswith(".pulumi-tags")]
    crypters: dict[str, Callable[[str], str]] = {}
    if passphrase is not None:
        for doc in docs:
            latest = ((doc.get("checkpoint") or {}).get("latest") or {}) if isinstance(doc, dict) else {}
            salt = ((latest.get("secrets_providers") or {}).get("state") or {}).get("salt")
            if salt and salt not in crypters:
                crypters[salt] = PassphraseCrypter.from_salt(salt, passphrase, source="test").decrypt

    def decrypt(ciphertext: str) -> str:
        for fn in crypters.values():
            with contextlib.suppress(InvalidTag):   # another stack's salt
                return fn(ciphertext)
        raise AssertionError("a ciphertext no salt of this backend decrypts")

    secrets: set[str] = set()
    plain: set[str] = set()
    for doc in docs:
        _scan(doc, decrypt if crypters else None, secrets, plain)
    return {s for s in secrets - plain if len(s) >= 8}


# -- the backends ---------------------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    root: Path
    args: list[str]                 # --backend / --cwd
    stack: str
    passphrase: str | None          # the right one, when there is one
    canaries: set[str]
    secret_changes: bool            # whether previous/diff must show a changed secret as [secret]


def _canary_release(shop: ShopBackend, n: int, image: str) -> dict[str, Any]:
    """One release of the canary stack; ``n`` picks the canary numbers (odd: v1, even: v2)."""
    def c(k: int) -> str:
        return f"PLAINTEXT-CANARY-{k}"

    container_defs = json.dumps([{
        "essential": True, "image": image, "memory": 512, "name": "web",
        "environment": [{"name": "SESSION_SIGNING_KEY", "value": c(5 + n)}, {"name": "MODE", "value": "prod"}],
    }])
    extra = [
        shop.custom("aws:ssm/parameter:Parameter", "db-password",
                    {"name": "/shop/db-password", "type": "SecureString", "value": secret(c(3 + n))}),
        shop.custom("aws:ecs/taskDefinition:TaskDefinition", "web",
                    {"containerDefinitions": secret(container_defs), "cpu": "256", "family": "web",
                     "memory": "512", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"]},
                    outputs={"arn": f"arn:aws:ecs:eu-west-1:123456789012:task-definition/web:{n + 1}",
                             "containerDefinitions": secret(container_defs), "family": "web",
                             "revision": n + 1}),
        shop.custom("aws:secretsmanager/secretVersion:SecretVersion", "db",
                    {"secretId": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db",
                     "secretString": secret(json.dumps({"password": c(11 + n), "user": "app"}))}),
        shop.custom("shop:index:Widget", "deep",
                    {"spec": {"layers": [{"auth": {"token": secret(c(13 + n))}, "name": "outer"}]}},
                    outputs={"spec": {"layers": [{"auth": {"token": secret(c(13 + n))}, "name": "outer"}]},
                             "issued": secret({"nested": {"value": c(17 + n)}})},
                    additionalSecretOutputs=["issued"]),
        shop.custom("random:index/randomPassword:RandomPassword", "unchanged",
                    {"length": 24}, outputs={"length": 24, "result": secret("PLAINTEXT-CANARY-UNCHANGED")}),
    ]
    return {"image": image, "token": c(1 + n), "env": {"MODE": "prod", "SESSION_KEY": secret(c(7 + n))},
            "extra": extra,
            "stack_outputs": {"connection": secret({"db": {"auth": {"password": c(9 + n)}, "hosts": ["db-1"]}}),
                              "image": image}}


@pytest.fixture(scope="module")
def canary_case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    root = tmp_path_factory.mktemp("canary") / "state"
    shop = ShopBackend(root)
    for n, image in ((0, "web:1"), (1, "web:2")):
        shop.deploy(message=f"release {n + 1}", git_head=f"{n + 1}" * 7,
                    config={"shop:dbPassword": shop.secrets.config_secret(f"PLAINTEXT-CANARY-{15 + n}")},
                    **_canary_release(shop, n, image))
    shop.deploy(kind="refresh", **_canary_release(shop, 1, "web:2"))
    canaries = secret_plaintexts(root, PASSPHRASE)
    expected = {f"PLAINTEXT-CANARY-{k}" for k in range(1, 19)} | {"PLAINTEXT-CANARY-UNCHANGED", "SESSION_SIGNING_KEY"}
    assert expected <= canaries, sorted(expected - canaries)
    return Case("canary", root, ["--backend", shop.url], "prod", PASSPHRASE, canaries, secret_changes=True)


@pytest.fixture(scope="module")
def example_case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    root = tmp_path_factory.mktemp("example") / "examples"
    shutil.copytree(EXAMPLES, root)
    canaries = secret_plaintexts(root / "backend", EXAMPLE_PASSPHRASE)
    assert {"osv_live_7Qm2R9vXc4TfLp8WzK3nB6dJ", "osv_live_Hd5sJ2kWq9Vx6bNc1RtY8mPe"} <= canaries
    return Case("example", root / "backend", ["--cwd", str(root)], "prod", EXAMPLE_PASSPHRASE, canaries,
                secret_changes=True)


@pytest.fixture(scope="module")
def eks_case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    """Two history entries carrying the eks fixtures' deployments (plaintext secrets on disk)."""
    root = tmp_path_factory.mktemp("eks") / "state"
    writer = DiyWriter(root, backups=False)
    for n, path in enumerate((EKS_OLD, EKS_NEW)):
        dep = json.loads(path.read_text())["deployment"]
        t = 1_700_000_000 + n * 86_400
        writer.record_operation("encryption-provider", "test", dep, message=path.name, start_time=t,
                                end_time=t + 300, environment={"git.head": f"{n + 1}" * 40})
    stack_file = root / ".pulumi" / "stacks" / "encryption-provider" / "test.json"
    envelope = json.loads(stack_file.read_bytes())
    assert envelope["version"] == 3 and envelope["checkpoint"]["stack"] == "organization/encryption-provider/test"
    assert envelope["checkpoint"]["latest"] == json.loads(EKS_NEW.read_text())["deployment"]
    canaries = secret_plaintexts(root, None)
    assert len(canaries) >= 4, canaries
    return Case("eks", root, ["--backend", f"file://{root}"], "test", None, canaries, secret_changes=True)


# -- running every reading command ----------------------------------------------------------------------
def _commands(stack: str) -> Iterator[list[str]]:
    for fmt in ([], ["--verbose"], ["--json"], ["--markdown"]):
        yield ["rollback", stack, "--to", "previous", "--preview", *fmt]
        yield ["rollback", stack, "--to", "1", "--preview", *fmt]
        yield ["rollback", stack, "--to", "1", "--preview", "--no-rehearse", *fmt]
        yield ["diff", stack, "--from", "1", "--to", "current", *fmt]
        yield ["diff", stack, "--from", "current", "--to", "1", *fmt]
    yield ["history", stack, "--json"]
    yield ["history", stack]
    for version in ("1", "current"):
        yield ["show", stack, version]
        yield ["show", stack, version, "--json"]


def _run_all(case: Case, passphrase: str | None, home: Path) -> list[tuple[list[str], Any]]:
    env = {"PULUMI_CONFIG_PASSPHRASE": passphrase, "PULUMI_CONFIG_PASSPHRASE_FILE": None,
           "PULUMI_BACKEND_URL": None, "PULUMI_HOME": str(home), "INFRA_ROLLBACK_DEBUG": None}
    return [(args, runner.invoke(app, [*args, *case.args], env=env, catch_exceptions=False))
            for args in _commands(case.stack)]


def _assert_no_canary(case: Case, runs: list[tuple[list[str], Any]]) -> None:
    for args, result in runs:
        for stream in (result.stdout, result.stderr):
            leaked = sorted(c for c in case.canaries if c in stream)
            assert not leaked, f"{' '.join(args)} printed secret plaintext {leaked}"


@pytest.fixture(params=["example", "canary", "eks"])
def case(request: pytest.FixtureRequest) -> Case:
    return request.getfixturevalue(f"{request.param}_case")


def test_no_plaintext_with_the_passphrase(case: Case, tmp_path: Path) -> None:
    runs = _run_all(case, case.passphrase, tmp_path)
    _assert_no_canary(case, runs)
    for args, result in runs:
        assert result.exit_code == 0, (args, result.stderr)
    if case.secret_changes:
        shown = {" ".join(args): r.stdout for args, r in runs}
        for fmt in (" --verbose", " --json"):
            assert "[secret]" in shown[f"rollback {case.stack} --to 1 --preview{fmt}"]
            assert "[secret]" in shown[f"diff {case.stack} --from 1 --to current{fmt}"]


def test_no_plaintext_without_a_passphrase(case: Case, tmp_path: Path) -> None:
    runs = _run_all(case, None, tmp_path)
    _assert_no_canary(case, runs)
    for args, result in runs:
        assert result.exit_code in (0, 2), (args, result.stderr)
        assert "Traceback" not in result.stderr
    by_args = {" ".join(args): r for args, r in runs}
    assert by_args[f"history {case.stack} --json"].exit_code == 0
    assert by_args[f"diff {case.stack} --from 1 --to current --json"].exit_code == 0
    # without the rehearsal (which needs plaintexts to replay) a preview reads without a passphrase
    assert by_args[f"rollback {case.stack} --to 1 --preview --no-rehearse"].exit_code == 0
    assert by_args[f"rollback {case.stack} --to 1 --preview --no-rehearse --json"].exit_code == 0


def test_no_plaintext_with_a_wrong_passphrase(case: Case, tmp_path: Path) -> None:
    runs = _run_all(case, "wrong-passphrase", tmp_path)
    _assert_no_canary(case, runs)
    for args, result in runs:
        if args[0] == "rollback":
            assert result.exit_code == 2 and "incorrect passphrase" in result.stderr, (args, result.stderr)


def test_the_canary_set_is_not_empty_for_real_secrets(canary_case: Case) -> None:
    """Guards the guard: the scan sees through nested secrets, JSON strings and config values."""
    assert "PLAINTEXT-CANARY-17" in canary_case.canaries     # a secret object inside outputs
    assert "PLAINTEXT-CANARY-15" in canary_case.canaries     # a config secure value in history
    assert "web:1" not in canary_case.canaries              # short strings are left out
