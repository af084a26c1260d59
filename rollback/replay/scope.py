"""Which part of a replay a preview rehearses: what changed, and everything that must come with it.

A preview rehearses the resources the rollback changes (created, updated or replaced: in the target and
different from now) with every step that depends on one of them (its children, the resources it provides
for, the ones whose inputs come from it or refer to it, transitively), and everything those need to be
registered at all (parents, providers, dependencies, referenced resources, transitively). The resources
outside that set are re-registered unchanged by the replay; the full rehearsal, which runs before every
apply, checks them too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

from rollback.replay.types import ReplayPlan, ReplayStep
from rollback.state.values import Archive, ResourceReference, Revealed


def _needs(step: ReplayStep) -> Iterator[str]:
    """The steps that must be registered before ``step`` can be (recorded URNs)."""
    for urn in (step.parent, step.provider, step.deleted_with):
        if urn:
            yield urn
    yield from step.depends_on
    for urns in step.property_dependencies.values():
        yield from urns
    for ref in step.live_refs:
        yield ref.source
    yield from step.references
    if step.kind == "component":   # its outputs go to register_outputs, references included
        yield from _references(step.outputs)


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, ResourceReference):
        yield value.urn
    elif isinstance(value, Revealed):
        yield from _references(value.value)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _references(v)
    elif isinstance(value, list):
        for v in value:
            yield from _references(v)
    elif isinstance(value, Archive) and value.assets is not None:
        for v in value.assets.values():
            yield from _references(v)


def changed_scope(plan: ReplayPlan, changed: Iterable[str]) -> frozenset[str]:
    """The recorded URNs of the steps a preview rehearses for these changed resources (URNs not in the plan,
    such as deleted resources, add nothing)."""
    steps = {s.urn: s for s in plan.steps}
    needs = {s.urn: [u for u in _needs(s) if u in steps] for s in plan.steps}
    dependents: dict[str, list[str]] = {}
    for urn, before in needs.items():
        for u in before:
            dependents.setdefault(u, []).append(urn)
    down = _closure((u for u in changed if u in steps), dependents)
    return frozenset(_closure(down, needs))


def _closure(start: Iterable[str], edges: dict[str, list[str]]) -> set[str]:
    seen = set(start)
    todo = list(seen)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def narrowed(plan: ReplayPlan, urns: Iterable[str]) -> ReplayPlan:
    """``plan`` with only the steps in ``urns`` (a set closed under what steps need: see :func:`changed_scope`),
    in the plan's order; the exports stay."""
    keep = set(urns)
    return dataclasses.replace(plan, steps=tuple(s for s in plan.steps if s.urn in keep))
