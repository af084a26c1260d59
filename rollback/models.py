"""The objects every part of infra-rollback speaks in: frozen, engine-neutral where it costs nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any


class Word(str, Enum):
    """A str enum, as Pulumi's automation API writes its wire enums: equal to its value, which it is in JSON
    and in f-strings alike (Python 3.11 would otherwise print ``Op.CREATE``)."""

    def __str__(self) -> str:
        return str(self.value)


class Mark(Word):
    GOOD = "good"
    BAD = "bad"


class Op(Word):
    """What a rollback does to one resource (the four of Pulumi's ``OpType`` a preview names)."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"

    @property
    def destroys(self) -> bool:
        """Deletes or replaces: what loses a data-bearing or protected resource."""
        return self in (Op.DELETE, Op.REPLACE)


class Outcome(Word):
    """How a rollback or guarded deploy ended (``outcome`` in the JSON contract and the audit record)."""

    PENDING = "pending"
    IN_PROGRESS = "in-progress"   # saved before the engine starts; still so in a record = the run was killed
    INTERRUPTED = "interrupted"   # stopped by Ctrl-C or SIGTERM (the engine was asked to stop)
    ROLLED_BACK = "rolled-back"
    DEPLOYED = "deployed"
    UNHEALTHY = "unhealthy"
    UNVERIFIED = "unverified"     # applied, but no health gate could reach what it watches
    FAILED = "failed"
    NOT_CONVERGED = "applied-not-converged"
    REFUSED = "refused"
    NOTHING_TO_DO = "nothing-to-do"
    ROLLBACK_FAILED = "unhealthy; rollback failed"


class WorkloadStatus(Word):
    """One workload or container in the summary: what the rollback does to it."""

    CHANGED = "changed"
    ADDED = "added"
    REMOVED = "removed"
    UNKNOWN = "unknown"       # it may change: a secret that could not be revealed hides the answer


def parse_urn(urn: str) -> tuple[str, str, str, str]:
    """Split a URN into (stack, project, qualified type, name). The name may contain '::' and '$'."""
    body = urn[len("urn:pulumi:"):] if urn.startswith("urn:pulumi:") else urn
    parts = body.split("::", 3)
    while len(parts) < 4:
        parts.append("")
    return parts[0], parts[1], parts[2], parts[3]


def urn_name(urn: str) -> str:
    return parse_urn(urn)[3]


def split_provider_ref(ref: str) -> tuple[str, str]:
    """A provider reference is '<provider urn>::<provider id>': split on the last '::'."""
    urn, _, pid = ref.rpartition("::")
    return (urn, pid) if urn else (ref, "")


@dataclass(frozen=True)
class Resource:
    """One resource of a checkpoint. ``inputs`` and ``outputs`` are decoded (see ``state.values``)
    lazily, from ``raw``, the first time they are asked for: a diff of 5,000 resources that are mostly
    unchanged compares raw JSON and never decodes them."""

    urn: str
    type: str
    custom: bool
    id: str | None = None
    parent: str | None = None
    provider: str | None = None
    protect: bool = False
    external: bool = False
    delete: bool = False
    pending_replacement: bool = False
    retain_on_delete: bool = False
    dependencies: tuple[str, ...] = ()
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    additional_secret_outputs: tuple[str, ...] = ()
    ignore_changes: tuple[str, ...] = ()
    replace_on_changes: tuple[str, ...] = ()
    custom_timeouts: dict[str, float] = field(default_factory=dict)
    deleted_with: str | None = None
    aliases: tuple[str, ...] = ()
    import_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def inputs(self) -> dict[str, Any]:
        from rollback.state.values import decode

        return decode(self.raw.get("inputs") or {})

    @cached_property
    def outputs(self) -> dict[str, Any]:
        from rollback.state.values import decode

        return decode(self.raw.get("outputs") or {})

    @property
    def name(self) -> str:
        return urn_name(self.urn)

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")

    @property
    def is_stack(self) -> bool:
        return self.type == "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class Deployment:
    """The content of one checkpoint (a stack file, a history checkpoint or an export)."""

    source: str                       # where it was read from, for messages
    version: int                      # envelope version (3 or 4)
    features: tuple[str, ...] = ()
    stack: str = ""                   # e.g. organization/omniserve/prod, when the envelope says
    resources: tuple[Resource, ...] = ()
    pending_operations: tuple[dict[str, Any], ...] = ()
    secrets_provider: dict[str, Any] | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    has_latest: bool = True           # False for a stack that was never deployed
    migrated_from: int | None = None  # 0, 1 or 2: read through Pulumi's own up-migration to v3

    def live_resources(self) -> list[Resource]:
        """Resources that are part of the desired state (not pending deletion)."""
        return [r for r in self.resources if not r.delete]

    def by_urn(self) -> dict[str, Resource]:
        """Live resources by URN (a pending-delete duplicate never hides the live one)."""
        return {r.urn: r for r in self.resources if not r.delete}

    def root_stack(self) -> Resource | None:
        return next((r for r in self.resources if r.is_stack and not r.delete), None)

    @property
    def project(self) -> str:
        """The project, from the checkpoint's stack name or else its resources' URNs ('' if neither says)."""
        if self.stack.count("/") == 2:
            return self.stack.split("/")[1]
        for r in self.resources:
            project = parse_urn(r.urn)[1]
            if project:
                return project
        return ""



@dataclass(frozen=True)
class StackRef:
    project: str
    name: str

    def __str__(self) -> str:
        return f"{self.project}/{self.name}" if self.project else self.name


@dataclass(frozen=True)
class Version:
    """One entry of a stack's history, numbered from 1 (oldest)."""

    number: int
    kind: str
    result: str
    start_time: int | None
    end_time: int | None
    message: str
    environment: dict[str, str]
    config: dict[str, Any]
    resource_changes: dict[str, int]
    has_checkpoint: bool
    key: str                          # backend handle (DIY: the <unixnano> of the file names)
    mark: Mark | None = None
    mark_reason: str = ""

    @property
    def git_head(self) -> str | None:
        return self.environment.get("git.head") or None

    @property
    def git_dirty(self) -> bool | None:
        value = self.environment.get("git.dirty")
        return None if value is None else value == "true"

    @property
    def succeeded(self) -> bool:
        return self.result == "succeeded"

    @property
    def label(self) -> str:
        return f"v{self.number}"
