"""A plain capturing MockMonitor: keeps copies of the raw requests the replay program sends.

Independent of the rehearsal's own monitor, so tests of the program do not trust the code under test
to report what was sent. Values are read back with protobuf's own JSON conversion, so special values
appear exactly as on the wire (``{"4dabf1...": "1b4706...", "value": ...}`` for a secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi.runtime.mocks import MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.proto import resource_pb2

from rollback.replay.mocks import run_under_mocks
from rollback.state.values import SECRET_SIG, SIG
from tests.replay_support.checkpoints import PROJECT, STACK


class _Mocks(Mocks):
    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        return (args.resource_id or f"{args.name}-id"), {}

    def call(self, args: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


class CaptureMonitor(MockMonitor):
    """Keeps copies of the requests; answers like the stock mock monitor (its URNs, the mocks' ids).

    It does not call the stock ``RegisterResource``: that one deserializes the inputs, and a resource
    reference to a type whose SDK (pulumi_aws, ...) another test imported would be rebuilt as a typed
    resource on the executor thread's own event loop, which nobody runs.
    """

    def __init__(self, answers: Mapping[str, tuple[str | None, Mapping[str, Any]]] | None = None) -> None:
        super().__init__(_Mocks())
        self.answers = dict(answers or {})   # resource name -> (id or None for the mocks' one, outputs)
        self.registered: list[Any] = []
        self.read: list[Any] = []
        self.outputs: list[Any] = []

    @staticmethod
    def _copy(request: Any) -> Any:
        copy = type(request)()
        copy.CopyFrom(request)
        return copy

    def _answer(self, request: Any, resource_id: str) -> tuple[str, str, Any]:
        """(urn, id, outputs as a Struct): the mocks' id and no outputs unless ``answers`` names the resource."""
        urn = self.make_urn(request.parent, request.type, request.name)
        id_, _ = self.mocks.new_resource(MockResourceArgs(typ=request.type, name=request.name, inputs={},
                                                          resource_id=resource_id, custom=True))
        outputs = struct_pb2.Struct()
        if request.name in self.answers:
            given_id, given = self.answers[request.name]
            id_ = given_id or id_
            outputs.update(dict(given))
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, id_, {})
        return urn, id_, outputs

    def RegisterResource(self, request: Any) -> Any:
        self.registered.append(self._copy(request))
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=self.make_urn(request.parent, request.type, request.name))
        urn, id_, outputs = self._answer(request, "")
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_ if request.custom else "", object=outputs)

    def ReadResource(self, request: Any) -> Any:
        self.read.append(self._copy(request))
        urn, _, outputs = self._answer(request, request.id)
        return resource_pb2.ReadResourceResponse(urn=urn, properties=outputs)

    def RegisterResourceOutputs(self, request: Any) -> Any:
        self.outputs.append(self._copy(request))
        return super().RegisterResourceOutputs(request)


@dataclass
class Captured:
    registered: dict[str, Any] = field(default_factory=dict)   # name, and type::name -> RegisterResourceRequest
    read: dict[str, Any] = field(default_factory=dict)         # name -> ReadResourceRequest
    stack_outputs: dict[str, Any] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)             # type::name in registration order
    raw: CaptureMonitor | None = None

    def props(self, name: str) -> dict[str, Any]:
        req = self.registered.get(name) or self.read[name]
        return json_format.MessageToDict(req.object if hasattr(req, "object") else req.properties)


def capture(program: Any, *, project: str = PROJECT, stack: str = STACK,
            answers: Mapping[str, tuple[str | None, Mapping[str, Any]]] | None = None) -> Captured:
    """Run ``program`` under the capturing monitor. ``answers`` (resource name -> (id, outputs as wire
    JSON)) is what the "engine" answers those registrations with, as a provider would after creating them."""
    monitor = CaptureMonitor(answers)
    run = run_under_mocks(program, project=project, stack=stack, monitor=monitor, timeout=30)
    if run.error is not None:
        raise run.error
    assert not run.timed_out, "the program did not finish"
    out = Captured(raw=monitor)
    for req in monitor.registered:
        if req.type == "pulumi:pulumi:Stack":
            continue
        out.registered[req.name] = req                       # by name (names are unique in most tests)
        out.registered[f"{req.type}::{req.name}"] = req      # and by type and name
        out.order.append(f"{req.type}::{req.name}")
    for req in monitor.read:
        out.read[req.name] = req
    for req in monitor.outputs:
        if req.urn.endswith(f"::pulumi:pulumi:Stack::{project}-{stack}"):
            out.stack_outputs = json_format.MessageToDict(req.outputs)
    return out


def is_wire_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG) == SECRET_SIG
