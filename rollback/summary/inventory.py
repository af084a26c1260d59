"""What one version ran: its workloads and containers (image, limits, env), read from one checkpoint.

The history table's IMAGE column and ``infra-rollback show`` read it. Nothing is decrypted: a value that
is secret in the state shows as ``[secret]``.
"""

from __future__ import annotations

from typing import Any

from rollback.models import Deployment, urn_name
from rollback.state.values import SECRET_TEXT, Secret
from rollback.summary.values import Opaque, as_text
from rollback.summary.workloads import Workload, extractor


def _conceal(v: Any) -> Any:
    """Every secret as an :class:`Opaque` leaf (shown as ``[secret]``, never read)."""
    if isinstance(v, Secret):
        return Opaque("not decrypted")
    if isinstance(v, dict):
        return {k: _conceal(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_conceal(x) for x in v]
    return v


def _workloads(dep: Deployment) -> list[tuple[str, str, Workload]]:
    out = []
    for res in dep.live_resources():
        extract = extractor(res)
        if extract is None:
            continue
        w = extract(res, _conceal(res.inputs))
        if w is not None:
            out.append((res.type, urn_name(res.urn), w))
    return out


def images(dep: Deployment) -> list[str]:
    """The images of every container, in the checkpoint's order (secret ones left out)."""
    out = []
    for _, _, w in _workloads(dep):
        for c in w.containers:
            text = as_text(c.image)
            if text and text != SECRET_TEXT:
                out.append(text)
    return out


def inventory(dep: Deployment) -> list[dict[str, Any]]:
    """Per workload (its own fields) and per container (image, limits, env): ``{kind, name, container,
    fields: [{field, value}], env: [{name, value}]}``."""
    out: list[dict[str, Any]] = []
    for _type, name, w in _workloads(dep):
        scalars = [{"field": k, "value": as_text(v)} for k, v in w.scalars.items() if v is not None]
        if scalars or not w.containers:
            out.append({"type": _type, "kind": w.kind, "name": name, "container": None, "fields": scalars,
                        "env": [], "notes": list(w.unread)})
        for c in w.containers:
            fields = [{"field": "image", "value": as_text(c.image)}] if c.image is not None else []
            fields += [{"field": k, "value": as_text(v)} for k, v in c.limits.items() if v is not None]
            env = [{"name": k, "value": e.json, "shown": e.display} for k, e in c.env.items()]
            label = c.label
            container = label[len('container "'):-1] if label.startswith('container "') else label
            out.append({"type": _type, "kind": w.kind, "name": name, "container": container, "fields": fields,
                        "env": env, "notes": list(c.notes)})
    return out
