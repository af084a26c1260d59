"""moto's server on 127.0.0.1 (a random free port), in this process: real boto3 calls, no cloud."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Start a moto server, yield its URL, stop it. Each caller gets its own server (own state)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def fresh_s3_store(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, bucket: str, prefix: str) -> Any:
    """An S3Store on a new bucket (``bucket-<random>``) of moto's server, below ``prefix``; the AWS settings of
    this process point at that server and at no profile or file of the machine's."""
    import uuid

    import boto3

    from rollback.state.s3 import open_s3_store

    for name, value in (("AWS_ENDPOINT_URL", moto_url), ("AWS_ACCESS_KEY_ID", "testing"),
                        ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", "us-east-1"),
                        ("AWS_CONFIG_FILE", str(tmp_path / "none")),
                        ("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    name = f"{bucket}-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return open_s3_store(f"s3://{name}/{prefix}")
