"""A progress display fed by engine events: resources done of total, the current step, elapsed time.

Events are ``pulumi.automation.events.EngineEvent`` objects (read by attribute, so this module does
not import pulumi). On a terminal the line is redrawn in place; elsewhere (CI) one line per step.
Failed steps are remembered with their resource and reason for the final error message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

SKIP_OPS = {"same", "read", "refresh"}


@dataclass
class StepFailure:
    urn: str
    message: str


@dataclass
class Progress:
    total: int
    stream: IO[str] | None = None
    tty: bool = False
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    done: int = 0
    current: str = ""
    failures: list[StepFailure] = field(default_factory=list)
    changes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def _show(self, text: str) -> None:
        if self.stream is None:
            return
        line = f"[{self.done}/{self.total}] {text} ({self.elapsed:.1f} s)"
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def __call__(self, event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        if pre is not None:
            meta = pre.metadata
            op = _op(meta.op)
            if op not in SKIP_OPS:
                self.current = f"{op} {meta.type} {_name(meta.urn)}"
                self._show(self.current)
            return
        out = getattr(event, "res_outputs_event", None)
        if out is not None:
            meta = out.metadata
            op = _op(meta.op)
            if meta.type != "pulumi:pulumi:Stack":
                self.done += 1
                self.changes[op] = self.changes.get(op, 0) + 1
                if op not in SKIP_OPS:
                    self._show(f"done {op} {meta.type} {_name(meta.urn)}")
            return
        failed = getattr(event, "res_op_failed_event", None)
        if failed is not None:
            meta = failed.metadata
            self.failures.append(StepFailure(meta.urn, f"{_op(meta.op)} failed"))
            return
        diag = getattr(event, "diagnostic_event", None)
        if diag is not None and diag.severity == "error":
            message = " ".join(str(diag.message).split())
            urn = diag.urn or ""
            for f in self.failures:
                if f.urn == urn and f.message.endswith("failed"):
                    f.message = message
                    break
            else:
                self.failures.append(StepFailure(urn, message))

    def finish(self) -> None:
        if self.stream is not None and self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def failure_summary(self) -> str:
        if not self.failures:
            return ""
        first = self.failures[0]
        where = f"{_name(first.urn)}: " if first.urn else ""
        more = f" (+{len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
        return f"{where}{first.message}{more}"


def _op(op: Any) -> str:
    return str(getattr(op, "value", op))


def _name(urn: str) -> str:
    parts = urn.split("::", 3)
    return parts[3] if len(parts) == 4 else urn
