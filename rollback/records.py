"""Audit records of rollbacks (and guarded deploys), stored in the backend beside Pulumi's files.

``.infra-rollback/<project>/<stack>/records/<UTC timestamp>-<id>.json``: one file per operation, never
rewritten except to add the outcome of the same operation. Everyone who uses the backend (a laptop,
CI) sees the same records.
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

from rollback.models import Outcome, StackRef
from rollback.state.diy import DiyBackend


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


class Records:
    def __init__(self, backend: DiyBackend, ref: StackRef) -> None:
        self.backend = backend
        self.ref = ref
        self.prefix = f"{backend.records_prefix(ref)}/records"

    def save(self, record: AuditRecord) -> str:
        if not record.key:
            stamp = record.decided_at.replace(":", "").replace("-", "").replace(".", "")
            record.key = f"{self.prefix}/{stamp}-{record.id}.json"
        body = json.dumps(record.to_dict(), indent=2, sort_keys=True) + "\n"
        self.backend.store.write(record.key, body.encode())
        return record.key

    def all(self) -> list[dict[str, Any]]:
        out = []
        for entry in sorted(self.backend.store.list(self.prefix), key=lambda e: e.key):
            if not entry.key.endswith(".json"):
                continue
            try:
                doc = json.loads(self.backend.store.read(entry.key))
            except ValueError:
                continue
            if isinstance(doc, dict):
                out.append(doc)
        return out
