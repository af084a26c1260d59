"""Timing whole commands side by side: interleaved runs, ratios taken pair by pair.

Each command runs as a child process with empty input and its output in a file; its wall time is a
monotonic clock read around it, its peak memory the kernel's ``ru_maxrss`` of that child (``os.wait4``),
both taken by ``bench/spawn.py``, a small process that starts it (see there why).
Two commands A and B run in turn (A B A B ...) after a warm-up of each; the ratio A/B is taken pair by
pair, so a machine that slows down during the call moves both sides of a pair alike. Absolute times on a
shared machine mean little: quote the ratios' median.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Run:
    wall: float          # seconds
    peak_kb: int         # ru_maxrss of the child, KiB
    code: int
    output: str          # what it printed (stdout), for checks


class CommandFailed(RuntimeError):
    pass


_SPAWN = Path(__file__).resolve().with_name("spawn.py")


def run(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
        keep_output: bool = False, check: bool = True) -> Run:
    """Run one command to completion: its wall time, peak memory, exit code (and output if kept).

    The command is started by ``bench/spawn.py`` (a small process, so that its peak memory is its own, not
    this process's) which times it. A non-zero exit raises :class:`CommandFailed` unless ``check`` is false."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(suffix=".json") as report:
        subprocess.run([sys.executable, str(_SPAWN), report.name, *cmd], stdin=subprocess.DEVNULL, stdout=out,
                       stderr=err, env=env, cwd=cwd, check=True)
        figures = json.loads(Path(report.name).read_text())
        code = int(figures["code"])
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace") if keep_output else ""
        if check and code != 0:
            tail = err.read().decode(errors="replace").strip()[-2000:]
            raise CommandFailed(f"{' '.join(cmd)} exited {code}: {tail}")
    return Run(wall=float(figures["wall"]), peak_kb=int(figures["peak_kb"]), code=code, output=text)


def _stats(values: Sequence[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


@dataclass
class Pairs:
    """A and B run in turn; ratios pair by pair."""

    a: list[Run] = field(default_factory=list)
    b: list[Run] = field(default_factory=list)

    def ratios(self, key: Callable[[Run], float] = lambda r: r.wall) -> list[float]:
        return [key(x) / key(y) for x, y in zip(self.a, self.b)]

    def time_ratio(self) -> tuple[float, float, float]:
        return _stats(self.ratios())

    def peak_ratio(self) -> tuple[float, float, float]:
        return _stats(self.ratios(lambda r: float(r.peak_kb)))

    def median_wall(self) -> tuple[float, float]:
        return statistics.median(r.wall for r in self.a), statistics.median(r.wall for r in self.b)

    def median_peak_mb(self) -> tuple[float, float]:
        return (statistics.median(r.peak_kb for r in self.a) / 1024,
                statistics.median(r.peak_kb for r in self.b) / 1024)


def pairs(a: Callable[[], Run], b: Callable[[], Run], *, runs: int, warmup: int = 1) -> Pairs:
    """Run ``a`` and ``b`` in turn, ``warmup`` uncounted rounds first, then ``runs`` counted pairs."""
    for _ in range(warmup):
        a()
        b()
    out = Pairs()
    for _ in range(runs):
        out.a.append(a())
        out.b.append(b())
    return out


def command(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
            check: bool = True) -> Callable[[], Run]:
    return lambda: run(cmd, env=env, cwd=cwd, check=check)


def reported(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
             field_name: str = "seconds") -> Callable[[], Run]:
    """A command that measures itself and prints a JSON line (the last line of its output): its own
    figure ``field_name`` replaces the wall time (for work timed inside a process)."""

    def go() -> Run:
        r = run(cmd, env=env, cwd=cwd, keep_output=True)
        doc = json.loads(r.output.strip().splitlines()[-1])
        return Run(wall=float(doc[field_name]), peak_kb=r.peak_kb, code=r.code, output=r.output)

    return go
