"""The lines a person reads first (3 a.m.): one fact per line, what the rollback changes in the workloads.

``summary.lines`` of the preview, diff and audit record (the JSON contract) are these lines:
:func:`workload_lines` (from :func:`rollback.summary.workload_summary`), then :func:`config_map_lines`
and :func:`secret_lines` (from the diff). Secrets show as ``[secret]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rollback.models import WorkloadStatus
from rollback.render.sections import SECRET

if TYPE_CHECKING:
    from rollback.summary import WorkloadChange


def summary_lines(workloads: Sequence[WorkloadChange], diff: Mapping[str, Any], *, to_label: str,
                  rollback: bool = True) -> list[str]:
    """Every line of ``summary.lines``: workloads, ConfigMap keys, secrets (``to_label``: ``v2``, ``current``)."""
    return (workload_lines(workloads, to_label=to_label, rollback=rollback) + config_map_lines(diff)
            + secret_lines(diff, to_label, rollback=rollback))


def _prefix(c: WorkloadChange) -> str:
    head = f"{c.kind} {c.name}"
    if c.container is None:
        return head
    if c.container.startswith("init:"):
        return f'{head}, init container "{c.container[5:]}"'
    if c.container.startswith("#"):
        return f"{head}, container {c.container}"
    return f'{head}, container "{c.container}"'


def workload_lines(changes: Sequence[WorkloadChange], *, to_label: str = "the target",
                   rollback: bool = True) -> list[str]:
    """Per container: image, limits, env, replicas ... before -> after. A rollback re-creates and deletes;
    a diff (``rollback=False``) says what is only in ``to_label`` (``current``, ``v5``) or not in it."""
    lines: list[str] = []
    for c in changes:
        prefix = _prefix(c)
        if c.container is None and c.status is WorkloadStatus.ADDED:
            lines.append(f"{prefix}: re-created (only in the target)" if rollback else f"{prefix}: only in {to_label}")
        elif c.container is None and c.status is WorkloadStatus.REMOVED:
            lines.append(f"{prefix}: deleted (not in the target)" if rollback else f"{prefix}: not in {to_label}")
        elif c.status is WorkloadStatus.ADDED:
            parts = [f"{f.field} {f.after}" for f in c.fields if f.after is not None] + list(c.notes)
            lines.append(f"{prefix} added" + (f": {', '.join(parts)}" if parts else ""))
            continue
        elif c.status is WorkloadStatus.REMOVED:
            image = next((f.before for f in c.fields if f.field == "image" and f.before), None)
            lines.append(f"{prefix} removed" + (f" (was image {image})" if image else ""))
            continue
        lines += _field_lines(prefix, c) + [f"{prefix}: {note}" for note in c.notes]
    return lines


def _field_lines(prefix: str, c: WorkloadChange) -> list[str]:
    lines = []
    for f in c.fields:
        if f.secret:
            lines.append(f"{prefix}: {f.field} changed ({SECRET})")
        else:
            lines.append(f"{prefix}: {f.field} {f.before if f.before is not None else 'unset'} -> "
                         f"{f.after if f.after is not None else 'unset'}")
    for e in c.env:
        if e.op == "added":
            lines.append(f"{prefix}: env {e.name} added: {e.after}")
        elif e.op == "removed":
            lines.append(f"{prefix}: env {e.name} removed (was {e.before})")
        elif e.secret:
            lines.append(f"{prefix}: env {e.name} changed ({SECRET})")
        else:
            lines.append(f"{prefix}: env {e.name} {e.before} -> {e.after}")
    return lines


def config_map_lines(diff: Mapping[str, Any]) -> list[str]:
    """Kubernetes env often comes from a ConfigMap (envFrom): its keys are env vars a person looks for."""
    out = []
    for c in diff.get("changes") or []:
        if c.get("type") != "kubernetes:core/v1:ConfigMap" or c.get("op") not in ("update", "replace"):
            continue
        name = c["urn"].split("::")[-1]
        for p in c.get("properties") or []:
            path = p.get("path", "")
            if not path.startswith("data.") and not path.startswith('data["'):
                continue
            key = path[len("data."):] if path.startswith("data.") else path[len('data["'):-2]
            before, after = p.get("before"), p.get("after")
            if before is None:
                out.append(f"ConfigMap {name}: {key} added: {json.dumps(after)}")
            elif after is None:
                out.append(f"ConfigMap {name}: {key} removed (was {json.dumps(before)})")
            else:
                out.append(f"ConfigMap {name}: {key} {json.dumps(before)} -> {json.dumps(after)}")
    return out


def secret_lines(diff: Mapping[str, Any], to_label: str, *, rollback: bool = True) -> list[str]:
    """A secret going back to an old value can break a service (a revoked token): say so up front."""
    out = []
    for c in diff.get("changes") or []:
        for p in c.get("properties") or []:
            if p.get("secret"):
                name = c["urn"].split("::")[-1]
                kind = c.get("type", "").rsplit(":", 1)[-1]
                if rollback:
                    out.append(f"{kind} {name}: secret {p['path']} goes back to its {to_label} value "
                               f"(make sure that credential is still valid)")
                else:
                    out.append(f"{kind} {name}: secret {p['path']} changes (to its {to_label} value)")
    return out
