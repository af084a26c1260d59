"""The command line with the engine test double (:mod:`tests.support.fake_engine`) in place of the Pulumi CLI.

In a test's process: :func:`use_engine` makes every ``infra-rollback`` command (``rollback.cli.main``, Typer's
``CliRunner``) that applies something drive the given :class:`FakeEngine`, as if ``pulumi`` were installed.

As a process of its own, for what only a process shows (its own stdout and stderr, a file-size limit)::

    python -m tests.support.engine_cli ROOT [--fsize-after-apply BYTES] -- ARGS...

runs ``infra-rollback ARGS`` with ``FakeEngine(ROOT, $PULUMI_CONFIG_PASSPHRASE)``. ``--fsize-after-apply``
sets the process's file size limit (``RLIMIT_FSIZE``, SIGXFSZ ignored) once the engine's last step (the
convergence preview) is done: every later write of a file larger than BYTES fails part-way with EFBIG, as
writes fail on a full disk.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.fake_engine import FakeEngine


def use_engine(monkeypatch: Any, engine: Any) -> Any:
    """Commands run in this process find ``engine`` where they would start the Pulumi CLI, until the test ends:
    what :func:`rollback.engine.use_engine` installs, held for the test by ``monkeypatch`` (which undoes it)."""
    import rollback.engine as boundary

    monkeypatch.setattr(boundary, "_installed", [engine])
    return engine


class AfterConvergence:
    """An engine whose stacks run ``then()`` once the convergence preview (the engine's last step) passed:
    between the apply and what records it."""

    def __init__(self, engine: Any, then: Callable[[], None]) -> None:
        self.engine = engine
        self.then = then
        self.calls = engine.calls

    def open(self, spec: Any, program: Any) -> Any:
        stack = self.engine.open(spec, program)
        then = self.then

        class Stack:
            def preview(self, **kw: Any) -> dict[str, int]:
                out = stack.preview(**kw)
                if kw.get("expect_no_changes"):
                    then()
                return out

            def up(self, **kw: Any) -> dict[str, int]:
                return stack.up(**kw)

        return Stack()


def limit_file_size(limit: int) -> None:
    """From now on, in this process, writing a file past ``limit`` bytes fails (EFBIG), as on a full disk."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def main(argv: list[str]) -> None:
    cut = argv.index("--")
    options, args = argv[:cut], argv[cut + 1:]
    root = Path(options[0])
    engine: Any = FakeEngine(root, os.environ.get("PULUMI_CONFIG_PASSPHRASE", ""))
    if "--fsize-after-apply" in options:
        limit = int(options[options.index("--fsize-after-apply") + 1])
        engine = AfterConvergence(engine, lambda: limit_file_size(limit))

    from rollback.cli import main as cli
    from rollback.engine import use_engine as install

    with install(engine):
        cli(args)


if __name__ == "__main__":
    main(sys.argv[1:])
