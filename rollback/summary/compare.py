"""Comparing a workload now and in the target, container by container: the summary itself."""

from __future__ import annotations

from typing import Any

from rollback.models import Deployment, Resource, WorkloadStatus, same_inputs, urn_name
from rollback.state.secrets import SecretBox
from rollback.state.values import SECRET_TEXT
from rollback.summary.model import EnvChange, FieldChange, WorkloadChange
from rollback.summary.values import Unknown, as_text, is_secret, reveal_all, same
from rollback.summary.workloads import Container, Env, Workload, extractor


class _Compare:
    def __init__(self) -> None:
        self.notes: list[str] = []

    def field(self, name: str, a: Any, b: Any, *, quantity: bool = False) -> FieldChange | None:
        if a is None and b is None:
            return None
        try:
            if a is not None and b is not None and same(a, b, quantity=quantity):
                return None
        except Unknown as exc:
            self.notes.append(f"{name} is secret and could not be compared: {exc.reason}")
            return None
        return FieldChange(name, as_text(a), as_text(b), is_secret(a) or is_secret(b))

    def env(self, a: dict[str, Env], b: dict[str, Env]) -> list[EnvChange]:
        out: list[EnvChange] = []
        for name in list(a) + [n for n in b if n not in a]:
            ea, eb = a.get(name), b.get(name)
            if ea is None and eb is not None:
                out.append(EnvChange(name, "added", None, eb.display, eb.secret, after_json=eb.json))
            elif eb is None and ea is not None:
                out.append(EnvChange(name, "removed", ea.display, None, ea.secret, before_json=ea.json))
            elif ea is not None and eb is not None:
                try:
                    if same(ea.value, eb.value):
                        continue
                except Unknown as exc:
                    self.notes.append(f"env {name} is secret and could not be compared: {exc.reason}")
                    continue
                secret = ea.secret or eb.secret
                out.append(EnvChange(name, "changed", SECRET_TEXT if secret else ea.display,
                                     SECRET_TEXT if secret else eb.display, secret,
                                     before_json=SECRET_TEXT if secret else ea.json,
                                     after_json=SECRET_TEXT if secret else eb.json))
        return out

    def other(self, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
        """Keys of the container's other settings that differ."""
        out = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(key)
                continue
            try:
                if not same(a[key], b[key]):
                    out.append(key)
            except Unknown as exc:
                self.notes.append(f"{key} is secret and could not be compared: {exc.reason}")
        return out


def _container_fields(cmp: _Compare, a: Container | None, b: Container | None,
                      quantity_fields: frozenset[str]) -> list[FieldChange]:
    fields: list[FieldChange] = []
    fc = cmp.field("image", a.image if a else None, b.image if b else None)
    if fc:
        fields.append(fc)
    names = list((a.limits if a else None) or {}) + [n for n in ((b.limits if b else None) or {})
                                                     if n not in ((a.limits if a else None) or {})]
    for n in names:
        fc = cmp.field(n, ((a.limits if a else None) or {}).get(n), ((b.limits if b else None) or {}).get(n),
                       quantity=n in quantity_fields)
        if fc:
            fields.append(fc)
    return fields


def _compare(res_now: Resource | None, res_then: Resource | None, now: Workload | None,
             then: Workload | None) -> list[WorkloadChange]:
    res = res_then or res_now
    w = then or now
    assert res is not None and w is not None

    def change(**kw: Any) -> WorkloadChange:
        return WorkloadChange(urn=res.urn, type=res.type, kind=w.kind, name=urn_name(res.urn), **kw)

    cmp = _Compare()
    if now is None or then is None:
        return _whole(cmp, change, w, added=now is None)
    containers = _containers(cmp, change, now, then)
    scalars = [fc for n in list(now.scalars) + [k for k in then.scalars if k not in now.scalars]
               if (fc := cmp.field(n, now.scalars.get(n), then.scalars.get(n))) is not None]
    notes = list(dict.fromkeys(then.unread + now.unread + cmp.notes))
    if containers or scalars:
        notes += [n for n in then.info if n not in notes]
    out = []
    if scalars or notes:
        out.append(change(container=None, status=WorkloadStatus.CHANGED, fields=tuple(scalars),
                          notes=tuple(notes)))
    return out + containers


def _whole(cmp: _Compare, change: Any, w: Workload, *, added: bool) -> list[WorkloadChange]:
    """A workload only in the target (re-created, with its containers) or only now (deleted)."""
    if not added:
        return [change(container=None, status=WorkloadStatus.REMOVED, notes=())]
    out = [change(container=None, status=WorkloadStatus.ADDED, notes=tuple(w.unread))]
    for c in w.containers:
        out.append(change(container=_label_name(c), status=WorkloadStatus.ADDED,
                          fields=tuple(_container_fields(cmp, None, c, w.quantity_fields)),
                          notes=_env_count(c) + tuple(c.notes)))
    return out


def _containers(cmp: _Compare, change: Any, now: Workload, then: Workload) -> list[WorkloadChange]:
    """Container by container (matched by name): added, removed, changed, or unknown (secrets)."""
    out: list[WorkloadChange] = []
    by_key_now = {c.key: c for c in now.containers}
    by_key_then = {c.key: c for c in then.containers}
    for key in list(by_key_now) + [k for k in by_key_then if k not in by_key_now]:
        a, b = by_key_now.get(key), by_key_then.get(key)
        if a is None:
            assert b is not None
            out.append(change(container=_label_name(b), status=WorkloadStatus.ADDED,
                              fields=tuple(_container_fields(cmp, None, b, then.quantity_fields)),
                              notes=_env_count(b) + tuple(b.notes)))
            continue
        if b is None:
            image = cmp.field("image", a.image, None)
            out.append(change(container=_label_name(a), status=WorkloadStatus.REMOVED,
                              fields=(image,) if image else ()))
            continue
        fields = _container_fields(cmp, a, b, then.quantity_fields)
        env = cmp.env(a.env, b.env)
        other = cmp.other(a.rest, b.rest)
        unknown = list(cmp.notes)
        cmp.notes.clear()
        if fields or env or other:
            notes = unknown + b.notes + ([f"other settings change: {', '.join(other)}"] if other else [])
            out.append(change(container=_label_name(b), status=WorkloadStatus.CHANGED, fields=tuple(fields),
                              env=tuple(env), notes=tuple(dict.fromkeys(notes))))
        elif unknown:
            out.append(change(container=_label_name(b), status=WorkloadStatus.UNKNOWN,
                              notes=tuple(dict.fromkeys(unknown))))
    return out


def _env_count(c: Container) -> tuple[str, ...]:
    return (f"{len(c.env)} env var(s)",) if c.env else ()


def _label_name(c: Container) -> str:
    """The container name as shown ('bot', 'init container migrate', '#0')."""
    if c.label.startswith('container "'):
        return c.label[len('container "'):-1]
    if c.label.startswith('init container "'):
        return "init:" + c.label[len('init container "'):-1]
    return c.label.replace("container ", "")


def workload_summary(current: Deployment, target: Deployment, *, current_secrets: SecretBox,
                     target_secrets: SecretBox) -> list[WorkloadChange]:
    """Per workload and container, what rolling ``current`` back to ``target`` changes."""
    cur = current.by_urn()
    tgt = target.by_urn()
    out: list[WorkloadChange] = []
    for urn in list(cur) + [u for u in tgt if u not in cur]:
        now, then = cur.get(urn), tgt.get(urn)
        res = then or now
        assert res is not None
        extract = extractor(res)
        if extract is None:
            continue
        if now is not None and then is not None:
            if now.type != then.type:
                continue
            if same_inputs(now, then):
                continue
        wn = extract(now, reveal_all(now.inputs, current_secrets)) if now is not None else None
        wt = extract(then, reveal_all(then.inputs, target_secrets)) if then is not None else None
        if wn is None and wt is None:
            continue
        out.extend(_compare(now, then, wn, wt))
    return out
