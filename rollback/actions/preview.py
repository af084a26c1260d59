"""Planning a rollback: find current and target, diff them, say what a replay cannot restore.

This is the pure half of a rollback (Helm's ``prepareRollback``): it reads the stack's current state
and the target's checkpoint (plus, for ``previous``, the checkpoints it must compare), and changes
nothing. The apply action builds on the :class:`Plan` it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rollback.actions.context import Context
from rollback.actions.history import version_to_dict
from rollback.actions.hooks import QUIET, Listener
from rollback.history import Resolution, StackHistory
from rollback.models import Deployment


@dataclass
class Plan:
    history: StackHistory
    resolution: Resolution
    current: Deployment
    target: Deployment
    current_version: int | None
    diff: Any
    workloads: list[Any]
    warnings: list[str] = field(default_factory=list)
    replay: Any = None
    rehearsal: Any = None

    def to_dict(self) -> dict[str, Any]:
        from rollback.render.summary import summary_lines
        from rollback.summary import workloads_to_dicts

        d = self.diff.to_dict()
        summary = dict(d.get("summary") or {})
        summary["workloads"] = workloads_to_dicts(self.workloads)
        summary["lines"] = summary_lines(self.workloads, d, to_label=f"v{self.resolution.target.number}")
        out: dict[str, Any] = {
            "stack": self.history.ref.name,
            "project": self.history.ref.project or None,
            "backend": self.history.backend.url,
            "from_version": self.current_version,
            "to_version": self.resolution.target.number,
            "target": version_to_dict(self.resolution.target),
            "skipped": [s.to_dict() for s in self.resolution.skipped],
            "changes": d.get("changes", []),
            "summary": summary,
            "warnings": list(self.resolution.warnings) + self.warnings + list(d.get("warnings", [])),
        }
        if self.replay is not None:
            out["cannot_restore"] = list(self.replay.cannot_restore)
            out["provider_versions"] = [v.to_dict() for v in self.replay.versions]
            out["notes"] = list(self.replay.notes)    # how the replay does it: detail, not a worry
        if self.rehearsal is not None:
            out["rehearsal"] = self.rehearsal.to_dict()
        return out


@dataclass
class Preview:
    ctx: Context
    restore_provider_versions: bool = False
    rehearse: bool = True
    for_apply: bool = False   # a rollback needs the rehearsal; a preview can go on without it
    listener: Listener = QUIET

    def run(self, stack: str, target: str) -> Plan:
        with self.listener.step(f"reading the history of {stack}"):
            history = self.ctx.history(stack)
            history.warm_secrets()   # the passphrase key is derived on another core while the rest is read
            if self.rehearse:
                import pulumi  # noqa: F401 - meanwhile (the rehearsal needs the SDK)
            current = history.current()
        warnings: list[str] = []
        box = history.secrets_for(current)
        if current.pending_operations:
            ops = ", ".join(f"{p.get('type', '?')} {p.get('resource', {}).get('urn', '?')}"
                            for p in current.pending_operations)
            warnings.append(f"the current state has pending operations from an interrupted update ({ops}); "
                            f"clear them with `pulumi refresh --clear-pending-creates` or `pulumi cancel` "
                            f"before applying")
        with self.listener.step(f"finding {target} in the history of {stack}"):
            resolution = history.resolve(target)
        # A passphrase that is set but wrong fails (exit 2) whether or not a secret changed.
        if box.provider_type == "passphrase" and self.ctx.passphrase() is not None:
            box.check()
        warnings += history.marks.problems    # a mark edited by hand into neither good nor bad is ignored
        current_version = history.current_version()
        if current_version is None:
            warnings.append("the current state differs from the newest history checkpoint "
                            "(e.g. after `pulumi stack import`)")
        target_dep = history.checkpoint(resolution.target.number)
        history.release_bytes()   # both states are parsed: their raw bytes are not needed any more

        from rollback.summary import workload_summary

        cs, ts = history.secrets_for(current), history.secrets_for(target_dep)
        with self.listener.step(f"comparing now with v{resolution.target.number}"):
            diff = history.diff_from_current(resolution.target.number)
            workloads = workload_summary(current, target_dep, current_secrets=cs, target_secrets=ts)
        plan = Plan(history=history, resolution=resolution, current=current, target=target_dep,
                    current_version=current_version, diff=diff, workloads=workloads, warnings=warnings)
        if self.rehearse:
            self._replay(plan, ts)
        return plan

    def _replay(self, plan: Plan, secrets: Any) -> None:
        """Plan the replay of the target and rehearse it under the SDK's mock runtime."""
        from rollback.errors import SecretsError
        from rollback.replay import build_replay_program, changed_scope, rehearse

        ref = plan.history.ref
        try:
            plan.replay = build_replay_program(
                plan.target, secrets=secrets, current=plan.current, base_dir=str(self.ctx.cwd),
                provider_versions="target" if self.restore_provider_versions else "current")
        except SecretsError:
            if self.for_apply or secrets.unavailable_reason is None:
                raise  # a wrong passphrase, or a rollback that cannot replay the target's secrets
            plan.warnings.append(f"rehearsal skipped: the target's secrets cannot be decrypted "
                                 f"({secrets.unavailable_reason}); a rollback needs them")
            return
        # A preview rehearses what changes (and what comes with it); before an apply, everything.
        only = None if self.for_apply else changed_scope(plan.replay, (c.urn for c in plan.diff.changes))
        count = len(plan.target.live_resources()) if only is None else len(only)
        with self.listener.step(f"rehearsing the replay of {count:,} resources under mocks"):
            plan.rehearsal = rehearse(plan.replay, plan.target, secrets=secrets,
                                      project=ref.project or plan.target.project, stack=ref.name, only=only)
