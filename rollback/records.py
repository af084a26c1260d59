"""infra-rollback's own records, kept beside Pulumi's files (never inside them): marks and audit records.

Both go through the stack's :class:`~rollback.state.backend.SideStore` (DIY: files under
``.infra-rollback/<project>/<stack>/``; Pulumi Cloud: stack tags and the records location), so everyone who
uses the backend (a laptop, CI) sees the same ones.

- :class:`Marks`: good/bad marks (``marks.json``), by the version's backend key.
- :class:`Records`: one audit record per rollback or guarded deploy (``records/<UTC timestamp>-<id>.json``),
  never rewritten except to add the outcome of the same operation.
- :func:`check_writable`: before an apply, whether the records and marks can be written at all.
- :class:`AfterApply`: after an apply, the writes that record it; a failure is said, not raised midway.

One bad record or mark never breaks reading for everyone: it is skipped, with a warning naming it.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rollback.errors import NotRecorded, RollbackError, StateError, WriteConflict
from rollback.models import Mark, Outcome, StackRef
from rollback.safetext import one_line
from rollback.state.backend import Backend
from rollback.state.codec import parse_json
from rollback.state.store import Conflict


def actor(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Who is acting: user and host, plus the CI run when there is one."""
    env = os.environ if environ is None else environ
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    out: dict[str, Any] = {"user": env.get("GITHUB_ACTOR") or env.get("GITLAB_USER_LOGIN") or user,
                           "host": socket.gethostname()}
    run_url = env.get("INFRA_ROLLBACK_RUN_URL")
    if not run_url and env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        run_url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    if not run_url and env.get("CI_JOB_URL"):
        run_url = env["CI_JOB_URL"]
    if run_url:
        out["ci_run_url"] = run_url
    return out


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def iso(t: _dt.datetime | None) -> str | None:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z") if t else None


@dataclass
class AuditRecord:
    kind: str                      # "rollback" | "deploy"
    stack: str
    project: str
    from_version: int | None
    to_version: int | None
    reason: str
    actor: dict[str, Any]
    decided_at: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    summary: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome = Outcome.PENDING
    new_version: int | None = None
    new_version_key: str | None = None
    engine_changes: dict[str, int] = field(default_factory=dict)
    engine_plan: dict[str, Any] | None = None   # the engine's steps and how they differed from the preview
    health: dict[str, Any] | None = None
    time_to_recover_seconds: float | None = None
    notes: list[str] = field(default_factory=list)
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "key"}
        return d


def _any_key(key: str) -> bool:
    return bool(key) and key.isprintable() and len(key) <= 1024


class Marks:
    """Good/bad marks, shared by everyone who uses the backend, by the version's backend key.

    Reading is tolerant: an entry that is not a mark (a key that names no version, e.g. ``²``; an entry that
    is not an object; a mark that is neither good nor bad) counts as none, and so does a marks file that
    cannot be read at all (not JSON, nested too deeply, not an object); :attr:`problems` says which.
    Writing is careful: :meth:`set` reads the marks as they are now, changes one entry and writes them only
    if nobody wrote in between (:meth:`~rollback.state.backend.SideStore.update_marks`); the other entries,
    malformed ones included, are kept as they were; a marks file that cannot be read is not overwritten.

    ``is_key`` says which keys can name a version (Pulumi: the digits of a backend id).
    """

    def __init__(self, backend: Backend, ref: StackRef, *, is_key: Callable[[str], bool] = _any_key) -> None:
        self.side = backend.side_store(ref)
        self.is_key = is_key
        self._data: dict[str, dict[str, Any]] | None = None
        self.problems: list[str] = []

    # -- reading --------------------------------------------------------------------------------
    def _document(self, raw: bytes | None) -> dict[str, Any]:
        """The stored marks document; a StateError naming the file when it is not one."""
        if raw is None or not raw.strip():
            return {"version": 1, "marks": {}}
        where = self.side.describe()
        doc = parse_json(raw, source=where)
        if not isinstance(doc, dict):
            raise StateError(f"{where}: not a marks document (a JSON {_json_kind(doc)}, not an object)")
        if not isinstance(doc.get("marks", {}), dict):
            raise StateError(f"{where}: not a marks document ('marks' is a JSON {_json_kind(doc['marks'])}, "
                             f"not an object)")
        return doc

    def _entries(self, marks: Mapping[str, Any], problems: list[str] | None) -> dict[str, dict[str, Any]]:
        """The well-formed entries; a line in ``problems`` for each of the others."""
        out: dict[str, dict[str, Any]] = {}
        where = self.side.describe()
        for key, entry in marks.items():
            if not self.is_key(key):
                why = f"a mark under the key {one_line(repr(key), limit=80)}, which names no version"
            elif not isinstance(entry, dict):
                why = f"the mark of {key} is a JSON {_json_kind(entry)}, not an object"
            elif entry.get("mark") not in (Mark.GOOD.value, Mark.BAD.value):
                version = entry.get("version")
                label = f"v{version}" if isinstance(version, int) and not isinstance(version, bool) else key
                why = f"the mark of {label} is {one_line(repr(entry.get('mark')), limit=80)}, neither good nor bad"
            else:
                out[key] = entry
                continue
            if problems is not None:
                problems.append(f"{where}: {why}: ignored")
        return out

    def all(self) -> dict[str, dict[str, Any]]:
        """The well-formed marks by key (read once per command)."""
        if self._data is None:
            try:
                marks = self._document(self.side.read_marks()).get("marks") or {}
            except RollbackError as exc:
                self.problems.append(f"{exc.message}: no mark could be read, so none counts")
                marks = {}
            self._data = self._entries(marks, self.problems)
        return self._data

    def get(self, key: int | str) -> tuple[Mark | None, str]:
        entry = self.all().get(str(key))
        if entry is None:
            return None, ""
        return Mark(entry["mark"]), str(entry.get("reason") or "")

    # -- writing --------------------------------------------------------------------------------
    def check_writable(self) -> None:
        """Raise the StateError :meth:`set` would raise on a marks file it must not overwrite."""
        self._document(self.side.read_marks())

    def set(self, key: int | str, mark: Mark, *, version: int, reason: str, by: str, at: str,
            keep_existing: bool = False) -> bool:
        """Mark version ``key`` (read-modify-write, see the class). ``keep_existing``: only if it carries no
        good or bad mark by now. Returns whether the mark was set. A marks file that cannot be read is left
        as it is (StateError naming it); writers that keep winning the race make it :class:`WriteConflict`."""
        entry = {"mark": mark.value, "version": version, "reason": reason, "by": by, "at": at}
        name = str(key)
        landed: list[bool] = []

        def change(old: bytes | None) -> bytes:
            landed.clear()
            doc = self._document(old)
            marks = dict(doc.get("marks") or {})
            now = marks.get(name)
            if keep_existing and isinstance(now, dict) and now.get("mark") in (Mark.GOOD.value, Mark.BAD.value):
                return old or b""
            marks[name] = entry
            landed.append(True)
            return (json.dumps({**doc, "version": doc.get("version", 1), "marks": marks}, indent=2,
                               sort_keys=True) + "\n").encode()

        try:
            written = self.side.update_marks(change)
        except Conflict as exc:
            raise WriteConflict(f"{self.side.describe()}: other writers changed the marks every time v{version} "
                                f"was to be marked {mark.value}, so it was not; run the command again") from exc
        except RollbackError as exc:   # which mark did not land, then why
            raise type(exc)(f"v{version} not marked {mark.value}: {exc.message}") from exc
        try:   # what is stored now (other writers' marks included) is what this command sees from now on
            self._data = self._entries(self._document(written).get("marks") or {}, None)
        except RollbackError:
            self._data = None
        return bool(landed)


#: The fields of an audit record that readers use, and the JSON types each may have (or null).
_RECORD_FIELDS: dict[str, tuple[type, ...]] = {
    "kind": (str,), "id": (str,), "stack": (str,), "project": (str,), "reason": (str,), "outcome": (str,),
    "decided_at": (str,), "new_version_key": (str,), "from_version": (int,), "to_version": (int,),
    "new_version": (int,), "time_to_recover_seconds": (int, float), "actor": (dict,), "summary": (dict,),
    "timings": (dict,), "health": (dict,), "notes": (list,), "engine_changes": (dict,),
}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}.get(type(value), "value")


def record_problem(doc: Any) -> str | None:
    """Why ``doc`` cannot be read as an audit record (a field of the wrong type), or None."""
    if not isinstance(doc, dict):
        return f"a JSON {_json_kind(doc)}, not an object"
    for name, kinds in _RECORD_FIELDS.items():
        value = doc.get(name)
        if value is None:
            continue
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            return f"'{name}' is a JSON {_json_kind(value)}"
    actor = doc.get("actor") or {}
    if not isinstance(actor.get("user", ""), (str, type(None))):
        return f"'actor.user' is a JSON {_json_kind(actor.get('user'))}"
    return None


class Records:
    """The audit records of one stack. One that cannot be read is skipped, and :attr:`problems` says so."""

    def __init__(self, backend: Backend, ref: StackRef) -> None:
        self.side = backend.side_store(ref)
        self.problems: list[str] = []

    def save(self, record: AuditRecord) -> str:
        """Write the record (again, for the same operation, under the same name); returns where."""
        if not record.key:
            stamp = record.decided_at.replace(":", "").replace("-", "").replace(".", "")
            record.key = f"{stamp}-{record.id}.json"
        body = json.dumps(record.to_dict(), indent=2, sort_keys=True) + "\n"
        return self.side.write_record(record.key, body.encode())

    def all(self, *, since: float | None = None) -> list[dict[str, Any]]:
        """Every readable record, oldest first; with ``since`` (unix seconds) only those decided from then on
        (their names start with the UTC time of the decision, so older ones are not read). One that is not
        JSON, nests too deeply, is not an object or holds a field of the wrong type is skipped with a line in
        :attr:`problems` naming it."""
        names = [n for n in self.side.record_names() if n.endswith(".json")]
        if since is not None:
            stamp = _dt.datetime.fromtimestamp(since, _dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
            names = [n for n in names if not _stamped(n) or n[:15] >= stamp]
        out = []
        for name, (doc, problem) in zip(names, self._read_all(names)):
            if problem is None:
                out.append(doc)
            else:
                self.problems.append(f"{self.side.describe(name)}: not readable as an audit record "
                                     f"({one_line(problem)}): skipped")
        return out

    def _read_all(self, names: list[str]) -> list[tuple[Any, str | None]]:
        """Each record's document and what is wrong with it (None: nothing), several read at once."""
        def read(name: str) -> tuple[Any, str | None]:
            where = self.side.describe(name)
            try:
                doc = parse_json(self.side.read_record(name), source=where)
                return doc, record_problem(doc)
            except StateError as exc:
                return None, exc.message.removeprefix(f"{where}: ")

        if len(names) < 4:
            return [read(n) for n in names]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(16, len(names)), thread_name_prefix="records") as pool:
            return list(pool.map(read, names))


def _stamped(name: str) -> bool:
    """Whether a record's name starts with its decision time (``20261126T101500123Z-<id>.json``)."""
    return len(name) > 15 and name[:8].isdigit() and name[8] == "T" and name[9:15].isdigit()


def check_writable(backend: Backend, ref: StackRef) -> list[str]:
    """What would stop infra-rollback from writing the audit record and the marks of ``ref`` after an apply,
    found before it (a probe written and deleted where they go; the marks file readable, so that it can be
    updated). Reasons to refuse the operation; empty when all is well."""
    problems: list[str] = []
    side = backend.side_store(ref)
    try:
        side.check_writable()
    except RollbackError as exc:
        problems.append(f"infra-rollback could not record this operation: {exc.message}")
    try:
        Marks(backend, ref).check_writable()
    except RollbackError as exc:
        problems.append(f"infra-rollback could not update the marks: {exc.message} (fix or remove the file)")
    return problems


@dataclass
class AfterApply:
    """The writes that follow an apply: the audit record, the marks, the stack config file.

    The stack has changed by then, and their failure cannot undo it: each write goes through :meth:`step`,
    which keeps a failure (and notes it in the record, which the ``--json`` result carries) instead of
    raising it, so the other writes are still made. :meth:`error` then says, in one line, what happened and
    what could not be written (:class:`NotRecorded`, exit 1).
    """

    record: AuditRecord
    failures: list[str] = field(default_factory=list)

    @contextmanager
    def step(self) -> Iterator[None]:
        try:
            yield
        except RollbackError as exc:
            if exc.message not in self.failures:
                self.failures.append(exc.message)
                self.record.notes.append(f"not written: {exc.message}")

    def error(self, error: RollbackError | None, *, done: str) -> RollbackError | None:
        """The error that decides the exit code once the writes are done. Every write made: ``error`` (the
        operation's own: unhealthy, failed, or None). Otherwise one line saying what happened and what was
        not written: :class:`NotRecorded` (exit 1) starting with ``done`` when the operation itself
        succeeded, else ``error`` (same type and exit code) with what was not written added."""
        if not self.failures:
            return error
        missing = "; ".join(self.failures)
        if error is None:
            return NotRecorded(f"{done}, but not everything was recorded: {missing}")
        error.message = f"{error.message}; and not everything was recorded: {missing}"
        error.args = (error.message,)
        return error
