"""Markdown renderings (a CI job summary, a PR comment) of the preview and diff."""

from __future__ import annotations

from rollback.render import sections as s
from rollback.render.sections import Doc

PROPERTY_LIMIT = 40


def preview_markdown(d: Doc) -> str:
    head = s.heading(d)
    out = [f"## {head.title}: `{head.stack}` {head.source} → {head.dest}", ""]
    t = d.get("target")
    if t:
        out += [f"**Target:** v{t['version']} — {t.get('kind')} {t.get('result')}, {s.when(t.get('start_time'))}"
                + (f", “{t['message']}”" if t.get("message") else "")
                + (f", git `{t['git_head'][:7]}`" if t.get("git_head") else ""), ""]
    skipped = s.skipped(d)
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
        out += ["", "**Provider plugins:** " + "; ".join(versions)]
    out += _block("A replay cannot restore", s.cannot_restore(d))
    out += _block("Warnings", s.warnings(d))
    return "\n".join(out) + "\n"


def escape(text: str) -> str:
    return text.replace("|", "\\|")


def _block(title: str, items: list[str]) -> list[str]:
    return ["", f"### {title}", *(f"- {escape(i)}" for i in items)] if items else []


def _data_loss(items: list[s.Loss]) -> list[str]:
    if not items:
        return []
    return (["> [!CAUTION]", "> **Data loss:** this rollback would delete or replace resources that hold data "
             "(refused unless `--allow-data-loss`):"]
            + [f"> - {i.op} `{i.type}` `{i.name}` ({i.reason})" for i in items] + [""])


def _resources(rows: list[s.Row]) -> list[str]:
    if not rows:
        return ["### Resources", "No resource changes."]
    out = ["### Resources", "| op | type | name | details |", "|---|---|---|---|"]
    for r in rows:
        details = ([f"replace: {r.replace_reason}"] if r.replace_reason else []) \
            + (["**holds data**"] if r.data_bearing else []) + (["protected"] if r.protected else [])
        n = len(r.properties)
        if n:
            details.append(f"{n} propert{'y' if n == 1 else 'ies'}")
        out.append(f"| {r.word} | `{r.type}` | `{r.name}` | {escape('; '.join(details))} |")
    return out


def _properties(rows: list[s.Row]) -> list[str]:
    detailed = [r for r in rows if r.properties]
    if not detailed:
        return []
    out = ["", "<details><summary>Property changes</summary>", ""]
    for r in detailed:
        out += [f"**{r.word} `{r.name}`** (`{r.type}`)", ""]
        out += [f"- `{escape(s.prop_text(p))}`" for p in r.properties[:PROPERTY_LIMIT]]
        if len(r.properties) > PROPERTY_LIMIT:
            out.append(f"- … and {len(r.properties) - PROPERTY_LIMIT} more (see `--json`)")
        out.append("")
    return out + ["</details>"]


def _rehearsal(r: s.Rehearsal | None) -> list[str]:
    if r is None:
        return []
    return (["", f"**Rehearsal:** {'ok' if r.ok else 'FAILED'} ({r.resources} resources)"]
            + [f"- {escape(m)}" for m in r.mismatches])
