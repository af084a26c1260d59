"""Small pure rules shared by the replay plan and its rehearsal (no pulumi import here).

Each rule comes from Pulumi's source (see ``pulumi-state.md`` sections 4 and 7):

* URNs: ``urn.New`` in ``sdk/go/common/resource/urn/urn.go`` prefixes the parent's *qualified*
  type with ``$``, except for children of the root stack.
* Default providers: ``IsDefaultProvider`` in ``sdk/go/common/providers/reference.go`` is "a provider
  type whose name starts with ``default``"; ``ProviderRequest.Name`` builds that name from the
  version (``default_1_2_3[_pre][_build]``) and the plugin download URL.
* Provider versions: ``GetProviderVersion`` / ``GetProviderDownloadURL`` in
  ``pkg/resource/deploy/providers/registry.go`` read ``version`` and ``__internal.pluginDownloadURL``
  (older state: ``pluginDownloadURL`` at the top).
* Dependencies on a local component: the Python SDK's ``_add_dependency`` replaces a component by
  the custom resources reachable through components only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from rollback.models import Resource, parse_urn
from rollback.state.values import SIG, UNKNOWN_VALUE

STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_PREFIX = "pulumi:providers:"

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
_DEFAULT_NAME = re.compile(r"^default_(\d+)_(\d+)_(\d+)$")


class FollowOutput:
    """A recorded input value the replay sends as a live reference to a dependency's output.

    ``urn`` is the recorded URN of the dependency, ``output`` is ``"id"`` or a top-level output
    property (``arn``, ``name`` ...), ``value`` the recorded value (what the rehearsal expects the
    reference to resolve to). Inside a secret the value is plaintext: never printed.
    """

    __slots__ = ("urn", "output", "value")

    def __init__(self, urn: str, output: str, value: Any) -> None:
        self.urn = urn
        self.output = output
        self.value = value

    def __repr__(self) -> str:
        return f"FollowOutput({self.urn}.{self.output})"

    __str__ = __repr__


def stack_urn(stack: str, project: str) -> str:
    """The root stack resource the runtime registers for ``project``/``stack``."""
    return f"urn:pulumi:{stack}::{project}::{STACK_TYPE}::{project}-{stack}"


def qualified_type(urn: str) -> str:
    return parse_urn(urn)[2]


def engine_urn(stack: str, project: str, parent_urn: str | None, type_: str, name: str) -> str:
    """The URN the engine computes for a registration (``urn.New``)."""
    qualified = type_
    if parent_urn:
        parent_type = qualified_type(parent_urn)
        if parent_type and parent_type != STACK_TYPE:
            qualified = f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def is_provider_type(type_: str) -> bool:
    return type_.startswith(PROVIDER_PREFIX)


def provider_package(type_: str) -> str:
    return type_[len(PROVIDER_PREFIX):]


def is_default_provider_urn(urn: str) -> bool:
    _, _, qtype, name = parse_urn(urn)
    return is_provider_type(qtype.rsplit("$", 1)[-1]) and name.startswith("default")


def is_default_provider(res: Resource) -> bool:
    return res.is_provider and res.name.startswith("default")


def package_of(type_: str) -> str | None:
    """The package of a ``pkg:module:member`` type token (the SDK's ``_pkg_from_type``)."""
    parts = type_.split(":")
    return parts[0] if len(parts) == 3 else None


def is_semver(text: Any) -> bool:
    return isinstance(text, str) and bool(_SEMVER.match(text))


def semver_key(text: str) -> tuple[Any, ...]:
    """A sort key: numeric core, then releases after pre-releases (good enough to pick the newest)."""
    m = _SEMVER.match(text)
    if not m:
        return (-1, -1, -1, 0, "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if m.group(4) else 1, m.group(4) or "")


def _internal(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    internal = inputs.get("__internal")
    return internal if isinstance(internal, Mapping) else {}


def is_parameterized_provider(res: Resource) -> bool:
    return "parameterization" in _internal(res.inputs)


def provider_version(res: Resource) -> str | None:
    """The plugin version of a provider resource: its ``version`` input, else one read off its name."""
    version = res.inputs.get("version")
    if is_semver(version):
        return str(version)
    m = _DEFAULT_NAME.match(res.name)
    return f"{m.group(1)}.{m.group(2)}.{m.group(3)}" if m else None


def version_from_provider_urn(urn: str) -> str | None:
    m = _DEFAULT_NAME.match(parse_urn(urn)[3])
    return f"{m.group(1)}.{m.group(2)}.{m.group(3)}" if m else None


def provider_download_url(res: Resource) -> str | None:
    url = _internal(res.inputs).get("pluginDownloadURL") or res.inputs.get("pluginDownloadURL")
    return str(url) if isinstance(url, str) and url else None


# Dynamic providers keep the provider's serialized code in the resource's ``__provider`` input: the
# engine's dynamic provider plugin needs it back, so it is not bookkeeping for these types.
_DYNAMIC_TYPES = frozenset({"pulumi-nodejs:dynamic:Resource", "pulumi-python:dynamic:Resource"})
# Provider resources: the engine writes these from the registration's options, not from the props.
_PROVIDER_META = ("version", "pluginDownloadURL")


def recorded_inputs(res: Resource) -> dict[str, Any]:
    """What a program sends for ``res``: :func:`strip_reserved` of its inputs, per resource kind."""
    keep = ("__provider",) if res.type in _DYNAMIC_TYPES else ()
    inputs = strip_reserved(res.inputs, top=True, keep=keep)
    if res.is_provider:
        for key in _PROVIDER_META:
            inputs.pop(key, None)
    return inputs


# What a resource's JSON text holds when some value in it is special (a secret, asset, archive, reference or
# raw bytes: the signature key; an unknown; provider-filled keys; a \u escape that could spell either).
_NOT_PLAIN = (SIG, UNKNOWN_VALUE, '"__defaults"', "\\u")


def plain_recorded_inputs(res: Resource) -> dict[str, Any] | None:
    """:func:`recorded_inputs` of a resource whose JSON text holds no special value at all, without decoding
    or copying (the values are the raw JSON's: read-only), else None. Decoding such values changes nothing
    and :func:`strip_reserved` takes only top-level keys."""
    text = res.json_text()
    if text is None or any(mark in text for mark in _NOT_PLAIN):
        return None
    raw = res.raw.get("inputs") or {}
    keep = ("__provider",) if res.type in _DYNAMIC_TYPES else ()
    inputs = {k: v for k, v in raw.items() if not (k.startswith("__") and k not in keep)}
    if res.is_provider:
        for key in _PROVIDER_META:
            inputs.pop(key, None)
    return inputs


def strip_reserved(value: Any, *, top: bool, keep: tuple[str, ...] = ()) -> Any:
    """Recorded inputs as a program would send them.

    At the top level every key starting with ``__`` is bookkeeping (``__defaults``, ``__meta``,
    ``__internal``), except those in ``keep``. At every depth, an object's ``__defaults`` lists the
    keys the provider filled in; those keys and ``__defaults`` itself go. Other nested keys are user
    data even when they start with ``__`` (a ConfigMap may hold ``__init__.py``), so they stay.
    Secrets are handled by the callers.
    """
    if isinstance(value, dict):
        defaults = value.get("__defaults")
        drop = {d for d in defaults if isinstance(d, str)} if isinstance(defaults, list) else set()
        out = {}
        for k, v in value.items():
            if k == "__defaults" or k in drop or (top and k.startswith("__") and k not in keep):
                continue
            out[k] = strip_reserved(v, top=False)
        return out
    if isinstance(value, list):
        return [strip_reserved(v, top=False) for v in value]
    return value


def children_index(parents: Mapping[str, str | None]) -> dict[str, list[str]]:
    """parent URN -> child URNs, in the given order."""
    children: dict[str, list[str]] = {}
    for urn, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(urn)
    return children


class DependencyExpander:
    """Replaces a dependency on a local component by the custom resources it aggregates.

    Mirrors the Python SDK (``runtime/rpc.py: _add_dependency``): a component stands for its children,
    recursively through child components; a custom child is kept and its own children are not visited.
    Results are memoised per component, so expanding many dependencies stays linear in practice.
    """

    def __init__(self, components: Iterable[str], children: Mapping[str, list[str]]) -> None:
        self._components = set(components)
        self._children = children
        self._memo: dict[str, tuple[str, ...]] = {}

    def expand(self, urn: str) -> tuple[str, ...]:
        if urn not in self._components:
            return (urn,)
        cached = self._memo.get(urn)
        if cached is not None:
            return cached
        out: list[str] = []
        seen: set[str] = set()
        stack = list(reversed(self._children.get(urn, [])))
        while stack:
            child = stack.pop()
            if child in seen:
                continue
            seen.add(child)
            if child in self._components:
                stack.extend(reversed(self._children.get(child, [])))
            else:
                out.append(child)
        result = tuple(out)
        self._memo[urn] = result
        return result

    def expand_all(self, urns: Iterable[str], *, exclude: str) -> tuple[str, ...]:
        out: dict[str, None] = {}
        for urn in urns:
            for x in self.expand(urn):
                if x != exclude:
                    out[x] = None
        return tuple(out)


def format_seconds(value: float) -> str:
    """Seconds as a Go duration string (``600.0`` -> ``600s``, ``1.5`` -> ``1.5s``)."""
    if float(value).is_integer():
        return f"{int(value)}s"
    return f"{value!r}s"


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float | None:
    """A Go duration string in seconds (``"10m30s"`` -> 630.0); None when empty or malformed."""
    if not text:
        return None
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if not m:
            return None
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    return total
