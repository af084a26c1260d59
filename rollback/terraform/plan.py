"""The engine's plan (``show -json PLANFILE``), read into what the preview and the guards need.

The plan is the authority: each ``resource_changes`` entry says what the apply will do to one resource
instance (``create``, ``update``, ``replace`` (delete+create in either order), ``delete``, ``no-op``,
``read``), and why a replace happens (``action_reason``, ``replace_paths``). Values that the engine marks
sensitive (``before_sensitive`` / ``after_sensitive``) are replaced by ``[secret]`` when read here; values
known only after apply show as ``(known after apply)``. The plan JSON itself holds sensitive values in
clear: it is parsed in memory and never written out.

:func:`guard_reasons` runs the guards on the plan's actions: a delete or replace of a data-bearing
resource (:func:`rollback.rules.is_data_bearing`, which knows the Terraform ``aws_*`` names too) refuses
unless allowed. ``prevent_destroy`` and a held state lock stop the engine's own plan and are raised by
:mod:`rollback.terraform.engine`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rollback.rules import is_data_bearing
from rollback.state.values import SECRET_TEXT
from rollback.terraform.state import Instance, TfState

UNKNOWN_TEXT = "(known after apply)"


class _Hidden:
    """A sensitive value: prints ``[secret]``."""

    def __repr__(self) -> str:
        return SECRET_TEXT

    __str__ = __repr__


HIDDEN = _Hidden()


class _Unknown:
    def __repr__(self) -> str:
        return UNKNOWN_TEXT

    __str__ = __repr__


UNKNOWN = _Unknown()


def mask(value: Any, sensitive: Any, unknown: Any = None) -> Any:
    """``value`` with every sensitive part as :data:`HIDDEN` and every unknown part as :data:`UNKNOWN`
    (``sensitive``/``unknown`` are the plan's parallel trees of booleans)."""
    if sensitive is True:
        return HIDDEN
    if unknown is True:
        return UNKNOWN
    if isinstance(value, dict):
        s = sensitive if isinstance(sensitive, dict) else {}
        u = unknown if isinstance(unknown, dict) else {}
        out = {k: mask(v, s.get(k), u.get(k)) for k, v in value.items()}
        for k, flag in u.items():
            if flag is True and k not in out:
                out[k] = UNKNOWN
        return out
    if isinstance(value, list):
        s_list = sensitive if isinstance(sensitive, list) else []
        u_list = unknown if isinstance(unknown, list) else []
        return [mask(v, s_list[i] if i < len(s_list) else None, u_list[i] if i < len(u_list) else None)
                for i, v in enumerate(value)]
    return value


def display(value: Any) -> Any:
    """A JSON-safe view of a masked value."""
    if value is HIDDEN:
        return SECRET_TEXT
    if value is UNKNOWN:
        return UNKNOWN_TEXT
    if isinstance(value, dict):
        return {k: display(v) for k, v in value.items()}
    if isinstance(value, list):
        return [display(v) for v in value]
    return value


def contains_hidden(value: Any) -> bool:
    if value is HIDDEN:
        return True
    if isinstance(value, dict):
        return any(contains_hidden(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_hidden(v) for v in value)
    return False


@dataclass(frozen=True)
class AttributeChange:
    path: str
    before: Any                  # display values ([secret], (known after apply), None when absent)
    after: Any
    secret: bool = False
    forces_replacement: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "before": self.before, "after": self.after}
        if self.secret:
            d["secret"] = True
        if self.forces_replacement:
            d["forces_replacement"] = True
        return d


@dataclass(frozen=True)
class PlannedChange:
    address: str
    type: str
    name: str
    mode: str
    actions: tuple[str, ...]
    before: Any = field(default=None, repr=False)     # masked (secrets hidden)
    after: Any = field(default=None, repr=False)
    action_reason: str = ""
    replace_paths: tuple[tuple[Any, ...], ...] = ()
    module: str = ""
    index: Any = None
    deposed: str = ""

    @property
    def op(self) -> str:
        """``create | update | replace | delete | no-op | read | forget`` (the vocabulary of our diff)."""
        acts = set(self.actions)
        if {"delete", "create"} <= acts:
            return "replace"
        if len(self.actions) == 1:
            return self.actions[0]
        return "+".join(self.actions)

    @property
    def changes_something(self) -> bool:
        return self.op not in ("no-op", "read")

    @property
    def drifted(self) -> bool:
        """A drift entry that changed something a person would see (not a provider's normalisation)."""
        return self.changes_something and bool(self.attribute_changes())

    @property
    def data_bearing(self) -> bool:
        return self.mode == "managed" and is_data_bearing(self.type)

    @property
    def loses_data(self) -> bool:
        return self.data_bearing and self.op in ("delete", "replace")

    @property
    def short_name(self) -> str:
        """The address without the type: ``bot``, ``module.app.bot["blue"]`` (what a person calls it)."""
        prefix = f"{self.module}." if self.module else ""
        idx = "" if self.index is None else f"[{json.dumps(self.index)}]"
        return f"{prefix}{self.name}{idx}"

    def attribute_changes(self) -> tuple[AttributeChange, ...]:
        """Top-level attributes that differ between before and after (after a replace: all that differ)."""
        before = self.before if isinstance(self.before, dict) else {}
        after = self.after if isinstance(self.after, dict) else {}
        forcing = {p[0] for p in self.replace_paths if p}
        out = []
        for key in sorted(set(before) | set(after)):
            b, a = before.get(key), after.get(key)
            if _equal(b, a):
                continue
            if normalized({"v": b}) == {} and normalized({"v": a}) == {}:
                continue
            secret = contains_hidden(b) or contains_hidden(a)
            out.append(AttributeChange(path=key, before=display(b), after=display(a), secret=secret,
                                       forces_replacement=key in forcing))
        return tuple(out)

    @property
    def urn(self) -> str:
        """What the engine-neutral documents call the resource: its address (a deposed object: with its key)."""
        return f"{self.address} (deposed {self.deposed})" if self.deposed else self.address

    @property
    def replace_reason(self) -> str:
        paths = ", ".join(".".join(str(s) for s in p) for p in self.replace_paths)
        return (f"{paths} forces replacement" if paths else self.action_reason.replace("_", " ") or "replace")

    def to_dict(self) -> dict[str, Any]:
        """The engine-neutral shape of a change (``changes[]`` of the preview and diff documents, docs/cli.md)."""
        d: dict[str, Any] = {"urn": self.urn, "type": self.type, "op": self.op,
                             "properties": [c.to_dict() for c in self.attribute_changes()],
                             "data_bearing": self.data_bearing, "protected": False}
        if self.op == "replace":
            d["replace_reason"] = self.replace_reason
        return d

    def data_loss(self) -> dict[str, Any]:
        """``summary.data_loss[]``: ``{urn, type, op, reason}``."""
        reason = self.replace_reason if self.op == "replace" else "not in the target"
        return {"urn": self.urn, "type": self.type, "op": self.op, "reason": reason}


def _equal(a: Any, b: Any) -> bool:
    if a is HIDDEN or b is HIDDEN:
        return False
    return bool(normalized(a) == normalized(b))


_EMPTY: tuple[Any, ...] = (None, [], {}, "")


def normalized(value: Any) -> Any:
    """``value`` with empty attributes (null, ``[]``, ``{}``, ``""``) left out of objects: providers write an
    unset attribute as any of them, from one apply or refresh to the next, and none of them is a change."""
    if isinstance(value, dict):
        out = {k: normalized(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if not any(v is e or (v == e and type(v) is type(e)) for e in _EMPTY)}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


@dataclass(frozen=True)
class TfPlan:
    """The parts of a plan document the rollback uses."""

    terraform_version: str
    changes: tuple[PlannedChange, ...]
    drift: tuple[PlannedChange, ...] = ()
    errored: bool = False
    variables: tuple[str, ...] = ()
    sensitive_variables: tuple[str, ...] = ()

    @property
    def effective(self) -> tuple[PlannedChange, ...]:
        """The changes an apply makes (no-ops and reads left out)."""
        return tuple(c for c in self.changes if c.changes_something)

    def counts(self) -> dict[str, int]:
        counts = {op: 0 for op in ("create", "update", "replace", "delete")}
        for c in self.effective:
            counts[c.op] = counts.get(c.op, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"changes": [c.to_dict() for c in self.effective], "counts": self.counts(),
                "drift": [c.to_dict() for c in self.drift if c.drifted],
                "terraform_version": self.terraform_version}


def _planned(rc: Mapping[str, Any]) -> PlannedChange:
    change = rc.get("change") if isinstance(rc.get("change"), dict) else {}
    before = mask(change.get("before"), change.get("before_sensitive"))
    after = mask(change.get("after"), change.get("after_sensitive"), change.get("after_unknown"))
    return PlannedChange(
        address=str(rc.get("address") or ""), type=str(rc.get("type") or ""), name=str(rc.get("name") or ""),
        mode=str(rc.get("mode") or "managed"), actions=tuple(str(a) for a in change.get("actions") or ()),
        before=before, after=after, action_reason=str(rc.get("action_reason") or ""),
        replace_paths=tuple(tuple(p) for p in change.get("replace_paths") or () if isinstance(p, list)),
        module=str(rc.get("module_address") or ""), index=rc.get("index"), deposed=str(rc.get("deposed") or ""))


def read_plan(doc: Mapping[str, Any]) -> TfPlan:
    """A :class:`TfPlan` from the ``show -json PLANFILE`` document (sensitive values masked on the way in)."""
    config_vars = (((doc.get("configuration") or {}).get("root_module") or {}).get("variables") or {})
    sensitive = tuple(sorted(k for k, v in config_vars.items() if isinstance(v, dict) and v.get("sensitive")))
    return TfPlan(
        terraform_version=str(doc.get("terraform_version") or ""),
        changes=tuple(_planned(rc) for rc in doc.get("resource_changes") or () if isinstance(rc, dict)),
        drift=tuple(_planned(rc) for rc in doc.get("resource_drift") or () if isinstance(rc, dict)),
        errored=bool(doc.get("errored")),
        variables=tuple(sorted((doc.get("variables") or {}).keys())),
        sensitive_variables=sensitive,
    )


def plan_variables(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Every root variable's value as the plan used it (sensitive ones in clear: keep in memory, seal them)."""
    out: dict[str, Any] = {}
    for name, entry in (doc.get("variables") or {}).items():
        if isinstance(entry, dict) and "value" in entry:
            out[str(name)] = entry["value"]
    return out


def guard_reasons(plan: TfPlan, *, allow_data_loss: bool) -> tuple[list[str], list[str]]:
    """(reasons that refuse the rollback, notes of what a flag allowed), from the plan's actions."""
    reasons: list[str] = []
    notes: list[str] = []
    for c in plan.effective:
        if c.loses_data:
            text = f"{c.op} data-bearing {c.type} {c.urn}"
            if c.op == "replace" and c.replace_paths:
                text += f" ({c.replace_reason})"
            if allow_data_loss:
                notes.append(f"allowed by --allow-data-loss: will {text}")
            else:
                reasons.append(f"DATA LOSS: would {text} (pass --allow-data-loss to allow it)")
    if plan.errored:
        reasons.append("the engine's plan is marked errored: it is incomplete")
    return reasons, notes


def _hide(value: Any, path: tuple[Any, ...]) -> Any:
    """``value`` with the part at ``path`` (a sensitive path of the state) as :data:`HIDDEN`."""
    if not path:
        return HIDDEN
    head, rest = path[0], path[1:]
    if isinstance(value, dict) and head in value:
        return {**value, head: _hide(value[head], rest)}
    if isinstance(value, list) and isinstance(head, int) and 0 <= head < len(value):
        return [_hide(v, rest) if i == head else v for i, v in enumerate(value)]
    return value


def masked_attributes(inst: Instance) -> Any:
    """An instance's attributes with every sensitive part :data:`HIDDEN`."""
    attrs: Any = inst.attributes
    for path in inst.sensitive_paths:
        attrs = _hide(attrs, path)
    return attrs


def state_changes(before: TfState, after: TfState) -> TfPlan:
    """What differs between two recorded states, resource by resource, read as a plan from ``before`` to
    ``after`` (the prediction a rollback's preview holds against the engine's plan, and ``diff``).

    A state records results, not intentions: an instance only in ``after`` is a ``create``, only in ``before``
    a ``delete``, in both with other attributes an ``update`` (a state diff cannot tell a replacement from an
    update; the engine's plan can), else a ``no-op``. Sensitive attributes are :data:`HIDDEN`."""
    a = {i.address: i for i in before.managed()}
    b = {i.address: i for i in after.managed()}
    changes = []
    for address in list(a) + [x for x in b if x not in a]:
        old, new = a.get(address), b.get(address)
        inst = new or old
        assert inst is not None
        if old is None:
            actions: tuple[str, ...] = ("create",)
        elif new is None:
            actions = ("delete",)
        else:
            same = normalized(old.attributes) == normalized(new.attributes) and old.status == new.status
            actions = ("no-op",) if same else ("update",)
        changes.append(PlannedChange(
            address=address, type=inst.type, name=inst.name, mode="managed", actions=actions,
            before=masked_attributes(old) if old is not None else None,
            after=masked_attributes(new) if new is not None else None,
            module=inst.module, index=inst.index_key))
    return TfPlan(terraform_version=after.terraform_version, changes=tuple(changes))


__all__ = [
    "AttributeChange", "HIDDEN", "PlannedChange", "TfPlan", "UNKNOWN", "display", "guard_reasons", "mask",
    "masked_attributes", "plan_variables", "read_plan", "state_changes",
]
