"""Markdown renderings (a CI job summary, a PR comment) of the preview and diff.

The same screen as the text one, in the same order (the verdict, what would refuse or should worry, what
changes, then the details, then the verdict again), with every detail always there: a reviewer reads it
once, unhurried, and cannot pass ``--verbose``.
"""

from __future__ import annotations

from rollback.render import sections as s
from rollback.render.sections import Doc
from rollback.safetext import md_code, md_text, one_line

PROPERTY_LIMIT = 40


def preview_markdown(d: Doc, *, mode: str = "preview") -> str:
    head = s.heading(d)
    v = s.verdict(d, mode=mode if head.is_rollback else "diff")
    out = [f"## {head.title}: {md_code(head.stack)} {md_text(_sides(v.what, head.stack))}", "", *_verdict(v), ""]
    out += _callout("CAUTION", "Would be refused", s.refusals(d))
    out += _callout("WARNING", "Check before applying" if head.is_rollback else "Check", s.worries(d))
    t = d.get("target")
    if t and t.get("version") is None:
        out += [f"**Target:** {md_code(s.target_label(d))} — a commit, not a version of the history", ""]
    elif t:
        out += [f"**Target:** v{t['version']} — {md_text(t.get('kind'))} {md_text(t.get('result'))}, "
                f"{s.when(t.get('start_time'))}"
                + (f", “{md_text(t['message'])}”" if t.get("message") else "")
                + (f", git {md_code(t['git_head'][:7])}" if t.get("git_head") else "")
                + (f", marked {md_text(t['mark'])}" if t.get("mark") else "")
                + (f" \\({md_text(t['mark_reason'])}\\)" if t.get("mark") and t.get("mark_reason") else ""), ""]
    skipped = s.skipped(d, reason=md_text)
    if skipped:
        out += ["**Skipped:** " + "; ".join(skipped), ""]
    lines = s.what_changes(d)
    if lines:
        out += ["### What changes", *(f"- {escape(line)}" for line in lines), ""]
    rows = s.resources(d)
    out += _resources(rows) + _properties(rows) + _rehearsal(s.rehearsal(d))
    versions = s.provider_versions(d)
    if versions:
        out += ["", "**Provider plugins:** " + "; ".join(md_text(x) for x in versions)]
    out += _block("A replay cannot restore", s.cannot_restore(d))
    out += _block("Notes", s.notes(d))
    out += _engine(s.engine(d))
    out += ["", "---", "", f"{md_code(head.stack)} {md_text(_sides(v.what, head.stack))}: " + _verdict(v)[0]]
    return "\n".join(one_line(line) for line in out) + "\n"


def _sides(what: str, stack: str) -> str:
    """``v6 (image 1.5.0) -> v2 (image 1.4.0)`` with a real arrow (the stack is shown as code before it)."""
    what = what[len("diff "):] if what.startswith("diff ") else what
    return what[len(stack) + 1:].replace(" -> ", " → ", 1) if what.startswith(stack + " ") else what


def _verdict(v: s.Verdict) -> list[str]:
    parts = [f"**{md_text(v.changes)}**"]
    if v.counts:
        parts.append(md_text(v.counts_text))
    if v.status:
        parts.append(md_text(v.status))
    if v.next:
        command = v.next[len("apply: "):] if v.next.startswith("apply: ") else None
        parts.append(f"apply: {md_code(command)}" if command else md_text(v.next))
    return [" · ".join(parts)]


def escape(text: str) -> str:
    """User-controlled text (messages, reasons, env values) shown as itself, never as markup."""
    return md_text(text)


def _callout(kind: str, title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    return [f"> [!{kind}]", f"> **{title}:**"] + [f"> - {escape(i)}" for i in items] + [""]


def _block(title: str, items: list[str]) -> list[str]:
    return ["", f"### {title}", *(f"- {escape(i)}" for i in items)] if items else []


def _resources(rows: list[s.Row]) -> list[str]:
    if not rows:
        return ["### Resources", "No resource changes."]
    out = ["### Resources", "| op | type | name | details |", "|---|---|---|---|"]
    for r in rows:
        details = ([f"replace: {md_text(r.replace_reason)}"] if r.replace_reason else []) \
            + (["**holds data**"] if r.data_bearing else []) + (["protected"] if r.protected else [])
        n = len(r.properties)
        if n:
            details.append(f"{n} propert{'y' if n == 1 else 'ies'}")
        out.append(f"| {r.word} | {md_code(r.type, table=True)} | {md_code(r.name, table=True)} | {'; '.join(details)} |")
    return out


def _properties(rows: list[s.Row]) -> list[str]:
    detailed = [r for r in rows if r.properties]
    if not detailed:
        return []
    out = ["", "<details><summary>Property changes</summary>", ""]
    for r in detailed:
        out += [f"**{r.word} {md_code(r.name)}** ({md_code(r.type)})", ""]
        out += [f"- {md_code(s.prop_text(p))}" for p in r.properties[:PROPERTY_LIMIT]]
        if len(r.properties) > PROPERTY_LIMIT:
            out.append(f"- … and {len(r.properties) - PROPERTY_LIMIT} more (see `--json`)")
        out.append("")
    return out + ["</details>"]


def _rehearsal(r: s.Rehearsal | None) -> list[str]:
    if r is None:
        return []
    note = f": {r.note}" if r.note else ""
    return (["", f"**Rehearsal:** {'ok' if r.ok else 'FAILED'} ({escape(r.count + note)})"]
            + [f"- {escape(m)}" for m in r.mismatches])


def _engine(e: s.Engine | None) -> list[str]:
    if e is None:
        return []
    if not e.ran:
        return ["", "**Engine plan:** not run" + (f" \\({md_text(e.note)}\\)" if e.note else "")]
    out = ["", "### Engine plan"]
    if not e.steps:
        return out + ["No changes."]
    out += ["| op | type | name | we predicted |", "|---|---|---|---|"]
    for step in e.steps:
        predicted = "" if step.agrees else f"**{md_text(step.predicted)}**"
        out.append(f"| {md_text(step.op)} | {md_code(step.type, table=True)} | {md_code(step.name, table=True)} | "
                   f"{predicted} |")
    return out
