"""Polling gates until they are all healthy, one is unhealthy, or the time is up.

A gate is any object with ``name``, ``kind`` and ``check() -> GateResult``. Each round checks every
gate (a gate healthy earlier is checked again: the verdict is about all gates at the same time);
the run stops

- healthy, as soon as one round finds every gate healthy;
- unhealthy, at the end of the first round in which any gate is unhealthy (fail fast: the round is
  finished so that the report shows every gate's state);
- timed out, when ``timeout`` seconds have passed (a last round runs at the deadline).

A gate that cannot reach what it watches (connection refused, DNS, a timeout, no credentials or no
permission to look) is *unknown*, not unhealthy: it says nothing about the service. It is polled again
until the timeout like a progressing gate; the report names the gates that were never reached, and its
verdict is ``unknown`` when every gate that is not healthy is unknown. An unknown verdict must never be
read as unhealthy (no bad mark, no automatic rollback).

``check`` may raise :class:`GateUnreachable` (unknown) or :class:`rollback.errors.OperationFailed`
(e.g. a translated boto error): that gate is unhealthy with the error's one line.
:class:`rollback.errors.BadInput` (a gate misconfigured, no kubeconfig, no region) propagates: that is
the user's to fix, not the service's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from rollback.errors import BadInput, OperationFailed
from rollback.safetext import one_line

HEALTHY: Final = "healthy"
PROGRESSING: Final = "progressing"
UNHEALTHY: Final = "unhealthy"
UNKNOWN: Final = "unknown"
TIMED_OUT: Final = "timed out"
State = Literal["healthy", "progressing", "unhealthy", "unknown"]


class GateUnreachable(OperationFailed):
    """A gate could not observe its target (no connection, no credentials, no permission): unknown."""


@dataclass(frozen=True)
class GateResult:
    state: State
    detail: str

    def __post_init__(self) -> None:
        # Details quote what services answered (reasons, messages): one inert line, whoever wrote them.
        object.__setattr__(self, "detail", one_line(self.detail, limit=1000))

    @classmethod
    def healthy(cls, detail: str) -> GateResult:
        return cls(HEALTHY, detail)

    @classmethod
    def progressing(cls, detail: str) -> GateResult:
        return cls(PROGRESSING, detail)

    @classmethod
    def unhealthy(cls, detail: str) -> GateResult:
        return cls(UNHEALTHY, detail)

    @classmethod
    def unknown(cls, detail: str) -> GateResult:
        """The target could not be reached: no verdict either way."""
        return cls(UNKNOWN, detail)


class Gate(Protocol):
    name: str          # what it watches, e.g. omniserve/omniserve
    kind: str          # kubernetes-rollout, ecs-service, http, cloudwatch-alarms

    def check(self) -> GateResult: ...


@dataclass(frozen=True)
class GateReport:
    name: str
    kind: str
    state: State
    detail: str
    seconds: float     # healthy: when it became (and stayed) healthy; unhealthy: when; progressing: elapsed
    checks: int = 0
    reached: bool = True   # at least one check reached the target

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "state": self.state, "detail": self.detail,
                "seconds": round(self.seconds, 3), "reached": self.reached}


@dataclass(frozen=True)
class HealthReport:
    stack: str
    healthy: bool
    timed_out: bool
    elapsed_seconds: float
    gates: tuple[GateReport, ...]
    timeout: float = 0.0

    @property
    def time_to_healthy(self) -> float | None:
        """Seconds until every gate was healthy (None when it never was)."""
        return self.elapsed_seconds if self.healthy else None

    @property
    def verdict(self) -> str:
        """``healthy``; ``unhealthy`` (a gate said so); ``timed out`` (a reached gate never became healthy);
        ``unknown`` (every gate that is not healthy could not be reached: no verdict)."""
        states = {g.state for g in self.gates}
        if self.healthy:
            return HEALTHY
        if UNHEALTHY in states:
            return UNHEALTHY
        if PROGRESSING in states or UNKNOWN not in states:
            return TIMED_OUT
        return UNKNOWN

    @property
    def unreached(self) -> list[GateReport]:
        """The gates no check ever reached."""
        return [g for g in self.gates if not g.reached]

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "healthy": self.healthy,
            "timed_out": self.timed_out,
            "verdict": self.verdict,
            "unreached": [f"{g.kind} {g.name}" for g in self.unreached],
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "gates": [g.to_dict() for g in self.gates],
        }


class _Track:
    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.result = GateResult.progressing("not checked yet")
        self.since: float | None = None     # when the current healthy streak began
        self.at = 0.0                       # when the last check ended
        self.checks = 0
        self.reached = False

    def record(self, result: GateResult, at: float) -> None:
        self.reached = self.reached or result.state != UNKNOWN
        if result.state == HEALTHY:
            if self.result.state != HEALTHY or self.since is None:
                self.since = at
        else:
            self.since = None
        self.result = result
        self.at = at
        self.checks += 1

    def report(self, elapsed: float) -> GateReport:
        state = self.result.state
        if state == HEALTHY and self.since is not None:
            seconds = self.since
        elif state == UNHEALTHY:
            seconds = self.at
        else:
            seconds = elapsed
        return GateReport(name=self.gate.name, kind=self.gate.kind, state=state, detail=self.result.detail,
                          seconds=seconds, checks=self.checks, reached=self.reached)


def _check(gate: Gate) -> GateResult:
    try:
        return gate.check()
    except BadInput:
        raise
    except OperationFailed as exc:
        # The report line already names the gate: drop the "<kind> <name>: " prefix of the message.
        prefix = f"{gate.kind} {gate.name}: "
        message = exc.message.removeprefix(prefix)
        if isinstance(exc, GateUnreachable):
            return GateResult.unknown(message)
        return GateResult.unhealthy(message)


def run_gates(gates: Sequence[Gate], *, timeout: float, interval: float, stack: str = "",
              clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], None] = time.sleep,
              on_round: Callable[[Sequence[GateReport]], None] | None = None) -> HealthReport:
    """Poll ``gates`` every ``interval`` seconds for at most ``timeout`` seconds; see the module doc.

    ``clock`` and ``sleep`` are injectable so tests run in no time; ``on_round`` (optional) sees the
    gates' states after every round (for progress output).
    """
    if interval <= 0 or timeout <= 0:
        raise BadInput(f"health gates: interval ({interval:g}) and timeout ({timeout:g}) must be greater than 0")
    start = clock()
    tracks = [_Track(g) for g in gates]
    timed_out = False
    while True:
        for track in tracks:
            result = _check(track.gate)
            track.record(result, clock() - start)
        elapsed = clock() - start
        if on_round is not None:
            on_round([t.report(elapsed) for t in tracks])
        states = {t.result.state for t in tracks}
        if UNHEALTHY in states or states <= {HEALTHY}:
            break
        remaining = timeout - elapsed
        if remaining <= 0:
            timed_out = True
            break
        sleep(min(interval, remaining))
    elapsed = clock() - start
    reports = tuple(t.report(elapsed) for t in tracks)
    healthy = all(r.state == HEALTHY for r in reports)
    return HealthReport(stack=stack, healthy=healthy, timed_out=timed_out and not healthy,
                        elapsed_seconds=elapsed, gates=reports, timeout=timeout)
