"""The SDK's mock runtime, made to record: what a program would send the engine, and nothing else runs.

:func:`recording_monitor` is a ``MockMonitor`` that records every ``RegisterResource``, ``ReadResource`` and
``RegisterResourceOutputs`` request as a :class:`Registration` (plain data, values in the canonical form of
:mod:`rollback.replay.wire`) under the URN the engine computes, and answers each registration through an
optional :data:`Responder`. :func:`run_under_mocks` runs an inline program under it, isolated: the mock
runtime keeps global state (settings in context variables, the root resource), so each run happens in its
own thread (a fresh ``contextvars`` context) with a fresh event loop, after ``reset_options``, as the
Automation API's language server runs an inline program, and gives up after a timeout instead of hanging.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollback.replay._common import STACK_TYPE, engine_urn, parse_duration
from rollback.replay.wire import canonical_struct

log = logging.getLogger(__name__)

@dataclass(slots=True)
class Registration:
    """One request the engine would have received, in plain data.

    ``wire`` is the request's property values serialized deterministically (equal bytes, equal values);
    ``inputs`` is their canonical form (:mod:`rollback.replay.wire`), built only when asked for."""

    op: str                                   # "register" or "read"
    urn: str                                  # as the engine computes it
    type: str
    name: str
    parent: str
    custom: bool
    wire: bytes = b""
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
    _inputs: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def inputs(self) -> dict[str, Any]:
        if self._inputs is None:
            from google.protobuf import struct_pb2

            struct = struct_pb2.Struct()
            struct.ParseFromString(self.wire)
            self._inputs = canonical_struct(struct)
        return self._inputs


def _wire(struct: Any) -> bytes:
    return bytes(struct.SerializeToString(deterministic=True))


# A monitor's answer to one registration: (id, output properties) with outputs as wire JSON (plain
# JSON values; a secret as ``{SIG: SECRET_SIG, "value": ...}``), or None for the mocks' default answer.
Responder = Callable[[Registration], "tuple[str, Mapping[str, Any]] | None"]


def _struct(outputs: Mapping[str, Any]) -> Any:
    from google.protobuf import struct_pb2

    out = struct_pb2.Struct()
    if outputs:
        out.update(dict(outputs))
    return out


def alias_urn(alias: Any, request: Any, urn: str) -> str:
    """The URN an alias names, as the engine computes it: a URN as given; a spec fills what it leaves out (name,
    type, stack, project, parent) from the registration (``urn.New`` of the alias's parts)."""
    if alias.WhichOneof("alias") == "urn":
        return str(alias.urn)
    spec = alias.spec
    stack, project = urn[len("urn:pulumi:"):].split("::", 2)[:2]
    parent = None if spec.noParent else (spec.parentUrn or request.parent or None)
    return engine_urn(spec.stack or stack, spec.project or project, parent, spec.type or request.type,
                      spec.name or request.name)


def registered(request: Any, urn: str) -> Registration:
    """A ``RegisterResourceRequest`` as plain data."""
    aliases = tuple(alias_urn(a, request, urn) for a in request.aliases) + tuple(request.aliasURNs)
    timeouts = {k: parse_duration(getattr(request.customTimeouts, k)) for k in ("create", "update", "delete")}
    return Registration(
        op="register", urn=urn, type=request.type, name=request.name, parent=request.parent,
        custom=bool(request.custom), wire=_wire(request.object), provider=request.provider,
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


def read(request: Any, urn: str) -> Registration:
    """A ``ReadResourceRequest`` as plain data."""
    return Registration(
        op="read", urn=urn, type=request.type, name=request.name, parent=request.parent, custom=True,
        wire=_wire(request.properties), provider=request.provider, version=request.version,
        plugin_download_url=request.pluginDownloadURL, dependencies=frozenset(request.dependencies),
        additional_secret_outputs=tuple(request.additionalSecretOutputs), id=request.id,
    )


@functools.lru_cache(maxsize=1)
def _mocks_class() -> type:
    from pulumi.runtime.mocks import Mocks

    class ReplayMocks(Mocks):
        """Every resource gets an id (reads keep theirs); no invokes are expected."""

        def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
            return (args.resource_id or f"{args.name}-id"), {}

        def call(self, args: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
            return {}, []

    return ReplayMocks


@functools.lru_cache(maxsize=1)
def _monitor_class() -> type:
    from google.protobuf import empty_pb2
    from pulumi.runtime.mocks import MockMonitor, MockResourceArgs
    from pulumi.runtime.proto import resource_pb2

    class RecordingMonitor(MockMonitor):
        """A MockMonitor that records requests in plain data and computes the engine's URNs.

        The stock mock keeps only the direct parent's type in a URN; this one computes the URN the
        way the engine does (``urn.New``), so the program sees the URNs it would see for real.
        """

        def __init__(self, mocks: Any, *, project: str, stack: str, respond: Responder | None = None) -> None:
            super().__init__(mocks)
            self.project, self.stack, self.respond = project, stack, respond
            self.registrations: list[Registration] = []
            self.outputs: dict[str, dict[str, Any]] = {}
            self._lock = threading.Lock()

        def make_urn(self, parent: str, type_: str, name: str) -> str:
            return engine_urn(self.stack, self.project, parent or None, type_, name)

        def _answer(self, reg: Registration, request: Any, *, custom: bool, resource_id: str) -> tuple[str, Any]:
            """Record ``reg``; the (id, outputs) to answer with: the responder's, else the mocks'."""
            with self._lock:
                self.registrations.append(reg)
            answer = self.respond(reg) if self.respond is not None and custom else None
            if answer is None:   # ReplayMocks answers by name and id: the inputs are not decoded for it
                id_, _state = self.mocks.new_resource(MockResourceArgs(
                    typ=request.type, name=request.name, inputs={}, provider=request.provider,
                    resource_id=resource_id, custom=custom))
                answer = (id_ or resource_id, {})
            with self._lock:
                self.resources[reg.urn] = MockMonitor.ResourceRegistration(reg.urn, answer[0], {})
            return answer[0], _struct(answer[1])

        def RegisterResource(self, request: Any) -> Any:
            reg = registered(request, self.make_urn(request.parent, request.type, request.name))
            if request.type == STACK_TYPE and not request.parent:
                with self._lock:
                    self.registrations.append(reg)
                return resource_pb2.RegisterResourceResponse(urn=reg.urn)
            id_, outputs = self._answer(reg, request, custom=bool(request.custom), resource_id=request.importId)
            return resource_pb2.RegisterResourceResponse(urn=reg.urn, id=id_ if request.custom else "",
                                                         object=outputs)

        def ReadResource(self, request: Any) -> Any:
            reg = read(request, self.make_urn(request.parent, request.type, request.name))
            _id, outputs = self._answer(reg, request, custom=True, resource_id=request.id)
            return resource_pb2.ReadResourceResponse(urn=reg.urn, properties=outputs)

        def RegisterResourceOutputs(self, request: Any) -> Any:
            outputs = canonical_struct(request.outputs)
            with self._lock:
                self.outputs[request.urn] = outputs
            return empty_pb2.Empty()

    return RecordingMonitor


def recording_monitor(*, project: str, stack: str, respond: Responder | None = None) -> Any:
    """A fresh recording MockMonitor (with its Mocks) for one run.

    ``respond(registration)`` may answer a custom resource's registration (or read) with an id and
    output properties (wire JSON, see :data:`Responder`); None falls back to the mocks (``<name>-id``,
    no outputs). Registrations arrive on executor threads: a responder must be thread-safe.
    """
    return _monitor_class()(_mocks_class()(), project=project, stack=stack, respond=respond)


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
