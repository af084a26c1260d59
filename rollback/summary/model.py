"""The workload summary's result types (the ``summary.workloads`` of the JSON contract)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rollback.models import WorkloadStatus


@dataclass(frozen=True)
class FieldChange:
    field: str                 # "image", "memory limit", "cpu request", "replicas", "desiredCount", ...
    before: str | None         # display text (None: unset / absent)
    after: str | None
    secret: bool = False       # before/after came from a secret: shown as [secret]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"field": self.field, "before": self.before, "after": self.after}
        if self.secret:
            d["secret"] = True
        return d


@dataclass(frozen=True)
class EnvChange:
    name: str
    op: str                    # added | removed | changed
    before: str | None         # display: a JSON-quoted value, a reference, or [secret]
    after: str | None
    secret: bool = False
    before_json: str | None = None   # for JSON: a literal value as it is (not quoted again); else the display
    after_json: str | None = None

    def to_dict(self) -> dict[str, Any]:
        before = self.before_json if self.before_json is not None else self.before
        after = self.after_json if self.after_json is not None else self.after
        d: dict[str, Any] = {"name": self.name, "op": self.op, "before": before, "after": after}
        if self.secret:
            d["secret"] = True
        return d


@dataclass(frozen=True)
class WorkloadChange:
    """One container (or, with ``container=None``, the workload itself) that the rollback changes."""

    urn: str
    type: str
    kind: str                  # what a person calls it: "Deployment", "ECS task definition", ...
    name: str                  # the resource's logical name (from the URN)
    container: str | None      # None: workload-level (replicas, desiredCount, task size, created/deleted)
    status: WorkloadStatus
    fields: tuple[FieldChange, ...] = ()
    env: tuple[EnvChange, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def secret(self) -> bool:
        return any(f.secret for f in self.fields) or any(e.secret for e in self.env)

    def to_dict(self) -> dict[str, Any]:
        return {
            "urn": self.urn, "type": self.type, "kind": self.kind, "name": self.name,
            "container": self.container, "status": self.status,
            "fields": [f.to_dict() for f in self.fields], "env": [e.to_dict() for e in self.env],
            "notes": list(self.notes),
        }


def workloads_to_dicts(changes: Sequence[WorkloadChange]) -> list[dict[str, Any]]:
    return [c.to_dict() for c in changes]
