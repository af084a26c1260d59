"""Text, JSON and markdown renderings of what actions return (plain dicts, the JSON contract).

Only the CLI uses this module. Every value passing through here has already been made safe by the
actions (secrets are ``[secret]``); :func:`to_json` still refuses objects it does not know.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any

from rollback.safetext import md_code, md_text, one_line

OP_SIGN = {"create": "+", "delete": "-", "update": "~", "replace": "+-"}
OP_WORD = {"create": "re-create", "delete": "delete", "update": "update", "replace": "replace"}


def to_json(data: Any) -> str:
    """Always valid JSON: a NaN or infinite number (which JSON cannot hold) is written as the string
    ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``."""
    try:
        return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(data), indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _when(ts: Any) -> str:
    if not isinstance(ts, (int, float)):
        return "?"
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value != "[secret]":
        text = json.dumps(value, ensure_ascii=False)
    if len(text) <= width:
        return text
    head = width * 2 // 5  # keep both ends: an ARN's revision or an image's tag is at the end
    return text[:head] + "…" + text[-(width - head - 1):]


def _version_line(v: dict[str, Any]) -> str:
    parts = [f"v{v['version']}", f"{v.get('kind') or '?'} {v.get('result') or '?'}", _when(v.get("start_time"))]
    if v.get("message"):
        parts.append(json.dumps(v["message"], ensure_ascii=False))
    if v.get("git_head"):
        parts.append(f"git {v['git_head'][:7]}")
    if v.get("mark"):
        parts.append(f"[{v['mark']}]")
    return "  ".join(parts)


def _name(urn: str) -> str:
    body = urn.split("::", 3)
    return body[3] if len(body) == 4 else urn


def _prop_lines(change: dict[str, Any], limit: int = 12) -> list[str]:
    lines = []
    props = change.get("properties") or []
    for p in props[:limit]:
        lines.append(f"      {_prop_text(p)}")
    if len(props) > limit:
        lines.append(f"      … and {len(props) - limit} more (see --json)")
    return lines


def _prop_text(p: dict[str, Any]) -> str:
    """One property change: `path: before -> after`, or `path added: v` / `path removed (was v)`."""
    if p.get("secret"):
        return f"{p['path']}: [secret] changed"
    before, after = p.get("before"), p.get("after")
    if before is None and after is not None:
        return f"{p['path']} added: {_short(after)}"
    if after is None and before is not None:
        return f"{p['path']} removed (was {_short(before)})"
    return f"{p['path']}: {_short(before)} -> {_short(after)}"


def preview_text(d: dict[str, Any]) -> str:
    out: list[str] = []
    stack = f"{d['project']}/{d['stack']}" if d.get("project") else d["stack"]
    is_rollback = "target" in d
    frm = d.get("from_version")
    frm_text = "current" if frm in (None, "current") else (f"v{frm} (current)" if is_rollback else f"v{frm}")
    to = d.get("to_version")
    to_text = "current" if to == "current" else f"v{to}"
    title = "Rollback preview" if is_rollback else "Diff"
    out.append(f"{title}: {stack}  {frm_text} -> {to_text}")
    if d.get("target"):
        out.append(f"  target  {_version_line(d['target'])}")
    if d.get("skipped"):
        out.append("  skipped " + "; ".join(f"v{s['version']} ({s['reason']})" for s in d["skipped"]))
    summary = d.get("summary") or {}
    loss = summary.get("data_loss") or []
    if loss:
        out.append("")
        out.append("!! DATA LOSS: this rollback would delete or replace resources that hold data:")
        for item in loss:
            out.append(f"   !! {item.get('op', '?')} {item.get('type', '')} {_name(item.get('urn', ''))}"
                       f"  ({item.get('reason', '')})")
        out.append("   Refused unless --allow-data-loss is given.")
    workload_lines = summary.get("lines") or []
    if workload_lines:
        out.append("")
        out.append("What changes")
        out.extend(f"  {line}" for line in workload_lines)
    changes = d.get("changes") or []
    out.append("")
    if not changes:
        out.append("No resource changes: the target has the same desired state as the current one." if is_rollback
                   else "No resource changes: the two versions have the same desired state.")
    else:
        counts: dict[str, int] = {}
        for c in changes:
            counts[c["op"]] = counts.get(c["op"], 0) + 1
        out.append("Resources (" + ", ".join(f"{n} to {OP_WORD.get(op, op)}" for op, n in counts.items()) + ")")
        for c in changes:
            flags = []
            if c.get("data_bearing"):
                flags.append("DATA")
            if c.get("protected"):
                flags.append("protected")
            head = f"  {OP_SIGN.get(c['op'], '?'):<2} {OP_WORD.get(c['op'], c['op']):<9} {c.get('type', '')}  {_name(c['urn'])}"
            if flags:
                head += "  [" + ", ".join(flags) + "]"
            if c.get("replace_reason"):
                head += f"  (replace: {c['replace_reason']})"
            out.append(head)
            if c["op"] in ("update", "replace"):
                out.extend(_prop_lines(c))
    rehearsal = d.get("rehearsal")
    if rehearsal:
        out.append("")
        if rehearsal.get("ok"):
            out.append(f"Rehearsal: ok ({rehearsal.get('resources', 0)} resources re-registered under mocks)")
        else:
            out.append("Rehearsal: FAILED")
            out.extend(f"  {m}" for m in rehearsal.get("mismatches", []))
    versions = _provider_lines(d.get("provider_versions") or [])
    if versions:
        out.append("")
        out.append("Provider plugins")
        out.extend(f"  {line}" for line in versions)
    cannot = d.get("cannot_restore") or []
    if cannot:
        out.append("")
        out.append("A replay cannot restore")
        out.extend(f"  - {c}" for c in cannot)
    if d.get("warnings"):
        out.append("")
        out.append("Warnings")
        out.extend(f"  ! {w}" for w in d["warnings"])
    return "\n".join(one_line(line) for line in out)


def _provider_lines(versions: list[dict[str, Any]]) -> list[str]:
    """Which plugin version each provider package will run with, and whether that differs from the target's."""
    out = []
    for v in versions:
        target, used = v.get("target"), v.get("used")
        if target == used:
            out.append(f"{v.get('package')} {used or '?'} (as in the target)")
        elif used in (v.get("current") or []):
            out.append(f"{v.get('package')} {used}: keeping the current version; the target used {target or '?'} "
                       f"(--restore-provider-versions restores it; a downgrade can fail in the provider)")
        else:
            out.append(f"{v.get('package')} {used or '?'} (the target used {target or '?'})")
    return out


def preview_markdown(d: dict[str, Any]) -> str:
    stack = f"{d['project']}/{d['stack']}" if d.get("project") else d["stack"]
    is_rollback = "target" in d
    frm = d.get("from_version")
    frm_text = "current" if frm in (None, "current") else (f"v{frm} (current)" if is_rollback else f"v{frm}")
    to = d.get("to_version")
    title = "Rollback preview" if is_rollback else "Diff"
    out = [f"## {title}: {md_code(stack)} {frm_text} → {'current' if to == 'current' else f'v{to}'}", ""]
    if d.get("target"):
        t = d["target"]
        out.append(f"**Target:** v{t['version']} — {md_text(t.get('kind'))} {md_text(t.get('result'))}, "
                   f"{_when(t.get('start_time'))}"
                   + (f", “{md_text(t['message'])}”" if t.get("message") else "")
                   + (f", git {md_code(t['git_head'][:7])}" if t.get("git_head") else ""))
        out.append("")
    if d.get("skipped"):
        out.append("**Skipped:** " + "; ".join(f"v{s['version']} ({md_text(s['reason'])})" for s in d["skipped"]))
        out.append("")
    summary = d.get("summary") or {}
    loss = summary.get("data_loss") or []
    if loss:
        out.append("> [!CAUTION]")
        out.append("> **Data loss:** this rollback would delete or replace resources that hold data "
                   "(refused unless `--allow-data-loss`):")
        for item in loss:
            out.append(f"> - {md_text(item.get('op', '?'))} {md_code(item.get('type', ''))} "
                       f"{md_code(_name(item.get('urn', '')))} ({md_text(item.get('reason', ''))})")
        out.append("")
    if summary.get("lines"):
        out.append("### What changes")
        out.extend(f"- {_md_escape(line)}" for line in summary["lines"])
        out.append("")
    changes = d.get("changes") or []
    out.append("### Resources")
    if not changes:
        out.append("No resource changes.")
    else:
        out.append("| op | type | name | details |")
        out.append("|---|---|---|---|")
        for c in changes:
            details = []
            if c.get("replace_reason"):
                details.append(f"replace: {md_text(c['replace_reason'])}")
            if c.get("data_bearing"):
                details.append("**holds data**")
            if c.get("protected"):
                details.append("protected")
            n = len(c.get("properties") or [])
            if c["op"] in ("update", "replace") and n:
                details.append(f"{n} propert{'y' if n == 1 else 'ies'}")
            out.append(f"| {OP_WORD.get(c['op'], c['op'])} | {md_code(c.get('type', ''), table=True)} | "
                       f"{md_code(_name(c['urn']), table=True)} | {'; '.join(details)} |")
    detailed = [c for c in changes if c["op"] in ("update", "replace") and c.get("properties")]
    if detailed:
        out.append("")
        out.append("<details><summary>Property changes</summary>")
        out.append("")
        for c in detailed:
            out.append(f"**{OP_WORD.get(c['op'], c['op'])} {md_code(_name(c['urn']))}** ({md_code(c.get('type', ''))})")
            out.append("")
            out.extend(f"- {md_code(_prop_text(p))}" for p in c["properties"][:40])
            if len(c["properties"]) > 40:
                out.append(f"- … and {len(c['properties']) - 40} more (see `--json`)")
            out.append("")
        out.append("</details>")
    rehearsal = d.get("rehearsal")
    if rehearsal:
        out.append("")
        out.append(f"**Rehearsal:** {'ok' if rehearsal.get('ok') else 'FAILED'} "
                   f"({rehearsal.get('resources', 0)} resources)")
        for m in rehearsal.get("mismatches", []):
            out.append(f"- {_md_escape(m)}")
    versions = _provider_lines(d.get("provider_versions") or [])
    if versions:
        out.append("")
        out.append("**Provider plugins:** " + "; ".join(md_text(v) for v in versions))
    if d.get("cannot_restore"):
        out.append("")
        out.append("### A replay cannot restore")
        out.extend(f"- {_md_escape(c)}" for c in d["cannot_restore"])
    if d.get("warnings"):
        out.append("")
        out.append("### Warnings")
        out.extend(f"- {_md_escape(w)}" for w in d["warnings"])
    return "\n".join(one_line(line) for line in out) + "\n"


def _md_escape(text: str) -> str:
    """User-controlled text (messages, reasons, env values) shown as itself, never as markup."""
    return md_text(text)


def history_text(d: dict[str, Any]) -> str:
    stack = f"{d['project']}/{d['stack']}" if d.get("project") else d["stack"]
    out = [f"History of {stack} (newest first)"]
    cur = d.get("current_version")
    for v in d.get("versions", []):
        marker = "*" if v["version"] == cur else " "
        changes = ", ".join(f"{k} {n}" for k, n in sorted(v.get("resource_changes", {}).items()) if n)
        line = f"{marker} {_version_line(v)}"
        if changes:
            line += f"  ({changes})"
        if not v.get("has_checkpoint"):
            line += "  [no checkpoint]"
        if v.get("rollback"):
            r = v["rollback"]
            line += f"  <- rollback to v{r.get('to_version')}"
        out.append(line)
    if not d.get("versions"):
        out.append("  (no history)")
    if cur is not None:
        out.append("* = current state")
    for w in d.get("warnings", []):
        out.append(f"! {w}")
    return "\n".join(one_line(line) for line in out)


def mark_text(d: dict[str, Any]) -> str:
    return one_line(f"marked {d['stack']} v{d['version']} {d['mark']}" + (f": {d['reason']}" if d.get("reason") else ""))
