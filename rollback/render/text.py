"""Plain-text renderings: the preview and diff screen, history, a mark, the last lines of a rollback or deploy."""

from __future__ import annotations

from rollback.models import Outcome
from rollback.render import sections as s
from rollback.render.sections import Doc
from rollback.safetext import one_line

PROPERTY_LIMIT = 12


def preview_text(d: Doc) -> str:
    head = s.heading(d)
    out = [f"{head.title}: {head.stack}  {head.source} -> {head.dest}"]
    if d.get("target"):
        out.append(f"  target  {s.version_line(d['target'])}")
    skipped = s.skipped(d)
    if skipped:
        out.append("  skipped " + "; ".join(skipped))
    out += _data_loss(s.data_loss(d))
    out += _block("What changes", [f"  {line}" for line in s.what_changes(d)])
    out += _resources(s.resources(d), is_rollback=head.is_rollback)
    out += _rehearsal(s.rehearsal(d))
    out += _block("Provider plugins", [f"  {line}" for line in s.provider_versions(d)])
    out += _block("A replay cannot restore", [f"  - {c}" for c in s.cannot_restore(d)])
    out += _block("Warnings", [f"  ! {w}" for w in s.warnings(d)])
    return "\n".join(one_line(line) for line in out)


def _block(title: str, lines: list[str]) -> list[str]:
    return ["", title, *lines] if lines else []


def _data_loss(items: list[s.Loss]) -> list[str]:
    if not items:
        return []
    return (["", "!! DATA LOSS: this rollback would delete or replace resources that hold data:"]
            + [f"   !! {i.op} {i.type} {i.name}  ({i.reason})" for i in items]
            + ["   Refused unless --allow-data-loss is given."])


def _resources(rows: list[s.Row], *, is_rollback: bool) -> list[str]:
    if not rows:
        return ["", "No resource changes: the target has the same desired state as the current one." if is_rollback
                else "No resource changes: the two versions have the same desired state."]
    out = ["", "Resources (" + ", ".join(f"{n} to {word}" for word, n in s.op_counts(rows)) + ")"]
    for r in rows:
        flags = (["DATA"] if r.data_bearing else []) + (["protected"] if r.protected else [])
        head = f"  {r.sign:<2} {r.word:<9} {r.type}  {r.name}"
        if flags:
            head += "  [" + ", ".join(flags) + "]"
        if r.replace_reason:
            head += f"  (replace: {r.replace_reason})"
        out.append(head)
        out += [f"      {s.prop_text(p)}" for p in r.properties[:PROPERTY_LIMIT]]
        if len(r.properties) > PROPERTY_LIMIT:
            out.append(f"      … and {len(r.properties) - PROPERTY_LIMIT} more (see --json)")
    return out


def _rehearsal(r: s.Rehearsal | None) -> list[str]:
    if r is None:
        return []
    note = f": {r.note}" if r.note else ""
    if r.ok:
        return ["", f"Rehearsal: ok ({r.count} re-registered under mocks{note})"]
    return ["", f"Rehearsal: FAILED ({r.count}{note})", *(f"  {m}" for m in r.mismatches)]


def history_text(d: Doc) -> str:
    out = [f"History of {s.stack_label(d)} (newest first)"]
    cur = d.get("current_version")
    for v in d.get("versions", []):
        marker = "*" if v["version"] == cur else " "
        changes = ", ".join(f"{k} {n}" for k, n in sorted(v.get("resource_changes", {}).items()) if n)
        line = f"{marker} {s.version_line(v)}"
        if changes:
            line += f"  ({changes})"
        if not v.get("has_checkpoint"):
            line += "  [no checkpoint]"
        if v.get("rollback"):
            line += f"  <- rollback to v{v['rollback'].get('to_version')}"
        out.append(line)
    if not d.get("versions"):
        out.append("  (no history)")
    older = (d.get("total") or 0) - len(d.get("versions") or [])
    if older > 0:
        out.append(f"  ... {older} older version(s) not shown (--all, or --limit N)")
    if cur is not None:
        out.append("* = current state")
    out += [f"! {w}" for w in d.get("warnings", [])]
    return "\n".join(one_line(line) for line in out)


def mark_text(d: Doc) -> str:
    return one_line(f"marked {d['stack']} v{d['version']} {d['mark']}" + (f": {d['reason']}" if d.get("reason") else ""))


def rollback_result(d: Doc) -> str | None:
    """The last line of a rollback (its JSON document) that did not fail: what was done, or that nothing was."""
    if d.get("outcome") == Outcome.NOTHING_TO_DO:
        return f"nothing to roll back: {d['stack']} already has the desired state of v{d['to_version']}"
    record = d.get("record")
    if d.get("outcome") != Outcome.ROLLED_BACK or not record:
        return None
    new = record.get("new_version")
    return (f"rolled back {d['stack']} to v{d['to_version']}{f' as v{new}' if new else ''}"
            f" in {(record.get('timings') or {}).get('applied_seconds', 0):.1f} s")


def deploy_result(record: Doc, *, seconds: float, rollback: Doc | None = None) -> list[str]:
    """The last lines of a deploy (its audit record): deployed as vN, or how an automatic rollback recovered."""
    if record.get("outcome") == Outcome.DEPLOYED:
        return [f"deployed {record['stack']} as v{record.get('new_version')} in {seconds:.1f} s"]
    if record.get("outcome") != Outcome.ROLLED_BACK:
        return []
    line = rollback_result(rollback) if rollback is not None else None
    ttr = record.get("time_to_recover_seconds")
    back = (rollback.get("record") or {}).get("to_version") if rollback is not None else None
    return ([line] if line else []) + [f"recovered: back on v{back or '?'}; time to recover {ttr:.1f} s"
                                       if ttr is not None else "rolled back"]
