"""Proof before touching anything: run the replay program under the SDK's mock runtime and check it.

:func:`rehearse` runs the plan's program (:func:`~rollback.replay.program.inline_program`) under a recording
mock monitor (:mod:`rollback.replay.mocks`) and checks what it sent against the *target checkpoint*, not
against the plan (:mod:`rollback.replay.check`): every live resource re-registered faithfully, the root
stack's outputs exported, nothing else registered.

The mocks answer every registration of a target resource with its *recorded* id and output
properties, so the inputs the replay sends as live references to a dependency's outputs
(:class:`~rollback.replay.types.LiveRef`) resolve to the recorded values and are checked like any
other input. Mismatch lines never contain secret values.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from rollback.models import Deployment
from rollback.replay._common import FollowOutput
from rollback.replay.check import Expectations, check
from rollback.replay.mocks import Registration, Responder, recording_monitor, run_under_mocks
from rollback.replay.program import REHEARSAL_WINDOW, inline_program
from rollback.replay.scope import narrowed
from rollback.replay.types import ReplayPlan
from rollback.replay.wire import to_wire
from rollback.state.secrets import SecretBox
from rollback.state.values import Revealed, Secret

__all__ = ["RehearsalResult", "rehearse"]


@dataclass(frozen=True)
class RehearsalResult:
    ok: bool
    resources: int                 # resources checked
    mismatches: tuple[str, ...] = ()
    registered: int = 0
    seconds: float = 0.0
    scope: str = "full"            # "full": every resource; "changed": see rollback.replay.scope
    total: int | None = None       # resources a full rehearsal checks (when the scope is narrower)

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "ok": self.ok, "resources": self.resources,
                "total": self.resources if self.total is None else self.total, "mismatches": list(self.mismatches)}


def rehearse(plan: ReplayPlan, target: Deployment, *, secrets: SecretBox, project: str, stack: str,
             timeout: float | None = None, program: Callable[[], Any] | None = None,
             only: Collection[str] | None = None) -> RehearsalResult:
    """Run ``plan``'s program under mocks and check it re-registers ``target`` faithfully.

    ``resources`` in the result counts the target's live resources other than the root stack and the
    default providers (which the engine makes itself): exactly the registrations expected. ``only``
    (recorded URNs, closed under what steps need: :func:`~rollback.replay.scope.changed_scope`) rehearses
    just those steps (``scope`` "changed"). ``program`` replaces the plan's own
    (:func:`~rollback.replay.program.inline_program`): a seam for tests.
    """
    started = time.monotonic()
    total = None
    if only is not None:
        total = len(plan.steps)
        plan = narrowed(plan, only)
    expected = Expectations(plan, target, secrets, project=project, stack=stack, only=only)
    mismatches: list[str] = list(expected.problems)
    if (plan.project, plan.stack) != (project, stack):
        mismatches.append(f"the plan was built for {plan.project}/{plan.stack}, the rehearsal runs "
                          f"{project}/{stack}")
    monitor = recording_monitor(project=project, stack=stack,
                                respond=_responder(expected, plan, secrets.reveal))
    limit = timeout if timeout is not None else 60.0 + 0.05 * len(plan.steps)
    run = run_under_mocks(program or inline_program(plan, window=REHEARSAL_WINDOW), project=project, stack=stack,
                          monitor=monitor, timeout=limit)
    if run.timed_out:
        mismatches.append(f"the replay program did not finish under mocks within {limit:.0f} s")
    elif run.error is not None:
        message = _redact(str(run.error).strip().splitlines()[0] if str(run.error).strip() else "",
                          _plan_secrets(plan))
        mismatches.append(f"the replay program failed under mocks: {type(run.error).__name__}"
                          + (f": {message}" if message else ""))
    else:
        mismatches.extend(check(expected, monitor))
    return RehearsalResult(ok=not mismatches, resources=len(expected.resources), mismatches=tuple(mismatches),
                           registered=len(monitor.registrations), seconds=time.monotonic() - started,
                           scope="full" if only is None else "changed", total=total)


def _responder(expected: Expectations, plan: ReplayPlan, reveal: Callable[[Secret], Any]) -> Responder:
    """Answers each registration of a target resource with its recorded id and the recorded values of
    the output properties the replay follows (the plan's exposed outputs): what the engine would answer
    if nothing had changed since the target, so live references resolve to the recorded values."""
    exposed = {s.urn: s.exposed_outputs for s in plan.steps if s.exposed_outputs}
    lock = threading.Lock()
    cache: dict[str, tuple[str, dict[str, Any]]] = {}

    def respond(reg: Registration) -> tuple[str, Mapping[str, Any]] | None:
        with lock:
            hit = cache.get(reg.urn)
        if hit is not None:
            return hit
        e = expected.resources.get(reg.urn)
        if e is None or not e.custom or not e.res.id:
            return None
        outputs: dict[str, Any] = {}
        for key in exposed.get(e.urn, ()):
            value = to_wire(e.res.outputs.get(key), reveal)
            if value is not None:
                outputs[key] = value
        answer = (str(e.res.id), outputs)
        with lock:
            cache[reg.urn] = answer
        return answer

    return respond


# -- keeping secrets out of the mismatch lines -----------------------------------------------------

def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, FollowOutput):
        return _strings(value.value)
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _redact(text: str, secrets: list[str]) -> str:
    for s in sorted(set(secrets), key=len, reverse=True):
        if s and s in text:
            if len(s) < 4:
                return ""
            text = text.replace(s, "[secret]")
    return text


def _plan_secrets(plan: ReplayPlan) -> list[str]:
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, Revealed):
            out.extend(_strings(value.value))
            walk(value.value)
        elif isinstance(value, FollowOutput):
            walk(value.value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for s in plan.steps:
        walk(s.inputs)
        walk(s.outputs)
    walk(plan.exports)
    return out
