"""Which provider, and which plugin version, each registration of the replay sends.

Explicit providers are registered (recorded inputs minus ``version`` / ``__internal``, with the plugin
version as an option); consumers of a default provider get ``version=`` so the engine picks the same
``default_X_Y_Z`` provider. By default the *current* state's versions are kept (rolling a provider back
can fail in the provider) and the difference is reported; ``"target"`` restores the target's.
Parameterized providers and extension packages cannot be replayed by type name: refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rollback.errors import Refused
from rollback.models import Resource, split_provider_ref
from rollback.replay._common import (
    is_default_provider,
    is_default_provider_urn,
    is_parameterized_provider,
    package_of,
    provider_download_url,
    provider_package,
    provider_version,
    qualified_type,
    semver_key,
    version_from_provider_urn,
)
from rollback.replay.types import Kind, ProviderVersion, ProviderVersions

Choice = tuple[str | None, str | None, str | None]   # (explicit provider step, plugin version, download URL)


class ProviderChoices:
    """The provider choice of every step of one plan, and the version statistics the plan reports."""

    def __init__(self, *, policy: ProviderVersions, members: Mapping[str, Resource], defaults: Mapping[str, Resource],
                 current_by_urn: Mapping[str, Resource], refuse: Callable[[str], Refused], notes: list[str]) -> None:
        self.policy = policy
        self.members = members
        self.defaults = defaults
        self.current_by_urn = current_by_urn
        self.refuse = refuse
        self.notes = notes             # the plan's notes, in the order things are found
        self.overrides: dict[str, tuple[str | None, str | None]] = {}   # URN -> (target version, version sent)
        self.stats: dict[tuple[str, str | None, str | None], int] = {}
        self.unprovided = 0            # resources with no recorded provider (state from before provider references)
        self.current_newest = self._current_default_versions()
        self._decided: dict[tuple[str | None, str | None, str | None], tuple[str | None, str | None, str | None,
                                                                             str | None]] = {}

    def choose(self, r: Resource, kind: Kind) -> tuple[str | None, str | None, str | None]:
        """(explicit provider step, plugin version, plugin download URL) for ``r``."""
        if kind == "component":
            if r.provider:
                # A component registered with a provider (a multi-language component, or one that inherited its
                # parent's) replayed locally has none: the engine compares "" with the recorded reference and
                # replaces it, and every resource deleted with it (step_generator.go).
                raise self.refuse(f"{r.urn} is a component with a provider reference "
                                  f"({split_provider_ref(r.provider)[0]}): the replay registers components "
                                  f"locally, without one, and the engine would replace it and every resource "
                                  f"deleted with it; roll it back with its own program")
            return None, None, None
        if kind == "provider":
            if is_parameterized_provider(r):
                raise self.refuse(f"{r.urn}: parameterized providers cannot be replayed by type name")
            target_v, target_url = provider_version(r), provider_download_url(r)
            used_v, used_url = target_v, target_url
            if self.policy == "current":
                cur = self.current_by_urn.get(r.urn)
                if cur is not None and cur.is_provider and provider_version(cur):
                    used_v, used_url = provider_version(cur), provider_download_url(cur)
            self._record(r.urn, provider_package(r.type), target_v, used_v)
            return None, used_v, used_url
        pkg = package_of(r.type)
        if not r.provider:
            # state from before provider references: the engine picks the default provider
            self.unprovided += 1
            used = self._current_for(r, pkg) if self.policy == "current" and pkg else None
            if used is None or not used[0] or not pkg:
                return None, None, None
            self._record(r.urn, pkg, None, used[0])
            return None, used[0], used[1]
        # Resources of one provider choose alike: decided once per provider reference (and current one).
        cur = self.current_by_urn.get(r.urn) if self.policy == "current" else None
        key = (r.provider, pkg, cur.provider if cur is not None else None)
        decided = self._decided.get(key)
        if decided is None:
            decided = self._decided[key] = self._choose_provided(r, pkg)
        step, target_v, used_v, used_url = decided
        if step is not None:
            return step, None, None
        self._record(r.urn, pkg or "", target_v, used_v)
        return None, used_v, used_url

    def _choose_provided(self, r: Resource, pkg: str | None) -> tuple[str | None, str | None, str | None, str | None]:
        """(explicit provider step, target version, version sent, download URL) for a resource with a provider."""
        assert r.provider
        purn, _pid = split_provider_ref(r.provider)
        ptype = qualified_type(purn).rsplit("$", 1)[-1]
        if provider_package(ptype) != pkg:
            raise self.refuse(f"{r.urn}: uses provider {purn} of package '{provider_package(ptype)}' for a "
                               f"'{pkg}' resource (parameterized or extension packages are not supported)")
        if purn in self.members:
            if not self.members[purn].is_provider:
                raise self.refuse(f"{r.urn}: its provider reference {purn} is not a provider")
            return purn, None, None, None
        if not is_default_provider_urn(purn):
            raise self.refuse(f"{r.urn}: its provider {purn} is not in the checkpoint")
        default = self.defaults.get(purn)
        if default is not None and is_parameterized_provider(default):
            raise self.refuse(f"{r.urn}: parameterized providers cannot be replayed by type name")
        target_v = provider_version(default) if default is not None else version_from_provider_urn(purn)
        target_url = provider_download_url(default) if default is not None else None
        used_v, used_url = target_v, target_url
        if self.policy == "current" and pkg:
            kept = self._current_for(r, pkg)
            if kept is not None and kept[0]:
                used_v, used_url = kept
        return None, target_v, used_v, used_url

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

    def _record(self, urn: str, pkg: str, target_v: str | None, used_v: str | None) -> None:
        key = (pkg, target_v, used_v)
        self.stats[key] = self.stats.get(key, 0) + 1
        if target_v != used_v:
            self.overrides[urn] = (target_v, used_v)

    def versions(self) -> tuple[ProviderVersion, ...]:
        current: dict[str, set[str]] = {}
        for r in self.current_by_urn.values():
            if r.is_provider:
                v = provider_version(r)
                if v:
                    current.setdefault(provider_package(r.type), set()).add(v)
        out = []
        for (pkg, target_v, used_v), n in sorted(self.stats.items(),
                                                 key=lambda kv: (kv[0][0], str(kv[0][1]), str(kv[0][2]))):
            out.append(ProviderVersion(package=pkg, target=target_v, used=used_v,
                                       current=tuple(sorted(current.get(pkg, ()), key=semver_key)), resources=n))
        return tuple(out)
