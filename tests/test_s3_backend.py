"""s3://bucket/prefix backends, against moto's S3 server on 127.0.0.1 with real boto3 calls.

The same small DIY backend is written to a local folder and uploaded to a bucket; every command must
say the same thing about both copies, write its records beside ``.pulumi/`` (never inside it), and turn
every S3 failure into one line and exit 2.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rollback.cli import app

BUCKET = "omniserve-state"
PREFIX = "team/infra"
PROJECT = "omniserve"
STACK = "prod"
REGION = "eu-west-1"
SECRET_PLAINTEXT = "hunter2-db-password"
IMAGES = ["ghcr.io/omniserve/bot:1.3.0", "ghcr.io/omniserve/bot:1.4.0", "ghcr.io/omniserve/bot:1.5.0"]
BASE_NS = 1_760_000_000_000_000_000

runner = CliRunner()


# -- a small DIY backend, written as Pulumi writes it --------------------------------------------
def _urn(typ: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{typ}::{name}"


def _deployment(image: str, *, replicas: int) -> dict[str, Any]:
    provider_urn = _urn("pulumi:providers:kubernetes", "default_4_18_0")
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
              "ciphertext": base64.b64encode(json.dumps(SECRET_PLAINTEXT).encode()).decode()}
    container = {"name": "bot", "image": image, "env": [{"name": "DB_PASSWORD", "value": secret}]}
    spec = {"replicas": replicas, "selector": {"matchLabels": {"app": "omniserve"}},
            "template": {"metadata": {"labels": {"app": "omniserve"}}, "spec": {"containers": [container]}}}
    inputs = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "omniserve", "namespace": "omniserve"}, "spec": spec}
    return {
        "manifest": {"time": "2025-10-09T10:00:00Z", "magic": "", "version": "v3.200.0"},
        "secrets_providers": {"type": "b64", "state": {}},
        "resources": [
            {"urn": _urn("pulumi:pulumi:Stack", f"{PROJECT}-{STACK}"), "custom": False,
             "type": "pulumi:pulumi:Stack"},
            {"urn": provider_urn, "custom": True, "id": "prov-1", "type": "pulumi:providers:kubernetes",
             "inputs": {"version": "4.18.0"}, "outputs": {"version": "4.18.0"}},
            {"urn": _urn("kubernetes:apps/v1:Deployment", "omniserve"), "custom": True,
             "id": "omniserve/omniserve", "type": "kubernetes:apps/v1:Deployment",
             "parent": _urn("pulumi:pulumi:Stack", f"{PROJECT}-{STACK}"),
             "provider": f"{provider_urn}::prov-1", "inputs": inputs, "outputs": inputs},
        ],
    }


def _checkpoint(image: str, *, replicas: int) -> bytes:
    body = {"version": 3, "checkpoint": {"stack": f"organization/{PROJECT}/{STACK}",
                                         "latest": _deployment(image, replicas=replicas)}}
    return json.dumps(body, indent=4).encode()


def _update_info(n: int, image: str) -> bytes:
    start = 1_760_000_000 + n * 3600
    return json.dumps({
        "kind": "update", "startTime": start, "endTime": start + 60, "message": f"release {image}",
        "environment": {"git.head": f"{n:02d}" + "ab" * 19, "exec.kind": "cli"},
        "config": {"omniserve:image": image, "omniserve:replicas": "3",
                   "omniserve:apiToken": {"secure": "v1:abc:def"}},
        "result": "succeeded", "resourceChanges": {"update": 1} if n else {"create": 3}, "version": 0,
    }).encode()


def write_backend(root: Path) -> dict[str, bytes]:
    """Three succeeded updates (images 1.3.0, 1.4.0, 1.5.0); 1.5.0 is current. Returns key -> bytes."""
    files: dict[str, bytes] = {".pulumi/meta.yaml": b"version: 1\n"}
    history = f".pulumi/history/{PROJECT}/{STACK}"
    for n, image in enumerate(IMAGES):
        ns = BASE_NS + n * 3_600_000_000_000
        cp = _checkpoint(image, replicas=3)
        files[f"{history}/{STACK}-{ns}.history.json"] = _update_info(n, image)
        files[f"{history}/{STACK}-{ns}.checkpoint.json"] = cp
        files[f".pulumi/stacks/{PROJECT}/{STACK}.json"] = cp
    files[f".pulumi/stacks/{PROJECT}/{STACK}.pulumi-tags"] = b'{"version":1,"tags":{}}'
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def upload_tree(client: Any, root: Path, bucket: str, prefix: str) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = path.relative_to(root).as_posix()
        client.put_object(Bucket=bucket, Key=f"{prefix}/{key}" if prefix else key, Body=path.read_bytes())


def keys_under(client: Any, bucket: str, prefix: str) -> set[str]:
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update(obj["Key"] for obj in page.get("Contents") or [])
    return keys


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server of the S3 tests' own: the bucket uploaded once stays for the session."""
    from tests.support.moto import moto_server

    with moto_server() as url:
        yield url


def _admin_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="session")
def local_backend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("diy") / "backend"
    write_backend(root)
    return root


@pytest.fixture(scope="session")
def uploaded(moto_endpoint: str, local_backend: Path) -> Any:
    """The backend in s3://omniserve-state/team/infra; the admin client returned for inspection."""
    client = _admin_client(moto_endpoint)
    client.create_bucket(Bucket=BUCKET)
    upload_tree(client, local_backend, BUCKET, PREFIX)
    return client


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, tmp_path: Path) -> str:
    """Fake credentials and the moto endpoint through the variables boto3 reads itself."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
                 "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "CI"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "aws-empty").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-empty"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-empty"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")   # never ask an instance metadata service
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.chdir(tmp_path)   # no Pulumi.yaml here: the backend comes from --backend only
    return moto_endpoint


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def one_line_error(result: Any) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr and "botocore" not in result.stderr
    return lines[0]


def without_backend(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "backend"}


S3_URL = f"s3://{BUCKET}/{PREFIX}"


# -- reading ------------------------------------------------------------------------------------
def test_history_from_s3_is_the_history_of_the_file_copy(uploaded: Any, aws_env: str, local_backend: Path) -> None:
    from_s3 = cli("history", STACK, "--backend", S3_URL, "--json")
    from_file = cli("history", STACK, "--backend", f"file://{local_backend}", "--json")
    assert from_s3.exit_code == 0, from_s3.stderr
    assert from_file.exit_code == 0, from_file.stderr
    s3_doc, file_doc = json.loads(from_s3.stdout), json.loads(from_file.stdout)
    assert s3_doc["backend"] == S3_URL
    assert without_backend(s3_doc) == without_backend(file_doc)
    assert [v["version"] for v in s3_doc["versions"]] == [3, 2, 1]
    assert [v["message"] for v in s3_doc["versions"]] == [f"release {i}" for i in reversed(IMAGES)]
    assert s3_doc["current_version"] == 3


def test_pulumi_url_query_parameters_are_honoured(uploaded: Any, aws_env: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Without AWS_ENDPOINT_URL the endpoint, region and addressing style come from the URL alone.
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    host = aws_env[len("http://"):]
    url = f"{S3_URL}?region=us-east-1&endpoint={host}&disableSSL=true&s3ForcePathStyle=true&awssdk=v2"
    result = cli("history", STACK, "--backend", url, "--json")
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["versions"]) == 3


def test_unknown_query_parameter_is_bad_input(aws_env: str) -> None:
    line = one_line_error(cli("history", STACK, "--backend", f"{S3_URL}?regoin=us-east-1"))
    assert "regoin" in line


@pytest.mark.parametrize("query, words", [
    ("?profile=no-such-profile", "no-such-profile"),
    ("?disableSSL=maybe", "disableSSL"),
    ("?endpoint=http://[oops", "S3 client"),
])
def test_bad_url_settings_are_bad_input(aws_env: str, query: str, words: str) -> None:
    line = one_line_error(cli("history", STACK, "--backend", S3_URL + query))
    assert S3_URL in line and words in line


def test_preview_from_s3_is_the_preview_of_the_file_copy(uploaded: Any, aws_env: str, local_backend: Path) -> None:
    args = ("rollback", STACK, "--to", "previous", "--preview", "--json")
    from_file = cli(*args, "--backend", f"file://{local_backend}")
    if from_file.exit_code != 0:   # this test compares backends; the preview itself is tested elsewhere
        pytest.skip(f"the preview does not run on a file:// backend in this tree: {from_file.stderr.strip()}")
    from_s3 = cli(*args, "--backend", S3_URL)
    assert from_s3.exit_code == 0, from_s3.stderr
    s3_doc = json.loads(from_s3.stdout)
    assert without_backend(s3_doc) == without_backend(json.loads(from_file.stdout))
    assert s3_doc["to_version"] == 2
    assert IMAGES[1] in from_s3.stdout
    assert SECRET_PLAINTEXT not in from_s3.stdout + from_s3.stderr


def test_listing_follows_every_page(uploaded: Any, aws_env: str) -> None:
    from rollback.state.s3 import open_s3_store

    store = open_s3_store(S3_URL)
    store.page_size = 2   # 6 history files -> 3 listing requests
    names = [e.key.rsplit("/", 1)[-1] for e in store.list(f".pulumi/history/{PROJECT}/{STACK}")]
    assert len(names) == 6 and len(set(names)) == 6
    assert all(e.size > 0 and e.mtime > 1_600_000_000 for e in store.list(f".pulumi/stacks/{PROJECT}"))
    assert store.list_dirs(".pulumi") == ["history", "stacks"]
    assert store.exists(".pulumi") and store.exists(".pulumi/meta.yaml")
    assert not store.exists(".pulumi/nope") and not store.exists(".pulum")


# -- writing our records ------------------------------------------------------------------------
def test_mark_writes_beside_pulumi_dir_and_history_shows_it(uploaded: Any, aws_env: str, local_backend: Path) -> None:
    prefix = "marks-test"
    upload_tree(uploaded, local_backend, BUCKET, prefix)
    url = f"s3://{BUCKET}/{prefix}"
    pulumi_before = keys_under(uploaded, BUCKET, f"{prefix}/.pulumi/")

    result = cli("mark", STACK, "2", "--bad", "--reason", "tags every ticket urgent", "--backend", url, "--json")
    assert result.exit_code == 0, result.stderr

    assert keys_under(uploaded, BUCKET, f"{prefix}/.pulumi/") == pulumi_before
    marks_key = f"{prefix}/.infra-rollback/{PROJECT}/{STACK}/marks.json"
    assert keys_under(uploaded, BUCKET, f"{prefix}/.infra-rollback/") == {marks_key}
    marks = json.loads(uploaded.get_object(Bucket=BUCKET, Key=marks_key)["Body"].read())
    assert [m["mark"] for m in marks["marks"].values()] == ["bad"]

    history = json.loads(cli("history", STACK, "--backend", url, "--json").stdout)
    assert {v["version"]: v["mark"] for v in history["versions"]} == {3: None, 2: "bad", 1: None}


def test_store_refuses_to_write_pulumi_files(uploaded: Any, aws_env: str) -> None:
    from rollback.state.s3 import open_s3_store

    store = open_s3_store(S3_URL)
    with pytest.raises(ValueError):
        store.write(f".pulumi/stacks/{PROJECT}/{STACK}.json", b"{}")
    assert json.loads(uploaded.get_object(Bucket=BUCKET, Key=f"{PREFIX}/.pulumi/stacks/{PROJECT}/{STACK}.json")
                      ["Body"].read())["checkpoint"]["latest"]


# -- failures: one line, exit 2 -------------------------------------------------------------------
def test_missing_bucket(aws_env: str) -> None:
    line = one_line_error(cli("history", STACK, "--backend", "s3://no-such-bucket-here/team"))
    assert "no-such-bucket-here" in line and "does not exist" in line


def test_prefix_without_pulumi_state(uploaded: Any, aws_env: str) -> None:
    line = one_line_error(cli("history", STACK, "--backend", f"s3://{BUCKET}/elsewhere"))
    assert f"s3://{BUCKET}/elsewhere" in line and ".pulumi" in line


def test_read_denied_by_bucket_policy(moto_endpoint: str, aws_env: str, local_backend: Path) -> None:
    client = _admin_client(moto_endpoint)
    bucket = "omniserve-locked"
    client.create_bucket(Bucket=bucket)
    upload_tree(client, local_backend, bucket, "infra")
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    line = one_line_error(cli("history", STACK, "--backend", f"s3://{bucket}/infra"))
    assert f"s3://{bucket}/infra" in line and "access denied" in line


def test_access_denied_error_code_is_translated(moto_endpoint: str) -> None:
    from botocore.exceptions import ClientError

    from rollback.state.s3 import parse_s3_url, translate_error

    response = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                "ResponseMetadata": {"HTTPStatusCode": 403}}
    err = translate_error(ClientError(response, "ListObjectsV2"), parse_s3_url(f"{S3_URL}?region={REGION}"),
                          action="list", key=f"{PREFIX}/.pulumi/")
    assert err.exit_code == 2
    assert str(err) == (f"backend {S3_URL}: access denied (AccessDenied: cannot list s3://{BUCKET}/{PREFIX}/.pulumi/); "
                        f"check the credentials and the bucket policy")


def test_no_credentials(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    line = one_line_error(cli("history", STACK, "--backend", S3_URL))
    assert S3_URL in line and "no AWS credentials" in line


def test_unreachable_endpoint(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:   # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    line = one_line_error(cli("history", STACK, "--backend", S3_URL))
    assert S3_URL in line and f"127.0.0.1:{port}" in line and "cannot reach" in line


def test_importing_the_s3_store_does_not_import_boto3() -> None:
    code = "import sys, rollback.state.s3, rollback.cli; sys.exit('boto3' in sys.modules or 'botocore' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
