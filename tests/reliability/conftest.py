"""Shared pieces of the reliability suite: a small backend, the one-line refusal check, a tree snapshot.

Every refusal here is checked as a user sees it: the CLI (``rollback.cli.main``, so the argument routing
and the usage-error path are the real ones) exits 2, prints exactly one ``error: ...`` line on stderr
that names the thing (file, stack, version, variable), no traceback, no escape character, and the
backend is byte-identical afterwards.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability.story import gate, world  # noqa: F401  (fixtures: the example backend, a health endpoint)
from tests.support.backends import PASSPHRASE, ShopBackend, isolate_env


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def run(*args: str) -> Run:
    """``infra-rollback ARGS`` in process, through ``rollback.cli.main`` (exit code, stdout, stderr)."""
    from rollback.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Run(code, out.getvalue(), err.getvalue())


def refused(result: Run, *fragments: str, code: int = 2) -> str:
    """The single error line of a refused run, checked: exit ``code``, one ``error:`` line holding every
    fragment, nothing on stdout, no traceback, no control character."""
    assert result.code == code, (result.code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in lines[0]), repr(lines[0])
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (symbolic links as their target text), to prove nothing changed."""
    out: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if path.is_symlink():
                out[str(path.relative_to(root))] = b"-> " + os.readlink(path).encode()
            elif path.is_file():
                out[str(path.relative_to(root))] = path.read_bytes()
    return out


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    isolate_env(monkeypatch, tmp_path / "pulumi-home", passphrase=PASSPHRASE)
    for name in ("INFRA_ROLLBACK_MAX_STATE_SIZE", "INFRA_ROLLBACK_MAX_COMPRESSION_RATIO", "INFRA_ROLLBACK_RECORDS"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def shop(tmp_path: Path) -> ShopBackend:
    """shop/prod with two releases: v1 web:1, v2 web:2 (the current state)."""
    backend = ShopBackend(tmp_path / "state")
    backend.deploy(image="web:1", token="tok-1", message="one")
    backend.deploy(image="web:2", token="tok-2", message="two")
    return backend


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's server on 127.0.0.1, one per test module (tests/support/moto.py)."""
    from tests.support.moto import moto_server

    with moto_server() as url:
        yield url
