"""Health reports as a person reads them: the final verdict per gate, and a line per change while polling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from rollback.health.runner import HEALTHY, PROGRESSING, UNHEALTHY, UNKNOWN, GateReport, HealthReport

_MARKS = {HEALTHY: "✓", PROGRESSING: "…", UNHEALTHY: "✗", UNKNOWN: "?"}


def health_text(report: HealthReport) -> str:
    """The report as lines a person reads at 3 a.m.::

        ✓ kubernetes-rollout omniserve/omniserve  healthy  (12.0 s)
            3/3 replicas updated, ready and available; image ghcr.io/acme/omniserve:1.1.0
        ✗ http https://omniserve.example.com/metrics/triage  unhealthy  (4.2 s)
            tags.urgent_escalation_share = 0.93 > max 0.2
        stack prod: UNHEALTHY after 4.2 s (timeout 600 s)
    """
    lines: list[str] = []
    for g in report.gates:
        lines.append(f"{_MARKS.get(g.state, '?')} {g.kind} {g.name}  {g.state}  ({g.seconds:.1f} s)")
        if g.detail:
            lines.append(f"    {g.detail}")
    who = f"stack {report.stack}: " if report.stack else ""
    unreached = ", ".join(f"{g.kind} {g.name}" for g in report.unreached)
    if report.healthy:
        lines.append(f"{who}HEALTHY: all {len(report.gates)} gate(s) healthy after {report.elapsed_seconds:.1f} s")
    elif report.verdict == UNKNOWN:
        lines.append(f"{who}UNKNOWN after {report.elapsed_seconds:.1f} s (timeout {report.timeout:g} s): could not "
                     f"reach {', '.join(f'{g.kind} {g.name}' for g in report.gates if g.state == UNKNOWN)}; "
                     f"no verdict")
    elif report.timed_out:
        waiting = [f"{g.kind} {g.name}" for g in report.gates if g.state != HEALTHY]
        lines.append(f"{who}TIMED OUT after {report.elapsed_seconds:.1f} s (timeout {report.timeout:g} s); "
                     f"still waiting for: {', '.join(waiting)}")
    else:
        failed = [f"{g.kind} {g.name}" for g in report.gates if g.state == UNHEALTHY]
        lines.append(f"{who}UNHEALTHY after {report.elapsed_seconds:.1f} s: {', '.join(failed)}")
    if unreached and not report.healthy:
        lines.append(f"never reached: {unreached}")
    return "\n".join(lines)


class GateProgress:
    """An ``on_round`` callback that writes one line per gate whenever its state or detail changes::

        … kubernetes-rollout omniserve/omniserve: 1 of 3 new replicas updated
        ✓ kubernetes-rollout omniserve/omniserve: 3/3 replicas updated, ready and available (generation 7)
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._last: dict[tuple[str, str], tuple[str, str]] = {}

    def __call__(self, gates: Sequence[GateReport]) -> None:
        for g in gates:
            now = (g.state, g.detail)
            if self._last.get((g.kind, g.name)) != now:
                self._last[(g.kind, g.name)] = now
                self.stream.write(f"{_MARKS.get(g.state, '?')} {g.kind} {g.name}: {g.detail or g.state}\n")
        self.stream.flush()


def progress_line(gates: Sequence[GateReport]) -> str:
    """One line for a terminal while gates are polled: ``2/4 gates healthy; waiting for ecs-service
    omniserve-prod/omniserve: 1 of 2 tasks running the target``."""
    waiting = [g for g in gates if g.state != HEALTHY]
    head = f"{len(gates) - len(waiting)}/{len(gates)} gates healthy"
    if not waiting:
        return head
    g = waiting[0]
    more = f" (+{len(waiting) - 1} more)" if len(waiting) > 1 else ""
    return f"{head}; waiting for {g.kind} {g.name}: {g.detail or g.state}{more}"
