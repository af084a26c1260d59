"""The replay's side of :mod:`rollback.liverefs`: inputs sent as live references to dependencies' outputs.

An input recorded under a key's property dependencies (as the SDK will send them: a component stands for
its custom children) is looked at, at any depth and inside secrets; a value that is exactly one
dependency's computed output becomes a :class:`~rollback.replay._common.FollowOutput` (the program sends
``dep.<output>``) and a :class:`~rollback.replay.types.LiveRef` in the plan. Where the current state says
the value will not be the recorded one, a note says where it comes from instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollback.liverefs import Outputs, match_key, pick_output
from rollback.models import Resource
from rollback.replay._common import FollowOutput
from rollback.replay.types import Kind, LiveRef
from rollback.state.values import Revealed


def path_of(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if base else key


def _holds(value: Any, wanted: set[Any]) -> bool:
    """Whether any value at any depth of ``value`` (secrets opened) matches one of ``wanted`` (match keys)."""
    if isinstance(value, Revealed):
        return _holds(value.value, wanted)
    if isinstance(value, dict):
        return any(_holds(v, wanted) for v in value.values())
    if isinstance(value, list):
        return any(_holds(v, wanted) for v in value)
    return match_key(value) in wanted


class Follower:
    """Follows the inputs of one plan's steps; collects the outputs each dependency must expose."""

    def __init__(self, members: Mapping[str, Resource], kinds: Mapping[str, Kind],
                 current: Mapping[str, Resource] | None, notes: list[str]) -> None:
        self.members = members
        self.kinds = kinds
        self.current = current           # the current state by URN; None: not known
        self.notes = notes               # the plan's notes, in the order things are found
        self.outputs = Outputs(members)
        self.exposed: dict[str, set[str]] = {}   # dependency URN -> output properties other steps follow

    def follow(self, res: Resource, inputs: dict[str, Any], pdeps: Mapping[str, tuple[str, ...]]) -> list[LiveRef]:
        """Replace, in ``inputs``, every value that is a dependency's output; the live references made."""
        live: list[LiveRef] = []
        for key, deps in pdeps.items():
            if key in inputs and deps:
                sources = list(deps)
                wanted: set[Any] = set()
                for u in sources:
                    wanted.update(self.outputs.followable(u))
                if wanted and _holds(inputs[key], wanted):   # else nothing in it can be a live reference
                    inputs[key] = self._value(res, inputs[key], key, key, sources, live, in_secret=False)
        return live

    def _value(self, res: Resource, value: Any, path: str, leaf: str, sources: list[str], live: list[LiveRef], *,
               in_secret: bool) -> Any:
        if isinstance(value, Revealed):
            return Revealed(self._value(res, value.value, path, leaf, sources, live, in_secret=True))
        if isinstance(value, dict):
            return {k: self._value(res, v, path_of(path, k), k, sources, live, in_secret=in_secret)
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(res, v, path_of(path, i), leaf, sources, live, in_secret=in_secret)
                    for i, v in enumerate(value)]
        found = self.outputs.matches(value, sources)
        if not found:
            return value
        if len(found) > 1:
            self.notes.append(f"{res.type} {res.name}: {path} equals outputs of {len(found)} dependencies "
                              f"({', '.join(sorted(found))}); sent as recorded")
            return value
        ((source, keys),) = found.items()
        output = pick_output(keys, leaf)
        recorded = "[secret]" if in_secret else value
        now = self._now(source, output)
        live.append(LiveRef(path=path, source=source, output=output, recorded=recorded,
                            current="[secret]" if in_secret and now is not None else now))
        if output != "id":
            self.exposed.setdefault(source, set()).add(output)
        if self.current is not None and match_key(now) != match_key(value):
            # the value will not be the recorded one: say where it comes from instead
            dep = self.members[source]
            how = "re-read" if self.kinds[source] == "read" else "re-registered"
            self.notes.append(f"{res.type} {res.name}: {path} follows the {how} {dep.type} {dep.name}'s "
                              f"{output} (now {'[secret]' if in_secret else now}; the target recorded {recorded})")
        return FollowOutput(source, output, value)

    def _now(self, source: str, output: str) -> Any:
        """The dependency's value of ``output`` in the current state (None: not there, or unknown)."""
        cur = self.current.get(source) if self.current is not None else None
        if cur is None:
            return None
        now = cur.id if output == "id" else cur.outputs.get(output)
        return now if match_key(now) is not None else None
