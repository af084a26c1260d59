"""infra-rollback's own records, kept beside Pulumi's files (never inside them): marks and audit records.

Both go through the stack's :class:`~rollback.state.backend.SideStore` (DIY: files under
``.infra-rollback/<project>/<stack>/``; Pulumi Cloud: stack tags and the records location), so everyone who
uses the backend (a laptop, CI) sees the same ones.

- :class:`Marks`: good/bad marks (``marks.json``), by the version's backend key.
- :class:`Records`: one audit record per rollback or guarded deploy (``records/<UTC timestamp>-<id>.json``),
  never rewritten except to add the outcome of the same operation.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rollback.errors import StateError
from rollback.models import Mark, Outcome, StackRef
from rollback.state.backend import Backend


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
    health: dict[str, Any] | None = None
    time_to_recover_seconds: float | None = None
    notes: list[str] = field(default_factory=list)
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "key"}
        return d


class Marks:
    """Good/bad marks, shared by everyone who uses the backend, by the version's backend key. A mark that is
    neither good nor bad (edited by hand) counts as none, and :attr:`problems` says so."""

    def __init__(self, backend: Backend, ref: StackRef) -> None:
        self.side = backend.side_store(ref)
        self._data: dict[str, dict[str, Any]] | None = None
        self.problems: list[str] = []

    def all(self) -> dict[str, dict[str, Any]]:
        if self._data is None:
            raw = self.side.read_marks()
            try:
                doc = json.loads(raw) if raw else {}
            except ValueError as exc:
                raise StateError(f"{self.side.describe()}: corrupt marks file") from exc
            self._data = dict(doc.get("marks") or {}) if isinstance(doc, dict) else {}
            for key, entry in self._data.items():
                mark = entry.get("mark") if isinstance(entry, dict) else entry
                if mark not in (Mark.GOOD.value, Mark.BAD.value):
                    version = entry.get("version") if isinstance(entry, dict) else None
                    self.problems.append(f"{self.side.describe()}: the mark of {f'v{version}' if version else key} "
                                         f"is {mark!r}, neither good nor bad: ignored")
        return self._data

    def get(self, key: int) -> tuple[Mark | None, str]:
        entry = self.all().get(str(key))
        if not isinstance(entry, dict):
            return None, ""
        try:
            return Mark(entry.get("mark")), str(entry.get("reason") or "")
        except ValueError:
            return None, ""

    def set(self, key: int, mark: Mark, *, version: int, reason: str, by: str, at: str) -> None:
        data = dict(self.all())
        data[str(key)] = {"mark": mark.value, "version": version, "reason": reason, "by": by, "at": at}
        self._data = data
        body = json.dumps({"version": 1, "marks": data}, indent=2, sort_keys=True) + "\n"
        self.side.write_marks(body.encode())


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
        """Every record, oldest first; with ``since`` (unix seconds) only those decided from then on (their
        names start with the UTC time of the decision, so older ones are not read)."""
        names = [n for n in self.side.record_names() if n.endswith(".json")]
        if since is not None:
            stamp = _dt.datetime.fromtimestamp(since, _dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
            names = [n for n in names if not _stamped(n) or n[:15] >= stamp]
        out = []
        for name, doc in zip(names, self._read_all(names)):
            if isinstance(doc, dict):
                out.append(doc)
            else:
                self.problems.append(f"{self.side.describe(name)}: not readable as an audit record: skipped")
        return out

    def _read_all(self, names: list[str]) -> list[Any]:
        def read(name: str) -> Any:
            try:
                return json.loads(self.side.read_record(name))
            except (ValueError, StateError) as exc:
                return exc

        if len(names) < 4:
            return [read(n) for n in names]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(16, len(names)), thread_name_prefix="records") as pool:
            return list(pool.map(read, names))


def _stamped(name: str) -> bool:
    """Whether a record's name starts with its decision time (``20261126T101500123Z-<id>.json``)."""
    return len(name) > 15 and name[:8].isdigit() and name[8] == "T" and name[9:15].isdigit()
