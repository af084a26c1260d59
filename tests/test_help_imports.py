"""`infra-rollback --help` (and every subcommand's) stays light and shows an example.

Each run is a fresh interpreter: what `--help` imports is checked in ``sys.modules`` at exit, so an
import of pulumi, grpc, boto3, botocore or kubernetes anywhere on the help path fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

import pytest

from tests.paths import ROOT

HEAVY = ("pulumi", "grpc", "boto3", "botocore", "kubernetes")
SUBCOMMANDS = ("rollback", "history", "show", "diff", "mark", "write-config", "verify", "deploy")

_PROBE = """
import contextlib, io, json, sys
out = io.StringIO()
code = None
with contextlib.redirect_stdout(out):
    try:
        from rollback.cli import main
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
heavy = sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY))
print(json.dumps({"code": code, "help": out.getvalue(), "heavy": heavy}))
"""


def _help(*args: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", _PROBE.replace("HEAVY", repr(HEAVY)), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1",
                               "PYTHONPATH": str(ROOT), "HOME": tempfile.gettempdir()})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_top_level_help_imports_nothing_heavy() -> None:
    result = _help("--help")
    assert result["code"] in (0, None)
    assert result["heavy"] == [], f"--help imported {result['heavy']}"
    text = str(result["help"])
    assert "infra-rollback prod --to previous --preview" in text
    for name in SUBCOMMANDS:
        assert name in text


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_subcommand_help_imports_nothing_heavy_and_shows_an_example(command: str) -> None:
    result = _help(command, "--help")
    assert result["code"] in (0, None)
    assert result["heavy"] == [], f"{command} --help imported {result['heavy']}"
    text = str(result["help"])
    assert "Example" in text, text
    assert f"infra-rollback {command}" in text or command == "rollback"


def test_the_probe_would_notice_a_heavy_import() -> None:
    """The check above can fail: importing a heavy module on the way is seen."""
    probe = "import botocore, sys; print(sorted({m.split('.')[0] for m in sys.modules} & {'botocore'}))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert proc.stdout.strip() == "['botocore']"
