"""The engine's side of a rollback plan: which stack settings it runs with, and its own preview held against ours.

* :func:`stack_spec` - the stack to drive and its settings: the target's recorded config (Pulumi Cloud's
  hidden secure values from the stack file; secure values recorded under another key than the stack's own
  re-encrypted under the stack's key), the current secrets provider, the project and stack names the backend
  accepts (a legacy-layout stack has no project in its name: it comes from the URNs).
* :func:`engine_preview` - the engine previews the replay (saving the plan ``up`` will apply) and
  :func:`rollback.enginecheck.check` compares its steps with our diff: refusals, disagreements, what will not be
  restored (``"engine"`` in the JSON contract).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rollback.engine import EngineStack, StackSpec
from rollback.enginecheck import EngineCheck, Facts, Predicted, check, steps_from_events
from rollback.errors import SecretsError
from rollback.rules import is_data_bearing
from rollback.stackconfig import StackConfigFile, hidden_keys, reveal_hidden, stack_config_path

if TYPE_CHECKING:
    from pathlib import Path

    from rollback.actions.preview import Plan


def stack_spec(plan: Plan, cwd: Path, passphrase: Any, notes: list[str]) -> StackSpec:
    """The stack the engine drives for this rollback, with the target's config."""
    provider = plan.current.secrets_provider or {}
    state = provider.get("state") or {}
    kind = provider.get("type")
    ref = plan.history.ref
    return StackSpec(
        backend_url=plan.history.backend.url, project=ref.project or plan.current.project or plan.target.project,
        stack=ref.name, config=target_config(plan, cwd, passphrase, notes),
        qualified_name=plan.history.backend.qualified_name(ref),
        secrets_provider=state.get("url") if kind == "cloud" else (kind or None),
        encryption_salt=state.get("salt") if kind == "passphrase" else None,
        encrypted_key=state.get("encryptedkey") if kind == "cloud" else None,
    )


def target_config(plan: Plan, cwd: Path, passphrase: Any, notes: list[str]) -> dict[str, Any]:
    """The target's recorded config, as the current stack can read it.

    Pulumi Cloud's history hides secure values (``[secret]``): those come from the stack config file in ``cwd``
    when it has them, else they are left as the stack has them now. A secure value recorded under another
    passphrase salt than the current state's (each fresh Automation API workspace may make a new one) is
    decrypted with the target's salt and encrypted again under the current one: the engine reads stack config
    with the current key.
    """
    recorded = dict(plan.resolution.target.config)
    if hidden_keys(recorded):
        ref = plan.history.ref
        file = StackConfigFile.find(cwd, ref.name)
        recorded, missing = reveal_hidden(recorded, file.config if file else {})
        path = file.path if file else stack_config_path(cwd, ref.name)
        notes += [f"secret config {key} is not in the backend's history and not in {path}: left as the stack has "
                  f"it now" for key in missing]
        return recorded
    return _rekeyed(plan, recorded, passphrase, notes)


def _rekeyed(plan: Plan, config: dict[str, Any], passphrase: Any, notes: list[str]) -> dict[str, Any]:
    secure = [k for k, v in config.items() if isinstance(v, dict) and set(v) == {"secure"}]
    now, then = plan.current.secrets_provider or {}, plan.target.secrets_provider or {}
    if not secure or now == then:
        return config
    if now.get("type") != "passphrase" or then.get("type") != "passphrase":
        notes.append(f"secure config ({', '.join(secure)}) was recorded under another secrets provider than the "
                     f"stack's current one; it is sent as recorded")
        return config
    from rollback.state.secrets import PassphraseCrypter

    phrase = passphrase()
    if phrase is None:
        raise SecretsError(f"{plan.target.source}: the target's secure config ({', '.join(secure)}) was encrypted "
                           f"under another salt than the stack's current one: a passphrase is needed to send it "
                           f"(set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE)")
    reveal = plan.history.secrets_for(plan.target)
    crypter = PassphraseCrypter.from_salt(str((now.get("state") or {}).get("salt")), phrase,
                                          source=plan.current.source)
    out = dict(config)
    for key in secure:
        try:
            plaintext = reveal.reveal_config(str(config[key]["secure"]))
        except Exception as exc:
            raise SecretsError(f"{plan.target.source}: the target's secure config {key} cannot be decrypted "
                               f"with its recorded salt") from exc
        out[key] = {"secure": crypter.encrypt(plaintext)}
    notes.append(f"secure config ({', '.join(secure)}) re-encrypted under the stack's current passphrase salt "
                 f"(the target recorded it under another one)")
    return out


def predicted(plan: Plan) -> dict[str, Predicted]:
    """Our diff per resource, keyed by the URN the engine uses (a legacy URN maps to its replayed one)."""
    engine_urns = {s.urn: s.engine_urn for s in plan.replay.steps} if plan.replay is not None else {}
    return {engine_urns.get(c.urn, c.urn): Predicted(op=str(c.op), type=c.type, data_bearing=c.data_bearing,
                                                     protected=c.protected)
            for c in plan.diff.changes}


def current_facts(plan: Plan) -> dict[str, Facts]:
    return {r.urn: Facts(data_bearing=is_data_bearing(r.type, r.inputs), protected=r.protect)
            for r in plan.current.live_resources() if r.custom and not r.is_provider}


def engine_preview(plan: Plan, stack: EngineStack, *, plan_path: str | None, allow_data_loss: bool) -> EngineCheck:
    """The engine previews the replay (saving its plan at ``plan_path``); its steps against ours."""
    events: list[Any] = []
    stack.preview(plan_path=plan_path, on_event=events.append)
    return check(steps_from_events(events), predicted(plan), current=current_facts(plan),
                 allow_data_loss=allow_data_loss)
