"""Section builders: the preview (or diff) document, read into the sections both renderers print.

A builder reads the JSON contract (``Plan.to_dict()``, a diff's document) and returns plain data,
never formatted text: the text and markdown renderers (:mod:`rollback.render.text`,
:mod:`rollback.render.markdown`) decide how each section looks, and print them in
:data:`PREVIEW_ORDER`. A new screen (or a new format) starts from these builders.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

OP_SIGN = {"create": "+", "delete": "-", "update": "~", "replace": "+-"}
OP_WORD = {"create": "re-create", "delete": "delete", "update": "update", "replace": "replace"}
SECRET = "[secret]"

Doc = Mapping[str, Any]


def when(ts: Any) -> str:
    """Unix seconds as ``2025-10-09 10:00 UTC`` (``?`` when unknown)."""
    if not isinstance(ts, (int, float)):
        return "?"
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def short(value: Any, width: int = 60) -> str:
    """A value on one line: JSON, both ends kept when cut (an ARN's revision or an image's tag is at the end)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value != SECRET:
        text = json.dumps(value, ensure_ascii=False)
    if len(text) <= width:
        return text
    head = width * 2 // 5
    return text[:head] + "…" + text[-(width - head - 1):]


def name_of(urn: str) -> str:
    body = urn.split("::", 3)
    return body[3] if len(body) == 4 else urn


def stack_label(d: Doc) -> str:
    return f"{d['project']}/{d['stack']}" if d.get("project") else d["stack"]


def version_line(v: Doc) -> str:
    """``v4  update succeeded  2025-10-09 10:00 UTC  "release 1.4.0"  git 4f2a1b3  [good]``."""
    parts = [f"v{v['version']}", f"{v.get('kind') or '?'} {v.get('result') or '?'}", when(v.get("start_time"))]
    if v.get("message"):
        parts.append(json.dumps(v["message"], ensure_ascii=False))
    if v.get("git_head"):
        parts.append(f"git {v['git_head'][:7]}")
    if v.get("mark"):
        parts.append(f"[{v['mark']}]")
    return "  ".join(parts)


def prop_text(p: Doc) -> str:
    """One property change: ``path: before -> after``, ``path added: v`` or ``path removed (was v)``."""
    if p.get("secret"):
        return f"{p['path']}: {SECRET} changed"
    before, after = p.get("before"), p.get("after")
    if before is None and after is not None:
        return f"{p['path']} added: {short(after)}"
    if after is None and before is not None:
        return f"{p['path']} removed (was {short(before)})"
    return f"{p['path']}: {short(before)} -> {short(after)}"


# -- the sections -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Heading:
    title: str            # "Rollback preview" | "Diff"
    stack: str            # project/stack
    source: str           # "v6 (current)", "current", "v2"
    dest: str             # "v2", "current"
    is_rollback: bool


def heading(d: Doc) -> Heading:
    is_rollback = "target" in d
    frm = d.get("from_version")
    source = "current" if frm in (None, "current") else (f"v{frm} (current)" if is_rollback else f"v{frm}")
    to = d.get("to_version")
    dest = "current" if to == "current" else f"v{to}"
    return Heading("Rollback preview" if is_rollback else "Diff", stack_label(d), source, dest, is_rollback)


def skipped(d: Doc, *, reason: Callable[[str], str] = str) -> list[str]:
    """``vN (why)`` for each version ``previous`` passed over; ``reason`` escapes the why for a format."""
    return [f"v{s['version']} ({reason(s['reason'])})" for s in d.get("skipped") or []]


@dataclass(frozen=True)
class Loss:
    op: str
    type: str
    name: str
    reason: str


def data_loss(d: Doc) -> list[Loss]:
    return [Loss(item.get("op", "?"), item.get("type", ""), name_of(item.get("urn", "")), item.get("reason", ""))
            for item in (d.get("summary") or {}).get("data_loss") or []]


def what_changes(d: Doc) -> list[str]:
    return list((d.get("summary") or {}).get("lines") or [])


@dataclass(frozen=True)
class Row:
    """One resource the rollback (or diff) changes."""

    op: str
    type: str
    name: str
    data_bearing: bool
    protected: bool
    replace_reason: str | None
    properties: tuple[Doc, ...]       # shown for updates and replacements

    @property
    def sign(self) -> str:
        return OP_SIGN.get(self.op, "?")

    @property
    def word(self) -> str:
        return OP_WORD.get(self.op, self.op)


def resources(d: Doc) -> list[Row]:
    return [Row(c["op"], c.get("type", ""), name_of(c["urn"]), bool(c.get("data_bearing")), bool(c.get("protected")),
                c.get("replace_reason"),
                tuple(c.get("properties") or []) if c["op"] in ("update", "replace") else ())
            for c in d.get("changes") or []]


def op_counts(rows: list[Row]) -> list[tuple[str, int]]:
    """``[(word, n), ...]`` in the order ops first appear."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.op] = counts.get(r.op, 0) + 1
    return [(OP_WORD.get(op, op), n) for op, n in counts.items()]


@dataclass(frozen=True)
class Rehearsal:
    ok: bool
    resources: int
    mismatches: tuple[str, ...]
    scope: str = "full"
    total: int = 0

    @property
    def count(self) -> str:
        """How many resources were rehearsed: ``13 of 16 resources`` or ``16 resources``."""
        return f"{self.resources} of {self.total} resources" if self.scope == "changed" else f"{self.resources} resources"

    @property
    def note(self) -> str:
        """Why not all of them ('' when all)."""
        return ("those that change and what comes with them; every resource is rehearsed before an apply"
                if self.scope == "changed" else "")


def rehearsal(d: Doc) -> Rehearsal | None:
    r = d.get("rehearsal")
    if not r:
        return None
    return Rehearsal(bool(r.get("ok")), r.get("resources", 0), tuple(r.get("mismatches", [])),
                     str(r.get("scope") or "full"), r.get("total", r.get("resources", 0)))


def provider_versions(d: Doc) -> list[str]:
    """Which plugin version each provider package will run with, and whether that differs from the target's."""
    out = []
    for v in d.get("provider_versions") or []:
        target, used = v.get("target"), v.get("used")
        if target == used:
            out.append(f"{v.get('package')} {used or '?'} (as in the target)")
        elif used in (v.get("current") or []):
            out.append(f"{v.get('package')} {used}: keeping the current version; the target used {target or '?'} "
                       f"(--restore-provider-versions restores it; a downgrade can fail in the provider)")
        else:
            out.append(f"{v.get('package')} {used or '?'} (the target used {target or '?'})")
    return out


def cannot_restore(d: Doc) -> list[str]:
    return list(d.get("cannot_restore") or [])


def warnings(d: Doc) -> list[str]:
    return list(d.get("warnings") or [])


PREVIEW_ORDER = ("heading", "target", "skipped", "data_loss", "what_changes", "resources", "rehearsal",
                 "provider_versions", "cannot_restore", "warnings")
