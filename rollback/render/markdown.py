"""Markdown renderings (a CI job summary, a PR comment) of the preview and diff."""

from __future__ import annotations

from rollback.render import sections as s
from rollback.render.sections import Doc
from rollback.safetext import md_code, md_text, one_line

PROPERTY_LIMIT = 40


def preview_markdown(d: Doc) -> str:
    head = s.heading(d)
    out = [f"## {head.title}: {md_code(head.stack)} {head.source} → {head.dest}", ""]
    t = d.get("target")
    if t:
        out += [f"**Target:** v{t['version']} — {md_text(t.get('kind'))} {md_text(t.get('result'))}, "
                f"{s.when(t.get('start_time'))}"
                + (f", “{md_text(t['message'])}”" if t.get("message") else "")
                + (f", git {md_code(t['git_head'][:7])}" if t.get("git_head") else ""), ""]
    skipped = s.skipped(d, reason=md_text)
    if skipped:
        out += ["**Skipped:** " + "; ".join(skipped), ""]
    out += _data_loss(s.data_loss(d))
    lines = s.what_changes(d)
    if lines:
        out += ["### What changes", *(f"- {escape(line)}" for line in lines), ""]
    rows = s.resources(d)
    out += _resources(rows) + _properties(rows) + _rehearsal(s.rehearsal(d))
    versions = s.provider_versions(d)
    if versions:
        out += ["", "**Provider plugins:** " + "; ".join(md_text(v) for v in versions)]
    out += _block("A replay cannot restore", s.cannot_restore(d))
    out += _block("Warnings", s.warnings(d))
    return "\n".join(one_line(line) for line in out) + "\n"


def escape(text: str) -> str:
    """User-controlled text (messages, reasons, env values) shown as itself, never as markup."""
    return md_text(text)


def _block(title: str, items: list[str]) -> list[str]:
    return ["", f"### {title}", *(f"- {escape(i)}" for i in items)] if items else []


def _data_loss(items: list[s.Loss]) -> list[str]:
    if not items:
        return []
    return (["> [!CAUTION]", "> **Data loss:** this rollback would delete or replace resources that hold data "
             "(refused unless `--allow-data-loss`):"]
            + [f"> - {md_text(i.op)} {md_code(i.type)} {md_code(i.name)} ({md_text(i.reason)})" for i in items] + [""])


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
