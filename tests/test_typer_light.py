"""The command line's plain values converted without pydantic give what Typer's own conversion gives.

Every value below goes through a small Typer app twice, with the light converter
(:mod:`rollback._typer_light`, installed by ``rollback.cli``) and with Typer's own: same value or same
error, same exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

import rollback.cli  # noqa: F401 - installs the light converter
from rollback import _typer_light

seen: dict[str, Any] = {}
app = typer.Typer()


@app.command()
def command(
    name: Annotated[str, typer.Argument()],
    limit: Annotated[int | None, typer.Option("--limit", min=1)] = None,
    timeout: Annotated[float, typer.Option("--timeout")] = 600,
    maybe: Annotated[float | None, typer.Option("--maybe")] = None,
    cwd: Annotated[Path, typer.Option("--cwd")] = Path("."),
    flag: Annotated[bool, typer.Option("--flag")] = False,
) -> None:
    seen.update(name=name, limit=limit, timeout=timeout, maybe=maybe, cwd=cwd, flag=flag)


def outcome(args: list[str], *, light: bool) -> tuple[int, str, dict[str, Any]]:
    from typer import core

    installed = core.build_runtime_param
    assert getattr(installed, "_infra_rollback", False), "rollback.cli installs the light converter"
    core.build_runtime_param = installed if light else installed.original  # type: ignore[attr-defined]
    try:
        seen.clear()
        result = CliRunner().invoke(app, args)
        return result.exit_code, result.output, dict(seen)
    finally:
        core.build_runtime_param = installed


CASES = [
    ["web"], ["web", "--limit", "5"], ["web", "--limit", "05"], ["web", "--limit", "0"], ["web", "--limit", "-3"],
    ["web", "--limit", "x"], ["web", "--limit", "1.5"], ["web", "--limit", " 7"], ["web", "--limit", "1_000"],
    ["web", "--timeout", "1.5"], ["web", "--timeout", "30"], ["web", "--timeout", "1e3"], ["web", "--timeout", "-2"],
    ["web", "--timeout", "abc"], ["web", "--timeout", "inf"], ["web", "--timeout", "nan"], ["web", "--timeout", ".5"],
    ["web", "--maybe", "2"], ["web", "--cwd", "/tmp"], ["web", "--cwd", "relative/dir"], ["web", "--flag"],
    ["--limit", "2"], ["we b", "--cwd", ""],
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a) or "none")
def test_the_light_converter_gives_what_typer_gives(args: list[str]) -> None:
    light, stock = outcome(args, light=True), outcome(args, light=False)
    assert repr(light) == repr(stock)   # repr: nan == nan is False, but both converters give nan


def test_it_does_not_import_pydantic_for_plain_values() -> None:
    import subprocess
    import sys

    probe = ("import sys\nfrom tests.test_typer_light import outcome\n"
             "code, _, seen = outcome(['web', '--limit', '5', '--timeout', '2', '--cwd', '/tmp'], light=True)\n"
             "assert code == 0 and seen['limit'] == 5, seen\nprint('pydantic' in sys.modules)\n")
    from tests.paths import ROOT

    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_installing_twice_wraps_once() -> None:
    from typer import core

    before = core.build_runtime_param
    _typer_light.install()
    assert core.build_runtime_param is before
