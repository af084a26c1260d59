"""The terminal's side of an action: the confirmation prompt, and the lines printed while it works.

:class:`TerminalConfirm` is the :class:`~rollback.actions.hooks.Confirm` the CLI gives an action: ``--yes``
answers yes; no terminal (or ``CI=true``) is a refusal the action reports before it changes anything; an
interrupted prompt (Ctrl-C, Ctrl-D) is a no, so the action refuses (exit 3, "not confirmed").
:class:`Console` is the :class:`~rollback.actions.hooks.Listener` that prints, honouring ``--json``,
``--markdown`` and ``--quiet``: the preview and the story on stdout (beside a markdown preview, the
story goes to stderr), engine and gate progress and the health report on stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, TextIO, cast

from rollback.actions.hooks import Listener, OnRound
from rollback.errors import Refused
from rollback.progress import Progress

if TYPE_CHECKING:
    from rollback.health.runner import HealthReport


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


@dataclass
class Console(Listener):
    json: bool = False
    markdown: bool = False
    quiet: bool = False
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)

    @property
    def _silent(self) -> bool:
        return self.quiet or self.json

    def preview(self, document: Mapping[str, Any]) -> None:
        if self.json:
            return  # printed once, at the end, with the outcome
        from rollback.render import preview_markdown, preview_text

        print(preview_markdown(document) if self.markdown else preview_text(document), file=self.out, flush=True)

    def say(self, line: str) -> None:
        if not self._silent:
            print(line, file=self.err if self.markdown else self.out, flush=True)

    def progress(self, line: str) -> None:
        if not self._silent:
            print(line, file=self.err, flush=True)

    def engine_progress(self, total: int) -> Progress:
        stream = None if self._silent else self.err
        tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        return Progress(total=total, stream=stream, tty=tty)

    def gate_progress(self) -> OnRound | None:
        if self._silent:
            return None
        from rollback.render.health import GateProgress

        return GateProgress(cast(TextIO, self.err))

    def health(self, report: HealthReport | None, note: str = "") -> None:
        if self._silent:
            return
        from rollback.render.health import health_text

        print(f"note: {note}" if report is None else health_text(report), file=self.err, flush=True)
