"""What an action needs from whoever runs it: a :class:`Confirm` to ask, a :class:`Listener` to tell.

Actions never print and never prompt. The CLI gives them a terminal-backed pair
(:mod:`rollback.console`); tests and nested actions (a deploy's automatic rollback) use the defaults
here: :data:`YES` answers every question yes, :class:`Listener` says nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol

from rollback.errors import Refused
from rollback.progress import Progress

if TYPE_CHECKING:
    from rollback.health.runner import GateReport, HealthReport

OnRound = Callable[[Sequence["GateReport"]], None]


class Confirm(Protocol):
    def unavailable(self, what: str) -> Refused | None:
        """The refusal to give when no one can be asked to confirm ``what`` ("roll back", "deploy"): no
        terminal, or CI. None when a question can be asked (or needs none: ``--yes``)."""
        ...

    def __call__(self, question: str) -> bool:
        """The answer to a yes/no question; an interrupted prompt (Ctrl-C, Ctrl-D) is a no."""
        ...


class _Yes:
    def unavailable(self, what: str) -> Refused | None:
        return None

    def __call__(self, question: str) -> bool:
        return True


YES: Confirm = _Yes()


def confirmed(confirm: Confirm, what: str, question: str) -> bool:
    """Ask ``question``; raise the refusal when no one can be asked."""
    refusal = confirm.unavailable(what)
    if refusal is not None:
        raise refusal
    return confirm(question)


class Listener:
    """What an action tells the person running it, as it goes. This one says nothing; the CLI's prints."""

    def preview(self, document: Mapping[str, Any]) -> None:
        """A rollback's preview (the JSON contract), before anything is asked or applied."""

    def say(self, line: str) -> None:
        """A step of the story worth reading now (a fallback taken, a file written, a rollback started)."""

    def step(self, what: str) -> AbstractContextManager[None]:
        """A long step (reading a history from S3, rehearsing thousands of resources): ``with
        listener.step("rehearsing 4,000 resources under mocks"): ...``. The CLI's shows it, with the time
        spent, on a terminal only, and erases it when the step ends; this one shows nothing."""
        return nullcontext()

    def engine_progress(self, total: int) -> Progress:
        """The engine event sink for an update of about ``total`` resources (it also keeps failed steps)."""
        return Progress(total=total)

    def gate_progress(self) -> OnRound | None:
        """A callback for every round of health-gate checks, or None."""
        return None

    def health(self, report: HealthReport | None, note: str = "") -> None:
        """The health gates' final report, or (``report`` None) why the gates did not run."""


QUIET = Listener()
