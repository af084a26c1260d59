"""The terminal's side of an action: the confirmation prompt, and the lines printed while it works.

:class:`TerminalConfirm` is the :class:`~rollback.actions.hooks.Confirm` the CLI gives an action: ``--yes``
answers yes; no terminal (or ``CI=true``) is a refusal the action reports before it changes anything; an
interrupted prompt (Ctrl-C, Ctrl-D) is a no, so the action refuses (exit 3, "not confirmed").
:class:`Console` is the :class:`~rollback.actions.hooks.Listener` that prints, honouring ``--json``,
``--markdown``, ``--quiet`` and ``--verbose``: the preview and the story on stdout (beside a markdown
preview, the story goes to stderr), progress and the health report on stderr.

What ``--quiet`` leaves: errors and the final result (the verdict of a preview, the last line of a
rollback or deploy); a preview shown before a question keeps its verdict, so nobody is asked blind.
Progress of long steps (:meth:`Console.step`, engine and gate progress) is drawn on a terminal only,
in place, and erased when done; never with ``--quiet`` or ``--json``.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, TextIO, cast

from rollback.actions.hooks import Listener, OnRound
from rollback.errors import Refused
from rollback.progress import Progress

if TYPE_CHECKING:
    from rollback.health.runner import HealthReport
    from rollback.render.text import Options


def interactive(environ: Mapping[str, str] | None = None) -> bool:
    """A person at a terminal: stdin is a TTY and CI is not set."""
    env = os.environ if environ is None else environ
    if env.get("CI", "").lower() in ("true", "1", "yes"):
        return False
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def no_terminal(what: str) -> Refused:
    return Refused(f"not confirmed: no terminal to ask on (CI=true or no TTY); pass --yes to {what} "
                   f"non-interactively")


def _prompt(question: str) -> bool:
    import typer

    try:
        return bool(typer.confirm(question, default=False))
    except typer.Abort:          # what click raises for Ctrl-C and Ctrl-D at a prompt
        return False


@dataclass
class TerminalConfirm:
    yes: bool = False
    is_interactive: Callable[[], bool] = interactive
    prompt: Callable[[str], bool] = _prompt

    def unavailable(self, what: str) -> Refused | None:
        return None if self.yes or self.is_interactive() else no_terminal(what)

    def __call__(self, question: str) -> bool:
        if self.yes:
            return True
        try:
            return self.prompt(question)
        except (KeyboardInterrupt, EOFError):
            return False


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def text_options(stream: Any, *, verbose: bool = False, mode: str = "preview", quiet: bool = False) -> Options:
    """How text for ``stream`` is drawn: colour (a terminal, no NO_COLOR) and wrapping at its width."""
    from rollback.render.style import color_wanted
    from rollback.render.text import Options

    width = shutil.get_terminal_size((100, 24)).columns if _isatty(stream) else None
    return Options(verbose=verbose, color=color_wanted(stream), width=width, mode=mode, quiet=quiet)


class _Ticker:
    """One line on a terminal, redrawn in place with the time spent: ``… rehearsing 4,000 resources (12 s)``."""

    def __init__(self, stream: IO[str], what: str, interval: float = 0.5) -> None:
        self.stream, self.what, self.interval = stream, what, interval
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _draw(self) -> None:
        self.stream.write(f"\r\x1b[2K… {self.what} ({time.monotonic() - self.started:.0f} s)")
        self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._draw()

    def __enter__(self) -> _Ticker:
        self._draw()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.stream.write("\r\x1b[2K")
        self.stream.flush()


class _GateLine:
    """Gate progress on a terminal: one line, redrawn each round, erased before the report."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.drawn = False

    def __call__(self, gates: Any) -> None:
        from rollback.render.health import progress_line

        self.stream.write(f"\r\x1b[2K… {progress_line(gates)} ({time.monotonic() - self.started:.0f} s)")
        self.stream.flush()
        self.drawn = True

    def erase(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self.drawn = False


@dataclass
class Console(Listener):
    json: bool = False
    markdown: bool = False
    quiet: bool = False
    verbose: bool = False
    asks: bool = False          # a question will follow the preview: --quiet keeps its verdict
    color: bool | None = None   # None: as the terminal says (NO_COLOR, a TTY); False: --no-color
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    _gates: _GateLine | None = field(default=None, init=False, repr=False)

    @property
    def _silent(self) -> bool:
        return self.quiet or self.json

    @property
    def _live(self) -> bool:
        """Progress is drawn: a terminal on stderr, not quiet, not JSON."""
        return not self._silent and _isatty(self.err)

    def preview(self, document: Mapping[str, Any]) -> None:
        if self.json or (self.quiet and not self.asks):
            return  # JSON: printed once, at the end, with the outcome
        from rollback.render import preview_markdown, preview_text

        if self.markdown:
            text = preview_markdown(document, mode="apply")
        else:
            opts = text_options(self.out, verbose=self.verbose, mode="apply", quiet=self.quiet)
            if self.color is False:
                from dataclasses import replace

                opts = replace(opts, color=False)
            text = preview_text(document, opts)
        print(text, file=self.out, flush=True)

    def say(self, line: str) -> None:
        if not self._silent:
            print(line, file=self.err if self.markdown else self.out, flush=True)

    def result(self, line: str) -> None:
        """The final result: printed with --quiet too (not with --json, whose document is the result)."""
        if not self.json:
            print(line, file=self.err if self.markdown else self.out, flush=True)

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        if not self._live:
            yield
            return
        with _Ticker(self.err, what):
            yield

    def engine_progress(self, total: int) -> Progress:
        stream = None if self._silent else self.err
        return Progress(total=total, stream=stream, tty=_isatty(stream))

    def gate_progress(self) -> OnRound | None:
        if not self._live:
            return None
        self._gates = _GateLine(cast(TextIO, self.err))
        return self._gates

    def done(self) -> None:
        """Erase what progress is still drawn (before the final report)."""
        if self._gates is not None:
            self._gates.erase()
            self._gates = None

    def health(self, report: HealthReport | None, note: str = "") -> None:
        self.done()
        if self._silent:
            return
        from rollback.render.health import health_text

        print(f"note: {note}" if report is None else health_text(report), file=self.err, flush=True)
