"""What re-applying a checkpoint registers: the replay plan (pure data, no pulumi import).

:func:`build_replay_program` reads a target :class:`~rollback.models.Deployment` and returns a
:class:`ReplayPlan`: one :class:`ReplayStep` per resource the program registers, in an order the
program can follow (parents, providers, dependencies and referenced resources first), the root
stack's outputs to re-export, and the list of what a replay cannot restore. ``plan.program`` is the
Automation API inline program; it imports pulumi only when it runs (:mod:`rollback.replay.program`).

The rules (``pulumi-state.md`` section 7):

* every live resource except the root stack and default providers is registered with the same type,
  name, parent chain, custom flag and provider; ``delete: true`` entries are skipped;
* components are local ``ComponentResource``s (never ``remote=True``); their recorded inputs are sent
  as their props (the engine records them again) and their outputs go to ``register_outputs``;
* inputs are the recorded ones without reserved keys (see :func:`~rollback.replay._common.strip_reserved`),
  secrets decrypted and re-wrapped at the same depth, assets and archives rebuilt, resource
  references turned into the re-registered objects; an unknown value, a hash-only asset or a
  non-UTF-8 string cannot be sent and is refused here, before anything runs;
* explicit providers are registered (recorded inputs minus ``version``/``__internal``, with the
  plugin version as an option); consumers of a default provider get ``version=`` so the engine picks
  the same ``default_X_Y_Z`` provider. By default the *current* state's versions are kept and the
  difference is reported;
* an input recorded under a property dependency that equals an output the dependency's provider
  computes (its id, or an output-only or provider-defaulted top-level property such as ``arn`` or an
  auto-name) is sent as a live reference to that output (a :class:`LiveRef`), not as the recorded
  literal: a rollback that replaces the dependency (an ECS task definition gets a new revision, a
  renamed secret a new name) must point the consumer at the new object, not at the old one the
  replacement deletes. The rule is :mod:`rollback.liverefs`'s, which the diff shares; secrets stay secret
  at their depth.

Plaintext of secrets lives only inside :class:`~rollback.replay._common.Revealed` wrappers, which
print as ``[secret]``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from rollback.errors import Refused, SecretsError
from rollback.liverefs import SDK_ATTRIBUTES, Outputs, match_key, pick_output
from rollback.models import Deployment, Resource, parse_urn, split_provider_ref
from rollback.replay._common import (
    STACK_TYPE,
    DependencyExpander,
    FollowOutput,
    children_index,
    engine_urn,
    format_seconds,
    is_default_provider,
    is_default_provider_urn,
    is_parameterized_provider,
    package_of,
    provider_download_url,
    provider_package,
    provider_version,
    qualified_type,
    recorded_inputs,
    semver_key,
    stack_urn,
    strip_reserved,
    version_from_provider_urn,
)
from rollback.state.secrets import SecretBox, SecretUnavailable
from rollback.state.values import (
    RESOURCE_REF_SIG,
    SIG,
    UNKNOWN,
    Archive,
    Asset,
    RawBytes,
    ResourceReference,
    Revealed,
    Secret,
    to_display,
)

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


@dataclass(frozen=True, eq=False)
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

    @property
    def resources(self) -> tuple[ReplayStep, ...]:
        return self.steps

    @property
    def live_refs(self) -> tuple[tuple[ReplayStep, LiveRef], ...]:
        """Every input sent as a live reference, with the step that sends it."""
        return tuple((s, ref) for s in self.steps for ref in s.live_refs)

    @property
    def resource_count(self) -> int:
        return len(self.steps)

    def program(self) -> None:
        """The Automation API inline program: re-register every step (imports pulumi)."""
        from rollback.replay.program import run_replay

        run_replay(self)

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


def build_replay_program(target: Deployment, *, secrets: SecretBox,
                         provider_versions: ProviderVersions = "current",
                         current: Deployment | None = None) -> ReplayPlan:
    """Plan the replay of ``target``; raises :class:`Refused` for what cannot be replayed faithfully.

    ``provider_versions="current"`` keeps the plugin versions the current state uses (rolling a
    provider back can fail in the provider) and reports the difference; ``"target"`` restores the
    target's. ``current`` is the stack's current state (needed for ``"current"``; without it the
    target's versions are used and a note says so).
    """
    if provider_versions not in ("current", "target"):
        raise ValueError(f"provider_versions must be 'current' or 'target', not {provider_versions!r}")
    return _Planner(target, secrets, provider_versions, current).plan()


@dataclass
class _Draft:
    """A step before ordering: the resource, its provider choice, prepared values and its edges."""

    res: Resource
    kind: Kind
    provider: str | None = None
    version: str | None = None
    url: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    refs: list[str] = field(default_factory=list)
    depends_on: tuple[str, ...] = ()
    pdeps: dict[str, tuple[str, ...]] = field(default_factory=dict)
    deleted_with: str | None = None
    live: list[LiveRef] = field(default_factory=list)

    @property
    def urn(self) -> str:
        return self.res.urn

    def before(self, parent: str | None) -> set[str]:
        """The steps that must be constructed before this one."""
        out = set(self.depends_on) | set(self.refs)
        for urns in self.pdeps.values():
            out.update(urns)
        out.update(u for u in (parent, self.provider, self.deleted_with) if u)
        return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _path(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if base else key


class _Planner:
    def __init__(self, target: Deployment, secrets: SecretBox, policy: ProviderVersions,
                 current: Deployment | None) -> None:
        self.target = target
        self.source = target.source
        self.secrets = secrets
        self.policy = policy
        self.current = current
        self.current_by_urn = current.by_urn() if current is not None else {}
        self.cannot: list[str] = []
        self.notes: list[str] = []
        self.overrides: dict[str, tuple[str | None, str | None]] = {}
        self.version_stats: dict[tuple[str, str | None, str | None], int] = {}
        self.unprovided = 0
        self.exposed: dict[str, set[str]] = {}

    # -- the story ------------------------------------------------------------------------------
    def plan(self) -> ReplayPlan:
        live = self.target.live_resources()
        self._check_unique(live)
        self.stack, self.project = self._identity(live)
        self.root = self._root(live)
        self.defaults = {r.urn: r for r in live if is_default_provider(r)}
        members = [r for r in live if r is not self.root and r.urn not in self.defaults]
        self.by_urn = {r.urn: r for r in members}
        self.outputs = Outputs(self.by_urn)
        self.parents = {r.urn: self._parent(r) for r in members}
        self.kinds = {r.urn: self._kind(r) for r in members}
        components = [u for u, k in self.kinds.items() if k == "component"]
        self.expander = DependencyExpander(components, children_index(self.parents))
        self.current_newest = self._current_default_versions()

        drafts = [self._draft(r) for r in members]
        for d in drafts:
            self._follow(d)
        order = self._order(drafts)
        engine_urns: dict[str, str] = {}
        root_urn = stack_urn(self.stack, self.project)
        for d in order:
            parent = self.parents[d.urn]
            engine_urns[d.urn] = engine_urn(self.stack, self.project, engine_urns[parent] if parent else root_urn,
                                            d.res.type, d.res.name)
        self._check_engine_urns(engine_urns)
        steps = tuple(self._step(d, engine_urns) for d in order)
        exports = self._exports(engine_urns)
        self._summarise(live, steps)
        return ReplayPlan(
            source=self.source, project=self.project, stack=self.stack, provider_versions=self.policy,
            steps=steps, exports=exports, version_overrides=dict(self.overrides),
            versions=self._versions(), cannot_restore=tuple(dict.fromkeys(self.cannot)),
            notes=tuple(dict.fromkeys(self.notes)),
        )

    # -- identity -------------------------------------------------------------------------------
    def _refuse(self, message: str) -> Refused:
        return Refused(f"{self.source}: {message}")

    def _check_unique(self, live: list[Resource]) -> None:
        seen: set[str] = set()
        for r in live:
            if r.urn in seen:
                raise self._refuse(f"{r.urn} appears twice among live resources; the checkpoint is inconsistent")
            seen.add(r.urn)

    def _identity(self, live: list[Resource]) -> tuple[str, str]:
        pairs = {parse_urn(r.urn)[:2] for r in live}
        if len(pairs) > 1:
            names = ", ".join(sorted(f"{p}/{s}" for s, p in pairs))
            raise self._refuse(f"resources of several stacks in one checkpoint ({names})")
        if not pairs:
            stack = self.target.stack.rsplit("/", 1)[-1] if self.target.stack else ""
            project = self.target.stack.split("/")[-2] if self.target.stack.count("/") >= 1 else ""
            return stack, project
        stack, project = next(iter(pairs))
        return stack, project

    def _root(self, live: list[Resource]) -> Resource | None:
        roots = [r for r in live if r.type == STACK_TYPE]
        if len(roots) > 1:
            raise self._refuse(f"more than one root stack resource ({roots[0].urn}, {roots[1].urn})")
        return roots[0] if roots else None

    def _is_root(self, urn: str) -> bool:
        return (self.root is not None and urn == self.root.urn) or qualified_type(urn) == STACK_TYPE

    def _parent(self, r: Resource) -> str | None:
        p = r.parent
        if not p or self._is_root(p):
            return None
        if p in self.by_urn:
            return p
        if p in self.defaults:
            raise self._refuse(f"{r.urn}: its parent is the default provider {p}, which the engine makes itself")
        raise self._refuse(f"{r.urn}: its parent {p} is not in the checkpoint")

    @staticmethod
    def _kind(r: Resource) -> Kind:
        if not r.custom:
            return "component"
        if r.is_provider:
            return "provider"
        return "read" if r.external else "custom"

    # -- one resource ---------------------------------------------------------------------------
    def _draft(self, r: Resource) -> _Draft:
        d = _Draft(res=r, kind=self.kinds[r.urn])
        d.provider, d.version, d.url = self._provider_choice(r, d.kind)
        inputs = recorded_inputs(r)
        for key in inputs:
            if key in SDK_ATTRIBUTES:
                raise self._refuse(f"{r.urn}: input {key!r} collides with an attribute of the Python SDK's "
                                   f"resource objects and cannot be sent")
        d.inputs = self._prepare_map(inputs, r.urn, "input", refs=d.refs)
        if d.kind == "component":
            d.outputs = self._prepare_map(dict(r.outputs), r.urn, "output", refs=None)
        if d.kind == "read" and not r.id:
            raise self._refuse(f"{r.urn}: an external (read) resource without an id")
        d.depends_on = self._deps(r, r.dependencies)
        d.pdeps = {k: v for k, v in ((k, self._deps(r, urns)) for k, urns in r.property_dependencies.items()) if v}
        if r.deleted_with:
            if r.deleted_with in self.by_urn:
                d.deleted_with = r.deleted_with
            else:
                self.notes.append(f"{r.urn}: deletedWith {r.deleted_with} is not in the checkpoint; not sent")
        return d

    def _deps(self, r: Resource, urns: Iterable[str]) -> tuple[str, ...]:
        keep: list[str] = []
        for u in urns:
            if u in self.by_urn:
                keep.append(u)
            elif u in self.defaults or self._is_root(u) or is_default_provider_urn(u):
                continue
            else:
                self.notes.append(f"{r.urn}: dependency on {u}, which is not in the checkpoint, is dropped")
        expanded = self.expander.expand_all(keep, exclude=r.urn)
        # A dependency on one's own descendant (through an ancestor component) would deadlock the
        # SDK (the child waits for the parent's URN, the parent for the child's): leave it out.
        return tuple(u for u in expanded if not self._is_descendant(u, r.urn))

    def _is_descendant(self, urn: str, ancestor: str) -> bool:
        p = self.parents.get(urn)
        while p is not None:
            if p == ancestor:
                return True
            p = self.parents.get(p)
        return False

    # -- providers ------------------------------------------------------------------------------
    def _provider_choice(self, r: Resource, kind: Kind) -> tuple[str | None, str | None, str | None]:
        """(explicit provider step, plugin version, plugin download URL) for ``r``."""
        if kind == "component":
            if r.provider:
                self.notes.append(f"{r.urn}: recorded as a remote component (provider "
                                  f"{split_provider_ref(r.provider)[0]}); replayed as a local component")
            return None, None, None
        if kind == "provider":
            if is_parameterized_provider(r):
                raise self._refuse(f"{r.urn}: parameterized providers cannot be replayed by type name")
            target_v, target_url = provider_version(r), provider_download_url(r)
            used_v, used_url = target_v, target_url
            if self.policy == "current":
                cur = self.current_by_urn.get(r.urn)
                if cur is not None and cur.is_provider and provider_version(cur):
                    used_v, used_url = provider_version(cur), provider_download_url(cur)
            self._record_version(r.urn, provider_package(r.type), target_v, used_v)
            return None, used_v, used_url
        pkg = package_of(r.type)
        if not r.provider:
            # state from before provider references: the engine picks the default provider
            self.unprovided += 1
            used = self._current_for(r, pkg) if self.policy == "current" and pkg else None
            if used is None or not used[0] or not pkg:
                return None, None, None
            self._record_version(r.urn, pkg, None, used[0])
            return None, used[0], used[1]
        purn, _pid = split_provider_ref(r.provider)
        ptype = qualified_type(purn).rsplit("$", 1)[-1]
        if provider_package(ptype) != pkg:
            raise self._refuse(f"{r.urn}: uses provider {purn} of package '{provider_package(ptype)}' for a "
                               f"'{pkg}' resource (parameterized or extension packages are not supported)")
        if purn in self.by_urn:
            if not self.by_urn[purn].is_provider:
                raise self._refuse(f"{r.urn}: its provider reference {purn} is not a provider")
            return purn, None, None
        if not is_default_provider_urn(purn):
            raise self._refuse(f"{r.urn}: its provider {purn} is not in the checkpoint")
        default = self.defaults.get(purn)
        if default is not None and is_parameterized_provider(default):
            raise self._refuse(f"{r.urn}: parameterized providers cannot be replayed by type name")
        target_v = provider_version(default) if default is not None else version_from_provider_urn(purn)
        target_url = provider_download_url(default) if default is not None else None
        used_v, used_url = target_v, target_url
        if self.policy == "current" and pkg:
            kept = self._current_for(r, pkg)
            if kept is not None and kept[0]:
                used_v, used_url = kept
        self._record_version(r.urn, pkg or "", target_v, used_v)
        return None, used_v, used_url

    def _current_default_versions(self) -> dict[str, tuple[str, str | None]]:
        newest: dict[str, tuple[str, str | None]] = {}
        for r in self.current_by_urn.values():
            if is_default_provider(r):
                v = provider_version(r)
                pkg = provider_package(r.type)
                if v and (pkg not in newest or semver_key(v) > semver_key(newest[pkg][0])):
                    newest[pkg] = (v, provider_download_url(r))
        return newest

    def _current_for(self, r: Resource, pkg: str) -> tuple[str | None, str | None] | None:
        """The default-provider version the current state uses for ``r`` (else for its package)."""
        cur = self.current_by_urn.get(r.urn)
        if cur is not None and cur.provider:
            purn = split_provider_ref(cur.provider)[0]
            if is_default_provider_urn(purn) and provider_package(qualified_type(purn)) == pkg:
                res = self.current_by_urn.get(purn)
                v = provider_version(res) if res is not None else version_from_provider_urn(purn)
                if v:
                    return v, provider_download_url(res) if res is not None else None
        return self.current_newest.get(pkg)

    def _record_version(self, urn: str, pkg: str, target_v: str | None, used_v: str | None) -> None:
        key = (pkg, target_v, used_v)
        self.version_stats[key] = self.version_stats.get(key, 0) + 1
        if target_v != used_v:
            self.overrides[urn] = (target_v, used_v)

    def _versions(self) -> tuple[ProviderVersion, ...]:
        current: dict[str, set[str]] = {}
        for r in self.current_by_urn.values():
            if r.is_provider:
                v = provider_version(r)
                if v:
                    current.setdefault(provider_package(r.type), set()).add(v)
        out = []
        for (pkg, target_v, used_v), n in sorted(self.version_stats.items(),
                                                 key=lambda kv: (kv[0][0], str(kv[0][1]), str(kv[0][2]))):
            out.append(ProviderVersion(package=pkg, target=target_v, used=used_v,
                                       current=tuple(sorted(current.get(pkg, ()), key=semver_key)), resources=n))
        return tuple(out)

    # -- values ---------------------------------------------------------------------------------
    def _prepare_map(self, value: Mapping[str, Any], urn: str, label: str, *,
                     refs: list[str] | None) -> dict[str, Any]:
        return {k: self._prepare(v, urn, label, k, refs=refs, in_secret=False) for k, v in value.items()}

    def _prepare(self, value: Any, urn: str, label: str, path: str, *, refs: list[str] | None,
                 in_secret: bool) -> Any:
        if isinstance(value, Secret):
            revealed = self._reveal(value, urn, label, path)
            if label == "input":
                revealed = strip_reserved(revealed, top=False)
            return Revealed(self._prepare(revealed, urn, label, path, refs=refs, in_secret=True))
        if isinstance(value, dict):
            return {k: self._prepare(v, urn, label, _path(path, k), refs=refs, in_secret=in_secret)
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self._prepare(v, urn, label, _path(path, i), refs=refs, in_secret=in_secret)
                    for i, v in enumerate(value)]
        if value is UNKNOWN:
            raise self._refuse(f"{urn}: {label} {path} is an unknown value (the checkpoint was written "
                               f"mid-operation); it cannot be replayed")
        if isinstance(value, RawBytes):
            raise self._refuse(f"{urn}: {label} {path} is a non-UTF-8 string, which the Python SDK cannot send")
        if isinstance(value, Asset):
            return self._asset(value, urn, label, path)
        if isinstance(value, Archive):
            return self._archive(value, urn, label, path, refs=refs, in_secret=in_secret)
        if isinstance(value, ResourceReference):
            return self._reference(value, urn, label, path, refs=refs)
        return value

    def _reveal(self, secret: Secret, urn: str, label: str, path: str) -> Any:
        try:
            return self.secrets.reveal(secret)
        except SecretUnavailable as exc:
            raise SecretsError(f"{self.source}: {urn}: {label} {path} is secret and cannot be decrypted "
                               f"here ({exc})") from exc

    def _asset(self, asset: Asset, urn: str, label: str, path: str) -> Asset:
        if asset.hash_only:
            raise self._refuse(f"{urn}: {label} {path} is an asset recorded only by its hash; its content is not "
                               f"in the checkpoint, so it cannot be rebuilt")
        if asset.text is None and asset.path is not None:
            self.cannot.append(f"{urn}: {label} {path} is the file {asset.path!r}, read again at replay time "
                               f"(relative to the working directory); the checkpoint keeps only its hash")
        return asset

    def _archive(self, archive: Archive, urn: str, label: str, path: str, *, refs: list[str] | None,
                 in_secret: bool) -> Archive:
        if archive.hash_only:
            raise self._refuse(f"{urn}: {label} {path} is an archive recorded only by its hash; its content is "
                               f"not in the checkpoint, so it cannot be rebuilt")
        if archive.assets is not None:
            assets = {}
            for k, v in archive.assets.items():
                member = f"{path}/{k}"
                if not isinstance(v, (Asset, Archive)):
                    raise self._refuse(f"{urn}: {label} {member} is not an asset or archive")
                assets[k] = self._prepare(v, urn, label, member, refs=refs, in_secret=in_secret)
            return Archive(hash=archive.hash, assets=assets)
        if archive.path is not None:
            self.cannot.append(f"{urn}: {label} {path} is the file archive {archive.path!r}, read again at replay "
                               f"time (relative to the working directory); the checkpoint keeps only its hash")
        return archive

    def _reference(self, ref: ResourceReference, urn: str, label: str, path: str, *,
                   refs: list[str] | None) -> ResourceReference:
        if label == "export":
            return ref  # exported as data (see _exports), so it may point anywhere
        if ref.urn in self.by_urn:
            if refs is not None:
                refs.append(ref.urn)
            return ref
        what = "a default provider" if ref.urn in self.defaults or is_default_provider_urn(ref.urn) else \
            "the root stack" if self._is_root(ref.urn) else "not in the checkpoint"
        raise self._refuse(f"{urn}: {label} {path} refers to {ref.urn}, which is {what}; the reference "
                           f"cannot be re-created")

    # -- live references to dependencies' outputs --------------------------------------------------
    def _follow(self, d: _Draft) -> None:
        """Send an input that recorded a dependency's computed output as a live reference to it.

        The rule is :mod:`rollback.liverefs`'s (the diff's too), applied at any depth under the property
        dependencies of a key (as the SDK will send them: components stand for their custom children).
        """
        for key, deps in d.pdeps.items():
            if key in d.inputs and deps:
                d.inputs[key] = self._follow_value(d, d.inputs[key], key, key, list(deps), in_secret=False)

    def _follow_value(self, d: _Draft, value: Any, path: str, leaf: str, sources: list[str], *,
                      in_secret: bool) -> Any:
        if isinstance(value, Revealed):
            return Revealed(self._follow_value(d, value.value, path, leaf, sources, in_secret=True))
        if isinstance(value, dict):
            return {k: self._follow_value(d, v, _path(path, k), k, sources, in_secret=in_secret)
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self._follow_value(d, v, _path(path, i), leaf, sources, in_secret=in_secret)
                    for i, v in enumerate(value)]
        found = self.outputs.matches(value, sources)
        if not found:
            return value
        if len(found) > 1:
            names = ", ".join(sorted(found))
            self.notes.append(f"{d.res.type} {d.res.name}: {path} equals outputs of {len(found)} dependencies "
                              f"({names}); sent as recorded")
            return value
        ((source, keys),) = found.items()
        output = pick_output(keys, leaf)
        recorded = "[secret]" if in_secret else value
        cur = self.current_by_urn.get(source)
        now = None
        if cur is not None:
            now = cur.id if output == "id" else cur.outputs.get(output)
            now = now if match_key(now) is not None else None
        d.live.append(LiveRef(path=path, source=source, output=output, recorded=recorded,
                              current="[secret]" if in_secret and now is not None else now))
        if output != "id":
            self.exposed.setdefault(source, set()).add(output)
        if self.current is not None and match_key(now) != match_key(value):
            # the value will not be the recorded one: say where it comes from instead
            dep = self.by_urn[source]
            how = "re-read" if self.kinds[source] == "read" else "re-registered"
            self.notes.append(f"{d.res.type} {d.res.name}: {path} follows the {how} {dep.type} {dep.name}'s "
                              f"{output} (was {recorded})")
        return FollowOutput(source, output, value)

    # -- order ----------------------------------------------------------------------------------
    def _order(self, drafts: list[_Draft]) -> list[_Draft]:
        """Kahn's algorithm; ties broken by file order. Parents, providers, dependencies first."""
        n = len(drafts)
        pos = {d.urn: i for i, d in enumerate(drafts)}
        succ: list[list[int]] = [[] for _ in range(n)]
        indeg = [0] * n
        preds: list[set[int]] = [set() for _ in range(n)]
        for i, d in enumerate(drafts):
            for u in d.before(self.parents[d.urn]):
                j = pos[u]
                if j == i:
                    raise self._refuse(f"dependency cycle: {d.urn} depends on itself")
                preds[i].add(j)
            for j in preds[i]:
                succ[j].append(i)
            indeg[i] = len(preds[i])
        ready = [i for i in range(n) if indeg[i] == 0]
        heapq.heapify(ready)
        order: list[int] = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for k in succ[i]:
                indeg[k] -= 1
                if indeg[k] == 0:
                    heapq.heappush(ready, k)
        if len(order) < n:
            raise self._refuse(f"dependency cycle: {self._cycle(drafts, preds, indeg)}")
        return [drafts[i] for i in order]

    @staticmethod
    def _cycle(drafts: list[_Draft], preds: list[set[int]], indeg: list[int]) -> str:
        start = next(i for i in range(len(drafts)) if indeg[i] > 0)
        seen: dict[int, int] = {}
        path: list[int] = []
        i = start
        while i not in seen:
            seen[i] = len(path)
            path.append(i)
            i = next(j for j in sorted(preds[i]) if indeg[j] > 0)
        loop = path[seen[i]:] + [i]
        return " <- ".join(drafts[j].urn for j in loop)

    def _check_engine_urns(self, engine_urns: dict[str, str]) -> None:
        seen: dict[str, str] = {}
        for urn, eurn in engine_urns.items():
            if eurn in seen:
                raise self._refuse(f"{urn} and {seen[eurn]} would both be registered as {eurn}")
            seen[eurn] = urn

    # -- the step -------------------------------------------------------------------------------
    def _step(self, d: _Draft, engine_urns: dict[str, str]) -> ReplayStep:
        r, kind = d.res, d.kind
        eurn = engine_urns[r.urn]
        aliases = (r.urn,) if eurn != r.urn else ()
        dbr = True if r.pending_replacement and kind in ("custom", "provider") else None
        timeouts = {k: format_seconds(v) for k, v in r.custom_timeouts.items()
                    if k in ("create", "update", "delete") and v}
        return ReplayStep(
            urn=r.urn, engine_urn=eurn, type=r.type, name=r.name, kind=kind,
            parent=self.parents[r.urn], provider=d.provider, version=d.version,
            plugin_download_url=d.url, id=r.id if kind == "read" else None,
            inputs=d.inputs, outputs=d.outputs, protect=r.protect, retain_on_delete=r.retain_on_delete,
            ignore_changes=r.ignore_changes, replace_on_changes=r.replace_on_changes,
            additional_secret_outputs=r.additional_secret_outputs, custom_timeouts=timeouts,
            deleted_with=d.deleted_with, depends_on=d.depends_on, property_dependencies=d.pdeps,
            delete_before_replace=dbr, aliases=aliases, live_refs=tuple(d.live),
            exposed_outputs=tuple(sorted(self.exposed.get(r.urn, ()))),
        )

    def _exports(self, engine_urns: dict[str, str]) -> dict[str, Any]:
        """Root outputs to re-export. ``pulumi.export`` flattens a resource object into a plain dict, so a
        reference is exported as the engine's reference object itself (same wire form as the SDK's)."""
        if self.root is None:
            return {}

        def fix(value: Any) -> Any:
            if isinstance(value, Revealed):
                return Revealed(fix(value.value))
            if isinstance(value, dict):
                return {k: fix(v) for k, v in value.items()}
            if isinstance(value, list):
                return [fix(v) for v in value]
            if isinstance(value, ResourceReference):
                ref: dict[str, Any] = {SIG: RESOURCE_REF_SIG, "urn": engine_urns.get(value.urn, value.urn)}
                if value.id is not None:
                    ref["id"] = value.id
                if value.package_version:
                    ref["packageVersion"] = value.package_version
                return ref
            return value

        prepared = self._prepare_map(dict(self.root.outputs), self.root.urn, "export", refs=None)
        return {k: fix(v) for k, v in prepared.items()}

    # -- what the replay cannot restore ----------------------------------------------------------
    def _summarise(self, live: list[Resource], steps: tuple[ReplayStep, ...]) -> None:
        for s in steps:
            if s.ignore_changes:
                self.cannot.append(f"{s.urn}: ignoreChanges {', '.join(s.ignore_changes)}: these properties keep "
                                   f"their current values")
            if s.delete_before_replace:
                self.cannot.append(f"{s.urn}: was pending replacement; the replay forces delete-before-replace "
                                   f"so the engine does not delete the object it has just created "
                                   f"(pulumi-kubernetes#4522)")
        if any(s.kind in ("custom", "provider") for s in steps):
            self.cannot.append("deleteBeforeReplace is not stored in state: a replacement the replay causes uses "
                               "the provider's default order (create, then delete) unless noted above")
        for v in self._versions():
            if v.target == v.used:
                newer = [c for c in v.current if v.target and semver_key(c) > semver_key(v.target)]
                if self.policy == "target" and newer:
                    self.notes.append(f"provider {v.package}: the replay restores {v.target} "
                                      f"({_count(v.resources, 'resource')}) while the current state uses "
                                      f"{', '.join(newer)}; rolling a provider back can fail in the provider")
                continue
            self.cannot.append(f"provider {v.package}: the checkpoint used {v.target or 'an unrecorded version'}, "
                               f"the replay keeps the current {v.used} ({_count(v.resources, 'resource')}; "
                               f"restore it by choosing the target's provider versions)")
        follows = sum(len(s.live_refs) for s in steps)
        if follows and self.current is None:
            self.notes.append(f"{_count(follows, 'input')} sent as live references to dependencies' outputs "
                              f"(ids, arns, auto-names) instead of the recorded values; without the current state "
                              f"the plan cannot tell which of them will change")
        if self.policy == "current" and self.current is None and self.version_stats:
            self.notes.append("the current state was not given: the target's provider versions are used")
        pending = sum(1 for r in self.target.resources if r.delete)
        if pending:
            self.notes.append(f"{pending} pending-delete entr{'y' if pending == 1 else 'ies'} skipped (the engine "
                              f"deletes them)")
        used_defaults = {split_provider_ref(r.provider)[0] for r in live if r.provider}
        for urn in self.defaults:
            if urn not in used_defaults:
                self.notes.append(f"default provider {urn} is used by no resource; the engine drops it")
        legacy = sum(1 for s in steps if s.aliases)
        if legacy:
            self.notes.append(f"{_count(legacy, 'resource')} with URNs older than parent-type chains: "
                              f"re-registered under the engine's URN with an alias to the recorded one")
        if self.unprovided:
            self.notes.append(f"{_count(self.unprovided, 'resource')} with no recorded provider (state from "
                              f"before provider references): the engine's default provider for the package is used")
