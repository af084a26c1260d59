"""Section builders: the preview (or diff) document, read into the sections both renderers print.

A builder reads the JSON contract (``Plan.to_dict()``, a diff's document, a rollback's outcome) and
returns plain data, never formatted text: the text and markdown renderers (:mod:`rollback.render.text`,
:mod:`rollback.render.markdown`) decide how each section looks, and print them in
:data:`PREVIEW_ORDER`. A new screen (or a new format) starts from these builders. Longer than our other modules (over 500
lines) because every section of the preview, diff and rollback screens is here, one builder each, so that
both renderers read them from one place.

The screen a person reads at 3 a.m. starts with the :func:`verdict` (what goes where, what it changes,
how many resources, what to type next), then :func:`refusals` (what a rollback would be refused for)
and :func:`worries` (what should give pause), then :func:`what_changes`. Everything else (each
resource and property, the rehearsal, provider plugins, what a replay cannot restore, the replay's
notes, the engine's steps) is detail: behind ``--verbose`` in text, always in markdown and JSON.

Every key a builder reads may be missing (an older audit record, a diff): a document without
``refusals`` or ``engine`` renders, and refusals are then derived from the document itself (data loss,
protected resources, a failed rehearsal).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

OP_SIGN = {"create": "+", "delete": "-", "update": "~", "replace": "+-"}
OP_WORD = {"create": "re-create", "delete": "delete", "update": "update", "replace": "replace"}
FORWARD_WORD = {"create": "create", "delete": "delete", "update": "update", "replace": "replace"}
OP_ORDER = ("delete", "replace", "update", "create")
SECRET = "[secret]"
COMPOUND_LIMIT = 240      # characters of a JSON object or list shown inline (strings are never cut)

Doc = Mapping[str, Any]


def when(ts: Any) -> str:
    """Unix seconds as ``2025-10-09 10:00 UTC`` (``?`` when unknown)."""
    if not isinstance(ts, (int, float)):
        return "?"
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def value_text(value: Any) -> str:
    """A value on one line, as JSON. Strings and numbers are never cut (an ARN's revision and an image's
    tag are at the end, the account in the middle): a long line wraps instead. Only an object or a list
    longer than :data:`COMPOUND_LIMIT` is cut, at its end, saying how much is left out."""
    if isinstance(value, str):
        return value if value == SECRET else json.dumps(value, ensure_ascii=False)
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, (dict, list)) and len(text) > COMPOUND_LIMIT:
        return f"{text[:COMPOUND_LIMIT]}… ({len(text) - COMPOUND_LIMIT} more characters in --json)"
    return text


def name_of(urn: str) -> str:
    body = urn.split("::", 3)
    return body[3] if len(body) == 4 else urn


def stack_label(d: Doc) -> str:
    return f"{d['project']}/{d['stack']}" if d.get("project") else str(d["stack"])


def target_label(d: Doc) -> str:
    """How the document's target is named: ``v2``, ``current``, or ``git:1a2b3c4d5e6f`` (a commit no version was
    made from: a Terraform ``--to git:REF``)."""
    to = d.get("to_version")
    if to is None:
        head = (d.get("target") or {}).get("git_head") if isinstance(d.get("target"), Mapping) else None
        if head:
            return f"git:{str(head)[:12]}"
    return "current" if to == "current" else f"v{to}"


def version_line(v: Doc) -> str:
    """``v4  update succeeded  2025-10-09 10:00 UTC  "release 1.4.0"  git 4f2a1b3  [good]``."""
    if v.get("version") is None and v.get("git_head"):
        return f"git:{str(v['git_head'])[:12]}  a commit, not a version of the history (no recorded variables)"
    parts = [f"v{v['version']}", f"{v.get('kind') or '?'} {v.get('result') or '?'}", when(v.get("start_time"))]
    if v.get("message"):
        parts.append(json.dumps(v["message"], ensure_ascii=False))
    if v.get("git_head"):
        parts.append(f"git {v['git_head'][:7]}")
    if v.get("mark"):
        parts.append(f"[{v['mark']}" + (f": {v['mark_reason']}" if v.get("mark_reason") else "") + "]")
    return "  ".join(parts)


def prop_text(p: Doc) -> str:
    """One property change: ``path: before -> after``, ``path added: v`` or ``path removed (was v)``."""
    if p.get("secret"):
        return f"{p['path']}: {SECRET} changed"
    before, after = p.get("before"), p.get("after")
    if before is None and after is not None:
        return f"{p['path']} added: {value_text(after)}"
    if after is None and before is not None:
        return f"{p['path']} removed (was {value_text(before)})"
    return f"{p['path']}: {value_text(before)} -> {value_text(after)}"


def image_label(images: list[str]) -> str:
    """What a person calls the images a workload runs: ``image 1.5.0`` (one tag), ``images bot:1.5.0,
    worker:2.0``. Whole references are never cut: a tag is the part after the name, a digest stays whole."""
    unique = list(dict.fromkeys(i for i in images if i and i != SECRET))
    if not unique:
        return ""
    tails = [i.rsplit("/", 1)[-1] for i in unique]
    tags = [t.split(":", 1)[1] if ":" in t and "@" not in t else None for t in tails]
    if all(tags) and len(set(tags)) == 1:
        return f"image {tags[0]}"
    if len(unique) == 1:
        return f"image {tails[0]}"
    return "images " + ", ".join(tails)


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
    dest = target_label(d)
    return Heading("Rollback preview" if is_rollback else "Diff", stack_label(d), source, dest, is_rollback)


@dataclass(frozen=True)
class Count:
    op: str               # create | delete | update | replace
    word: str             # "delete", "re-create" (a rollback) or "create" (a diff)
    n: int
    at_least: bool        # a secret that could not be compared may hide more

    def __str__(self) -> str:
        return f"{self.n}{'+' if self.at_least else ''} {self.word}"


@dataclass(frozen=True)
class Verdict:
    """The first lines of the screen, repeated as its last.

    ``what``: ``omniserve/prod v6 (image 1.5.0) -> v2 (image 1.4.0, marked good)``; ``changes``: ``image,
    memory 1Gi->512Mi, 4 env vars, 2 secrets revert``; ``counts``: one per op; ``status``: ``preview only,
    nothing changed`` (None for a diff or an apply in progress); ``next``: the command that applies it."""

    what: str
    changes: str
    counts: tuple[Count, ...]
    status: str | None
    next: str | None
    nothing_to_do: bool

    @property
    def counts_text(self) -> str:
        return ", ".join(str(c) for c in self.counts)


def _workloads(d: Doc) -> list[Doc]:
    return list((d.get("summary") or {}).get("workloads") or [])


def _images(d: Doc, side: str) -> list[str]:
    return [str(f.get(side)) for w in _workloads(d) for f in w.get("fields") or []
            if f.get("field") == "image" and f.get(side) and not f.get("secret")]


def _first_pair(d: Doc, names: tuple[str, ...]) -> str | None:
    for name in names:
        for w in _workloads(d):
            for f in w.get("fields") or []:
                if f.get("field") == name and not f.get("secret") and f.get("before") and f.get("after"):
                    return f"{f['before']}->{f['after']}"
    return None


def _config_map_keys(d: Doc) -> set[str]:
    keys = set()
    for c in d.get("changes") or []:
        if c.get("type") == "kubernetes:core/v1:ConfigMap" and c.get("op") in ("update", "replace"):
            for p in c.get("properties") or []:
                path = str(p.get("path", ""))
                if path.startswith("data."):
                    keys.add(path[len("data."):])
                elif path.startswith('data["') and path.endswith('"]'):
                    keys.add(path[len('data["'):-2])
    return keys


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def change_words(d: Doc) -> list[str]:
    """What the rollback changes in the workloads, in a few words: ``image``, ``memory 1Gi->512Mi``,
    ``cpu 1->500m``, ``replicas 5->3``, ``4 env vars``, ``2 secrets``, ``1 workload deleted``."""
    fields: list[str] = []
    added = removed = 0
    for w in _workloads(d):
        if w.get("container") is None and w.get("status") == "added":
            added += 1
        elif w.get("container") is None and w.get("status") == "removed":
            removed += 1
        for f in w.get("fields") or []:
            if not f.get("secret"):   # secrets are counted apart ("2 secrets")
                fields.append(str(f.get("field")))
    out: list[str] = []
    if "image" in fields:
        out.append("image")
    groups = (("memory", ("memory limit", "memory request", "task memory", "memory")),
              ("cpu", ("cpu limit", "cpu request", "cpu units", "task cpu", "cpus", "cpu shares")),
              ("replicas", ("replicas", "desiredCount", "min instances", "max instances")))
    for word, names in groups:
        if any(f in names for f in fields):
            pair = _first_pair(d, names)
            out.append(f"{word} {pair}" if pair else word)
    known = {"image"} | {n for _, names in groups for n in names}
    out += list(dict.fromkeys(f for f in fields if f not in known))
    env = {str(e.get("name")) for w in _workloads(d) for e in w.get("env") or []} | _config_map_keys(d)
    if env:
        out.append(_plural(len(env), "env var"))
    secrets = sum(1 for c in d.get("changes") or [] for p in c.get("properties") or [] if p.get("secret"))
    if secrets:
        out.append(_plural(secrets, "secret"))
    if added:
        out.append(f"{_plural(added, 'workload')} re-created" if "target" in d else f"{_plural(added, 'workload')} added")
    if removed:
        out.append(f"{_plural(removed, 'workload')} deleted")
    return out


def uncompared(d: Doc) -> list[Doc]:
    return list((d.get("summary") or {}).get("uncompared_secrets") or [])


def counts(d: Doc) -> list[Count]:
    """Resources per op, deletes first. Updates and replacements are lower bounds (``3+``) when a secret
    could not be compared: it may hide one more."""
    n: dict[str, int] = {}
    for c in d.get("changes") or []:
        n[c.get("op", "?")] = n.get(c.get("op", "?"), 0) + 1
    words = OP_WORD if "target" in d else FORWARD_WORD
    lower = bool(uncompared(d))
    order = list(OP_ORDER) + [op for op in n if op not in OP_ORDER]
    return [Count(op, words.get(op, op), n[op], lower and op in ("update", "replace")) for op in order if n.get(op)]


def _side(d: Doc, *, current: bool) -> str:
    head = heading(d)
    label = ("current" if head.source.startswith("current") else head.source.split(" ")[0]) if current else head.dest
    extra: list[str] = []
    image = image_label(_images(d, "before" if current else "after"))
    if image:
        extra.append(image)
    t = d.get("target") if not current else None
    if t:
        if t.get("result") and t.get("result") != "succeeded":
            extra.append(f"{t['result']} {t.get('kind') or 'update'}")
        if t.get("mark") == "good":
            extra.append("marked good")
        elif t.get("mark") == "bad":
            extra.append("MARKED BAD")
    return label + (f" ({', '.join(extra)})" if extra else "")


def verdict(d: Doc, *, mode: str = "preview") -> Verdict:
    """``mode``: ``preview`` (nothing changed; say how to apply), ``apply`` (about to ask), ``diff``."""
    head = heading(d)
    rollback = head.is_rollback
    what = f"{'' if rollback else 'diff '}{head.stack} {_side(d, current=True)} -> {_side(d, current=False)}"
    words = change_words(d)
    nothing = not (d.get("changes") or [])
    if nothing:
        changes = ("nothing to roll back: the same desired state as now" if rollback
                   else "no resource changes: the same desired state")
    elif words:
        changes = ", ".join(words) + (" revert" if rollback else " change")
    else:
        changes = "no workload changes; other inputs revert" if rollback else "no workload changes"
    status = next_step = None
    if rollback and mode == "preview":
        status = "preview only, nothing changed"
        if nothing:
            next_step = None
        elif refusals(d):
            next_step = "a rollback would be refused as it stands (below)"
        else:
            next_step = f"apply: infra-rollback {d['stack']} --to {target_label(d)}"
    return Verdict(what, changes, tuple(counts(d)), status, next_step, nothing)


def verdict_lines(v: Verdict) -> list[str]:
    """The verdict in one or two lines (a format may style them further)."""
    first = f"{v.what}: {v.changes}" + (f" | {v.counts_text}" if v.counts else "")
    second = " | ".join(x for x in (v.status, v.next) if x)
    return [first] + ([second] if second else [])


def refusals(d: Doc) -> list[str]:
    """Everything that would refuse the rollback. The document's own ``refusals`` (every guard, the
    engine's included) or ``refused`` (a refused rollback) when it has them; else what the document
    itself shows: data loss, protected resources, a failed rehearsal."""
    if "refusals" in d:
        return [str(r) for r in d.get("refusals") or []]
    if d.get("refused"):
        return [str(r) for r in d["refused"]]
    if "target" not in d:
        return []
    out = [f"DATA LOSS: would {i.op} data-bearing {i.type} {i.name} ({i.reason}); --allow-data-loss allows it"
           for i in data_loss(d) if not _allowed(d, i)]
    for p in (d.get("summary") or {}).get("protected") or []:
        out.append(f"would {p.get('op', '?')} protected resource {p.get('type', '')} {name_of(p.get('urn', ''))} "
                   f"(unprotect it first)")
    r = rehearsal(d)
    if r is not None and not r.ok:
        first = f": {r.mismatches[0]}" if r.mismatches else ""
        more = f" (+{len(r.mismatches) - 1} more)" if len(r.mismatches) > 1 else ""
        out.append(f"the rehearsal under mocks failed{first}{more}")
    return out


def _allowed(d: Doc, loss: Loss) -> bool:
    return any(str(w).startswith("allowed by --allow-data-loss") and name_of(loss.urn) in str(w)
               for w in d.get("warnings") or [])


def _uncompared_line(d: Doc) -> str | None:
    items = uncompared(d)
    if not items:
        return None
    names = ", ".join(f"{name_of(u.get('urn', ''))} {u.get('path', '')}" for u in items)
    reasons = list(dict.fromkeys(str(u["reason"]) for u in items if u.get("reason")))
    why = f" ({'; '.join(reasons)})" if reasons else ""
    return f"{_plural(len(items), 'secret')} could not be compared{why}: {names}; the counts are lower bounds"


def _is_uncompared_warning(w: str) -> bool:
    return w.startswith("secret at ") and " could not be compared" in w


def worries(d: Doc) -> list[str]:
    """What should give pause (a failed or bad-marked target, pending operations, a skipped rehearsal,
    secrets not compared, what the engine disagrees with), one line each."""
    out: list[str] = []
    line = _uncompared_line(d)
    for w in d.get("warnings") or []:
        w = str(w)
        if _is_uncompared_warning(w):
            continue
        out.append(w)
    if line:
        out.append(line)
    engine = d.get("engine") or {}
    for x in engine.get("disagreements") or []:
        out.append(f"engine: {x}")
    for x in engine.get("not_restored") or []:
        out.append(f"the engine will not restore: {x}")
    if engine and not engine.get("ran") and engine.get("note"):
        out.append(f"the engine's own plan was not checked: {engine['note']}")
    return list(dict.fromkeys(out))


def skipped(d: Doc, *, reason: Callable[[str], str] = str) -> list[str]:
    """``vN (why)`` for each version ``previous`` passed over; ``reason`` escapes the why for a format."""
    return [f"v{s['version']} ({reason(s['reason'])})" for s in d.get("skipped") or []]


@dataclass(frozen=True)
class Loss:
    op: str
    type: str
    name: str
    reason: str
    urn: str = ""


def data_loss(d: Doc) -> list[Loss]:
    return [Loss(item.get("op", "?"), item.get("type", ""), name_of(item.get("urn", "")), item.get("reason", ""),
                 item.get("urn", ""))
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
    forward: bool = False             # a diff: "create", not "re-create"

    @property
    def sign(self) -> str:
        return OP_SIGN.get(self.op, "?")

    @property
    def word(self) -> str:
        return (FORWARD_WORD if self.forward else OP_WORD).get(self.op, self.op)


def resources(d: Doc) -> list[Row]:
    forward = "target" not in d
    return [Row(c["op"], c.get("type", ""), name_of(c["urn"]), bool(c.get("data_bearing")), bool(c.get("protected")),
                c.get("replace_reason"),
                tuple(c.get("properties") or []) if c["op"] in ("update", "replace") else (), forward)
            for c in d.get("changes") or []]


def op_counts(rows: list[Row]) -> list[tuple[str, int]]:
    """``[(word, n), ...]`` in the order ops first appear."""
    n: dict[str, int] = {}
    for r in rows:
        n[r.op] = n.get(r.op, 0) + 1
    words = {r.op: r.word for r in rows}
    return [(words[op], k) for op, k in n.items()]


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


_REPLACE_ORDER_NOTE = "deleteBeforeReplace is not stored in state"


def cannot_restore(d: Doc) -> list[str]:
    """What a replay cannot restore, the notes that apply to this rollback only: the note on the order of
    replacements is left out when nothing is replaced."""
    replaces = any(c.get("op") == "replace" for c in d.get("changes") or [])
    return [str(c) for c in d.get("cannot_restore") or [] if replaces or not str(c).startswith(_REPLACE_ORDER_NOTE)]


def notes(d: Doc) -> list[str]:
    """How the replay will do it (inputs that follow re-registered dependencies, providers dropped ...)."""
    return [str(n) for n in d.get("notes") or []]


@dataclass(frozen=True)
class EngineStep:
    op: str
    type: str
    name: str
    predicted: str | None

    @property
    def agrees(self) -> bool:
        return self.predicted is None or self.predicted == self.op


@dataclass(frozen=True)
class Engine:
    ran: bool
    steps: tuple[EngineStep, ...] = field(default_factory=tuple)
    note: str = ""


def engine(d: Doc) -> Engine | None:
    """The engine's own plan (its steps beside what we predicted), when the document has one."""
    e = d.get("engine")
    if not isinstance(e, Mapping):
        return None
    steps = tuple(EngineStep(str(s.get("op", "?")), str(s.get("type", "")), name_of(str(s.get("urn", ""))),
                             s.get("predicted_op")) for s in e.get("steps") or [] if isinstance(s, Mapping))
    return Engine(bool(e.get("ran")), steps, str(e.get("note") or ""))


def warnings(d: Doc) -> list[str]:
    return list(d.get("warnings") or [])


PREVIEW_ORDER = ("verdict", "refusals", "worries", "target", "skipped", "what_changes", "resources", "rehearsal",
                 "provider_versions", "cannot_restore", "notes", "engine", "verdict")
