"""The semantic preview of a Terraform rollback, in the same terms as the Pulumi one.

From the plan's before (now) and after (the target) of each changing resource, per container: image,
memory and CPU, environment variables; per workload: task size, desired count; per SSM parameter: its
value. The result types are those of :mod:`rollback.summary` (``WorkloadChange``, ``FieldChange``,
``EnvChange``), so the renderers and the JSON contract are shared; ``urn`` holds the resource address.

Sensitive values (the engine's ``before_sensitive``/``after_sensitive``, e.g. an SSM ``SecureString``
value, or a container definition built from a sensitive variable) show as ``[secret]``: a changed secret
says "changed", never the value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rollback.render.summary import workload_lines as render_summary_lines
from rollback.state.values import SECRET_TEXT
from rollback.summary import EnvChange, FieldChange, WorkloadChange
from rollback.terraform.plan import (
    HIDDEN,
    UNKNOWN,
    UNKNOWN_TEXT,
    PlannedChange,
    TfPlan,
    contains_hidden,
    masked_attributes,
)
from rollback.terraform.state import Instance, TfState


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if v is HIDDEN:
        return SECRET_TEXT
    if v is UNKNOWN:
        return UNKNOWN_TEXT
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
    if isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True)


def _quoted(v: Any) -> str | None:
    if v is None:
        return None
    if v is HIDDEN:
        return SECRET_TEXT
    return json.dumps(v) if isinstance(v, str) else _text(v)


def _same(a: Any, b: Any) -> bool:
    if a is HIDDEN or b is HIDDEN or a is UNKNOWN or b is UNKNOWN:
        return False
    if isinstance(a, (int, float, str)) and isinstance(b, (int, float, str)) and not isinstance(a, bool):
        return str(_text(a)) == str(_text(b))
    return bool(a == b)


def _field(name: str, before: Any, after: Any) -> FieldChange | None:
    if before is None and after is None:
        return None
    if before is HIDDEN or after is HIDDEN:
        if before is HIDDEN and after is HIDDEN:
            return FieldChange(name, SECRET_TEXT, SECRET_TEXT, secret=True)   # cannot tell: say "changed"
        return FieldChange(name, _text(before), _text(after), secret=True)
    if _same(before, after):
        return None
    return FieldChange(name, _text(before), _text(after))


def _attr(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else (HIDDEN if obj is HIDDEN else None)


# ----------------------------------------------------------------------------------------------
# ECS


def _containers(defs: Any) -> tuple[dict[str, dict[str, Any]] | None, str | None]:
    """Containers by name from ``container_definitions`` (a JSON string), or (None, why)."""
    if defs is HIDDEN:
        return None, "container_definitions is sensitive: its values show as [secret]"
    if defs is UNKNOWN or defs is None:
        return {}, None
    try:
        doc = json.loads(defs) if isinstance(defs, str) else defs
    except ValueError:
        return None, "container_definitions is not valid JSON"
    out: dict[str, dict[str, Any]] = {}
    for i, c in enumerate(doc if isinstance(doc, list) else []):
        if isinstance(c, dict):
            out[str(c.get("name") or f"#{i}")] = c
    return out, None


def _env(c: dict[str, Any] | None) -> dict[str, tuple[str | None, str | None]]:
    """Name -> (display, the literal value for JSON: never JSON-encoded twice)."""
    env: dict[str, tuple[str | None, str | None]] = {}
    for item in (c or {}).get("environment") or []:
        if isinstance(item, dict) and item.get("name") is not None:
            value = item.get("value")
            env[str(item["name"])] = (_quoted(value), value if isinstance(value, str) else None)
    for item in (c or {}).get("secrets") or []:
        if isinstance(item, dict) and item.get("name") is not None:
            env[str(item["name"])] = (f"from secret {item.get('valueFrom')}", None)
    return env


def _env_changes(a: dict[str, Any] | None, b: dict[str, Any] | None) -> tuple[EnvChange, ...]:
    ea, eb = _env(a), _env(b)
    out = []
    for name in list(ea) + [n for n in eb if n not in ea]:
        if name not in eb:
            out.append(EnvChange(name, "removed", ea[name][0], None, before_json=ea[name][1]))
        elif name not in ea:
            out.append(EnvChange(name, "added", None, eb[name][0], after_json=eb[name][1]))
        elif ea[name][0] != eb[name][0]:
            out.append(EnvChange(name, "changed", ea[name][0], eb[name][0], before_json=ea[name][1],
                                 after_json=eb[name][1]))
    return tuple(out)


_LIMITS = (("image", "image"), ("memory", "memory limit"), ("memoryReservation", "memory request"),
           ("cpu", "cpu units"))


def _limit(container: dict[str, Any], key: str) -> Any:
    """A container's limit; ECS reports an unset ``cpu`` as 0, which is no change from unset."""
    value = container.get(key)
    return None if key == "cpu" and value == 0 else value


def _ecs_task(c: PlannedChange) -> list[WorkloadChange]:
    kind, name = "ECS task definition", c.short_name
    out: list[WorkloadChange] = []
    workload_fields = [f for f in (_field("task cpu", _attr(c.before, "cpu"), _attr(c.after, "cpu")),
                                   _field("task memory", _attr(c.before, "memory"), _attr(c.after, "memory")))
                       if f is not None]
    now, why_now = _containers(_attr(c.before, "container_definitions"))
    then, why_then = _containers(_attr(c.after, "container_definitions"))
    notes = tuple(n for n in {why_now, why_then} if n)
    if workload_fields or notes:
        out.append(WorkloadChange(urn=c.address, type=c.type, kind=kind, name=name, container=None,
                                  status="changed", fields=tuple(workload_fields), notes=notes))
    if now is None or then is None:
        if (now is None) != (then is None) or _attr(c.before, "container_definitions") is HIDDEN:
            out.append(WorkloadChange(urn=c.address, type=c.type, kind=kind, name=name, container=None,
                                      status="changed", fields=(FieldChange("containers", SECRET_TEXT, SECRET_TEXT,
                                                                            secret=True),)))
        return out
    for cname in list(now) + [n for n in then if n not in now]:
        a, b = now.get(cname), then.get(cname)
        if a is None or b is None:
            present = b if a is None else a
            fields = tuple(f for f in (_field("image", None, present.get("image")),) if f is not None)
            out.append(WorkloadChange(urn=c.address, type=c.type, kind=kind, name=name, container=cname,
                                      status="added" if a is None else "removed",
                                      fields=tuple(FieldChange(f.field, f.after if a is not None else None,
                                                               f.after if a is None else None) for f in fields)))
            continue
        fields = tuple(f for f in (_field(label, _limit(a, key), _limit(b, key)) for key, label in _LIMITS)
                       if f is not None)
        env = _env_changes(a, b)
        if fields or env:
            out.append(WorkloadChange(urn=c.address, type=c.type, kind=kind, name=name, container=cname,
                                      status="changed", fields=fields, env=env))
    return out


def _ecs_service(c: PlannedChange) -> list[WorkloadChange]:
    f = _field("desiredCount", _attr(c.before, "desired_count"), _attr(c.after, "desired_count"))
    if f is None:
        return []
    return [WorkloadChange(urn=c.address, type=c.type, kind="ECS service", name=c.short_name, container=None,
                           status="changed", fields=(f,))]


def _ssm_parameter(c: PlannedChange) -> list[WorkloadChange]:
    fields = [f for f in (_field("value", _attr(c.before, "value"), _attr(c.after, "value")),
                          _field("type", _attr(c.before, "type"), _attr(c.after, "type"))) if f is not None]
    if not fields:
        return []
    return [WorkloadChange(urn=c.address, type=c.type, kind="SSM parameter", name=c.short_name, container=None,
                           status="changed", fields=tuple(fields))]


def _lambda(c: PlannedChange) -> list[WorkloadChange]:
    fields = [f for f in (_field("image", _attr(c.before, "image_uri"), _attr(c.after, "image_uri")),
                          _field("memory", _attr(c.before, "memory_size"), _attr(c.after, "memory_size")))
              if f is not None]

    def env(side: Any) -> dict[str, Any] | None:
        blocks = _attr(side, "environment")
        if blocks is HIDDEN:
            return None
        variables = blocks[0].get("variables") if isinstance(blocks, list) and blocks and isinstance(blocks[0], dict) else {}
        if variables is HIDDEN or contains_hidden(variables):
            return None
        return {"environment": [{"name": k, "value": v} for k, v in (variables or {}).items()]}

    ea, eb = env(c.before), env(c.after)
    changes = _env_changes(ea, eb) if ea is not None and eb is not None else ()
    notes = ("environment is sensitive: its values show as [secret]",) if ea is None or eb is None else ()
    if not fields and not changes and not notes:
        return []
    return [WorkloadChange(urn=c.address, type=c.type, kind="Lambda function", name=c.short_name, container=None,
                           status="changed", fields=tuple(fields), env=changes, notes=notes)]


_EXTRACTORS = {"aws_ecs_task_definition": _ecs_task, "aws_ecs_service": _ecs_service,
               "aws_ssm_parameter": _ssm_parameter, "aws_lambda_function": _lambda}
_KINDS = {"aws_ecs_task_definition": "ECS task definition", "aws_ecs_service": "ECS service",
          "aws_ssm_parameter": "SSM parameter", "aws_lambda_function": "Lambda function"}


def workload_summary(plan: TfPlan) -> list[WorkloadChange]:
    """Per workload, container and parameter, what applying the plan changes (now -> target)."""
    out: list[WorkloadChange] = []
    for c in plan.effective:
        extract = _EXTRACTORS.get(c.type)
        if extract is None or c.mode != "managed":
            continue
        if c.op == "create":
            out.append(WorkloadChange(urn=c.address, type=c.type, kind=_KINDS[c.type], name=c.short_name,
                                      container=None, status="added"))
        elif c.op == "delete":
            out.append(WorkloadChange(urn=c.address, type=c.type, kind=_KINDS[c.type], name=c.short_name,
                                      container=None, status="removed"))
        else:
            out.extend(extract(c))
    return out


def summary_lines(plan: TfPlan) -> list[str]:
    return render_summary_lines(workload_summary(plan))


def action_lines(plan: TfPlan) -> list[str]:
    """The plan's actions, one line each: ``replace aws_ecs_task_definition.bot (memory, container_definitions)``."""
    lines = []
    for c in plan.effective:
        extra = ""
        if c.op == "replace" and c.replace_paths:
            extra = " (" + ", ".join(".".join(str(s) for s in p) for p in c.replace_paths) + " forces replacement)"
        elif c.op == "update":
            names = [a.path for a in c.attribute_changes()]
            extra = f" ({', '.join(names)})" if names else ""
        flag = "  [data-bearing]" if c.loses_data else ""
        lines.append(f"{c.op} {c.address}{extra}{flag}")
    return lines


def render(plan: TfPlan, changes: Sequence[WorkloadChange] | None = None) -> str:
    """The text preview: the semantic lines, then the plan's actions."""
    lines = render_summary_lines(list(changes) if changes is not None else workload_summary(plan))
    counts = plan.counts()
    out = ["What changes:"] + [f"  {line}" for line in lines or ["(no change to workloads or parameters)"]]
    out.append("The engine's plan: " + ", ".join(f"{v} to {k}" for k, v in counts.items() if v) if any(counts.values())
               else "The engine's plan: no changes")
    out += [f"  {line}" for line in action_lines(plan)]
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------
# What one version ran (history's IMAGE column, `show`)


def _short(inst: Instance) -> str:
    prefix = f"{inst.module}." if inst.module else ""
    idx = "" if inst.index_key is None else f"[{json.dumps(inst.index_key)}]"
    return f"{prefix}{inst.name}{idx}"


def _row(inst: Instance, kind: str, container: str | None, fields: list[tuple[str, Any]],
         env: dict[str, tuple[str | None, str | None]] | None = None, notes: Sequence[str] = ()) -> dict[str, Any]:
    return {"type": inst.type, "kind": kind, "name": _short(inst), "container": container,
            "fields": [{"field": k, "value": _text(v)} for k, v in fields if v is not None],
            "env": [{"name": k, "value": literal if literal is not None else shown, "shown": shown}
                    for k, (shown, literal) in (env or {}).items()],
            "notes": list(notes)}


def inventory(state: TfState) -> list[dict[str, Any]]:
    """Per workload (its own fields) and per container (image, limits, env), as ``show`` prints them: ``{type,
    kind, name, container, fields: [{field, value}], env: [{name, value, shown}], notes}``. Sensitive values
    show as ``[secret]``."""
    out: list[dict[str, Any]] = []
    for inst in state.managed():
        attrs = masked_attributes(inst)
        if inst.type == "aws_ecs_task_definition":
            containers, why = _containers(_attr(attrs, "container_definitions"))
            out.append(_row(inst, "ECS task definition", None,
                            [("task cpu", _attr(attrs, "cpu")), ("task memory", _attr(attrs, "memory")),
                             ("revision", _attr(attrs, "revision"))], notes=[why] if why else []))
            for cname, c in (containers or {}).items():
                out.append(_row(inst, "ECS task definition", cname,
                                [(label, c.get(key)) for key, label in _LIMITS], env=_env(c)))
        elif inst.type == "aws_ecs_service":
            td = _attr(attrs, "task_definition")
            out.append(_row(inst, "ECS service", None, [("desiredCount", _attr(attrs, "desired_count")),
                                                        ("task definition", td)]))
        elif inst.type == "aws_lambda_function":
            blocks = _attr(attrs, "environment")
            variables = blocks[0].get("variables") if isinstance(blocks, list) and blocks and \
                isinstance(blocks[0], dict) else None
            env = _env({"environment": [{"name": k, "value": v} for k, v in variables.items()]}) \
                if isinstance(variables, dict) else {}
            out.append(_row(inst, "Lambda function", None, [("image", _attr(attrs, "image_uri")),
                                                            ("memory", _attr(attrs, "memory_size"))], env=env))
        elif inst.type == "aws_ssm_parameter":
            out.append(_row(inst, "SSM parameter", None, [("value", _attr(attrs, "value")),
                                                          ("type", _attr(attrs, "type"))]))
    return out


def images(state: TfState) -> list[str]:
    """The container images a version ran (ECS containers, Lambda images), in the state's order; secret
    ones left out."""
    out = []
    for row in inventory(state):
        for f in row["fields"]:
            if f["field"] == "image" and f["value"] and f["value"] != SECRET_TEXT:
                out.append(str(f["value"]))
    return out


__all__ = ["action_lines", "images", "inventory", "render", "summary_lines", "workload_summary"]
