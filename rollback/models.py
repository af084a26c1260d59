"""The objects every part of infra-rollback speaks in: frozen, engine-neutral where it costs nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
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


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _property_dependencies(raw: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    pdeps = raw.get("propertyDependencies") or {}
    return {k: _strs(v) for k, v in pdeps.items()} if isinstance(pdeps, dict) else {}


def _custom_timeouts(raw: dict[str, Any]) -> dict[str, float]:
    timeouts = raw.get("customTimeouts") or {}
    return {k: float(v) for k, v in timeouts.items() if isinstance(v, (int, float))} \
        if isinstance(timeouts, dict) else {}


# What a resource read from state derives from its raw JSON only when asked (most never are).
_DERIVED: dict[str, Callable[[dict[str, Any]], Any]] = {
    "dependencies": lambda raw: _strs(raw.get("dependencies")),
    "property_dependencies": _property_dependencies,
    "additional_secret_outputs": lambda raw: _strs(raw.get("additionalSecretOutputs")),
    "ignore_changes": lambda raw: _strs(raw.get("ignoreChanges")),
    "replace_on_changes": lambda raw: _strs(raw.get("replaceOnChanges")),
    "custom_timeouts": _custom_timeouts,
    "aliases": lambda raw: _strs(raw.get("aliases")),
}


class _Layout:
    """The slots of :class:`Resource`; :class:`_Filling` (the same layout, assignable) is how one is built,
    field by field at the speed of plain attribute stores, before it becomes a Resource."""

    __slots__ = ("urn", "type", "custom", "id", "parent", "provider", "protect", "external", "delete",
                 "pending_replacement", "retain_on_delete", "deleted_with", "import_id", "raw", "source", "_text",
                 "_derived", "_inputs", "_outputs", "_same")


class _Filling(_Layout):
    __slots__ = ()


class Resource(_Layout):
    """One resource of a checkpoint (immutable). ``inputs`` and ``outputs`` are decoded (see ``state.values``)
    lazily, from ``raw``, the first time they are asked for: a diff of 5,000 resources that are mostly
    unchanged compares raw JSON and never decodes them.

    Read from a state file (:meth:`from_state`), the list and map fields (dependencies, property
    dependencies, ignoreChanges ...) are also derived from ``raw`` when first asked for, and the resource
    remembers where its JSON text is, so that two resources whose text is the same are known identical
    without looking inside (:func:`same_text`). Slots: a 230,000-resource state holds that many."""

    FIELDS = ("urn", "type", "custom", "id", "parent", "provider", "protect", "external", "delete",
              "pending_replacement", "retain_on_delete", "dependencies", "property_dependencies",
              "additional_secret_outputs", "ignore_changes", "replace_on_changes", "custom_timeouts",
              "deleted_with", "aliases", "import_id")
    __slots__ = ()

    urn: str
    type: str
    custom: bool
    id: str | None
    parent: str | None
    provider: str | None
    protect: bool
    external: bool
    delete: bool
    pending_replacement: bool
    retain_on_delete: bool
    deleted_with: str | None
    import_id: str | None
    raw: dict[str, Any]
    source: str              # the file it was read from, for messages ('' when built in code)

    def __new__(cls, urn: str, type: str, custom: bool, id: str | None = None,  # noqa: A002 - state names
                parent: str | None = None, provider: str | None = None, protect: bool = False,
                external: bool = False, delete: bool = False, pending_replacement: bool = False,
                retain_on_delete: bool = False, dependencies: tuple[str, ...] = (),
                property_dependencies: dict[str, tuple[str, ...]] | None = None,
                additional_secret_outputs: tuple[str, ...] = (), ignore_changes: tuple[str, ...] = (),
                replace_on_changes: tuple[str, ...] = (), custom_timeouts: dict[str, float] | None = None,
                deleted_with: str | None = None, aliases: tuple[str, ...] = (), import_id: str | None = None,
                raw: dict[str, Any] | None = None, source: str = "") -> Resource:
        r = _Filling.__new__(_Filling)
        r.urn, r.type, r.custom, r.id, r.parent, r.provider = urn, type, custom, id, parent, provider
        r.protect, r.external, r.delete, r.pending_replacement = protect, external, delete, pending_replacement
        r.retain_on_delete, r.deleted_with, r.import_id = retain_on_delete, deleted_with, import_id
        r.raw, r.source, r._text = {} if raw is None else raw, source, None
        r._inputs = r._outputs = r._same = None
        r._derived = {"dependencies": tuple(dependencies), "property_dependencies": dict(property_dependencies or {}),
                      "additional_secret_outputs": tuple(additional_secret_outputs),
                      "ignore_changes": tuple(ignore_changes), "replace_on_changes": tuple(replace_on_changes),
                      "custom_timeouts": dict(custom_timeouts or {}), "aliases": tuple(aliases)}
        r.__class__ = cls
        return r  # type: ignore[return-value]

    @classmethod
    def from_state(cls, raw: dict[str, Any], *, source: str, text: tuple[str, int, int] | None = None) -> Resource:
        """A resource of a state file from its (checked, key-normalised) JSON object; ``text`` is
        ``(document text, start, end)`` of that object when the reader knows it."""
        r = _Filling.__new__(_Filling)
        get = raw.get
        r.urn, r.type, r.custom, r.id = get("urn"), str(get("type") or ""), bool(get("custom")), get("id") or None
        r.parent, r.provider, r.protect = get("parent") or None, get("provider") or None, bool(get("protect"))
        r.external, r.delete, r.pending_replacement = bool(get("external")), bool(get("delete")), \
            bool(get("pendingReplacement"))
        r.retain_on_delete, r.deleted_with = bool(get("retainOnDelete")), get("deletedWith") or None
        r.import_id, r.raw, r.source, r._text = get("importID") or None, raw, source, text
        r._derived = r._inputs = r._outputs = r._same = None
        r.__class__ = cls
        return r  # type: ignore[return-value]

    def _field(self, name: str) -> Any:
        """A list or map field: given to the constructor, or derived from ``raw`` on first use."""
        derived = self._derived
        if derived is None:
            derived = {}
            object.__setattr__(self, "_derived", derived)
        if name not in derived:
            derived[name] = _DERIVED[name](self.raw)
        return derived[name]

    dependencies = property(lambda self: self._field("dependencies"))
    property_dependencies = property(lambda self: self._field("property_dependencies"))
    additional_secret_outputs = property(lambda self: self._field("additional_secret_outputs"))
    ignore_changes = property(lambda self: self._field("ignore_changes"))
    replace_on_changes = property(lambda self: self._field("replace_on_changes"))
    custom_timeouts = property(lambda self: self._field("custom_timeouts"))
    aliases = property(lambda self: self._field("aliases"))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Resource is immutable (cannot set '{name}')")

    __delattr__ = __setattr__  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self.FIELDS)

    __hash__ = None  # type: ignore[assignment]  # holds dicts, as the dataclass it replaces did

    def __repr__(self) -> str:
        return "Resource(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self.FIELDS) + ")"

    @property
    def inputs(self) -> dict[str, Any]:
        if self._inputs is None:
            from rollback.state.values import decode

            object.__setattr__(self, "_inputs", decode(self.raw.get("inputs") or {}, source=self._where("inputs")))
        return self._inputs  # type: ignore[return-value]

    @property
    def outputs(self) -> dict[str, Any]:
        if self._outputs is None:
            from rollback.state.values import decode

            object.__setattr__(self, "_outputs", decode(self.raw.get("outputs") or {}, source=self._where("outputs")))
        return self._outputs  # type: ignore[return-value]

    def json_text(self) -> str | None:
        """This resource's JSON text as its state file holds it (None when it was not read from a file)."""
        if self._text is None:
            return None
        whole, start, end = self._text
        return str(whole[start:end])

    def _where(self, part: str) -> str:
        return f"{self.source}: resource {self.urn} {part}" if self.source else f"resource {self.urn} {part}"

    @property
    def name(self) -> str:
        return urn_name(self.urn)

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")

    @property
    def is_stack(self) -> bool:
        return self.type == "pulumi:pulumi:Stack"


def same_text(a: Resource, b: Resource) -> bool:
    """Whether two resources read from state files have byte-for-byte the same JSON text (then they are
    identical in every field, types included); False when either was not read from a file's text."""
    ta, tb = a._text, b._text
    if ta is None or tb is None:
        return False
    text_a, i, j = ta
    text_b, k, m = tb
    return j - i == m - k and text_a[i:j] == text_b[k:m]


def same_inputs(now: Resource, then: Resource) -> bool:
    """Byte-for-byte the same recorded inputs: no decoding or decryption needed to know they are equal.

    Decided once per pair (the diff and the workload summary both ask): from the resources' text when
    they were read from files, else by one comparison of the raw JSON, strict about types (Python's ``==``
    says ``True == 1`` and ``3 == 3.0``; the JSON text tells them apart)."""
    memo = now._same
    if memo is None:
        memo = {}
        object.__setattr__(now, "_same", memo)
    key = id(then)
    hit = memo.get(key)
    if hit is not None and hit[0] is then:
        return bool(hit[1])
    result = _same_inputs(now, then)
    memo[key] = (then, result)
    return result


def _same_inputs(now: Resource, then: Resource) -> bool:
    if same_text(now, then):
        return True
    ra, rb = now.raw.get("inputs"), then.raw.get("inputs")
    if ra is None or rb is None:
        return False
    if ra is rb:
        return True
    try:
        if ra != rb:
            return False
        import json

        return json.dumps(ra, check_circular=False) == json.dumps(rb, check_circular=False)
    except (TypeError, ValueError, RecursionError):
        return False


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
