"""What re-applying a checkpoint registers: the replay plan (pure data, no pulumi import).

:func:`build_replay_program` reads a target :class:`~rollback.models.Deployment` and returns a
:class:`ReplayPlan`: one :class:`ReplayStep` per resource the program registers, in an order the
program can follow (parents, providers, dependencies and referenced resources first), the root
stack's outputs to re-export, and the list of what a replay cannot restore (the types are
:mod:`rollback.replay.types`). :func:`rollback.replay.program.inline_program` makes it the Automation API
inline program.

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
  difference is reported (:mod:`rollback.replay.providers`);
* an input recorded under a property dependency that equals an output the dependency's provider
  computes (its id, or an output-only or provider-defaulted top-level property such as ``arn`` or an
  auto-name) is sent as a live reference to that output (a :class:`LiveRef`), not as the recorded
  literal: a rollback that replaces the dependency (an ECS task definition gets a new revision, a
  renamed secret a new name) must point the consumer at the new object, not at the old one the
  replacement deletes. The rule is :mod:`rollback.liverefs`'s, which the diff shares; secrets stay secret
  at their depth (:mod:`rollback.replay.follow`).

Plaintext of secrets lives only inside :class:`~rollback.state.values.Revealed` wrappers, which
print as ``[secret]``.

Just over 500 lines: the planner is the one place that orders the steps and decides each input (recorded,
live reference, alias, provider setting); files and provider internals already moved to
:mod:`rollback.replay.files`, and what is left reads best as one walk.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollback.errors import Refused, SecretsError
from rollback.liverefs import SDK_ATTRIBUTES, property_dependencies
from rollback.models import Deployment, Resource, parse_urn, split_provider_ref
from rollback.renames import aliases_for, renamed
from rollback.replay._common import (
    STACK_TYPE,
    DependencyExpander,
    children_index,
    engine_urn,
    format_seconds,
    is_default_provider,
    is_default_provider_urn,
    plain_recorded_inputs,
    qualified_type,
    recorded_inputs,
    semver_key,
    stack_urn,
    strip_reserved,
)
from rollback.replay.files import ReadAgain
from rollback.replay.follow import Follower, path_of
from rollback.replay.providers import ProviderChoices
from rollback.replay.types import Kind, LiveRef, ProviderVersions, ReplayPlan, ReplayStep
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
)


def build_replay_program(target: Deployment, *, secrets: SecretBox,
                         provider_versions: ProviderVersions = "current",
                         current: Deployment | None = None, base_dir: str | None = None) -> ReplayPlan:
    """Plan the replay of ``target``; raises :class:`Refused` for what cannot be replayed faithfully.

    ``provider_versions="current"`` keeps the plugin versions the current state uses (rolling a
    provider back can fail in the provider) and reports the difference; ``"target"`` restores the
    target's. ``current`` is the stack's current state (needed for ``"current"``; without it the
    target's versions are used and a note says so). ``base_dir`` is where a relative file asset's path is read
    from (the project's folder); None: the working directory.
    """
    if provider_versions not in ("current", "target"):
        raise ValueError(f"provider_versions must be 'current' or 'target', not {provider_versions!r}")
    return _Planner(target, secrets, provider_versions, current, base_dir=base_dir).plan()


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



class _Planner:
    """Plans the replay of one target checkpoint: everything it knows is set up here, ``plan()`` tells the story."""

    def __init__(self, target: Deployment, secrets: SecretBox, policy: ProviderVersions,
                 current: Deployment | None, *, base_dir: str | None = None) -> None:
        import os

        self.target = target
        self.base_dir = base_dir or os.getcwd()
        self.source = target.source
        self.secrets = secrets
        self.policy = policy
        self.current = current
        self.current_by_urn = current.by_urn() if current is not None else {}
        self.cannot: list[str] = []
        self.notes: list[str] = []
        self._files = ReadAgain(self.base_dir, refuse=self._refuse, cannot=self.cannot)
        self.live = target.live_resources()
        self._check_unique(self.live)
        self.stack, self.project = self._identity(self.live)
        self.root = self._root(self.live)
        self.defaults = {r.urn: r for r in self.live if is_default_provider(r)}
        self.members = [r for r in self.live if r is not self.root and r.urn not in self.defaults]
        self.by_urn = {r.urn: r for r in self.members}
        self.parents = {r.urn: self._parent(r) for r in self.members}
        self.kinds = {r.urn: self._kind(r) for r in self.members}
        components = [u for u, k in self.kinds.items() if k == "component"]
        self.expander = DependencyExpander(components, children_index(self.parents))
        self.providers = ProviderChoices(policy=policy, members=self.by_urn, defaults=self.defaults,
                                         current_by_urn=self.current_by_urn, refuse=self._refuse, notes=self.notes)
        self.follower = Follower(self.by_urn, self.kinds, self.current_by_urn if current is not None else None,
                                 self.notes)
        self.target_by_urn = {r.urn: r for r in self.live}
        self.renames = renamed(self.current_by_urn, self.target_by_urn) if current is not None else {}

    # -- the story ------------------------------------------------------------------------------
    def plan(self) -> ReplayPlan:
        drafts = [self._draft(r) for r in self.members]
        for d in drafts:
            d.live = self.follower.follow(d.res, d.inputs, d.pdeps)
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
        self._summarise(self.live, steps)
        return ReplayPlan(
            source=self.source, project=self.project, stack=self.stack, provider_versions=self.policy,
            steps=steps, exports=exports, version_overrides=dict(self.providers.overrides),
            versions=self.providers.versions(), cannot_restore=tuple(dict.fromkeys(self.cannot)),
            notes=tuple(dict.fromkeys(self.notes)), base_dir=self.base_dir,
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
        d.provider, d.version, d.url = self.providers.choose(r, d.kind)
        plain = plain_recorded_inputs(r)   # nothing special in it: sent as recorded, no copy
        inputs = plain if plain is not None else recorded_inputs(r)
        for key in inputs:
            if key in SDK_ATTRIBUTES:
                raise self._refuse(f"{r.urn}: input {key!r} collides with an attribute of the Python SDK's "
                                   f"resource objects and cannot be sent")
        d.inputs = plain if plain is not None else self._prepare_map(inputs, r.urn, "input", refs=d.refs)
        if d.kind == "component":
            d.outputs = self._prepare_map(dict(r.outputs), r.urn, "output", refs=None)
        if d.kind == "read" and not r.id:
            raise self._refuse(f"{r.urn}: an external (read) resource without an id")
        d.depends_on = self._deps(r, r.dependencies)
        d.pdeps = {k: v for k, v in ((k, self._deps(r, urns)) for k, urns in property_dependencies(r).items()) if v}
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
            return {k: self._prepare(v, urn, label, path_of(path, k), refs=refs, in_secret=in_secret)
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self._prepare(v, urn, label, path_of(path, i), refs=refs, in_secret=in_secret)
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
            return Asset(hash=asset.hash, path=self._files.same_file(asset.path, asset.hash, f"{urn}: {label} {path}"))
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
            return Archive(hash=archive.hash,
                           path=self._files.same_file(archive.path, archive.hash, f"{urn}: {label} {path}"))
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
        aliases = ((r.urn,) if eurn != r.urn else ()) + aliases_for(r, self.renames, self.target_by_urn)
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
            exposed_outputs=tuple(sorted(self.follower.exposed.get(r.urn, ()))),
            env_var_mappings=self._files.env_var_mappings(r) if kind == "provider" else {},
            references=tuple(dict.fromkeys(d.refs)),
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
        for v in self.providers.versions():
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
        if self.policy == "current" and self.current is None and self.providers.stats:
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
        if self.providers.unprovided:
            self.notes.append(f"{_count(self.providers.unprovided, 'resource')} with no recorded provider (state from "
                              f"before provider references): the engine's default provider for the package is used")
