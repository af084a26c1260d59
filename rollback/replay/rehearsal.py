"""Proof before touching anything: run the replay program under the SDK's mock runtime and check it.

:func:`rehearse` runs the plan's program (:func:`~rollback.replay.program.inline_program`) with ``pulumi.runtime.set_mocks`` and a
:class:`~pulumi.runtime.mocks.MockMonitor` subclass that records every ``RegisterResource``,
``ReadResource`` and ``RegisterResourceOutputs`` request as the engine would receive it. It then checks,
against the *target checkpoint* (not against the plan), that every live resource of the target other
than the root stack and the default providers (the engine makes those) is registered exactly once,
under the URN the engine computes from the parent chain, with the same type, custom flag, parent,
provider (or default-provider version), options and inputs (recorded inputs minus reserved keys,
secrets compared by value and still secret at the same depth), that the root stack's outputs are
exported, and that nothing else is registered.

The mocks answer every registration of a target resource with its *recorded* id and output
properties, so the inputs the replay sends as live references to a dependency's outputs
(:class:`~rollback.replay.types.LiveRef`) resolve to the recorded values and are checked like any
other input.

Isolation: the mock runtime keeps global state (settings in context variables, the root resource).
Each run happens in its own thread (a fresh ``contextvars`` context) with a fresh event loop, after
``reset_options`` — as the Automation API's language server runs an inline program — and the runner
gives up after a timeout instead of hanging. Mismatch lines never contain secret values.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollback.models import Deployment, Resource, split_provider_ref
from rollback.replay._common import (
    STACK_TYPE,
    DependencyExpander,
    FollowOutput,
    children_index,
    engine_urn,
    is_default_provider,
    is_default_provider_urn,
    parse_duration,
    provider_download_url,
    provider_version,
    qualified_type,
    recorded_inputs,
    stack_urn,
    strip_reserved,
    version_from_provider_urn,
)
from rollback.replay.program import inline_program
from rollback.replay.types import ReplayPlan
from rollback.state.secrets import SecretBox
from rollback.state.values import (
    ARCHIVE_SIG,
    ASSET_SIG,
    RESOURCE_REF_SIG,
    SECRET_SIG,
    SIG,
    UNKNOWN,
    UNKNOWN_VALUE,
    Archive,
    Asset,
    RawBytes,
    ResourceReference,
    Revealed,
    Secret,
)

log = logging.getLogger(__name__)

_MAX_INPUT_DIFFS = 5


@dataclass(frozen=True)
class RehearsalResult:
    ok: bool
    resources: int
    mismatches: tuple[str, ...] = ()
    registered: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "resources": self.resources, "mismatches": list(self.mismatches)}


# -- what the monitor saw -------------------------------------------------------------------------

@dataclass
class Registration:
    """One request the engine would have received, in plain data (inputs in canonical form)."""

    op: str                                   # "register" or "read"
    urn: str                                  # as the engine computes it
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    provider: str = ""
    version: str = ""
    plugin_download_url: str = ""
    dependencies: frozenset[str] = frozenset()
    property_dependencies: dict[str, frozenset[str]] = field(default_factory=dict)
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: tuple[str, ...] = ()
    replace_on_changes: tuple[str, ...] = ()
    additional_secret_outputs: tuple[str, ...] = ()
    custom_timeouts: dict[str, float] = field(default_factory=dict)
    deleted_with: str = ""
    aliases: tuple[str, ...] = ()
    import_id: str = ""
    delete_before_replace: bool = False
    remote: bool = False
    id: str = ""


def canonical_struct(struct: Any) -> dict[str, Any]:
    """A protobuf ``Struct`` of property values in canonical form (see :func:`canonical_value`)."""
    return {k: _wire(v, in_secret=False) for k, v in struct.fields.items()}


def _wire(v: Any, *, in_secret: bool) -> Any:
    kind = v.WhichOneof("kind")
    if kind == "string_value":
        return ("unknown",) if v.string_value == UNKNOWN_VALUE else v.string_value
    if kind == "number_value":
        return float(v.number_value)
    if kind == "bool_value":
        return ("bool", v.bool_value)
    if kind == "list_value":
        return [_wire(x, in_secret=in_secret) for x in v.list_value.values]
    if kind == "struct_value":
        fields = v.struct_value.fields
        sig_value = fields.get(SIG)
        if sig_value is not None and sig_value.WhichOneof("kind") == "string_value":
            return _wire_special(sig_value.string_value, fields, in_secret=in_secret)
        return {k: _wire(x, in_secret=in_secret) for k, x in fields.items()}
    return None


def _wire_special(sig: str, fields: Mapping[str, Any], *, in_secret: bool) -> Any:
    def text(key: str) -> str | None:
        x = fields.get(key)
        return x.string_value if x is not None and x.WhichOneof("kind") == "string_value" else None

    if sig == SECRET_SIG:
        inner = _wire(fields["value"], in_secret=True) if "value" in fields else None
        return inner if in_secret else ("secret", inner)
    if sig == ASSET_SIG:
        for key in ("text", "path", "uri"):
            if key in fields:
                return ("asset", key, text(key))
        return ("asset", "hash", text("hash"))
    if sig == ARCHIVE_SIG:
        if "assets" in fields:
            assets = fields["assets"].struct_value.fields
            return ("archive", "assets", {k: _wire(x, in_secret=in_secret) for k, x in assets.items()})
        for key in ("path", "uri"):
            if key in fields:
                return ("archive", key, text(key))
        return ("archive", "hash", text("hash"))
    if sig == RESOURCE_REF_SIG:
        return ("ref", text("urn") or "")
    return {k: _wire(x, in_secret=in_secret) for k, x in fields.items()}


def canonical_value(value: Any, *, reveal: Callable[[Secret], Any], refs: Mapping[str, str],
                    strip_in_secrets: bool, in_secret: bool = False) -> Any:
    """A decoded checkpoint value in the canonical form the wire values are compared in.

    Numbers are floats (``3 == 3.0``), booleans are tagged (so ``True != 1``), secrets are
    ``("secret", value)`` with nested secrets flattened (``Output.secret`` lifts them), references
    compare by the URN the engine gives the referenced resource.
    """
    def again(v: Any, secret: bool = in_secret) -> Any:
        return canonical_value(v, reveal=reveal, refs=refs, strip_in_secrets=strip_in_secrets, in_secret=secret)

    if isinstance(value, Secret):
        inner = reveal(value)
        if strip_in_secrets:
            inner = strip_reserved(inner, top=False)
        c = again(inner, True)
        return c if in_secret else ("secret", c)
    if isinstance(value, dict):
        return {k: again(v) for k, v in value.items()}
    if isinstance(value, list):
        return [again(v) for v in value]
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return float(value)
    if value is UNKNOWN:
        return ("unknown",)
    if isinstance(value, Asset):
        for key in ("text", "path", "uri"):
            if getattr(value, key) is not None:
                return ("asset", key, getattr(value, key))
        return ("asset", "hash", value.hash)
    if isinstance(value, Archive):
        if value.assets is not None:
            return ("archive", "assets", {k: again(v) for k, v in value.assets.items()})
        for key in ("path", "uri"):
            if getattr(value, key) is not None:
                return ("archive", key, getattr(value, key))
        return ("archive", "hash", value.hash)
    if isinstance(value, ResourceReference):
        return ("ref", refs.get(value.urn, value.urn))
    if isinstance(value, RawBytes):
        return ("bytes", value.value)
    return value


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


# -- the recording monitor ------------------------------------------------------------------------

# A monitor's answer to one registration: (id, output properties) with outputs as wire JSON (plain
# JSON values; a secret as ``{SIG: SECRET_SIG, "value": ...}``), or None for the mocks' default answer.
Responder = Callable[["Registration"], "tuple[str, Mapping[str, Any]] | None"]


def _struct(outputs: Mapping[str, Any]) -> Any:
    from google.protobuf import struct_pb2

    out = struct_pb2.Struct()
    if outputs:
        out.update(dict(outputs))
    return out


@functools.lru_cache(maxsize=1)
def _monitor_classes() -> tuple[type, type]:
    from google.protobuf import empty_pb2
    from pulumi.runtime.mocks import MockMonitor, MockResourceArgs, Mocks
    from pulumi.runtime.proto import resource_pb2

    class ReplayMocks(Mocks):
        """Every resource gets an id (reads keep theirs); no invokes are expected."""

        def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
            return (args.resource_id or f"{args.name}-id"), {}

        def call(self, args: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
            return {}, []

    class RecordingMonitor(MockMonitor):
        """A MockMonitor that records requests in plain data and computes the engine's URNs.

        The stock mock keeps only the direct parent's type in a URN; this one computes the URN the
        way the engine does (``urn.New``), so the program sees the URNs it would see for real.
        """

        def __init__(self, mocks: Any, *, project: str, stack: str, respond: Responder | None = None) -> None:
            super().__init__(mocks)
            self.project = project
            self.stack = stack
            self.respond = respond
            self.registrations: list[Registration] = []
            self.outputs: dict[str, dict[str, Any]] = {}
            self._lock = threading.Lock()

        def make_urn(self, parent: str, type_: str, name: str) -> str:
            return engine_urn(self.stack, self.project, parent or None, type_, name)

        def _record(self, reg: Registration) -> None:
            with self._lock:
                self.registrations.append(reg)

        def RegisterResource(self, request: Any) -> Any:
            urn = self.make_urn(request.parent, request.type, request.name)
            aliases = tuple(a.urn if a.WhichOneof("alias") == "urn" else f"(alias spec {a.spec.name})"
                            for a in request.aliases) + tuple(request.aliasURNs)
            timeouts = {k: parse_duration(getattr(request.customTimeouts, k)) for k in ("create", "update", "delete")}
            reg = Registration(
                op="register", urn=urn, type=request.type, name=request.name, parent=request.parent,
                custom=bool(request.custom), inputs=canonical_struct(request.object), provider=request.provider,
                version=request.version, plugin_download_url=request.pluginDownloadURL,
                dependencies=frozenset(request.dependencies),
                property_dependencies={k: frozenset(v.urns) for k, v in request.propertyDependencies.items()},
                protect=bool(request.protect), retain_on_delete=bool(request.retainOnDelete),
                ignore_changes=tuple(request.ignoreChanges), replace_on_changes=tuple(request.replaceOnChanges),
                additional_secret_outputs=tuple(request.additionalSecretOutputs),
                custom_timeouts={k: v for k, v in timeouts.items() if v},
                deleted_with=request.deletedWith, aliases=aliases, import_id=request.importId,
                delete_before_replace=bool(request.deleteBeforeReplace), remote=bool(request.remote),
            )
            self._record(reg)
            if request.type == STACK_TYPE and not request.parent:
                return resource_pb2.RegisterResourceResponse(urn=urn)
            answer = self.respond(reg) if self.respond is not None and request.custom else None
            if answer is None:
                id_, _state = self.mocks.new_resource(MockResourceArgs(
                    typ=request.type, name=request.name, inputs=reg.inputs, provider=request.provider,
                    resource_id=request.importId, custom=request.custom))
                answer = (id_ or "", {})
            id_, outputs = answer
            with self._lock:
                self.resources[urn] = MockMonitor.ResourceRegistration(urn, id_, {})
            return resource_pb2.RegisterResourceResponse(urn=urn, id=id_ if request.custom else "",
                                                         object=_struct(outputs))

        def ReadResource(self, request: Any) -> Any:
            urn = self.make_urn(request.parent, request.type, request.name)
            reg = Registration(
                op="read", urn=urn, type=request.type, name=request.name, parent=request.parent, custom=True,
                inputs=canonical_struct(request.properties), provider=request.provider, version=request.version,
                plugin_download_url=request.pluginDownloadURL, dependencies=frozenset(request.dependencies),
                additional_secret_outputs=tuple(request.additionalSecretOutputs), id=request.id,
            )
            self._record(reg)
            answer = self.respond(reg) if self.respond is not None else None
            if answer is None:
                id_, _state = self.mocks.new_resource(MockResourceArgs(
                    typ=request.type, name=request.name, inputs=reg.inputs, provider=request.provider,
                    resource_id=request.id, custom=True))
                answer = (id_ or request.id, {})
            id_, outputs = answer
            with self._lock:
                self.resources[urn] = MockMonitor.ResourceRegistration(urn, id_, {})
            return resource_pb2.ReadResourceResponse(urn=urn, properties=_struct(outputs))

        def RegisterResourceOutputs(self, request: Any) -> Any:
            outputs = canonical_struct(request.outputs)
            with self._lock:
                self.outputs[request.urn] = outputs
            return empty_pb2.Empty()

    return ReplayMocks, RecordingMonitor


def recording_monitor(*, project: str, stack: str, respond: Responder | None = None) -> Any:
    """A fresh recording MockMonitor (with its Mocks) for one run.

    ``respond(registration)`` may answer a custom resource's registration (or read) with an id and
    output properties (wire JSON, see :data:`Responder`); None falls back to the mocks (``<name>-id``,
    no outputs). Registrations arrive on executor threads: a responder must be thread-safe.
    """
    mocks_cls, monitor_cls = _monitor_classes()
    return monitor_cls(mocks_cls(), project=project, stack=stack, respond=respond)


def _wire_output(value: Any, reveal: Callable[[Secret], Any]) -> Any:
    """A decoded output value as wire JSON, or None when it holds something a mock cannot answer with
    (assets, archives, references, unknowns: nothing the replay follows)."""
    if isinstance(value, Secret):
        inner = _wire_output(reveal(value), reveal)
        return None if inner is None else {SIG: SECRET_SIG, "value": inner}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            w = _wire_output(v, reveal)
            if w is None and v is not None:
                return None
            out[k] = w
        return out
    if isinstance(value, list):
        items = [_wire_output(v, reveal) for v in value]
        return None if any(w is None and v is not None for w, v in zip(items, value)) else items
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return None


def _responder(expected: _Expectations, plan: ReplayPlan, reveal: Callable[[Secret], Any]) -> Responder:
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
            value = _wire_output(e.res.outputs.get(key), reveal)
            if value is not None:
                outputs[key] = value
        answer = (str(e.res.id), outputs)
        with lock:
            cache[reg.urn] = answer
        return answer

    return respond


# -- running a program under mocks, isolated --------------------------------------------------------

@dataclass(frozen=True)
class MockRun:
    error: BaseException | None = None
    timed_out: bool = False
    seconds: float = 0.0


_HOLD = object()


def run_under_mocks(program: Callable[[], Any], *, project: str, stack: str, monitor: Any,
                    timeout: float = 300.0) -> MockRun:
    """Run an inline program under ``set_mocks`` with ``monitor``, isolated from any other Pulumi use.

    The program runs in its own thread (so in a fresh ``contextvars`` context) with a fresh event
    loop, inside ``run_in_stack`` exactly as the Automation API runs an inline program. Returns
    instead of hanging: after ``timeout`` seconds the run is reported as timed out.
    """
    box: dict[str, BaseException] = {}
    started = time.monotonic()

    def worker() -> None:
        try:
            _run_fresh(program, project=project, stack=stack, monitor=monitor)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            box["error"] = exc

    thread = threading.Thread(target=worker, name="infra-rollback-rehearsal", daemon=True)
    thread.start()
    thread.join(timeout)
    seconds = time.monotonic() - started
    if thread.is_alive():
        return MockRun(timed_out=True, seconds=seconds)
    return MockRun(error=box.get("error"), seconds=seconds)


def _run_fresh(program: Callable[[], Any], *, project: str, stack: str, monitor: Any) -> None:
    import asyncio

    from pulumi.runtime import settings
    from pulumi.runtime.mocks import set_mocks
    from pulumi.runtime.stack import run_in_stack

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        settings.reset_options(project=project, stack=stack, preview=False, organization="organization")
        # set_mocks registers a root Stack of its own when there is none; run_in_stack below makes
        # the root stack the way an inline program gets it, so hold the slot while set_mocks runs.
        settings.set_root_resource(_HOLD)  # type: ignore[arg-type]
        set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor,
                  logger=log)
        settings.ROOT.set(None)
        loop.run_until_complete(run_in_stack(program))
    finally:
        _close(loop)


def _close(loop: Any) -> None:
    import asyncio
    import contextlib

    try:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        with contextlib.suppress(BaseException):
            loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
        asyncio.set_event_loop(None)


# -- what the target says must be registered --------------------------------------------------------

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
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None
    dependencies: frozenset[str]
    property_dependencies: dict[str, frozenset[str]]
    deleted_with: str
    res: Resource


class _Expectations:
    """Everything :func:`rehearse` checks, derived from the target checkpoint."""

    def __init__(self, plan: ReplayPlan, target: Deployment, secrets: SecretBox, *, project: str,
                 stack: str) -> None:
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
        self.resources = {self.engine[r.urn]: self._expect(r) for r in members}
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
        c = canonical_value(dict(value), reveal=self.reveal, refs=self.engine, strip_in_secrets=strip)
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
        inputs = recorded_inputs(r)
        return _Expected(
            urn=r.urn, engine_urn=self.engine[r.urn], type=r.type, name=r.name,
            op="read" if kind == "read" else "register", custom=r.custom, kind=kind, parent=parent,
            provider=provider, check_version=check_version, version=version or "",
            plugin_download_url=url, inputs=self._canon(inputs, strip=True),
            outputs=self._canon(r.outputs, strip=False) if kind == "component" else None,
            dependencies=self._deps(r, r.dependencies),
            property_dependencies={k: self._deps(r, v) for k, v in r.property_dependencies.items()},
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
    diff_values(e.inputs, reg.inputs, "", diffs)
    for d in diffs[:_MAX_INPUT_DIFFS]:
        bad(f"input {d}")
    if len(diffs) > _MAX_INPUT_DIFFS:
        bad(f"... and {len(diffs) - _MAX_INPUT_DIFFS} more input differences")
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


def rehearse(plan: ReplayPlan, target: Deployment, *, secrets: SecretBox, project: str, stack: str,
             timeout: float | None = None, program: Callable[[], None] | None = None) -> RehearsalResult:
    """Run ``plan``'s program under mocks and check it re-registers ``target`` faithfully.

    ``resources`` in the result counts the target's live resources other than the root stack and the
    default providers (which the engine makes itself): exactly the registrations expected. ``program``
    replaces the plan's own (:func:`~rollback.replay.program.inline_program`): a seam for tests.
    """
    started = time.monotonic()
    expected = _Expectations(plan, target, secrets, project=project, stack=stack)
    mismatches: list[str] = list(expected.problems)
    if (plan.project, plan.stack) != (project, stack):
        mismatches.append(f"the plan was built for {plan.project}/{plan.stack}, the rehearsal runs "
                          f"{project}/{stack}")
    monitor = recording_monitor(project=project, stack=stack,
                                respond=_responder(expected, plan, secrets.reveal))
    limit = timeout if timeout is not None else 60.0 + 0.05 * len(plan.steps)
    run = run_under_mocks(program or inline_program(plan), project=project, stack=stack, monitor=monitor, timeout=limit)
    if run.timed_out:
        mismatches.append(f"the replay program did not finish under mocks within {limit:.0f} s")
    elif run.error is not None:
        message = _redact(str(run.error).strip().splitlines()[0] if str(run.error).strip() else "",
                          _plan_secrets(plan))
        mismatches.append(f"the replay program failed under mocks: {type(run.error).__name__}"
                          + (f": {message}" if message else ""))
    else:
        mismatches.extend(_compare(expected, monitor))
    return RehearsalResult(ok=not mismatches, resources=len(expected.resources), mismatches=tuple(mismatches),
                           registered=len(monitor.registrations), seconds=time.monotonic() - started)


def _compare(expected: _Expectations, monitor: Any) -> list[str]:
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
            out.extend(f"{e.urn}: component output {d}" for d in diffs[:_MAX_INPUT_DIFFS])
    for eurn, regs in seen.items():
        if eurn not in expected.resources:
            out.append(f"{eurn}: registered ({regs[0].type}) but not in the target checkpoint")
    diffs = []
    diff_values(expected.exports, outputs.get(expected.root_urn, {}), "", diffs)
    out.extend(f"stack output {d}" for d in diffs[:_MAX_INPUT_DIFFS])
    return out
