"""A test double of :class:`rollback.engine.Engine`: the Pulumi engine, minus the cloud.

It runs the inline program (or, for ``deploy``, the project's program on disk) under the SDK's mock
runtime with a recording monitor, computes same / update / create / replace / delete against the
stack's current checkpoint, and writes the new checkpoint and history entry into the DIY backend the
way the CLI does (through :mod:`statekit.pulumi_writer`). Secrets are re-encrypted with the
stack's own passphrase provider, reusing ciphertexts of unchanged values as the CLI's cache does.

Like the engine, it answers each registration with the resource's id and outputs, so a program that reads
another resource's outputs (``task_definition.arn``) sees what the real run would: the current state's id
and top-level scalar outputs for a resource that stays or is updated, a new id (and, where the old one
had an ``arn``, a new ``arn``: an ECS task definition's next revision) for one that is replaced or created.

Like the engine (checked against the real one in tests/engine: where they disagreed, the double was fixed):

* previews and updates report their steps as engine events (``resourcePreEvent`` metadata: op, URN, type,
  the keys that force a replacement), a replacement as ``create-replacement``, ``replace``, ``delete-replaced``;
* a registration whose URN has no state is looked up by its aliases (URNs, or specs filled in from the
  registration); the state found moves to the new URN (same id) and is not deleted;
* a Kubernetes provider whose ``renderYamlToDirectory`` (or cluster) changes is replaced, and so is every
  resource it manages (the replacement keys are ``["provider"]``); a ConfigMap or Secret whose data changes is
  replaced (pulumi-kubernetes' immutable-data rule);
* in a preview, a resource that will be created or replaced answers the program with an unknown id and
  unknown outputs;
* a plan that ``up`` cannot read fails with the engine's own text (pulumi#16412), through
  :func:`rollback.engine.translate`.

Error switches (Helm's fakes have ``UpdateError``/``WaitError``) let tests make each step fail:
``fail_preview``, ``fail_up`` (after ``fail_up_after`` resources, leaving partial state as a real
failed update does), ``plan_unsupported`` (``up`` cannot read the saved plan, pulumi#16412),
``not_converged``, ``concurrent`` (the lock is held) and ``concurrent_writer`` (another update lands:
``before_preview`` or ``after_preview`` of the preview that saves a plan). ``calls`` records what it was
asked to do.
"""

from __future__ import annotations

import json
import random
import runpy
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollback.engine import StackSpec
from rollback.errors import ConcurrentUpdate, OperationFailed
from rollback.state.values import ARCHIVE_SIG, ASSET_SIG, RESOURCE_REF_SIG, SIG, UNKNOWN_VALUE
from statekit.pulumi_writer import (
    DiyBackend,
    PendingSecret,
    SecretEncrypter,
    comparable,
    deployment,
    provider_ref,
    resource,
    secret,
)

STACK_TYPE = "pulumi:pulumi:Stack"
REPLACE_ON_CHANGE = {"aws:ecs/taskDefinition:TaskDefinition"}  # immutable: a change is a new revision
# pulumi-kubernetes replaces a ConfigMap or Secret whose data changes (unless the provider makes them mutable)
REPLACE_ON_KEYS = {"kubernetes:core/v1:ConfigMap": ("data", "binaryData"),
                   "kubernetes:core/v1:Secret": ("data", "stringData")}
# Provider config keys whose change makes the provider's DiffConfig answer "replace" (the real Kubernetes
# provider, seen in tests/engine: renderYamlToDirectory replaces; namespace only updates).
PROVIDER_REPLACE_KEYS = {"kubernetes": ("renderYamlToDirectory", "cluster", "context")}


def plain(value: Any) -> Any:
    """A canonical wire value (see rollback.replay.wire) back to state JSON."""
    if isinstance(value, tuple):
        tag = value[0]
        if tag == "bool":
            return value[1]
        if tag == "unknown":
            return UNKNOWN_VALUE
        if tag == "secret":
            return secret(_unsecret(value[1]))
        if tag == "asset":
            return {SIG: ASSET_SIG, value[1]: value[2]}
        if tag == "archive":
            body = {k: plain(v) for k, v in value[2].items()} if value[1] == "assets" else value[2]
            return {SIG: ARCHIVE_SIG, value[1]: body}
        if tag == "ref":
            return {SIG: RESOURCE_REF_SIG, "urn": value[1]}
        return list(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def provider_check(new: Any, old: Any) -> Any:
    """What a provider's Check does with the current state: fills the keys it defaulted before
    (``__defaults``, e.g. auto-names) and keeps its bookkeeping keys (``__meta``, ``__defaults``)."""
    if isinstance(new, dict) and isinstance(old, dict) and old.get(SIG) is None and new.get(SIG) is None:
        out = {k: provider_check(v, old.get(k)) for k, v in new.items()}
        for k in old.get("__defaults") or []:
            if k not in out and k in old:
                out[k] = old[k]
        for k, v in old.items():
            if k.startswith("__") and k not in out:
                out[k] = v
        return out
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        return [provider_check(a, b) for a, b in zip(new, old)]
    return new


def _k8s_id(reg: Any) -> str | None:
    """A named Kubernetes object's id is ``namespace/name``: the same object after a replacement (the provider
    deletes it first, since the new one must have that name). The conformance suite found the double giving new
    ids instead."""
    if not reg.type.startswith("kubernetes:") or reg.type.startswith("kubernetes:helm"):
        return None
    meta = plain(reg.inputs).get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        return None
    return f"{meta.get('namespace') or 'default'}/{meta['name']}"


def _depends_on_deleted_first(reg: Any, deleted_first: set[str]) -> bool:
    """The engine replaces what depends on a resource deleted before it is replaced when its provider answers
    "replace" for the inputs that become unknown; for Kubernetes objects an unknown spec, metadata or data does
    (found by the conformance suite: the engine replaced a Deployment whose envFrom named a replaced ConfigMap)."""
    if not deleted_first or not reg.type.startswith("kubernetes:"):
        return False
    return any(urn in deleted_first for key, urns in reg.property_dependencies.items()
               if key in ("spec", "metadata", "data", "stringData", "binaryData") for urn in urns)


def _ignoring(new: Mapping[str, Any], old: Mapping[str, Any], paths: Any) -> dict[str, Any]:
    """``ignoreChanges``: the engine keeps the old value at each ignored path (found by the conformance suite:
    the double used to update what the engine leaves alone). Top-level keys and dotted paths."""
    out = dict(new)
    for path in paths or ():
        keys = str(path).split(".")
        src, dst = old, out
        for k in keys[:-1]:
            if not isinstance(src.get(k), dict):
                break
            src = src[k]
            dst[k] = dict(dst.get(k) or {})
            dst = dst[k]
        else:
            if keys[-1] in src:
                dst[keys[-1]] = src[keys[-1]]
            else:
                dst.pop(keys[-1], None)
    return out


def renewed_outputs(old_outputs: Mapping[str, Any], inputs: Mapping[str, Any], rid: str) -> dict[str, Any]:
    """The outputs of a replaced (or created) resource: its inputs and new id, and a new ``arn`` where the
    old object had one (an ECS task definition's next revision; otherwise the new id in the last segment)."""
    out = {**inputs, "id": rid}
    arn, revision = old_outputs.get("arn"), old_outputs.get("revision")
    if isinstance(arn, str) and isinstance(revision, int) and arn.endswith(f":{revision}"):
        out["revision"] = revision + 1
        out["arn"] = f"{arn[:-len(str(revision))]}{revision + 1}"
    elif isinstance(arn, str) and arn:
        cut = max(arn.rfind("/"), arn.rfind(":"))
        out["arn"] = f"{arn[:cut + 1]}{rid}"
    return out


def scalar_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """What the double answers a program with: the top-level strings, numbers and booleans (no secrets)."""
    return {k: v for k, v in outputs.items() if isinstance(v, (str, int, float, bool))}


def _unsecret(value: Any) -> Any:
    out = plain(value)
    return out.value if isinstance(out, PendingSecret) else out


def _event(kind: str, op: str, urn: str, type_: str, keys: tuple[str, ...] = ()) -> Any:
    from pulumi.automation.events import EngineEvent

    meta: dict[str, Any] = {"op": op, "urn": urn, "type": type_, "provider": ""}
    if keys:
        meta["keys"] = list(keys)
    return EngineEvent.from_json({"sequence": 1, "timestamp": 0, kind: {"metadata": meta}})


def step_events(op: str, urn: str, type_: str, keys: tuple[str, ...] = ()) -> list[Any]:
    """The engine's pre-events of one resource's step (a replacement is three steps)."""
    if op == "replace":
        return [_event("resourcePreEvent", o, urn, type_, keys) for o in ("create-replacement", "replace")] + \
            [_event("resourcePreEvent", "delete-replaced", urn, type_)]
    return [_event("resourcePreEvent", op, urn, type_, keys)]


@dataclass
class FakeEngine:
    root: Path
    passphrase: str
    fail_preview: str | None = None
    fail_up: str | None = None
    fail_up_after: int = 0
    plan_unsupported: bool = False
    not_converged: bool = False
    concurrent: bool = False
    concurrent_writer: Callable[[], None] | None = None   # another update landing, once
    concurrent_at: str = "after_preview"                  # or "before_preview" (of the preview saving a plan)
    seed: int = 7
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    now: int = 1_800_000_000   # unix seconds of the next operation; every update moves it on an hour

    def clock(self) -> int:
        self.now += 3600
        return self.now

    def open(self, spec: StackSpec, program: Callable[[], None] | None) -> FakeStack:
        self.calls.append(("open", {"stack": spec.stack, "project": spec.project, "inline": program is not None,
                                    "config": dict(spec.config), "config_file": spec.config_file}))
        if self.concurrent:
            raise ConcurrentUpdate("selecting stack: another update is in progress on this stack (its lock is "
                                   "held); wait for it, or clear a stale lock with `pulumi cancel`")
        if program is None:
            program = _disk_program(spec, self.passphrase)
        return FakeStack(self, spec, program)


@dataclass
class Planned:
    registrations: list[Any]
    outputs: dict[str, dict[str, Any]]
    ops: dict[str, str]
    deletes: list[str]
    answers: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # urn -> (id, outputs)
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)               # urn -> replacement keys
    olds: dict[str, str] = field(default_factory=dict)                           # urn -> URN of its state

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in [*self.ops.values(), *["delete"] * len(self.deletes)]:
            counts[op] = counts.get(op, 0) + 1
        return counts

    def changes(self) -> dict[str, str]:
        out = {u: op for u, op in self.ops.items() if op not in ("same", "read")}   # a read changes nothing
        out.update({u: "delete" for u in self.deletes})
        return out


class FakeStack:
    def __init__(self, engine: FakeEngine, spec: StackSpec, program: Callable[[], None]) -> None:
        self.engine = engine
        self.spec = spec
        self.program = program
        self.writer = DiyBackend(engine.root, seed=engine.seed)

    # -- the engine's work -------------------------------------------------------------------
    def _current(self) -> dict[str, Any]:
        return self.writer.latest(self.spec.project, self.spec.stack) or {}

    def _encrypter(self, current: Mapping[str, Any]) -> SecretEncrypter:
        salt = ((current.get("secrets_providers") or {}).get("state") or {}).get("salt")
        if not salt and self.spec.config_file is not None:
            # A new stack: `pulumi stack init` gave its state the stack config's encryptionsalt (one crypter).
            import yaml

            salt = (yaml.safe_load(Path(self.spec.config_file).read_text()) or {}).get("encryptionsalt")
        rng = random.Random(self.engine.seed + len(self.writer.history_nanos(self.spec.project, self.spec.stack)))
        if salt:
            return SecretEncrypter.resume(self.engine.passphrase, salt, rng=rng)
        return SecretEncrypter.create(self.engine.passphrase, rng=rng)

    def _op(self, reg: Any, old: Mapping[str, Any] | None, enc: SecretEncrypter,
            replaced_providers: Mapping[str, tuple[str, ...]] | None = None) -> tuple[str, tuple[str, ...]]:
        """(op, replacement keys) of one registration against the state it found."""
        if reg.op == "read":   # the engine reads it again every time (a read step), whatever it had
            return ("read-replacement" if old is not None and not old.get("external") else "read"), ()
        if old is None:
            return "create", ()
        if reg.provider and replaced_providers and reg.provider.rsplit("::", 1)[0] in replaced_providers:
            return "replace", ("provider",)
        checked = _ignoring(provider_check(plain(reg.inputs), old.get("inputs") or {}), old.get("inputs") or {},
                            reg.ignore_changes)
        new_inputs = comparable(checked, enc.reveal)
        old_inputs = comparable(old.get("inputs") or {}, enc.reveal)
        if new_inputs == old_inputs:
            return "same", ()
        changed = tuple(sorted(k for k in set(new_inputs) | set(old_inputs) if new_inputs.get(k) != old_inputs.get(k)))
        if reg.type in REPLACE_ON_CHANGE:
            return "replace", changed
        forcing = tuple(k for k in REPLACE_ON_KEYS.get(reg.type, ()) if k in changed)
        if reg.type.startswith("pulumi:providers:"):
            forcing = tuple(k for k in PROVIDER_REPLACE_KEYS.get(reg.type.rsplit(":", 1)[-1], ()) if k in changed)
        return ("replace", forcing) if forcing else ("update", ())

    def _outcome(self, reg: Any, old: Mapping[str, Any] | None, op: str) -> tuple[str, dict[str, Any]]:
        """(id, outputs) of a custom resource after this operation."""
        old = old or {}
        if op == "same":
            return old.get("id"), dict(old.get("outputs") or {})
        inputs = _ignoring(provider_check(plain(reg.inputs), old.get("inputs") or {}), old.get("inputs") or {},
                           reg.ignore_changes)
        if op == "update":
            return old.get("id"), {**(old.get("outputs") or {}), **inputs}
        rid = reg.id or _k8s_id(reg) or \
            f"{reg.name}-{uuid.UUID(int=random.Random(reg.urn + str(self.engine.now)).getrandbits(128)).hex[:8]}"
        return rid, renewed_outputs(old.get("outputs") or {}, inputs, rid)

    def _run(self, *, preview: bool = False) -> Planned:
        from rollback.replay.mocks import recording_monitor, run_under_mocks

        current = self._current()
        enc = self._encrypter(current)
        live = {r["urn"]: r for r in current.get("resources") or [] if not r.get("delete")}
        answers: dict[str, tuple[str, dict[str, Any]]] = {}
        olds: dict[str, str] = {}                        # registered URN -> URN of the state it takes over
        ops: dict[str, tuple[str, tuple[str, ...]]] = {}
        replaced_providers: dict[str, tuple[str, ...]] = {}

        def state_of(reg: Any) -> Mapping[str, Any] | None:
            """The engine's lookup: by URN, then by the registration's aliases (a read takes none)."""
            if reg.urn in live:
                olds[reg.urn] = reg.urn
                return live[reg.urn]
            if reg.op != "read":
                for alias in reg.aliases:
                    if alias in live and alias not in olds.values():
                        olds[reg.urn] = alias
                        return live[alias]
            return None

        deleted_first: set[str] = set()   # replaced delete-before-replace, and what is replaced with them

        def decide(reg: Any) -> tuple[str, tuple[str, ...]]:
            if reg.urn not in ops:
                old = state_of(reg)
                ops[reg.urn] = self._op(reg, old, enc, replaced_providers)
                if reg.type.startswith("pulumi:providers:") and ops[reg.urn][0] == "replace":
                    replaced_providers[reg.urn] = ops[reg.urn][1]
                if ops[reg.urn][0] != "replace" and old is not None and _depends_on_deleted_first(reg, deleted_first):
                    ops[reg.urn] = ("replace", ())
                if ops[reg.urn][0] == "replace" and (_k8s_id(reg) or reg.urn in deleted_first
                                                     or _depends_on_deleted_first(reg, deleted_first)):
                    deleted_first.add(reg.urn)
            return ops[reg.urn]

        def respond(reg: Any) -> tuple[str, dict[str, Any]] | None:
            op, _keys = decide(reg)
            if reg.op == "read":
                return self._read(reg)
            if reg.type.startswith("pulumi:providers:"):
                return None
            old = live.get(olds.get(reg.urn, reg.urn))
            rid, outputs = answers[reg.urn] = self._outcome(reg, old, op)
            if preview and op in ("create", "replace"):   # known only once the provider has made it
                return UNKNOWN_VALUE, {k: UNKNOWN_VALUE for k in scalar_outputs(outputs)}
            return rid, scalar_outputs(outputs)

        monitor = recording_monitor(project=self.spec.project, stack=self.spec.stack, respond=respond)
        run = run_under_mocks(self.program, project=self.spec.project, stack=self.spec.stack, monitor=monitor,
                              timeout=120)
        if run.timed_out or run.error is not None:
            raise OperationFailed(f"preview failed: the program failed: {run.error!r}")
        for reg in monitor.registrations:
            if not (reg.type == STACK_TYPE and not reg.parent):
                decide(reg)
        taken = set(olds.values())
        registered = {reg.urn for reg in monitor.registrations}
        default_providers = {self._default_provider_urn(reg) for reg in monitor.registrations if reg.version}
        deletes = [u for u, r in live.items() if u not in registered and u not in taken and r["type"] != STACK_TYPE
                   and u not in default_providers]
        return Planned(list(monitor.registrations), dict(monitor.outputs), {u: op for u, (op, _) in ops.items()},
                       deletes, answers, keys={u: k for u, (op, k) in ops.items() if k}, olds=olds)

    def _read(self, reg: Any) -> tuple[str, dict[str, Any]]:
        """A read answers with what the provider reads: a StackReference with the other stack's outputs (as the
        engine's built-in provider does: found missing by the conformance suite), anything else with its inputs."""
        if reg.type == "pulumi:pulumi:StackReference":
            parts = str(reg.id).split("/")
            project, stack = (parts[-2], parts[-1]) if len(parts) >= 2 else (self.spec.project, parts[-1])
            state = self.writer.latest(project, stack) or {}
            root = next((r for r in state.get("resources") or [] if r.get("type") == STACK_TYPE), {})
            outputs = {k: v for k, v in (root.get("outputs") or {}).items()
                       if not (isinstance(v, dict) and SIG in v)}   # secret outputs: not answered in clear
            return str(reg.id), {"name": str(reg.id), "outputs": outputs, "secretOutputNames": []}
        return str(reg.id), scalar_outputs(plain(reg.inputs))

    def _default_provider_urn(self, reg: Any) -> str:
        pkg = reg.type.split(":", 1)[0]
        return (f"urn:pulumi:{self.spec.stack}::{self.spec.project}::pulumi:providers:{pkg}::"
                f"default_{reg.version.replace('.', '_')}")

    # -- Engine protocol ---------------------------------------------------------------------
    def _events(self, planned: Planned, live_types: Mapping[str, str], on_event: Any) -> None:
        if on_event is None:
            return
        for reg in planned.registrations:
            if reg.type == STACK_TYPE and not reg.parent:
                on_event(_event("resourcePreEvent", "same", reg.urn, reg.type))
                continue
            for event in step_events(planned.ops[reg.urn], reg.urn, reg.type, planned.keys.get(reg.urn, ())):
                on_event(event)
        for urn in planned.deletes:
            on_event(_event("resourcePreEvent", "delete", urn, live_types.get(urn, "")))

    def _live_types(self) -> dict[str, str]:
        return {r["urn"]: r["type"] for r in self._current().get("resources") or [] if not r.get("delete")}

    def preview(self, *, plan_path: str | None = None, on_event: Any = None,
                expect_no_changes: bool = False) -> dict[str, int]:
        self.engine.calls.append(("preview", {"plan": plan_path is not None, "expect_no_changes": expect_no_changes}))
        if self.engine.fail_preview:
            raise OperationFailed(f"preview failed: {self.engine.fail_preview}")
        if plan_path is not None:
            self._land_concurrent("before_preview")
        planned = self._run(preview=True)
        self._events(planned, self._live_types(), on_event)
        if expect_no_changes and (self.engine.not_converged or planned.changes()):
            what = ", ".join(sorted(planned.changes())) or "a perpetual diff"
            raise OperationFailed(f"preview: the stack has not converged: the engine still sees changes ({what})")
        if plan_path is not None:
            Path(plan_path).write_text(json.dumps(planned.changes(), sort_keys=True))
            self._land_concurrent("after_preview")
        return planned.summary()

    def _land_concurrent(self, when: str) -> None:
        writer = self.engine.concurrent_writer
        if writer is not None and self.engine.concurrent_at == when:
            self.engine.concurrent_writer = None
            writer()

    def up(self, *, plan_path: str | None = None, message: str, on_event: Any = None) -> dict[str, int]:
        self.engine.calls.append(("up", {"plan": plan_path is not None, "message": message}))
        if plan_path is not None and self.engine.plan_unsupported:
            from pulumi.automation._cmd import CommandResult
            from pulumi.automation.errors import CommandError

            from rollback.engine import translate

            stderr = "error: decrypting secret value: cipher: message authentication failed"   # pulumi#16412
            raise translate(CommandError(CommandResult(stdout="", stderr=stderr, code=255)), "update", plan=True)
        planned = self._run()
        if plan_path is not None:
            saved = json.loads(Path(plan_path).read_text())
            if saved != planned.changes():
                raise OperationFailed("update failed: the update violated its saved plan")
        current = self._current()
        enc = self._encrypter(current)
        started = self.engine.clock()
        new_state, done = self._apply(planned, current, enc, on_event)
        failed = self.engine.fail_up is not None
        dep = deployment(time=started * 1_000_000_000, resources=new_state,
                         secrets_providers=enc.secrets_providers())
        enc.seal(dep, previous=current)
        self.writer.record_operation(
            self.spec.project, self.spec.stack, dep, kind="update", result="failed" if failed else "succeeded",
            message=message, start_time=started, end_time=started + 30,
            environment={"exec.kind": "auto.inline", "pulumi.version": "v3.259.0"},
            config=self._recorded_config(), resource_changes=done)
        if failed:
            raise OperationFailed(f"update failed: {self.engine.fail_up}")
        return done

    def _recorded_config(self) -> dict[str, Any]:
        """The config the update used, as UpdateInfo records it (scalars as strings, secure as ciphertext)."""
        if self.spec.config_file is None:
            return dict(self.spec.config)
        import yaml

        doc = yaml.safe_load(Path(self.spec.config_file).read_text()) or {}
        out: dict[str, Any] = {}
        for key, value in (doc.get("config") or {}).items():
            if isinstance(value, bool):
                out[key] = "true" if value else "false"
            elif isinstance(value, (int, float)):
                out[key] = str(value)
            else:
                out[key] = value
        return out

    def _apply(self, planned: Planned, current: Mapping[str, Any], enc: SecretEncrypter,
               on_event: Any) -> tuple[list[dict[str, Any]], dict[str, int]]:
        live = {r["urn"]: r for r in current.get("resources") or [] if not r.get("delete")}
        out: list[dict[str, Any]] = []
        done: dict[str, int] = {}
        steps = 0
        provider_ids: dict[str, str] = {}   # urn -> id the state knows the provider by
        root_urn = next((r.urn for r in planned.registrations if r.type == STACK_TYPE and not r.parent), None)
        if root_urn:
            out.append(resource(urn=root_urn, type=STACK_TYPE, custom=False,
                                outputs=plain(planned.outputs.get(root_urn, {}))))
        for reg in planned.registrations:
            if reg.type == STACK_TYPE and not reg.parent:
                continue
            op = planned.ops[reg.urn]
            was = planned.olds.get(reg.urn)                      # the URN of the state it took over
            if self.engine.fail_up is not None and steps >= self.engine.fail_up_after and op != "same":
                # A failed update keeps what it finished and the old state of the rest.
                if was in live:
                    out.append(live[was])
                continue
            if on_event is not None and op not in ("same", "read"):
                for event in step_events(op, reg.urn, reg.type, planned.keys.get(reg.urn, ())):
                    on_event(event)
            old = live.get(was) if was else None
            old = old or {}
            provider = ""
            if reg.custom and not reg.type.startswith("pulumi:providers:"):
                if reg.provider:
                    purn = reg.provider.rsplit("::", 1)[0]
                    provider = f"{purn}::{provider_ids.get(purn, reg.provider.rsplit('::', 1)[-1])}"
                elif reg.version:
                    provider = self._ensure_default_provider(reg, live, out, provider_ids)
            inputs = _ignoring(provider_check(plain(reg.inputs), old.get("inputs") or {}), old.get("inputs") or {},
                           reg.ignore_changes)
            if op == "same":
                # untouched: byte for byte what the state had (under its new URN, when found by an alias)
                out.append(old if was == reg.urn else {**old, "urn": reg.urn, "aliases": [was]})
                done["same"] = done.get("same", 0) + 1
                if reg.type.startswith("pulumi:providers:"):
                    provider_ids[reg.urn] = old.get("id")
                continue
            # what the program was answered with during the run (same ids and outputs)
            if reg.op == "read":
                rid, outputs = self._read(reg)
            else:
                rid, outputs = planned.answers.get(reg.urn) or self._outcome(reg, old, op)
            if reg.type.startswith("pulumi:providers:"):
                fresh = str(uuid.UUID(int=random.Random(reg.urn + str(self.engine.now)).getrandbits(128)))
                rid = fresh if op == "replace" else (old.get("id") or fresh)
                provider_ids[reg.urn] = rid
            entry = resource(
                urn=reg.urn, type=reg.type, custom=reg.custom, id=rid if reg.custom else None,
                inputs=inputs if reg.custom else None, outputs=outputs if reg.custom else plain(planned.outputs.get(reg.urn, {})),
                parent=reg.parent or None, provider=provider or None,
                dependencies=sorted(reg.dependencies) or None,
                property_dependencies={k: sorted(v) for k, v in reg.property_dependencies.items()} or None,
                protect=reg.protect, retainOnDelete=reg.retain_on_delete,
                external=reg.op == "read", ignoreChanges=list(reg.ignore_changes) or None,
                additionalSecretOutputs=list(reg.additional_secret_outputs) or None)
            if was and was != reg.urn:
                entry["aliases"] = [was]
            out.append(entry)
            done[op] = done.get(op, 0) + 1
            if op != "same":
                steps += 1
                if on_event is not None:
                    on_event(_event("resOutputsEvent", op, reg.urn, reg.type))
        for urn in planned.deletes:
            if self.engine.fail_up is not None and steps >= self.engine.fail_up_after:
                out.append(live[urn])
                continue
            if on_event is not None:
                on_event(_event("resourcePreEvent", "delete", urn, live[urn]["type"]))
                on_event(_event("resOutputsEvent", "delete", urn, live[urn]["type"]))
            done["delete"] = done.get("delete", 0) + 1
            steps += 1
        return out, done

    def _ensure_default_provider(self, reg: Any, live: Mapping[str, Any], out: list[dict[str, Any]],
                                 provider_ids: dict[str, str]) -> str:
        purn = self._default_provider_urn(reg)
        if purn not in provider_ids:
            old = live.get(purn)
            if old is not None:
                out.append(old)
                provider_ids[purn] = old["id"]
            else:
                pid = str(uuid.UUID(int=random.Random(purn).getrandbits(128)))
                out.append(resource(urn=purn, type=purn.split("::")[2], custom=True, id=pid,
                                    inputs={"version": reg.version}, outputs={"version": reg.version}))
                provider_ids[purn] = pid
        return provider_ref({"urn": purn, "id": provider_ids[purn]})


def _disk_program(spec: StackSpec, passphrase: str) -> Callable[[], None]:
    """The project's program (Pulumi.yaml ``main``) with the stack's config, as ``pulumi up`` runs it."""
    import yaml

    work = Path(spec.work_dir or ".")
    project = yaml.safe_load((work / "Pulumi.yaml").read_text())
    main = work / str(project.get("main") or ".")
    doc = yaml.safe_load(Path(spec.config_file).read_text()) if spec.config_file else {}
    config = doc.get("config") or {}
    salt = doc.get("encryptionsalt")
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            from rollback.state.secrets import PassphraseCrypter

            values[key] = PassphraseCrypter.from_salt(salt, passphrase, source="config").decrypt(value["secure"])
            secret_keys.append(key)
        elif isinstance(value, (dict, list)):
            values[key] = json.dumps(value)
        elif isinstance(value, bool):
            values[key] = "true" if value else "false"
        else:
            values[key] = str(value)

    def program() -> None:
        import pulumi

        pulumi.runtime.set_all_config(values, secret_keys)
        if str(work) not in sys.path:
            sys.path.insert(0, str(work))
        runpy.run_path(str(main), run_name="__main__")

    return program
