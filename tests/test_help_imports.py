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

from rollback import __version__
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


# -- the entry point's fast answers ------------------------------------------------------------------
def test_the_fast_top_level_help_is_typer_s_own() -> None:
    """rollback/entry.py prints rollback/_help.py for `--help` without loading Typer: it must be what Typer
    prints (UPDATE_GOLDEN=1 rewrites rollback/_help.py after a change to the command line)."""
    import contextlib
    import io
    import os
    from pathlib import Path

    from rollback import _help

    out = io.StringIO()
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            from rollback.cli import main

            main(["--help"])
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    typer_help = out.getvalue()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path = Path(_help.__file__)
        head = path.read_text().split("TOP_HELP = ", 1)[0]
        lines = "".join(f"    {line!r}\n" for line in typer_help.splitlines(keepends=True))
        path.write_text(f"{head}TOP_HELP = (\n{lines})\n")
    assert _help.TOP_HELP == typer_help, "rollback/_help.py is stale: UPDATE_GOLDEN=1 rewrites it"


@pytest.mark.parametrize("args, expected", [(["--version"], f"infra-rollback {__version__}\n"),
                                            (["--help"], "Usage: infra-rollback")])
def test_the_entry_point_answers_version_and_help_without_typer(args: list[str], expected: str) -> None:
    probe = ("import sys\nfrom rollback.entry import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit as exc:\n    assert exc.code == 0\n"
             "sys.stderr.write(repr(sorted(m for m in ('typer', 'click', 'rollback.cli') if m in sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", probe, *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "COLUMNS": "100"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(expected)
    assert proc.stderr.strip().splitlines()[-1] == "[]"


def test_a_narrow_terminal_gets_typer_s_own_wrapping() -> None:
    probe = "from rollback.entry import main\nmain(['--help'])\n"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "COLUMNS": "60"})
    assert proc.returncode == 0, proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) <= 60
