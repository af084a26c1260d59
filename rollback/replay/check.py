"""What a rehearsal checks: every registration against the *target checkpoint* (not against the plan).

:class:`Expectations` derives from the target what the engine must receive: every live resource other
than the root stack and the default providers (the engine makes those), registered exactly once under the
URN the engine computes from the parent chain, with the same type, custom flag, parent, provider (or
default-provider version), options and inputs (recorded inputs minus reserved keys, secrets compared by
value and still secret at the same depth), and the root stack's outputs exported. :func:`check` compares
what the recording monitor saw with it and returns one line per mismatch; lines never hold secret values.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from rollback.liverefs import property_dependencies
from rollback.models import Deployment, Resource, split_provider_ref
from rollback.replay._common import (
    STACK_TYPE,
    DependencyExpander,
    children_index,
    engine_urn,
    is_default_provider,
    is_default_provider_urn,
    plain_recorded_inputs,
    provider_download_url,
    provider_version,
    qualified_type,
    recorded_inputs,
    stack_urn,
    version_from_provider_urn,
)
from rollback.replay.mocks import Registration
from rollback.replay.types import ReplayPlan
from rollback.replay.wire import canonical_value, wire_bytes
from rollback.state.secrets import SecretBox

MAX_INPUT_DIFFS = 5


@dataclass
class _Expected:
    urn: str                                   # recorded
    engine_urn: str
    type: str
    name: str
    op: str                                    # "register" or "read"
    custom: bool
    kind: str                                  # component / custom / provider / read
    parent: str                                # engine URN ('' never: the root stack at least)
    provider: str                              # engine URN of the explicit provider, '' for default
    check_version: bool
    version: str
    plugin_download_url: str | None
    dependencies: frozenset[str]
    property_dependencies: dict[str, frozenset[str]]
    deleted_with: str
    res: Resource
    canon: Callable[..., dict[str, Any]] = field(repr=False, compare=False)

    @cached_property
    def inputs(self) -> dict[str, Any]:
        """The recorded inputs in canonical form (built when a registration's bytes differ from :attr:`wire`)."""
        return self.canon(_recorded(self.res), strip=True)

    @property
    def wire(self) -> bytes | None:
        """The bytes a faithful registration sends (see :func:`~rollback.replay.wire.wire_bytes`); not kept."""
        canonical = self.__dict__.get("inputs") or self.canon(_recorded(self.res), strip=True)
        return wire_bytes(canonical)

    @cached_property
    def outputs(self) -> dict[str, Any] | None:
        return self.canon(self.res.outputs, strip=False) if self.kind == "component" else None


def _recorded(res: Resource) -> dict[str, Any]:
    """What a program sends for ``res``, read without decoding where nothing in it is special."""
    plain = plain_recorded_inputs(res)
    return plain if plain is not None else recorded_inputs(res)


class Expectations:
    """Everything :func:`rehearse` checks, derived from the target checkpoint: for the resources in ``only``
    (recorded URNs; None: every one). A resource's values are brought to canonical form when it is checked."""

    def __init__(self, plan: ReplayPlan, target: Deployment, secrets: SecretBox, *, project: str,
                 stack: str, only: Collection[str] | None = None) -> None:
        self.plan = plan
        self.project = project
        self.stack = stack
        self.root_urn = stack_urn(stack, project)
        self.problems: list[str] = []
        live = target.live_resources()
        self.root = next((r for r in live if r.type == STACK_TYPE), None)
        self.defaults = {r.urn: r for r in live if is_default_provider(r)}
        members = [r for r in live if r is not self.root and r.urn not in self.defaults]
        self.by_urn = {r.urn: r for r in members}
        self.parents = {r.urn: (r.parent if r.parent in self.by_urn else None) for r in members}
        for r in members:
            if r.parent and r.parent not in self.by_urn and not self._is_root(r.parent):
                self.problems.append(f"{r.urn}: parent {r.parent} is not in the checkpoint")
        self.engine = self._engine_urns(members)
        comps = [r.urn for r in members if not r.custom]
        self.expander = DependencyExpander(comps, children_index(self.parents))
        self.reveal = secrets.reveal
        self.resources = {self.engine[r.urn]: self._expect(r) for r in members if only is None or r.urn in only}
        self.exports = self._canon(self.root.outputs, strip=False) if self.root is not None else {}

    def _is_root(self, urn: str) -> bool:
        return (self.root is not None and urn == self.root.urn) or qualified_type(urn) == STACK_TYPE

    def _engine_urns(self, members: list[Resource]) -> dict[str, str]:
        out: dict[str, str] = {}
        for r in members:
            chain = []
            u: str | None = r.urn
            while u is not None and u not in out:
                if u in chain:
                    self.problems.append(f"{r.urn}: its parent chain loops")
                    break
                chain.append(u)
                u = self.parents.get(u)
            for u in reversed(chain):
                res = self.by_urn[u]
                p = self.parents.get(u)
                out[u] = engine_urn(self.stack, self.project, out.get(p, self.root_urn) if p else self.root_urn,
                                    res.type, res.name)
        return out

    def _canon(self, value: Mapping[str, Any], *, strip: bool) -> dict[str, Any]:
        c = canonical_value(dict(value), reveal=self.reveal, refs=self.engine, strip_in_secrets=strip,
                            base_dir=self.plan.base_dir)
        # the SDK leaves a top-level property whose value is None out of the request
        return {k: v for k, v in c.items() if v is not None}

    def _deps(self, r: Resource, urns: tuple[str, ...]) -> frozenset[str]:
        keep = [u for u in urns if u in self.by_urn]
        out = set()
        for u in self.expander.expand_all(keep, exclude=r.urn):
            p = self.parents.get(u)
            while p is not None and p != r.urn:
                p = self.parents.get(p)
            if p is None:
                out.add(self.engine[u])
        return frozenset(out)

    def _expect(self, r: Resource) -> _Expected:
        kind = "component" if not r.custom else "provider" if r.is_provider else "read" if r.external else "custom"
        parent_urn = self.parents[r.urn]
        parent = self.engine[parent_urn] if parent_urn else self.root_urn
        provider, check_version = "", False
        version: str | None = ""
        url: str | None = None
        overrides = self.plan.version_overrides
        if kind == "provider":
            check_version = True
            version = overrides[r.urn][1] if r.urn in overrides else provider_version(r)
            url = None if r.urn in overrides else provider_download_url(r)
        elif kind in ("custom", "read"):
            purn = split_provider_ref(r.provider)[0] if r.provider else ""
            if purn and purn in self.by_urn:
                provider = self.engine[purn]
            else:
                check_version = True
                default = self.defaults.get(purn)
                target_v = (provider_version(default) if default is not None
                            else version_from_provider_urn(purn) if is_default_provider_urn(purn) else None)
                version = overrides[r.urn][1] if r.urn in overrides else target_v
                url = None if r.urn in overrides else (provider_download_url(default) if default is not None else "")
        return _Expected(
            urn=r.urn, engine_urn=self.engine[r.urn], type=r.type, name=r.name,
            op="read" if kind == "read" else "register", custom=r.custom, kind=kind, parent=parent,
            provider=provider, check_version=check_version, version=version or "",
            plugin_download_url=url, canon=self._canon,
            dependencies=self._deps(r, r.dependencies),
            property_dependencies={k: self._deps(r, v) for k, v in property_dependencies(r).items()},
            deleted_with=self.engine.get(r.deleted_with or "", ""),
            res=r,
        )


# -- comparing ---------------------------------------------------------------------------------------

def _short(value: Any) -> str:
    if isinstance(value, tuple) and value[:1] == ("bool",):
        value = value[1]
    if isinstance(value, (dict, list, tuple)):
        return type(value).__name__ if not isinstance(value, tuple) else str(value[0])
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_secret(v: Any) -> bool:
    return isinstance(v, tuple) and v[:1] == ("secret",)


def diff_values(expected: Any, got: Any, path: str, out: list[str], *, in_secret: bool = False) -> None:
    """Append one line per differing path (values shown only outside secrets)."""
    if _is_secret(expected) or _is_secret(got):
        if _is_secret(expected) != _is_secret(got):
            where = "the checkpoint" if _is_secret(expected) else "the registration"
            out.append(f"{path} is secret in {where} only")
            return
        diff_values(expected[1], got[1], path, out, in_secret=True)
        return
    if isinstance(expected, dict) and isinstance(got, dict):
        for k in sorted(expected.keys() | got.keys()):
            sub = f"{path}.{k}" if path else k
            if k not in got:
                out.append(f"{sub} is missing from the registration")
            elif k not in expected:
                out.append(f"{sub} is sent but not in the checkpoint")
            else:
                diff_values(expected[k], got[k], sub, out, in_secret=in_secret)
        return
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        for i, (a, b) in enumerate(zip(expected, got)):
            diff_values(a, b, f"{path}[{i}]", out, in_secret=in_secret)
        return
    if expected != got:
        if in_secret:
            out.append(f"{path} differs")
        else:
            out.append(f"{path} differs (sent {_short(got)}, recorded {_short(expected)})")


def _compare_one(e: _Expected, reg: Registration) -> list[str]:
    r = e.res
    head = e.urn if e.engine_urn == e.urn else f"{e.urn} (engine URN {e.engine_urn})"
    out: list[str] = []

    def bad(text: str) -> None:
        out.append(f"{head}: {text}")

    if reg.op != e.op:
        bad(f"sent as a {reg.op}, expected a {e.op}" + (" (external resource)" if e.op == "read" else ""))
    if reg.type != e.type:
        bad(f"type differs (sent {reg.type}, recorded {e.type})")
    if reg.custom != e.custom:
        bad(f"custom flag differs (sent {reg.custom}, recorded {e.custom})")
    if reg.remote:
        bad("registered as a remote component (children would be rebuilt from today's code)")
    if reg.parent != e.parent:
        bad(f"parent differs (sent {reg.parent or 'none'}, expected {e.parent})")
    sent_provider = split_provider_ref(reg.provider)[0] if reg.provider else ""
    if e.kind != "component" and sent_provider != e.provider:
        bad(f"provider differs (sent {sent_provider or 'the default provider'}, "
            f"expected {e.provider or 'the default provider'})")
    if e.check_version and reg.version != e.version:
        bad(f"provider version differs (sent {reg.version or 'none'}, expected {e.version or 'none'})")
    if e.check_version and e.plugin_download_url is not None and reg.plugin_download_url != e.plugin_download_url:
        bad("plugin download URL differs")
    if reg.import_id:
        bad("an import id was sent (a replay must never import)")
    if e.op == "read" and reg.id != (r.id or ""):
        bad(f"read with id {reg.id!r}, recorded {r.id!r}")
    if e.op == "register" and e.engine_urn != e.urn and e.urn not in reg.aliases:
        bad("no alias to the recorded (legacy) URN")
    if e.op == "register":
        _compare_options(e, reg, bad)
    missing = sorted(e.dependencies - reg.dependencies)
    if missing:
        bad(f"dependencies not sent: {', '.join(missing)}")
    for key, deps in sorted(e.property_dependencies.items()):
        lost = sorted(deps - reg.property_dependencies.get(key, frozenset()))
        if lost and key in e.inputs:
            bad(f"property dependencies of {key} not sent: {', '.join(lost)}")
    diffs: list[str] = []
    if not reg.wire or reg.wire != e.wire:   # equal bytes are equal values: no canonical forms needed
        diff_values(e.inputs, reg.inputs, "", diffs)
    for d in diffs[:MAX_INPUT_DIFFS]:
        bad(f"input {d}")
    if len(diffs) > MAX_INPUT_DIFFS:
        bad(f"... and {len(diffs) - MAX_INPUT_DIFFS} more input differences")
    return out


def _compare_options(e: _Expected, reg: Registration, bad: Callable[[str], None]) -> None:
    r = e.res
    if reg.protect != r.protect:
        bad(f"protect differs (sent {reg.protect}, recorded {r.protect})")
    if reg.retain_on_delete != r.retain_on_delete:
        bad(f"retainOnDelete differs (sent {reg.retain_on_delete}, recorded {r.retain_on_delete})")
    for label, sent, recorded in (("ignoreChanges", reg.ignore_changes, r.ignore_changes),
                                  ("replaceOnChanges", reg.replace_on_changes, r.replace_on_changes),
                                  ("additionalSecretOutputs", reg.additional_secret_outputs,
                                   r.additional_secret_outputs)):
        if list(sent) != list(recorded):
            bad(f"{label} differs (sent {list(sent)}, recorded {list(recorded)})")
    recorded_timeouts = {k: float(v) for k, v in r.custom_timeouts.items() if k in ("create", "update", "delete") and v}
    if reg.custom_timeouts != recorded_timeouts:
        bad(f"customTimeouts differ (sent {reg.custom_timeouts}, recorded {recorded_timeouts})")
    if reg.deleted_with != e.deleted_with:
        bad(f"deletedWith differs (sent {reg.deleted_with or 'none'}, expected {e.deleted_with or 'none'})")
    if r.pending_replacement and e.kind in ("custom", "provider") and not reg.delete_before_replace:
        bad("pending replacement without delete-before-replace (pulumi-kubernetes#4522)")


def check(expected: Expectations, monitor: Any) -> list[str]:
    out: list[str] = []
    seen: dict[str, list[Registration]] = {}
    stacks = 0
    with monitor._lock:
        registrations = list(monitor.registrations)
        outputs = dict(monitor.outputs)
    for reg in registrations:
        if reg.type == STACK_TYPE and not reg.parent:
            stacks += 1
            continue
        seen.setdefault(reg.urn, []).append(reg)
    if stacks != 1:
        out.append(f"the root stack was registered {stacks} times (the runtime registers it once)")
    for eurn, e in expected.resources.items():
        regs = seen.get(eurn)
        if not regs:
            what = f"{e.urn} (engine URN {eurn})" if eurn != e.urn else e.urn
            out.append(f"{what}: not registered")
            continue
        if len(regs) > 1:
            out.append(f"{e.urn}: registered {len(regs)} times")
        out.extend(_compare_one(e, regs[0]))
        if e.outputs is not None:
            diffs: list[str] = []
            diff_values(e.outputs, outputs.get(eurn, {}), "", diffs)
            out.extend(f"{e.urn}: component output {d}" for d in diffs[:MAX_INPUT_DIFFS])
    for eurn, regs in seen.items():
        if eurn not in expected.resources:
            out.append(f"{eurn}: registered ({regs[0].type}) but not in the target checkpoint")
    diffs = []
    diff_values(expected.exports, outputs.get(expected.root_urn, {}), "", diffs)
    out.extend(f"stack output {d}" for d in diffs[:MAX_INPUT_DIFFS])
    return out
