"""The semantic diff of two checkpoints, from the rollback's point of view (current -> target).

:func:`diff_deployments` is pure: it reads two :class:`~rollback.models.Deployment` objects (and
reveals secrets through their :class:`~rollback.state.secrets.SecretBox`) and says, per resource,
what re-applying the target would do to what is there now:

* ``create``  only in the target: the rollback re-creates it;
* ``delete``  only now: the rollback deletes it;
* ``update``  inputs differ;
* ``replace`` inputs differ in a way that replaces the resource (see :mod:`rollback.rules`).

What is compared, and how:

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

import json
from dataclasses import dataclass
from typing import Any

from rollback.liverefs import Outputs, property_dependencies
from rollback.models import Deployment, Op, Resource, split_provider_ref, urn_name
from rollback.rules import (
    PROVIDER_META_KEYS,
    Path,
    RuleInput,
    covers,
    fired_rule,
    format_path,
    is_data_bearing,
    kubeconfig_servers,
    parse_path,
    provider_replace_keys,
)
from rollback.state.secrets import SecretBox, SecretUnavailable
from rollback.state.values import (
    SECRET_TEXT,
    Archive,
    Asset,
    ResourceReference,
    Secret,
    contains_secret,
    to_display,
)

OPS = (Op.DELETE, Op.REPLACE, Op.CREATE, Op.UPDATE)
_OP_ORDER = {op: i for i, op in enumerate(OPS)}


class _Absent:
    """A key or list element that is not there (distinct from a JSON null)."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT = _Absent()


@dataclass(frozen=True)
class PropertyChange:
    path: str
    before: Any          # display value: JSON-safe, secrets as "[secret]", None when absent
    after: Any
    secret: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "before": self.before, "after": self.after}
        if self.secret:
            d["secret"] = True
        return d


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
class UncomparedSecret:
    urn: str
    path: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"urn": self.urn, "path": self.path}


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

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def counts(self) -> dict[str, int]:
        counts = {op: 0 for op in (Op.CREATE, Op.UPDATE, Op.REPLACE, Op.DELETE)}
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


def _json_container(text: str) -> Any:
    """The parsed document if ``text`` is a JSON object or array, else None."""
    s = text.lstrip()
    if not s or s[0] not in "{[":
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, (dict, list)) else None


def _display(value: Any) -> Any:
    return None if value is ABSENT else to_display(value)


def _provider_urn(ref: str | None) -> str:
    return split_provider_ref(ref)[0] if ref else ""


class _Differ:
    def __init__(self, current: Deployment, target: Deployment, cs: SecretBox, ts: SecretBox) -> None:
        self.current, self.target = current, target
        self.cs, self.ts = cs, ts
        # The same ciphertext under the same key is the same value (Pulumi re-uses ciphertexts of
        # unchanged secrets); under different keys it means nothing.
        self.same_key = (cs is ts) or (current.secrets_provider == target.secrets_provider)
        self.uncompared: list[UncomparedSecret] = []
        self.kept: list[tuple[str, str]] = []
        self.warnings: list[str] = []
        self._urn = ""
        self._cur_providers = {r.urn: r for r in current.resources if r.is_provider and not r.delete}
        self._tgt_providers = {r.urn: r for r in target.resources if r.is_provider and not r.delete}
        self._provider_cache: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        # Providers present on both sides whose own configuration change replaces them (and so
        # every resource they manage): URN -> the keys that differ.
        self._replaced_providers: dict[str, tuple[str, ...]] = {}
        for urn, pa in self._cur_providers.items():
            pb = self._tgt_providers.get(urn)
            if pb is not None and pa.raw.get("inputs") != pb.raw.get("inputs"):
                forcing, _other = self._provider_delta(pa, pb)
                if forcing:
                    self._replaced_providers[urn] = forcing

    # -- resources ------------------------------------------------------------------------------
    def run(self) -> DiffResult:
        cur = self.current.by_urn()
        tgt = self.target.by_urn()
        self._cur, self._tgt = cur, tgt
        self._cur_outputs, self._tgt_outputs = Outputs(cur), Outputs(tgt)
        self._memo: dict[str, ResourceChange | None] = {}
        changes: list[ResourceChange] = []
        unchanged = 0
        provider_moves: dict[tuple[str, str], int] = {}
        self._moves = provider_moves
        for urn, now in cur.items():
            if now.is_stack:
                continue
            then = tgt.get(urn)
            if then is None:
                changes.append(self._gone(now))
                continue
            change = self._both_once(now, then)
            if change is None:
                unchanged += 1
            else:
                changes.append(change)
        for urn, then in tgt.items():
            if urn not in cur and not then.is_stack:
                changes.append(ResourceChange(
                    urn=urn, type=then.type, op=Op.CREATE,
                    data_bearing=is_data_bearing(then.type, then.inputs), protected=then.protect))

        changes.sort(key=lambda c: (0 if c.data_bearing and c.op.destroys else 1,
                                    _OP_ORDER[c.op], c.urn))
        # A resource read with `external: true` is only dropped from the state, never deleted.
        data_loss = [DataLoss(c.urn, c.type, c.op, self._loss_reason(c, cur.get(c.urn)))
                     for c in changes if c.data_bearing and c.op.destroys
                     and not (c.urn in cur and cur[c.urn].external)]
        data_loss.extend(self._pending_deletes())
        for c in changes:
            if c.protected and c.op.destroys:
                self.warnings.append(
                    f"{c.urn} is protected and would be {'deleted' if c.op is Op.DELETE else 'replaced'}: "
                    f"the engine refuses to delete protected resources (unprotect it first, or keep it)")
        moves = []
        for (a, b), count in sorted(provider_moves.items()):
            forcing, other = self._provider_cache.get((a, b), ((), ()))
            if a == b:
                forcing = self._replaced_providers.get(a, ())
            moves.append(ProviderChange(a, b, count, bool(forcing), tuple(sorted(set(forcing) | set(other)))))
            self.warnings.append(self._provider_warning(a, b, count, forcing, other))
        for u in self.uncompared:
            self.warnings.append(f"secret at {u.urn} {u.path} could not be compared: {u.reason}")
        return DiffResult(changes=tuple(changes), warnings=tuple(self.warnings),
                          uncompared_secrets=tuple(self.uncompared), unchanged=unchanged,
                          defaults_kept=tuple(self.kept), provider_changes=tuple(moves),
                          data_loss=tuple(data_loss))

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
        if now.urn not in self._memo:
            saved = self._urn
            self._memo[now.urn] = None   # a reference cycle reads as "unchanged" rather than looping
            self._memo[now.urn] = self._both(now, then, self._moves)
            self._urn = saved
        return self._memo[now.urn]

    def _same_references(self, now: Resource, then: Resource) -> dict[str, tuple[str, str]]:
        """Top-level inputs that, on both sides, refer to the same output of the same dependency
        (:mod:`rollback.liverefs`: the replay follows exactly these)."""
        out: dict[str, tuple[str, str]] = {}
        for key in property_dependencies(now).keys() & property_dependencies(then).keys():
            a = self._cur_outputs.reference(now, key)
            if a is not None and a == self._tgt_outputs.reference(then, key):
                out[key] = a
        return out

    def _both(self, now: Resource, then: Resource,
              provider_moves: dict[tuple[str, str], int]) -> ResourceChange | None:
        props: list[tuple[Path, PropertyChange]] = []
        refs = self._same_references(now, then) if not self._inputs_identical(now, then) else {}
        follows: list[tuple[Path, PropertyChange]] = []
        for key, (dep_urn, out_key) in sorted(refs.items()):
            # Compare a reference by what it points at: if the dependency is replaced, the new one's
            # output flows in (ECS: the service moves to the new task definition revision).
            dep_now, dep_then = self._cur.get(dep_urn), self._tgt.get(dep_urn)
            dep_change = self._both_once(dep_now, dep_then) if dep_now and dep_then else None
            if dep_change is not None and dep_change.op is Op.REPLACE:
                follows.append(((key,), PropertyChange(
                    format_path((key,)), _display(now.inputs.get(key)),
                    f"[{out_key} of the new {dep_change.type.rsplit(':', 1)[-1]} {urn_name(dep_urn)}]")))
        self._urn = now.urn
        if not self._inputs_identical(now, then):
            if refs:
                self._walk({k: v for k, v in now.inputs.items() if k not in refs},
                           {k: v for k, v in then.inputs.items() if k not in refs}, (), props)
            else:
                self._walk(now.inputs, then.inputs, (), props)
        props = sorted(props + follows, key=lambda p: str(p[0][0]) if p[0] else "")  # stable: walk order kept

        if props and then.ignore_changes:
            props = self._drop_ignored(then, props)

        provider_change = self._provider_change(now, then, provider_moves)
        if not props and not provider_change and not now.pending_replacement:
            return None
        b = _provider_urn(then.provider)
        provider_res = self._tgt_providers.get(b) or self._cur_providers.get(b)
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
        """Fast path: byte-for-byte equal raw inputs need no decoding or decryption."""
        if "inputs" not in now.raw or "inputs" not in then.raw:
            return False
        ra, rb = now.raw["inputs"], then.raw["inputs"]
        if ra is rb:
            return True
        if ra != rb:
            return False
        # Python's == says True == 1 and 3 == 3.0; the JSON text tells them apart (and a mismatch
        # only sends us down the exact, slower path).
        try:
            return json.dumps(ra, sort_keys=True) == json.dumps(rb, sort_keys=True)
        except (TypeError, ValueError):
            return False

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

    # -- providers ------------------------------------------------------------------------------
    def _provider_change(self, now: Resource, then: Resource,
                         provider_moves: dict[tuple[str, str], int]) -> str | None:
        """Why this resource's provider replaces it in the rollback, or None."""
        if now.is_provider:
            keys = self._replaced_providers.get(now.urn)
            return (f"{', '.join(keys)} changes: the provider and every resource it manages are replaced"
                    if keys else None)
        if not (now.custom or then.custom):
            return None
        a, b = _provider_urn(now.provider), _provider_urn(then.provider)
        if a != b:
            provider_moves[(a, b)] = provider_moves.get((a, b), 0) + 1
            if not a or not b:
                return "the resource gains or loses its provider reference"
            forcing, _other = self._provider_move(a, b)
            return (f"provider {urn_name(a)} -> {urn_name(b)}: {', '.join(forcing)} differ"
                    if forcing else None)
        if a in self._replaced_providers:
            provider_moves[(a, b)] = provider_moves.get((a, b), 0) + 1
            return f"its provider {urn_name(a)} is replaced ({', '.join(self._replaced_providers[a])} changes)"
        return None

    def _provider_move(self, a: str, b: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        key = (a, b)
        if key not in self._provider_cache:
            pa, pb = self._cur_providers.get(a), self._tgt_providers.get(b)
            if pa is None or pb is None:
                self._provider_cache[key] = ((), ("(provider not found in state)",))
            else:
                self._provider_cache[key] = self._provider_delta(pa, pb)
        return self._provider_cache[key]

    def _provider_delta(self, pa: Resource, pb: Resource) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(config keys whose difference replaces the provider, other config keys that differ)."""
        ca = {k: v for k, v in pa.inputs.items() if k not in PROVIDER_META_KEYS and not k.startswith("__")}
        cb = {k: v for k, v in pb.inputs.items() if k not in PROVIDER_META_KEYS and not k.startswith("__")}
        forcing_keys = provider_replace_keys(pb.type, ca, cb)
        forcing: list[str] = []
        other: list[str] = []
        saved, self._urn = self._urn, pa.urn
        try:
            for k in sorted(set(ca) | set(cb)):
                va, vb = ca.get(k, ABSENT), cb.get(k, ABSENT)
                try:
                    if k == "kubeconfig" and va is not ABSENT and vb is not ABSENT:
                        sa = kubeconfig_servers(self._reveal(va, self.cs))
                        sb = kubeconfig_servers(self._reveal(vb, self.ts))
                        same_cluster = sa == sb if sa is not None and sb is not None else None
                        if same_cluster is True:
                            if not self._equal(va, vb):
                                other.append(k)
                            continue
                        if same_cluster is False:
                            (forcing if k in forcing_keys else other).append(k)
                            continue
                    if not self._equal(va, vb):
                        (forcing if k in forcing_keys else other).append(k)
                except SecretUnavailable as exc:
                    self.uncompared.append(UncomparedSecret(pa.urn, format_path((k,)), str(exc)))
                    (forcing if k in forcing_keys else other).append(k)
        finally:
            self._urn = saved
        return tuple(forcing), tuple(other)

    def _provider_warning(self, a: str, b: str, count: int, forcing: tuple[str, ...],
                          other: tuple[str, ...]) -> str:
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

    # -- values ---------------------------------------------------------------------------------
    def _walk(self, a: Any, b: Any, path: Path, out: list[tuple[Path, PropertyChange]]) -> None:
        """Append the differences between ``a`` (now) and ``b`` (target) below ``path``."""
        if a is b:
            return
        if isinstance(a, Secret) or isinstance(b, Secret):
            self._secret(a, b, path, out)
            return
        if isinstance(a, dict) and isinstance(b, dict):
            tdefs = b.get("__defaults")
            cdefs = a.get("__defaults")
            for key in sorted(set(a) | set(b)):
                if key.startswith("__"):
                    continue
                va, vb = a.get(key, ABSENT), b.get(key, ABSENT)
                if va is not ABSENT and (
                        (isinstance(tdefs, list) and key in tdefs and (not isinstance(cdefs, list) or key in cdefs))
                        or (vb is ABSENT and isinstance(cdefs, list) and key in cdefs)):
                    # Filled in by the provider now, and in the target too (or not set there at all): a
                    # replay does not send it and the provider keeps the current value.
                    if not self._equal_or_unknown(va, vb):
                        self.kept.append((self._urn, format_path(path + (key,))))
                    continue
                self._walk(va, vb, path + (key,), out)
            return
        if isinstance(a, list) and isinstance(b, list):
            for i in range(max(len(a), len(b))):
                self._walk(a[i] if i < len(a) else ABSENT, b[i] if i < len(b) else ABSENT, path + (i,), out)
            return
        if isinstance(a, str) and isinstance(b, str):
            if a == b:
                return
            da, db = _json_container(a), _json_container(b)
            if da is not None and db is not None:
                self._walk(da, db, path, out)
                return
        elif self._plain_equal(a, b):
            return
        secret = contains_secret(a) or contains_secret(b)
        out.append((path, PropertyChange(format_path(path), _display(a), _display(b), secret)))

    def _secret(self, a: Any, b: Any, path: Path, out: list[tuple[Path, PropertyChange]]) -> None:
        text = format_path(path)
        if a is not ABSENT and b is not ABSENT:
            try:
                if self._equal(a, b):
                    return
            except SecretUnavailable as exc:
                self.uncompared.append(UncomparedSecret(self._urn, text, str(exc)))
                return
        out.append((path, PropertyChange(text, None if a is ABSENT else SECRET_TEXT,
                                         None if b is ABSENT else SECRET_TEXT, True)))

    def _equal_or_unknown(self, a: Any, b: Any) -> bool:
        try:
            return self._equal(a, b)
        except SecretUnavailable:
            return False

    def _reveal(self, value: Any, box: SecretBox) -> Any:
        return box.reveal(value) if isinstance(value, Secret) else value

    def _equal(self, a: Any, b: Any) -> bool:
        """Deep semantic equality (a from now, b from the target); may raise SecretUnavailable."""
        if a is b:
            return True
        if isinstance(a, Secret) or isinstance(b, Secret):
            if isinstance(a, Secret) and isinstance(b, Secret):
                if a.ciphertext is not None and a.ciphertext == b.ciphertext and self.same_key:
                    return True
                if a.plaintext is not None and a.plaintext == b.plaintext:
                    return True
            return self._equal(self._reveal(a, self.cs), self._reveal(b, self.ts))
        if isinstance(a, dict) and isinstance(b, dict):
            keys = {k for k in a if not k.startswith("__")} | {k for k in b if not k.startswith("__")}
            return all(self._equal(a.get(k, ABSENT), b.get(k, ABSENT)) for k in keys)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(self._equal(x, y) for x, y in zip(a, b))
        if isinstance(a, str) and isinstance(b, str):
            if a == b:
                return True
            da, db = _json_container(a), _json_container(b)
            return da is not None and db is not None and self._equal(da, db)
        return self._plain_equal(a, b)

    @staticmethod
    def _plain_equal(a: Any, b: Any) -> bool:
        if isinstance(a, bool) or isinstance(b, bool):
            return type(a) is type(b) and a == b
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a == b
        if isinstance(a, Asset) and isinstance(b, Asset) or isinstance(a, Archive) and isinstance(b, Archive):
            if a.hash and b.hash:
                return a.hash == b.hash
            return a == b
        if isinstance(a, ResourceReference) and isinstance(b, ResourceReference):
            return a.urn == b.urn and a.id == b.id
        if type(a) is not type(b):
            return False
        return bool(a == b)


__all__ = [
    "ABSENT", "DataLoss", "DiffResult", "PropertyChange", "ProviderChange", "ResourceChange",
    "UncomparedSecret", "diff_deployments",
]
