"""Reading a Terraform/OpenTofu state snapshot (the JSON that ``state pull`` prints and backends store).

Only format version 4 (Terraform >= 0.12, every OpenTofu) is read. What is kept: ``serial``, ``lineage``,
``terraform_version``, the managed and data resource instances (address, type, status such as
``tainted``, deposed objects) and their attributes, with the paths the engine marked sensitive.
:func:`to_deployment` turns a snapshot into the engine-neutral :class:`~rollback.models.Deployment`
(URN = the instance address, sensitive attributes as secrets), so the diff, marks and records code can
treat a Terraform version like a Pulumi checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from rollback.errors import StateError
from rollback.models import Deployment, Resource
from rollback.state.values import SECRET_SIG, SECRET_TEXT, SIG


@dataclass(frozen=True)
class Instance:
    address: str                       # module.app.aws_ecs_service.bot["blue"]
    type: str                          # aws_ecs_service
    mode: str                          # managed | data
    name: str
    module: str = ""
    index_key: Any = None
    status: str = ""                   # "" or "tainted" (a create that failed part-way)
    deposed: str = ""                  # the deposed key of a create_before_destroy leftover
    attributes: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    sensitive_paths: tuple[tuple[Any, ...], ...] = field(default=(), repr=False)
    dependencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class TfState:
    source: str
    format_version: int
    terraform_version: str
    serial: int
    lineage: str
    instances: tuple[Instance, ...] = ()
    outputs: tuple[str, ...] = ()
    sha256: str = ""
    output_values: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)   # sensitive: [secret]

    @property
    def empty(self) -> bool:
        return not self.instances

    @property
    def tainted(self) -> tuple[Instance, ...]:
        return tuple(i for i in self.instances if i.status == "tainted")

    @property
    def deposed(self) -> tuple[Instance, ...]:
        return tuple(i for i in self.instances if i.deposed)

    def managed(self) -> tuple[Instance, ...]:
        return tuple(i for i in self.instances if i.mode == "managed" and not i.deposed)

    def by_address(self) -> dict[str, Instance]:
        return {i.address: i for i in self.instances if not i.deposed}


def _index_text(key: Any) -> str:
    if key is None:
        return ""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"[{key}]"
    return "[" + json.dumps(str(key)) + "]"


def _path(steps: Any) -> tuple[Any, ...]:
    out: list[Any] = []
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, dict):
            out.append(step.get("value"))
    return tuple(out)


def parse_state(data: bytes, *, source: str) -> TfState:
    """Parse a state snapshot; raises :class:`~rollback.errors.StateError` naming ``source``."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StateError(f"{source}: not a Terraform state (invalid JSON)") from exc
    if not isinstance(doc, dict):
        raise StateError(f"{source}: not a Terraform state")
    version = doc.get("version")
    if version != 4:
        raise StateError(f"{source}: unsupported Terraform state format version {version!r} (4 is read)")
    instances: list[Instance] = []
    for res in doc.get("resources") or []:
        if not isinstance(res, dict):
            continue
        mode, rtype, name = str(res.get("mode") or "managed"), str(res.get("type") or ""), str(res.get("name") or "")
        module = str(res.get("module") or "")
        base = ("data." if mode == "data" else "") + f"{rtype}.{name}"
        for inst in res.get("instances") or []:
            if not isinstance(inst, dict):
                continue
            address = (f"{module}." if module else "") + base + _index_text(inst.get("index_key"))
            attrs = inst.get("attributes")
            instances.append(Instance(
                address=address, type=rtype, mode=mode, name=name, module=module,
                index_key=inst.get("index_key"), status=str(inst.get("status") or ""),
                deposed=str(inst.get("deposed") or ""),
                attributes=attrs if isinstance(attrs, dict) else {},
                sensitive_paths=tuple(_path(p) for p in inst.get("sensitive_attributes") or []),
                dependencies=tuple(str(d) for d in inst.get("dependencies") or []),
            ))
    serial = doc.get("serial")
    outputs = doc.get("outputs") if isinstance(doc.get("outputs"), dict) else {}
    values = {str(k): (SECRET_TEXT if o.get("sensitive") else o.get("value"))
              for k, o in sorted(outputs.items()) if isinstance(o, dict)}
    return TfState(source=source, format_version=4, terraform_version=str(doc.get("terraform_version") or ""),
                   serial=serial if isinstance(serial, int) else 0, lineage=str(doc.get("lineage") or ""),
                   instances=tuple(instances), outputs=tuple(sorted(outputs.keys())),
                   sha256=hashlib.sha256(data).hexdigest(), output_values=values)


def same_resources(a: TfState, b: TfState) -> bool:
    """Whether two snapshots hold the same resource instances with the same attributes."""
    ia, ib = a.by_address(), b.by_address()
    if set(ia) != set(ib):
        return False
    return all(ia[k].attributes == ib[k].attributes and ia[k].status == ib[k].status for k in ia)


# ----------------------------------------------------------------------------------------------
# To the engine-neutral model


def _secret(value: Any) -> dict[str, Any]:
    return {SIG: SECRET_SIG, "plaintext": json.dumps(value)}


def _mark(value: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return _secret(value)
    head, rest = path[0], path[1:]
    if isinstance(value, dict) and head in value:
        return {**value, head: _mark(value[head], rest)}
    if isinstance(value, list) and isinstance(head, int) and 0 <= head < len(value):
        return [_mark(v, rest) if i == head else v for i, v in enumerate(value)]
    return value


def _with_secrets(inst: Instance) -> dict[str, Any]:
    attrs: Any = inst.attributes
    for path in inst.sensitive_paths:
        attrs = _mark(attrs, path)
    return attrs


def to_deployment(state: TfState) -> Deployment:
    """The snapshot as an engine-neutral :class:`Deployment`: one :class:`Resource` per managed instance,
    ``urn`` = its address, ``type`` = the Terraform type, attributes as inputs and outputs (sensitive
    paths as secrets whose plaintext only a reveal sees)."""
    resources = []
    for inst in state.managed():
        raw = _with_secrets(inst)
        resources.append(Resource(urn=inst.address, type=inst.type, custom=True,
                                  id=str(inst.attributes.get("id")) if inst.attributes.get("id") is not None else None,
                                  dependencies=inst.dependencies, raw={"inputs": raw, "outputs": raw}))
    return Deployment(source=state.source, version=3, stack="", resources=tuple(resources),
                      has_latest=not state.empty)


__all__ = ["Instance", "TfState", "parse_state", "same_resources", "to_deployment"]
