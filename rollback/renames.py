"""Which current resource a target resource *is* when their URNs differ: a rename in the bad release.

The engine looks a registration's old state up by its URN, then by its aliases, and records the one that
matched (``step_generator.go``: alias lookup). A release that renamed resource A to B (B registered with
``aliases=[A]``) leaves B in the state with ``aliases: [A]``; going back registers A, which has no state of its
own, so unless A is registered with ``aliases=[B]`` the engine creates A and deletes B. This module decides
those pairs, once, for the replay (which sends the aliases) and the diff (which then predicts an update in place,
not a create and a delete):

1. the target resource's own recorded ``aliases``, when one of them is a current resource;
2. a current resource whose recorded ``aliases`` name the target's URN;
3. a current resource of the same type with the same id (the next update that finds a resource by its URN
   clears ``aliases``, so the id is the last trace left), when exactly one matches.

Only current resources the target does not have under their own URN can be taken (an alias that matches a URN
also registered in the run is an engine error), each at most once. Root stacks, default providers and reads are
left out (the engine makes the first two, and a read takes no aliases).
"""

from __future__ import annotations

from collections.abc import Mapping

from rollback.models import Resource


def _eligible(r: Resource) -> bool:
    return not r.is_stack and not r.external and not (r.is_provider and r.name.startswith("default"))


def renamed(current: Mapping[str, Resource], target: Mapping[str, Resource]) -> dict[str, str]:
    """Target URN -> the current URN the engine will find it under (only for URNs that differ)."""
    missing = [t for u, t in target.items() if u not in current and _eligible(t)]
    spare = {u: r for u, r in current.items() if u not in target and _eligible(r)}
    if not missing or not spare:
        return {}
    named_by: dict[str, str] = {}
    for u, r in spare.items():
        for alias in r.aliases:
            named_by.setdefault(alias, u)
    by_id: dict[tuple[str, str], list[str]] = {}
    for u, r in spare.items():
        if r.custom and r.id:
            by_id.setdefault((r.type, str(r.id)), []).append(u)
    out: dict[str, str] = {}
    taken: set[str] = set()

    def free(u: str | None) -> str | None:
        return u if u is not None and u in spare and u not in taken else None

    for t in missing:
        found = next((a for a in t.aliases if free(a)), None) or free(named_by.get(t.urn))
        if found is None and t.custom and t.id:
            ids = [u for u in by_id.get((t.type, str(t.id)), []) if free(u)]
            found = ids[0] if len(ids) == 1 else None
        if found is not None:
            out[t.urn] = found
            taken.add(found)
    return out


def aliases_for(t: Resource, pairs: Mapping[str, str], target: Mapping[str, Resource]) -> tuple[str, ...]:
    """What the replay registers ``t`` with: its recorded aliases (those that are not also registered in the
    run) and the current URN it was renamed to."""
    out = [a for a in t.aliases if a not in target]
    now = pairs.get(t.urn)
    if now is not None and now not in out:
        out.append(now)
    return tuple(out)
