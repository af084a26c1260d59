"""Plain-text renderings: the preview and diff screen, history, show, a mark, the last lines of a rollback
or deploy. Colour (``color``) and wrapping (``width``) are for a terminal; by default there is neither."""

from __future__ import annotations

from dataclasses import dataclass

from rollback.models import Outcome
from rollback.render import sections as s
from rollback.render.sections import Doc
from rollback.render.style import Line, Span, paint, wrap
from rollback.safetext import one_line

PROPERTY_LIMIT = 12
_COUNT_STYLE = {"delete": "delete", "replace": "replace", "create": "create"}


@dataclass(frozen=True)
class Options:
    """How a screen is printed: ``verbose`` adds the per-resource details; ``mode`` is ``preview`` (nothing
    changed), ``apply`` (shown before the question) or ``diff``; ``quiet`` keeps the verdict only."""

    verbose: bool = False
    color: bool = False
    width: int | None = None
    mode: str = "preview"
    quiet: bool = False


def _finish(lines: list[Line], opts: Options) -> str:
    out: list[str] = []
    for line in lines:
        out += wrap(paint(line, color=opts.color), opts.width)
    return "\n".join(out)


def _verdict(v: s.Verdict) -> list[Line]:
    first: list[Span] = [(f"{v.what}: ", "bold"), (v.changes, "bold")]
    for i, c in enumerate(v.counts):
        first += [(" | " if i == 0 else ", ", None), (str(c), _COUNT_STYLE.get(c.op))]
    second = " | ".join(x for x in (v.status, v.next) if x)
    return [first] + ([second] if second else [])


def _alerts(d: Doc) -> list[Line]:
    out: list[Line] = [[("  ✗ would be refused: ", "refuse"), (r, "refuse")] for r in s.refusals(d)]
    out += [[("  ! ", "worry"), (w, None)] for w in s.worries(d)]
    return out


def preview_text(d: Doc, opts: Options | None = None) -> str:
    """The screen of a preview (or a diff): the verdict, what would refuse or should worry, what changes in
    the workloads; with ``verbose``, every resource and property, the rehearsal, provider plugins, what a
    replay cannot restore, the replay's notes and the engine's steps; the verdict again at the end."""
    opts = opts or Options()
    head = s.heading(d)
    mode = opts.mode if head.is_rollback else "diff"
    verdict = _verdict(s.verdict(d, mode=mode))
    out: list[Line] = [*verdict, *_alerts(d)]
    if opts.quiet:
        return _finish(out, opts)
    if d.get("target"):
        out.append(f"  target  {s.version_line(d['target'])}")
    skipped = s.skipped(d)
    if skipped:
        out.append("  skipped " + "; ".join(skipped))
    out += _block("What changes", [f"  {line}" for line in s.what_changes(d)])
    rows = s.resources(d)
    if opts.verbose:
        out += _resources(rows, is_rollback=head.is_rollback)
        out += _rehearsal(s.rehearsal(d))
        out += _block("Provider plugins", [f"  {line}" for line in s.provider_versions(d)])
        out += _block("A replay cannot restore", [f"  - {c}" for c in s.cannot_restore(d)])
        out += _block("Notes", [f"  - {n}" for n in s.notes(d)])
        out += _engine(s.engine(d))
    elif rows:
        out += ["", _more(d, rows)]
    if len(out) > len(verdict) + 2:
        out += ["", *verdict]
    return _finish(out, opts)


def _more(d: Doc, rows: list[s.Row]) -> str:
    """What ``--verbose`` adds, in one line: ``--verbose shows each of the 7 resources and their 21
    properties, the rehearsal (ok, 16 resources), provider plugins (2), 1 note``."""
    props = sum(len(r.properties) for r in rows)
    parts = [f"each of the {len(rows)} resources" + (f" and their {props} property changes" if props else "")
             if len(rows) > 1 else "the resource" + (f" and its {props} property changes" if props else "")]
    r = s.rehearsal(d)
    if r is not None:
        parts.append(f"the rehearsal ({'ok' if r.ok else 'FAILED'}, {r.count} under mocks)")
    if s.provider_versions(d):
        parts.append("provider plugins")
    extra = len(s.cannot_restore(d)) + len(s.notes(d))
    if extra:
        parts.append(f"{extra} note{'s' if extra > 1 else ''} on the replay")
    if s.engine(d) is not None:
        parts.append("the engine's steps")
    return "--verbose shows " + ", ".join(parts)


def _block(title: str, lines: list[Line]) -> list[Line]:
    return ["", [(title, "bold")], *lines] if lines else []


_ROW_STYLE = {"delete": "delete", "replace": "replace", "create": "create"}


def _resources(rows: list[s.Row], *, is_rollback: bool) -> list[Line]:
    if not rows:
        return ["", "No resource changes: the target has the same desired state as the current one." if is_rollback
                else "No resource changes: the two versions have the same desired state."]
    out: list[Line] = ["", [("Resources (" + ", ".join(f"{n} to {word}" for word, n in s.op_counts(rows)) + ")",
                             "bold")]]
    for r in rows:
        flags = (["DATA"] if r.data_bearing else []) + (["protected"] if r.protected else [])
        head = f"  {r.sign:<2} {r.word:<9} {r.type}  {r.name}"
        if flags:
            head += "  [" + ", ".join(flags) + "]"
        if r.replace_reason:
            head += f"  (replace: {r.replace_reason})"
        out.append([(head, _ROW_STYLE.get(r.op))])
        out += [f"      {s.prop_text(p)}" for p in r.properties[:PROPERTY_LIMIT]]
        if len(r.properties) > PROPERTY_LIMIT:
            out.append(f"      … and {len(r.properties) - PROPERTY_LIMIT} more (see --json)")
    return out


def _rehearsal(r: s.Rehearsal | None) -> list[Line]:
    if r is None:
        return []
    note = f": {r.note}" if r.note else ""
    if r.ok:
        return ["", f"Rehearsal: ok ({r.count} re-registered under mocks{note})"]
    return ["", [("Rehearsal: FAILED", "refuse"), (f" ({r.count}{note})", None)], *(f"  {m}" for m in r.mismatches)]


def _engine(e: s.Engine | None) -> list[Line]:
    if e is None:
        return []
    if not e.ran:
        return ["", f"Engine plan: not run{f' ({e.note})' if e.note else ''}"]
    lines: list[Line] = []
    for step in e.steps:
        text = f"  {step.op:<9} {step.type}  {step.name}"
        if not step.agrees:
            text += f"  (we predicted {step.predicted})"
        lines.append([(text, _ROW_STYLE.get(step.op) if step.agrees else "worry")])
    return _block("Engine plan", lines or ["  no changes"])


# -- history ------------------------------------------------------------------------------------

HISTORY_COLUMNS = ("VERSION", "WHEN", "KIND", "RESULT", "WHO", "GIT", "IMAGE", "CHANGES", "MARK", "WHY")
_MARK, _RESULT = 8, 3


def _changes_cell(v: Doc) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted((v.get("resource_changes") or {}).items()) if n and k != "same")


def _mark_cell(v: Doc) -> str:
    if not v.get("mark"):
        return ""
    text = str(v["mark"])
    if v.get("mark_reason"):
        text += f": {v['mark_reason']}"
    if v.get("mark_by"):
        text += f" ({v['mark_by']})"
    return text


def _rollback_kind(r: Doc) -> str:
    """``rollback to v2`` (or ``deploy``)."""
    kind = str(r.get("kind") or "rollback")
    return f"{kind} to v{r['to_version']}" if r.get("to_version") is not None and kind == "rollback" else kind


def _rollback_result(r: Doc) -> str:
    """What became of it: ``succeeded``, ``INTERRUPTED`` (an in-progress record with nobody holding the
    stack), ``IN PROGRESS``, ``FAILED``, ``UNHEALTHY`` ..."""
    state = str(r.get("state") or r.get("outcome") or "")
    if state in ("rolled-back", "deployed"):
        return "succeeded"
    if state in ("in-progress", "pending"):
        return "IN PROGRESS"
    return state.upper() if state else "?"


def history_rows(d: Doc) -> list[list[str]]:
    """The history table's rows, newest first: one per version, and one per rollback that left no version of
    its own (interrupted, or failed before the engine wrote anything), placed by the time it was decided."""
    cur = d.get("current_version")
    operations = sorted(d.get("operations") or [], key=lambda r: -(r.get("at") or 0))
    rows: list[list[str]] = []

    def operation_row(r: Doc) -> list[str]:
        return [" -", s.when(r.get("at")), _rollback_kind(r), _rollback_result(r), str(r.get("by") or ""), "", "",
                "", "", str(r.get("reason") or "")]

    for v in d.get("versions", []):
        while operations and (operations[0].get("at") or 0) >= (v.get("start_time") or 0):
            rows.append(operation_row(operations.pop(0)))
        rb = v.get("rollback") or {}
        result = str(v.get("result") or "")
        if not v.get("has_checkpoint"):
            result += " (no checkpoint)"
        rows.append([f"{'*' if v['version'] == cur else ' '}v{v['version']}", s.when(v.get("start_time")),
                     _rollback_kind(rb) if rb else str(v.get("kind") or "?"),
                     result if not rb or rb.get("outcome") == "rolled-back" else f"{result}, {_rollback_result(rb)}",
                     str(v.get("who") or rb.get("by") or ""), str(v.get("git_head") or "")[:7],
                     str(v.get("image") or ""), _changes_cell(v), _mark_cell(v), str(rb.get("reason") or "")])
    rows += [operation_row(r) for r in operations]
    return rows


def history_text(d: Doc, opts: Options | None = None) -> str:
    """The history as a table, newest first (columns with nothing in them are left out)::

        VERSION  WHEN                  KIND            RESULT     WHO  GIT      IMAGE      CHANGES    MARK  WHY
        *v7      2026-11-13 08:02 UTC  rollback to v2  succeeded  ana           bot:1.4.0  update 3         tags ...
    """
    opts = opts or Options()
    rows = history_rows(d)
    out: list[Line] = [f"History of {s.stack_label(d)} (newest first; * = current state)"]
    if not rows:
        out.append("  (no history)")
    else:
        cells = [list(HISTORY_COLUMNS)] + [[one_line(c) for c in row] for row in rows]
        keep = [i for i in range(len(HISTORY_COLUMNS)) if i < 4 or any(row[i] for row in cells[1:])]
        widths = {i: max(len(row[i]) for row in cells) for i in keep}
        for n, row in enumerate(cells):
            text = "  ".join(row[i].ljust(widths[i]) for i in keep).rstrip()
            style = "bold" if n == 0 else (
                "worry" if any(w in row[_RESULT] for w in ("INTERRUPTED", "IN PROGRESS", "FAILED", "UNHEALTHY"))
                else ("delete" if row[_MARK].startswith("bad") else None))
            out.append([(text, style)])
    older = d.get("not_shown") or 0
    if older > 0:
        out.append(f"  ... {older} older version(s) not shown (--all, or --limit N)")
    out += [[("! ", "worry"), (w, None)] for w in d.get("warnings", [])]
    return "\n".join(paint(line, color=opts.color) for line in out)


# -- show ---------------------------------------------------------------------------------------

def show_text(d: Doc, opts: Options | None = None) -> str:
    """What one version ran: its workloads, its config, its stack outputs (secrets as ``[secret]``)."""
    opts = opts or Options()
    v = d.get("version") or {}
    out: list[Line] = [[(f"{s.stack_label(d)} {s.version_line(v)}", "bold")]]
    if d.get("current"):
        out[0] = [(f"{s.stack_label(d)} {s.version_line(v)}  (current state)", "bold")]
    lines: list[Line] = []
    for w in d.get("workloads") or []:
        lines.append(f"  {w.get('kind')} {w.get('name')}" + (f', container "{w["container"]}"' if w.get("container")
                                                              else "") + ":")
        for f in w.get("fields") or []:
            lines.append(f"      {f.get('field')}: {f.get('value')}")
        for e in w.get("env") or []:
            lines.append(f"      env {e.get('name')}={e.get('shown', e.get('value'))}")
    out += _block("Workloads", lines or ["  (none this tool recognises)"])
    out += _block("Config", _mapping_lines(d.get("config") or {}) or ["  (none recorded)"])
    out += _block("Outputs", _mapping_lines(d.get("outputs") or {}) or ["  (none)"])
    out += [[("! ", "worry"), (w, None)] for w in d.get("warnings", [])]
    return _finish(out, opts)


def _mapping_lines(values: Doc) -> list[Line]:
    """``key: value`` per entry, whole: scalars as they are, objects and lists as indented YAML below the key."""
    import yaml

    out: list[Line] = []
    for key, value in values.items():
        if isinstance(value, (dict, list)) and value:
            out.append(f"  {key}:")
            text = yaml.safe_dump(value, default_flow_style=False, sort_keys=False, allow_unicode=True, width=1 << 16)
            out += [f"    {line}" for line in text.splitlines()]
        else:
            out.append(f"  {key}: {value if isinstance(value, str) else s.value_text(value)}")
    return out


def mark_text(d: Doc) -> str:
    return one_line(f"marked {d['stack']} v{d['version']} {d['mark']}" + (f": {d['reason']}" if d.get("reason") else ""))


def write_config_text(d: Doc) -> str:
    """The last line of ``write-config``: which keys changed in which file, or that none did."""
    keys = "; ".join(d.get("lines") or [])
    if not d.get("lines"):
        return one_line(f"{d['path']}: already holds v{d.get('version')}'s config")
    if not d.get("written"):
        return one_line(f"{d['path']}: would write v{d.get('version')}'s config ({keys}) (--dry-run: not written)")
    return one_line(f"{d['path']}: wrote v{d.get('version')}'s config ({keys}); commit it so the next deploy "
                    f"does not bring the bad release back")


def rollback_result(d: Doc) -> str | None:
    """The last line of a rollback (its JSON document) that did not fail: what was done, or that nothing was."""
    if d.get("outcome") == Outcome.NOTHING_TO_DO:
        return f"nothing to roll back: {d['stack']} already has the desired state of {s.target_label(d)}"
    record = d.get("record")
    if d.get("outcome") != Outcome.ROLLED_BACK or not record:
        return None
    new = record.get("new_version")
    return (f"rolled back {d['stack']} to {s.target_label(d)}{f' as v{new}' if new else ''}"
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
