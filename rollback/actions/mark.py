"""`infra-rollback mark STACK VERSION --good|--bad`: marks shared by everyone using the backend.

VERSION is ``N``, ``vN`` or ``current`` (the version the stack runs now)."""

from __future__ import annotations

import datetime as _dt
import getpass
from dataclasses import dataclass
from typing import Any

from rollback.actions.context import Context
from rollback.models import Mark


def who() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class MarkVersion:
    ctx: Context

    def run(self, stack: str, version: str, mark: str, reason: str) -> dict[str, Any]:
        history = self.ctx.history(stack)
        v = history.version(history.number_of(version, targets=False))
        history.marks.set(int(v.key), Mark(mark), version=v.number, reason=reason, by=who(), at=now_iso())
        return {"stack": history.ref.name, "project": history.ref.project or None, "version": v.number,
                "mark": mark, "reason": reason}
