"""The semantic diff of two checkpoints, from the rollback's point of view (current -> target).

:func:`diff_deployments` is pure: it reads two :class:`~rollback.models.Deployment` objects (and
reveals secrets through their :class:`~rollback.state.secrets.SecretBox`) and says, per resource,
what re-applying the target would do to what is there now:

* ``create``  only in the target: the rollback re-creates it;
* ``delete``  only now: the rollback deletes it;
* ``update``  inputs differ;
* ``replace`` inputs differ in a way that replaces the resource (see :mod:`rollback.rules`).

What is compared, and how (values: :mod:`rollback.valuediff`):

* ``inputs`` (not outputs), without keys starting with ``__`` at any depth; numbers numerically
  (``3 == 3.0``, but ``True != 1``); lists element by element; strings holding JSON documents
  (ECS ``containerDefinitions``, policies, kubeconfigs) as the documents they hold.
* A value the provider filled in now (listed in the current inputs' ``__defaults``, e.g. an
  auto-name) that is also provider-filled in the target, or absent there, is not sent by a replay,
  and the provider keeps the current value (pulumi-terraform-bridge reuses an old default): it is
  not a change; such values are counted in ``summary["defaults_kept"]``. A value the target lets
  the provider fill but that is set explicitly now is a change (the provider computes a fresh one:
  for a name, a new random suffix rather than the target's recorded name).
* Secrets by decrypted value, never by ciphertext. A secret that cannot be revealed (no
  passphrase) is listed in ``uncompared_secrets`` and in the warnings; a wrong passphrase raises
  :class:`~rollback.errors.SecretsError`. Every secret value shows as ``[secret]``.
* A target path covered by the target's ``ignoreChanges`` does not roll back: it is dropped from
  the changes and reported in the warnings.
* A top-level input that holds a dependency's output on both sides (:mod:`rollback.liverefs`, the rule
  the replay follows) is compared by what it points at: unchanged, unless the dependency is replaced,
  when the new one's output flows in.

The root stack resource is not compared (its outputs are re-exported, not registered).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rollback.dependents import deletes_before_replace, dependent_replacements
from rollback.liverefs import Outputs, property_dependencies
from rollback.models import Deployment, Op, Resource, same_inputs, split_provider_ref, urn_name
from rollback.paths import Path, covers, format_path, parse_path
from rollback.renames import renamed
from rollback.rules import (
    PROVIDER_META_KEYS,
    RuleInput,
    fired_rule,
    is_data_bearing,
    kubeconfig_servers,
    provider_replace_keys,
)
from rollback.state.secrets import SecretBox, SecretUnavailable
from rollback.valuediff import ABSENT, PropertyChange, UncomparedSecret, ValueDiff, display

OPS = (Op.DELETE, Op.REPLACE, Op.CREATE, Op.UPDATE)
_OP_ORDER = {op: i for i, op in enumerate(OPS)}


@dataclass(frozen=True)
class ResourceChange:
    urn: str
    type: str
    op: Op
    properties: tuple[PropertyChange, ...] = ()
    replace_reason: str | None = None         # "<rule-name>: <detail>"
    data_bearing: bool = False
    protected: bool = False

    @property
    def name(self) -> str:
        return urn_name(self.urn)

    @property
    def replace_rule(self) -> str | None:
        return self.replace_reason.split(": ", 1)[0] if self.replace_reason else None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "urn": self.urn, "type": self.type, "op": self.op,
            "properties": [p.to_dict() for p in self.properties],
        }
        if self.replace_reason:
            d["replace_reason"] = self.replace_reason
        d["data_bearing"] = self.data_bearing
        d["protected"] = self.protected
        return d


@dataclass(frozen=True)
class DataLoss:
    urn: str
    type: str
    op: Op
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "op": self.op, "reason": self.reason}


@dataclass(frozen=True)
class ProviderChange:
    """Resources whose provider differs in the target (another provider URN, or a replaced provider)."""

    before: str                    # provider URN now
    after: str                     # provider URN in the target
    resources: int
    replaces: bool                 # the difference replaces these resources (provider-change)
    config_keys: tuple[str, ...] = ()   # provider config keys that differ (version and __ keys aside)

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.before, "to": self.after, "resources": self.resources,
                "replaces": self.replaces, "config_keys": list(self.config_keys)}


@dataclass(frozen=True)
class DiffResult:
    changes: tuple[ResourceChange, ...]
    warnings: tuple[str, ...] = ()
    uncompared_secrets: tuple[UncomparedSecret, ...] = ()
    unchanged: int = 0
    defaults_kept: tuple[tuple[str, str], ...] = ()      # (urn, path) of provider defaults kept as they are
    provider_changes: tuple[ProviderChange, ...] = ()
    data_loss: tuple[DataLoss, ...] = ()

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {op: 0 for op in (Op.CREATE, Op.UPDATE, Op.REPLACE, Op.DELETE)}
        for c in self.changes:
            counts[c.op] += 1
        return counts

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.counts())
        out["unchanged"] = self.unchanged
        out["data_loss"] = [d.to_dict() for d in self.data_loss]
        out["protected"] = [{"urn": c.urn, "type": c.type, "op": c.op} for c in self.changes
                            if c.protected and c.op.destroys]
        out["provider_changes"] = [p.to_dict() for p in self.provider_changes]
        out["uncompared_secrets"] = [u.to_dict() for u in self.uncompared_secrets]
        out["defaults_kept"] = len(self.defaults_kept)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract (the caller adds stack, from_version, to_version, skipped)."""
        return {"changes": [c.to_dict() for c in self.changes], "summary": self.summary(),
                "warnings": list(self.warnings)}


# ----------------------------------------------------------------------------------------------


def diff_deployments(current: Deployment, target: Deployment, *, current_secrets: SecretBox,
                     target_secrets: SecretBox) -> DiffResult:
    """What rolling ``current`` back to ``target`` changes, resource by resource."""
    return _Differ(current, target, current_secrets, target_secrets).run()


def _provider_urn(ref: str | None) -> str:
    return split_provider_ref(ref)[0] if ref else ""


class _Providers:
    """How the two checkpoints' providers differ: which of them replace the resources they manage
    (provider-change), how many resources move between providers, and what to say about it."""

    def __init__(self, current: Deployment, target: Deployment, values: ValueDiff) -> None:
        self.values = values
        self.cur = {r.urn: r for r in current.resources if r.is_provider and not r.delete}
        self.tgt = {r.urn: r for r in target.resources if r.is_provider and not r.delete}
        self.cache: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self.moves: dict[tuple[str, str], int] = {}
        # Providers present on both sides whose own configuration change replaces them (and so every
        # resource they manage): URN -> the keys that differ.
        self.replaced: dict[str, tuple[str, ...]] = {}
        for urn, pa in self.cur.items():
            pb = self.tgt.get(urn)
            if pb is not None and pa.raw.get("inputs") != pb.raw.get("inputs"):
                forcing, _other = self._delta(pa, pb)
                if forcing:
                    self.replaced[urn] = forcing

    def of(self, res: Resource) -> Resource | None:
        """The provider resource ``res`` names (the target's, else the current one)."""
        b = _provider_urn(res.provider)
        return self.tgt.get(b) or self.cur.get(b)

    def change(self, now: Resource, then: Resource) -> str | None:
        """Why this resource's provider replaces it in the rollback, or None (counts the moves)."""
        if now.is_provider:
            keys = self.replaced.get(now.urn)
            return (f"{', '.join(keys)} changes: the provider and every resource it manages are replaced"
                    if keys else None)
        if not (now.custom or then.custom):
            return None
        a, b = _provider_urn(now.provider), _provider_urn(then.provider)
        if a != b:
            self.moves[(a, b)] = self.moves.get((a, b), 0) + 1
            if not a or not b:
                return "the resource gains or loses its provider reference"
            forcing, _other = self._move(a, b)
            return f"provider {urn_name(a)} -> {urn_name(b)}: {', '.join(forcing)} differ" if forcing else None
        if a in self.replaced:
            self.moves[(a, b)] = self.moves.get((a, b), 0) + 1
            return f"its provider {urn_name(a)} is replaced ({', '.join(self.replaced[a])} changes)"
        return None

    def changes(self) -> tuple[list[ProviderChange], list[str]]:
        """Every provider difference that moves resources, and a warning for each."""
        out, warnings = [], []
        for (a, b), count in sorted(self.moves.items()):
            forcing, other = self.cache.get((a, b), ((), ()))
            if a == b:
                forcing = self.replaced.get(a, ())
            out.append(ProviderChange(a, b, count, bool(forcing), tuple(sorted(set(forcing) | set(other)))))
            warnings.append(_provider_warning(a, b, count, forcing, other))
        return out, warnings

    def _move(self, a: str, b: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        key = (a, b)
        if key not in self.cache:
            pa, pb = self.cur.get(a), self.tgt.get(b)
            self.cache[key] = ((), ("(provider not found in state)",)) if pa is None or pb is None \
                else self._delta(pa, pb)
        return self.cache[key]

    def _delta(self, pa: Resource, pb: Resource) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(config keys whose difference replaces the provider, other config keys that differ)."""
        ca = {k: v for k, v in pa.inputs.items() if k not in PROVIDER_META_KEYS and not k.startswith("__")}
        cb = {k: v for k, v in pb.inputs.items() if k not in PROVIDER_META_KEYS and not k.startswith("__")}
        forcing_keys = provider_replace_keys(pb.type, ca, cb)
        forcing: list[str] = []
        other: list[str] = []
        for k in sorted(set(ca) | set(cb)):
            try:
                differs = self._differs(k, ca.get(k, ABSENT), cb.get(k, ABSENT), forcing_keys)
            except SecretUnavailable as exc:
                self.values.uncompared.append(UncomparedSecret(pa.urn, format_path((k,)), str(exc)))
                differs = "forcing" if k in forcing_keys else "other"
            if differs == "forcing":
                forcing.append(k)
            elif differs == "other":
                other.append(k)
        return tuple(forcing), tuple(other)

    def _differs(self, k: str, va: Any, vb: Any, forcing_keys: tuple[str, ...]) -> str | None:
        """``forcing``, ``other`` or None (the same) for provider config key ``k``; a kubeconfig pointing at
        the same cluster (its servers) replaces nothing, one pointing elsewhere replaces if the key forces."""
        kind = "forcing" if k in forcing_keys else "other"
        if k == "kubeconfig" and va is not ABSENT and vb is not ABSENT:
            sa = kubeconfig_servers(self.values.reveal(va, self.values.cs))
            sb = kubeconfig_servers(self.values.reveal(vb, self.values.ts))
            same_cluster = sa == sb if sa is not None and sb is not None else None
            if same_cluster is True:
                return None if self.values.equal(va, vb) else "other"
            if same_cluster is False:
                return kind
        return None if self.values.equal(va, vb) else kind


def _provider_warning(a: str, b: str, count: int, forcing: tuple[str, ...], other: tuple[str, ...]) -> str:
    na, nb = urn_name(a) or "(none)", urn_name(b) or "(none)"
    if a == b:
        return (f"provider {na} is replaced ({', '.join(forcing)} changes): the {count} resource(s) it "
                f"manages are replaced with it (provider-change)")
    head = f"provider of {count} resource(s) differs: {na} now, {nb} in the target"
    if not a or not b:
        return f"{head}; a resource that gains or loses its provider is replaced (provider-change)"
    if forcing:
        return f"{head}; {', '.join(forcing)} differ, which replaces them (provider-change)"
    if other:
        return (f"{head}; the configurations differ only in {', '.join(other)}, which the engine does not "
                f"treat as a replacement (the new provider's DiffConfig has the last word)")
    return f"{head}, with the same configuration (only the plugin version differs: no replacement)"


class _Differ:
    """The diff of two checkpoints: everything it knows is set up here, ``run()`` tells the story."""

    def __init__(self, current: Deployment, target: Deployment, cs: SecretBox, ts: SecretBox) -> None:
        self.current, self.target = current, target
        # The same ciphertext under the same key is the same value (Pulumi re-uses ciphertexts of
        # unchanged secrets); under different keys it means nothing.
        self.values = ValueDiff(cs, ts, same_key=(cs is ts) or (current.secrets_provider == target.secrets_provider))
        self.warnings: list[str] = []
        self.cur, self.tgt = current.by_urn(), target.by_urn()
        self.cur_outputs, self.tgt_outputs = Outputs(self.cur), Outputs(self.tgt)
        self.memo: dict[str, ResourceChange | None] = {}
        self.providers = _Providers(current, target, self.values)
        self.renames = renamed(self.cur, self.tgt)   # target URN -> current URN (a rename undone in place)

    # -- resources ------------------------------------------------------------------------------
    def run(self) -> DiffResult:
        changes, unchanged = self._changes()
        changes, unchanged = self._with_dependents(changes, unchanged)
        # A resource read with `external: true` is only dropped from the state, never deleted.
        data_loss = [DataLoss(c.urn, c.type, c.op, self._loss_reason(c, self.cur.get(c.urn)))
                     for c in changes if c.data_bearing and c.op.destroys
                     and not (c.urn in self.cur and self.cur[c.urn].external)]
        data_loss.extend(self._pending_deletes())
        for c in changes:
            if c.protected and c.op.destroys:
                self.warnings.append(
                    f"{c.urn} is protected and would be {'deleted' if c.op is Op.DELETE else 'replaced'}: "
                    f"the engine refuses to delete protected resources (unprotect it first, or keep it)")
        moves, warnings = self.providers.changes()
        self.warnings += warnings
        uncompared = self.values.uncompared
        self.warnings += [f"secret at {u.urn} {u.path} could not be compared: {u.reason}" for u in uncompared]
        return DiffResult(changes=tuple(changes), warnings=tuple(self.warnings),
                          uncompared_secrets=tuple(uncompared), unchanged=unchanged,
                          defaults_kept=tuple(self.values.kept), provider_changes=tuple(moves),
                          data_loss=tuple(data_loss))

    def _changes(self) -> tuple[list[ResourceChange], int]:
        """Every resource's change, data-losing ones first; and how many are unchanged."""
        changes: list[ResourceChange] = []
        unchanged = 0
        renamed_now = set(self.renames.values())
        for urn, now in self.cur.items():
            if now.is_stack or urn in renamed_now:
                continue
            then = self.tgt.get(urn)
            change = self._gone(now) if then is None else self._both_once(now, then)
            if change is None:
                unchanged += 1
            else:
                changes.append(change)
        for urn, then in self.tgt.items():
            if urn in self.cur or then.is_stack:
                continue
            was = self.renames.get(urn)
            if was is not None:
                self.warnings.append(f"{urn_name(was)} goes back to its name {urn_name(urn)} in place ({was} -> "
                                     f"{urn}, through an alias): no create, no delete")
                change = self._both_once(self.cur[was], then)
                if change is None:
                    unchanged += 1
                else:
                    changes.append(replace(change, urn=urn))
                continue
            changes.append(ResourceChange(
                urn=urn, type=then.type, op=Op.CREATE,
                data_bearing=is_data_bearing(then.type, then.inputs), protected=then.protect))
        changes.sort(key=lambda c: (0 if c.data_bearing and c.op.destroys else 1, _OP_ORDER[c.op], c.urn))
        return changes, unchanged

    def _with_dependents(self, changes: list[ResourceChange], unchanged: int) -> tuple[list[ResourceChange], int]:
        """Resources replaced because something they depend on is deleted before it is replaced
        (:mod:`rollback.dependents`)."""
        roots = [c.urn for c in changes if c.op is Op.REPLACE and c.urn in self.cur and c.urn in self.tgt
                 and deletes_before_replace(self.cur[c.urn], self.tgt[c.urn])]
        extra = dependent_replacements(self.cur, roots) if roots else {}
        if not extra:
            return changes, unchanged
        by_urn = {c.urn: i for i, c in enumerate(changes)}
        for urn, why in extra.items():
            reason = f"dependent-replace: {why}"
            if urn in by_urn:
                c = changes[by_urn[urn]]
                if c.op is Op.UPDATE:
                    changes[by_urn[urn]] = replace(c, op=Op.REPLACE, replace_reason=reason)
                continue
            now = self.cur[urn]
            then = self.tgt.get(urn, now)
            changes.append(ResourceChange(urn=urn, type=then.type, op=Op.REPLACE, replace_reason=reason,
                                          data_bearing=is_data_bearing(now.type, now.inputs), protected=now.protect))
            unchanged -= 1
        changes.sort(key=lambda c: (0 if c.data_bearing and c.op.destroys else 1, _OP_ORDER[c.op], c.urn))
        return changes, unchanged

    def _gone(self, now: Resource) -> ResourceChange:
        return ResourceChange(urn=now.urn, type=now.type, op=Op.DELETE,
                              data_bearing=is_data_bearing(now.type, now.inputs), protected=now.protect)

    def _loss_reason(self, change: ResourceChange, now: Resource | None) -> str:
        if change.op is Op.DELETE:
            text = "only in the current version: the rollback deletes it"
        else:
            text = f"replaced ({change.replace_reason}): a new, empty one takes its place"
        if now is not None and now.retain_on_delete:
            text += "; retainOnDelete keeps the old cloud resource, but the stack no longer manages it"
        return text

    def _pending_deletes(self) -> list[DataLoss]:
        pending = [r for r in self.current.resources if r.delete and not r.is_stack]
        if not pending:
            return []
        self.warnings.append(
            f"{len(pending)} resource(s) pending deletion in the current state (left over from an interrupted "
            f"replace) will be deleted by the rollback's update: " + ", ".join(r.urn for r in pending))
        return [DataLoss(r.urn, r.type, Op.DELETE,
                         "pending deletion in the current state (the old copy from a replace): "
                         "the rollback's update deletes it")
                for r in pending if is_data_bearing(r.type, r.inputs)]

    def _both_once(self, now: Resource, then: Resource) -> ResourceChange | None:
        """The change of a resource in both checkpoints, computed once (references ask for it early)."""
        if now.urn not in self.memo:
            self.memo[now.urn] = None   # a reference cycle reads as "unchanged" rather than looping
            self.memo[now.urn] = self._both(now, then)
        return self.memo[now.urn]

    def _same_references(self, now: Resource, then: Resource) -> dict[str, tuple[str, str]]:
        """Top-level inputs that, on both sides, refer to the same output of the same dependency
        (:mod:`rollback.liverefs`: the replay follows exactly these)."""
        out: dict[str, tuple[str, str]] = {}
        for key in property_dependencies(now).keys() & property_dependencies(then).keys():
            a = self.cur_outputs.reference(now, key)
            if a is not None and a == self.tgt_outputs.reference(then, key):
                out[key] = a
        return out

    def _follows(self, now: Resource, refs: dict[str, tuple[str, str]]) -> list[tuple[Path, PropertyChange]]:
        """A reference compared by what it points at: if the dependency is replaced, the new one's output
        flows in (ECS: the service moves to the new task definition revision)."""
        follows: list[tuple[Path, PropertyChange]] = []
        for key, (dep_urn, out_key) in sorted(refs.items()):
            dep_now, dep_then = self.cur.get(dep_urn), self.tgt.get(dep_urn)
            dep_change = self._both_once(dep_now, dep_then) if dep_now and dep_then else None
            if dep_change is not None and dep_change.op is Op.REPLACE:
                follows.append(((key,), PropertyChange(
                    format_path((key,)), display(now.inputs.get(key)),
                    f"[{out_key} of the new {dep_change.type} {urn_name(dep_urn)}]")))
        return follows

    def _both(self, now: Resource, then: Resource) -> ResourceChange | None:
        props: list[tuple[Path, PropertyChange]] = []
        identical = self._inputs_identical(now, then)
        refs = self._same_references(now, then) if not identical else {}
        follows = self._follows(now, refs)
        if not identical:
            self.values.walk(now.urn, {k: v for k, v in now.inputs.items() if k not in refs},
                             {k: v for k, v in then.inputs.items() if k not in refs}, (), props)
        props = sorted(props + follows, key=lambda p: str(p[0][0]) if p[0] else "")  # stable: walk order kept
        if props and then.ignore_changes:
            props = self._drop_ignored(then, props)
        provider_change = self.providers.change(now, then)
        if not props and not provider_change and not now.pending_replacement:
            return None
        provider_res = self.providers.of(then)
        hit = fired_rule(RuleInput(
            type=then.type, changed=tuple(p for p, _ in props), before=now, after=then,
            provider_change=provider_change,
            provider_inputs=provider_res.inputs if provider_res is not None else None))
        if now.pending_replacement:
            note = f"{now.urn} is pending replacement in the current state: the rollback replaces it"
            if now.type.startswith("kubernetes:"):
                note += (" (a Kubernetes object replaced without delete-before-replace can lose the object "
                         "just created, pulumi-kubernetes#4522)")
            self.warnings.append(note)
        return ResourceChange(
            urn=now.urn, type=then.type, op=Op.REPLACE if hit else Op.UPDATE,
            properties=tuple(p for _, p in props),
            replace_reason=f"{hit[0].name}: {hit[1]}" if hit else None,
            data_bearing=is_data_bearing(now.type, now.inputs) or is_data_bearing(then.type, then.inputs),
            protected=now.protect)

    @staticmethod
    def _inputs_identical(now: Resource, then: Resource) -> bool:
        """Fast path: byte-for-byte equal raw inputs need no decoding or decryption (decided once per pair)."""
        return same_inputs(now, then)

    def _drop_ignored(self, then: Resource, props: list[tuple[Path, PropertyChange]]
                      ) -> list[tuple[Path, PropertyChange]]:
        patterns = []
        for text in then.ignore_changes:
            try:
                patterns.append((text, parse_path(text)))
            except ValueError:
                self.warnings.append(f"{then.urn}: ignoreChanges path {text!r} cannot be parsed")
        kept = []
        for path, prop in props:
            pattern = next((text for text, pat in patterns if covers(pat, path)), None)
            if pattern is None:
                kept.append((path, prop))
            else:
                self.warnings.append(f"{then.urn}: {prop.path} differs but the target ignores changes to "
                                     f"{pattern} (ignoreChanges): it will not roll back")
        return kept


__all__ = [
    "ABSENT", "DataLoss", "DiffResult", "PropertyChange", "ProviderChange", "ResourceChange",
    "UncomparedSecret", "diff_deployments",
]
