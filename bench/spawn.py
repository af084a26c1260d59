"""Run one command and report its wall time and peak memory as JSON: ``python bench/spawn.py REPORT CMD ...``.

The benchmark's own process grows (it generates the data); on Linux a child's peak-memory figure
(``ru_maxrss``) can never read below the peak of the process it was forked from. So every measured
command is started from this small process, which times it and writes ``{"wall", "peak_kb", "code"}`` to
REPORT; the command inherits its standard streams.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> None:
    report, cmd = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    with open(report, "w") as fh:
        json.dump({"wall": wall, "peak_kb": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status)}, fh)


if __name__ == "__main__":
    main()
