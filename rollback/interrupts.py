"""Stopping the engine gracefully when infra-rollback itself is told to stop.

A terminal's Ctrl-C reaches the whole foreground process group: the ``pulumi`` process the Automation API runs
gets it too, and stops after the steps in flight, writing the state and releasing the lock. ``SIGTERM`` (a CI
job cancelled, ``kill``) reaches only us: :func:`engine_running` forwards it to the engine as the SIGINT that
makes it stop gracefully. Either way the Automation API call is left to end on its own (exiting at once would
leave the engine writing to a closed pipe, killed mid-update with the lock held). The caller then raises
:class:`~rollback.errors.Interrupted` (exit 130) with the documented recovery. Outside the engine, SIGTERM
interrupts at once (:func:`terminate_as_interrupt`), like Ctrl-C.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RECOVERY = ("if the stack stays locked or has pending operations: `pulumi cancel`, then "
            "`pulumi refresh --clear-pending-creates`, then preview the rollback again")


def engine_children(parent: int | None = None) -> list[int]:
    """The ``pulumi`` processes started by this one (Linux /proc; elsewhere none are found)."""
    me = os.getpid() if parent is None else parent
    found = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == me and (entry / "comm").read_text().strip() == "pulumi":
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


@contextmanager
def engine_running() -> Iterator[dict[str, Any]]:
    """While the engine applies: SIGTERM asks it to stop (SIGINT) instead of killing us mid-call. The yielded
    dict's ``signal`` names the signal received, if any."""
    state: dict[str, Any] = {"signal": None}

    def on_signal(signum: int, frame: Any) -> None:
        state["signal"] = signal.Signals(signum).name
        children = engine_children()
        if not children:
            raise KeyboardInterrupt
        if signum == signal.SIGTERM:   # a terminal's Ctrl-C reached the engine already; a second one kills it
            for pid in children:
                try:
                    os.kill(pid, signal.SIGINT)
                except OSError:
                    pass

    try:
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:   # not the main thread: leave signals alone
        yield state
        return
    try:
        yield state
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """For a whole command: SIGTERM is a KeyboardInterrupt (one line, exit 130) rather than a silent death."""
    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
