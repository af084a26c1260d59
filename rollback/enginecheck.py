"""The engine's own plan, held against our prediction: the engine decides, our diff predicts.

Before anything is applied the engine previews the replay (with a saved plan, which ``up`` then applies).
:func:`steps_from_events` reads its per-resource steps from the engine's events; :func:`check` compares them,
resource by resource, with the diff the person was shown:

* the engine does something destructive we did not predict (a create, delete, replace or read-replacement:
  a provider replaced because its config changed, a renamed resource re-created, another update that landed
  since our read) -> a refusal naming the resource: nothing is applied;
* the engine changes *less* than predicted (``ignoreChanges``, a provider that normalises a value) -> "will
  not be restored", shown and written into the audit record;
* any other difference (an update we did not predict: a perpetual diff) -> shown.

The data-loss and protect guards run on the engine's steps too, whatever we predicted.

Engine-neutral: a step is a URN (or address), a type and an op in Pulumi's words (``same``, ``create``,
``update``, ``replace``, ``delete``, ``read``, ``read-replacement``, ...); a Terraform plan's actions map onto
the same words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollback.models import urn_name
from rollback.rules import is_data_bearing

# How the engine's step ops read per resource: the three steps of a replacement are one replace.
_NORMAL = {
    "create-replacement": "replace", "delete-replaced": "replace", "replace": "replace",
    "discard-replaced": "replace", "import-replacement": "replace",
    "read-replacement": "read-replacement", "read-discard": "read-replacement",
    "refresh": "same", "remove-pending-replace": "same",
}
# When one resource has several steps, the strongest names it.
_STRENGTH = {"same": 0, "read": 1, "refresh": 1, "import": 2, "update": 3, "create": 4, "discard": 5, "delete": 5,
             "replace": 6, "read-replacement": 6}
DESTRUCTIVE = frozenset({"create", "delete", "replace", "read-replacement"})
DESTROYS = frozenset({"delete", "replace", "read-replacement", "discard"})
_WORDS = {"same": "leave it as it is", "update": "update it", "create": "create it", "replace": "replace it",
          "delete": "delete it", "read": "read it", "read-replacement": "replace it with a read",
          "discard": "drop it from the state", "import": "import it"}


@dataclass(frozen=True)
class EngineStep:
    """What the engine will do to one resource."""

    urn: str
    type: str
    op: str                                  # normalised: same, create, update, replace, delete, read, ...
    keys: tuple[str, ...] = ()               # what forces a replacement
    diffs: tuple[str, ...] = ()              # what changes

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"urn": self.urn, "type": self.type, "op": self.op}
        if self.keys:
            d["replace_keys"] = list(self.keys)
        if self.diffs:
            d["changed"] = list(self.diffs)
        return d


def _op(value: Any) -> str:
    text = str(getattr(value, "value", value) or "")
    return _NORMAL.get(text, text)


def steps_from_events(events: Iterable[Any]) -> list[EngineStep]:
    """The engine's steps, one per resource, from its events (``resourcePreEvent`` metadata), in order."""
    found: dict[str, EngineStep] = {}
    for event in events:
        pre = getattr(event, "resource_pre_event", None)
        meta = getattr(pre, "metadata", None) if pre is not None else None
        if meta is None or not getattr(meta, "urn", None):
            continue
        op = _op(meta.op)
        keys = tuple(getattr(meta, "keys", None) or ())
        diffs = tuple(getattr(meta, "diffs", None) or ())
        seen = found.get(meta.urn)
        if seen is None or _STRENGTH.get(op, 3) > _STRENGTH.get(seen.op, 3):
            found[meta.urn] = EngineStep(meta.urn, str(meta.type), op, keys or (seen.keys if seen else ()),
                                         diffs or (seen.diffs if seen else ()))
    return list(found.values())


@dataclass
class EngineCheck:
    """The engine's plan compared with ours (``"engine"`` in the JSON contract)."""

    ran: bool
    steps: list[dict[str, Any]] = field(default_factory=list)       # {urn, type, op, predicted_op}
    disagreements: list[str] = field(default_factory=list)
    not_restored: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    note: str = ""                                                  # why it did not run

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ran": self.ran, "steps": self.steps, "disagreements": self.disagreements,
                             "not_restored": self.not_restored}
        if self.note:
            d["note"] = self.note
        return d

    @classmethod
    def did_not_run(cls, why: str) -> EngineCheck:
        return cls(ran=False, note=why)


@dataclass(frozen=True)
class Predicted:
    """What our diff said about one resource (op ``same`` for the resources it did not list)."""

    op: str
    type: str
    data_bearing: bool = False
    protected: bool = False


@dataclass(frozen=True)
class Facts:
    """What the current state says of a resource the engine may destroy."""

    data_bearing: bool = False
    protected: bool = False


def check(steps: Iterable[EngineStep], predicted: Mapping[str, Predicted], *, current: Mapping[str, Facts],
          allow_data_loss: bool, ignore_types: Iterable[str] = ("pulumi:pulumi:Stack",)) -> EngineCheck:
    """Compare the engine's ``steps`` with ``predicted`` (URN -> what our diff said; absent: no change).

    ``current``: URN -> facts of the resources in the current state. Refusals: every destructive surprise,
    every step that would delete or replace a data-bearing resource (unless ``allow_data_loss``), every step
    that would delete or replace a protected one.
    """
    ignored = set(ignore_types)
    out = EngineCheck(ran=True)
    seen: set[str] = set()
    for step in steps:
        if step.type in ignored:
            continue
        seen.add(step.urn)
        guess = predicted.get(step.urn)
        guess_op = guess.op if guess is not None else "same"
        out.steps.append({"urn": step.urn, "type": step.type, "op": step.op, "predicted_op": guess_op,
                          **({"replace_keys": list(step.keys)} if step.keys else {})})
        _compare(out, step, guess_op)
        facts = current.get(step.urn, Facts())
        _guard(out, step, data_bearing=facts.data_bearing or is_data_bearing(step.type) or bool(guess and guess.data_bearing),
               protected=facts.protected, allow_data_loss=allow_data_loss)
    for urn, guess in predicted.items():
        if urn not in seen and guess.op != "same" and guess.type not in ignored:
            # Predicted a change the engine does not make: it stays as it is now.
            out.steps.append({"urn": urn, "type": guess.type, "op": "same", "predicted_op": guess.op})
            out.not_restored.append(f"{guess.type} {urn_name(urn)}: the engine will leave it as it is now "
                                    f"(we predicted: {guess.op})")
    return out


def _compare(out: EngineCheck, step: EngineStep, guess: str) -> None:
    if step.op == guess or (step.op == "read" and guess == "same"):   # a read changes nothing
        return
    what = f"{step.type} {urn_name(step.urn)}"
    why = f" ({', '.join(step.keys)} changed)" if step.keys else ""
    line = f"the engine will {_WORDS.get(step.op, step.op)}{why}: {what} (we predicted: {_WORDS.get(guess, guess)})"
    out.disagreements.append(line)
    if step.op in DESTRUCTIVE:
        out.refusals.append(f"the engine would {step.op} {step.urn}{why}, which the preview did not show "
                            f"(we predicted: {guess}); nothing was applied")
    elif step.op in ("same", "read") and guess not in ("same", "read"):
        out.not_restored.append(f"{what}: the engine will {_WORDS.get(step.op, step.op)} (we predicted: {guess}); "
                                f"what differs will not be restored")


def _guard(out: EngineCheck, step: EngineStep, *, data_bearing: bool, protected: bool, allow_data_loss: bool) -> None:
    if step.op not in DESTROYS:
        return
    if data_bearing and not allow_data_loss:
        out.refusals.append(f"DATA LOSS: the engine would {step.op} data-bearing {step.type} {step.urn} (pass "
                            f"--allow-data-loss to allow it)")
    if protected:
        out.refusals.append(f"the engine would {step.op} protected resource {step.urn} (unprotect it first: "
                            f"`pulumi state unprotect '{step.urn}'`)")


def dedupe(lines: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(lines))
