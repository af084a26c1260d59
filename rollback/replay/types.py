"""The replay plan's types: pure data, built by :mod:`rollback.replay.plan`, run by
:mod:`rollback.replay.program`, checked by :mod:`rollback.replay.rehearsal`. No pulumi import.

Prepared values (a step's inputs and outputs, the exports) are decoded state values, with secrets as
:class:`~rollback.state.values.Revealed` (printed ``[secret]``) and inputs the replay follows as
:class:`~rollback.replay._common.FollowOutput`; :func:`display` shows them safely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from rollback.replay._common import FollowOutput
from rollback.state.values import Archive, Revealed, to_display

Kind = Literal["component", "custom", "provider", "read"]
ProviderVersions = Literal["current", "target"]

@dataclass(frozen=True)
class LiveRef:
    """An input the replay sends as a live reference to a dependency's output instead of its literal."""

    path: str                 # where in the inputs ("taskDefinition", "spec.containers[0].env[1].value")
    source: str               # recorded URN of the dependency
    output: str               # "id" or a top-level output property of the dependency ("arn", "name" ...)
    recorded: Any             # the recorded value; ``[secret]`` when it sits inside a secret
    current: Any = None       # the dependency's value in the current state (None: not there, or unknown)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "from": self.source, "output": self.output, "was": self.recorded,
                "current": self.current}


@dataclass(frozen=True, eq=False, slots=True)
class ReplayStep:
    """One registration of the replay program."""

    urn: str                                  # as recorded in the target checkpoint
    engine_urn: str                           # as the engine computes it (differs only for legacy URNs)
    type: str
    name: str
    kind: Kind
    parent: str | None = None                 # recorded URN of the parent step; None = the root stack
    provider: str | None = None               # recorded URN of the explicit provider step
    version: str | None = None                # plugin version sent with the registration
    plugin_download_url: str | None = None
    id: str | None = None                     # reads (``external: true``) only
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)   # components: register_outputs
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: tuple[str, ...] = ()
    replace_on_changes: tuple[str, ...] = ()
    additional_secret_outputs: tuple[str, ...] = ()
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    deleted_with: str | None = None
    depends_on: tuple[str, ...] = ()
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    delete_before_replace: bool | None = None
    aliases: tuple[str, ...] = ()
    live_refs: tuple[LiveRef, ...] = ()       # inputs sent as live references to dependencies' outputs
    exposed_outputs: tuple[str, ...] = ()     # output properties other steps follow (placeholders in props)
    env_var_mappings: dict[str, str] = field(default_factory=dict)   # explicit providers: __internal.envVarMappings
    references: tuple[str, ...] = ()          # recorded URNs of the resources its inputs refer to

    @property
    def custom(self) -> bool:
        return self.kind != "component"

    def to_dict(self, *, inputs: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {"urn": self.urn, "type": self.type, "kind": self.kind}
        for key in ("parent", "provider", "version", "plugin_download_url", "id", "deleted_with",
                    "delete_before_replace"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        if self.engine_urn != self.urn:
            d["engine_urn"] = self.engine_urn
        for key in ("protect", "retain_on_delete"):
            if getattr(self, key):
                d[key] = True
        for key in ("ignore_changes", "replace_on_changes", "additional_secret_outputs", "depends_on",
                    "aliases"):
            value = getattr(self, key)
            if value:
                d[key] = list(value)
        if self.custom_timeouts:
            d["custom_timeouts"] = dict(self.custom_timeouts)
        if self.env_var_mappings:
            d["env_var_mappings"] = dict(self.env_var_mappings)
        if self.property_dependencies:
            d["property_dependencies"] = {k: list(v) for k, v in self.property_dependencies.items()}
        if self.live_refs:
            d["live_refs"] = [ref.to_dict() for ref in self.live_refs]
        if self.exposed_outputs:
            d["exposed_outputs"] = list(self.exposed_outputs)
        if inputs:
            d["inputs"] = display(self.inputs)
            if self.kind == "component":
                d["outputs"] = display(self.outputs)
        return d


@dataclass(frozen=True)
class ProviderVersion:
    """How the replay picks one package's plugin version, compared with the target and the current state."""

    package: str
    target: str | None
    used: str | None
    current: tuple[str, ...]
    resources: int

    def to_dict(self) -> dict[str, Any]:
        return {"package": self.package, "target": self.target, "used": self.used,
                "current": list(self.current), "resources": self.resources}


@dataclass(frozen=True, eq=False)
class ReplayPlan:
    """Everything the replay program will do, computed without pulumi; ``program`` runs it."""

    source: str
    project: str
    stack: str
    provider_versions: ProviderVersions
    steps: tuple[ReplayStep, ...]
    exports: dict[str, Any] = field(default_factory=dict)
    # recorded URN -> (target version, version the replay sends) where they differ
    version_overrides: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    versions: tuple[ProviderVersion, ...] = ()
    cannot_restore: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    base_dir: str | None = None     # where a recorded relative file path is read from (sent absolute)

    @property
    def live_refs(self) -> tuple[tuple[ReplayStep, LiveRef], ...]:
        """Every input sent as a live reference, with the step that sends it."""
        return tuple((s, ref) for s in self.steps for ref in s.live_refs)

    @property
    def resource_count(self) -> int:
        return len(self.steps)

    def to_dict(self, *, inputs: bool = False) -> dict[str, Any]:
        return {
            "source": self.source,
            "project": self.project,
            "stack": self.stack,
            "provider_versions": self.provider_versions,
            "resources": self.resource_count,
            "steps": [s.to_dict(inputs=inputs) for s in self.steps],
            "live_refs": [{"urn": s.urn, **ref.to_dict()} for s, ref in self.live_refs],
            "exports": sorted(self.exports),
            "versions": [v.to_dict() for v in self.versions],
            "cannot_restore": list(self.cannot_restore),
            "notes": list(self.notes),
        }

    def __repr__(self) -> str:
        return (f"ReplayPlan({self.project}/{self.stack}, {self.resource_count} resources, "
                f"provider_versions={self.provider_versions})")


def display(value: Any) -> Any:
    """A JSON-safe view of prepared values: secrets are ``[secret]``."""
    if isinstance(value, Revealed):
        return "[secret]"
    if isinstance(value, FollowOutput):
        return display(value.value)
    if isinstance(value, dict):
        return {k: display(v) for k, v in value.items()}
    if isinstance(value, list):
        return [display(v) for v in value]
    if isinstance(value, Archive) and value.assets is not None:
        return {"archive": {k: display(v) for k, v in value.assets.items()}}
    return to_display(value)
