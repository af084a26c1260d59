"""When an input is a dependency's output: the one rule, asked by the diff and by the replay.

An input value recorded under a property dependency is a *live reference* to that dependency's output
when it equals an output the dependency's provider computes:

* the dependency is a custom resource, not a provider (a component's outputs are not attributes of a
  local component; a provider's outputs are its config);
* its id (not for a read, ``external: true``, whose id the replay fixes), or a top-level output property
  the program does not send itself: an output-only one like ``arn``, or a provider-filled default like an
  auto-name (listed in the inputs' ``__defaults``). An output equal to an input the program sends is the
  recorded value by construction, not something the provider computed;
* never the Python SDK's own attributes and methods (a placeholder under such a name would shadow them);
* only unambiguous matches: non-empty strings and numbers of at least 1000 (never booleans, empty strings
  or small numbers: too likely to be equal by coincidence), and exactly one dependency.

The replay (:mod:`rollback.replay.plan`) sends such an input as a live reference, at any depth, so that a
consumer follows a replaced dependency to its new object (an ECS service to the re-registered task
definition's new revision). The diff (:mod:`rollback.diff`) compares a top-level one by what it points at.

The dependencies of an input are :func:`property_dependencies`; this is the place to derive them from a
resource's ``dependencies`` where an older state does not record ``propertyDependencies``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rollback.models import Resource
from rollback.state.values import UNKNOWN_VALUE

MIN_NUMBER = 1000

# Attributes the Python SDK keeps on a resource object before it copies the inputs onto it
# (``rpc.transfer_properties`` assigns every top-level input key to ``res.__dict__``): an input or a
# followed output with one of these names would overwrite SDK state.
SDK_ATTRIBUTES = frozenset({
    "_providers", "_provider", "_protect", "_transformations", "_aliases", "_name", "_type",
    "_childResources", "_version", "_plugin_download_url", "_remote",
})
# Output properties a live reference never follows: attributes and methods of the SDK's resource classes.
NOT_FOLLOWED = frozenset({
    "id", "urn", "get_provider", "pulumi_resource_name", "pulumi_resource_type",
    "translate_input_property", "translate_output_property", "register_outputs",
})

MatchKey = tuple[str, Any]


def match_key(value: Any) -> MatchKey | None:
    """What a live reference may be matched on (see the module docstring), or None."""
    if isinstance(value, str):
        return ("s", value) if value else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        return ("n", number) if abs(number) >= MIN_NUMBER and number == number else None
    return None


def property_dependencies(res: Resource) -> Mapping[str, tuple[str, ...]]:
    """The resources each top-level input of ``res`` was computed from.

    States without ``propertyDependencies`` (older ones, some real files) have only ``dependencies``: every input
    then counts as computed from all of them, as Pulumi's own migration of old checkpoints decides
    (``pkg/resource/stack/migrate``), so an input holding a dependency's id or arn still follows the live
    dependency (an ECS service points at the re-registered task definition, not at a deregistered revision).
    """
    if res.property_dependencies or not res.dependencies:
        return res.property_dependencies
    keys = res.raw.get("inputs") if isinstance(res.raw.get("inputs"), dict) else {}
    return {k: res.dependencies for k in keys if not k.startswith("__")}


def can_follow(res: Resource) -> bool:
    """Whether a live reference may point at ``res`` at all."""
    return res.custom and not res.is_provider


def pick_output(keys: Iterable[str], leaf: str | int) -> str:
    """Of the outputs a value matches, the one to follow: a named output before the id, the one named like
    the input (``arn`` for ``arn``) first, then by name."""
    return min(keys, key=lambda k: (k == "id", k != leaf, k))


class Outputs:
    """The outputs a live reference may follow, of the resources of one checkpoint, by value (cached)."""

    def __init__(self, resources: Mapping[str, Resource]) -> None:
        self.resources = resources
        self._index: dict[str, dict[MatchKey, list[str]]] = {}

    def followable(self, urn: str) -> dict[MatchKey, list[str]]:
        cached = self._index.get(urn)
        if cached is not None:
            return cached
        res = self.resources.get(urn)
        index: dict[MatchKey, list[str]] = {}
        if res is not None and can_follow(res):
            rid = match_key(res.id)
            if rid is not None and not res.external:
                index[rid] = ["id"]
            # Read from the raw JSON: only top-level strings and numbers can match, which decoding leaves
            # as they are (an unknown excepted); the rest is never decoded here.
            inputs = res.raw.get("inputs") or {}
            defaults = inputs.get("__defaults")
            filled = {k for k in defaults if isinstance(k, str)} if isinstance(defaults, list) else set()
            sent = {k for k in inputs if not k.startswith("__") and k not in filled}
            for k, v in (res.raw.get("outputs") or {}).items():
                if k.startswith("_") or k in NOT_FOLLOWED or k in SDK_ATTRIBUTES or k in sent or v == UNKNOWN_VALUE:
                    continue
                m = match_key(v)
                if m is not None:
                    index.setdefault(m, []).append(k)
        self._index[urn] = index
        return index

    def matches(self, value: Any, sources: Iterable[str]) -> dict[str, list[str]]:
        """The ``sources`` (dependency URNs) with an output equal to ``value``, and which outputs."""
        key = match_key(value)
        if key is None:
            return {}
        return {u: keys for u in sources if (keys := self.followable(u).get(key))}

    def reference(self, res: Resource, key: str) -> tuple[str, str] | None:
        """(dependency URN, output) when ``res``'s top-level input ``key`` is exactly one dependency's output."""
        found = self.matches(res.inputs.get(key), property_dependencies(res).get(key, ()))
        if len(found) != 1:
            return None
        ((urn, keys),) = found.items()
        return urn, pick_output(keys, key)
