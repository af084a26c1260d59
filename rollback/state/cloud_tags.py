"""Pulumi Cloud stack tags as infra-rollback's marks and, without a records location, record summaries.

- Marks: ``infra-rollback.mark.v<N>`` = ``good`` | ``bad`` and, when there is a reason,
  ``infra-rollback.reason.v<N>`` (cut to the service's 256-byte limit). Tags are per key, so each version's
  mark is its own tag and a write is already independent of the others: :meth:`CloudSideStore.update_marks`
  lists the tags afresh and sets or removes only the tags of the versions the change touched, so two
  writers marking different versions both land. (The service offers no compare-and-swap on a tag: two
  writers of the same version's mark end as the last one wrote it, as they would one after the other.)
- Audit records go to the records location the user chose (``INFRA_ROLLBACK_RECORDS``, a
  :class:`~rollback.state.backend.FolderSideStore`); without one, a compact summary of the last rollback
  (deploy) is kept in the stack tag ``infra-rollback.last-rollback`` (``-deploy``), and a one-line warning
  says that full records need a records location.

:class:`CloudSideStore` is the :class:`~rollback.state.backend.SideStore` of a Cloud stack; it speaks
to the tags through the :class:`Tags` it is given (the Cloud backend).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from rollback.errors import StateError
from rollback.state.backend import RECORDS_ENV, FolderSideStore
from rollback.state.store import NotFoundInStore

MARK_TAG = "infra-rollback.mark.v{n}"
REASON_TAG = "infra-rollback.reason.v{n}"
SUMMARY_TAG = "infra-rollback.last-{kind}"
TAG_VALUE_MAX = 256          # bytes; the Pulumi Service refuses longer tag values

_MARK_RE = re.compile(r"infra-rollback\.mark\.v([0-9]+)")
_SUMMARY_RE = re.compile(r"infra-rollback\.last-([a-z0-9-]+)")
_SUMMARY_FILE = "{kind}-summary.stack-tag.json"


class Tags(Protocol):
    """A stack's tags (what :class:`~rollback.state.cloud.CloudBackend` offers)."""

    url: str

    def tags(self, fq: str, *, fresh: bool = False) -> dict[str, str]: ...

    def set_tag(self, fq: str, name: str, value: str) -> None: ...

    def remove_tag(self, fq: str, name: str) -> None: ...

    def warn_once(self, key: str, line: str) -> None: ...


class CloudSideStore:
    """Marks in stack tags; records in ``folder`` (the records location) or, without one, summary tags."""

    def __init__(self, tags: Tags, fq: str, folder: FolderSideStore | None) -> None:
        self.tags = tags
        self.fq = fq
        self.folder = folder

    def describe(self, name: str | None = None) -> str:
        if name is None:
            return f"{self.tags.url} stack {self.fq} tags ({MARK_TAG.format(n='<N>')})"
        if self.folder is not None:
            return self.folder.describe(name)
        return f"{self.tags.url} stack {self.fq} tag {SUMMARY_TAG.format(kind=name.split('-summary', 1)[0])}"

    # -- marks --------------------------------------------------------------------------------
    def read_marks(self) -> bytes:
        """The mark tags as the ``marks.json`` document :class:`~rollback.records.Marks` reads."""
        return _marks_document(self.tags.tags(self.fq))

    def update_marks(self, change: Callable[[bytes | None], bytes]) -> bytes:
        """The tags listed afresh, ``change`` applied to them as a marks document, and only the tags of the
        versions whose entry changed set or removed (see the module's docstring)."""
        before = _marks_document(self.tags.tags(self.fq, fresh=True))
        after = change(before)
        self._write(_entries(json.loads(before), self.tags.url, self.fq),
                    _entries(_json(after, self.tags.url, self.fq), self.tags.url, self.fq))
        return after

    def _write(self, before: dict[int, dict[str, Any]], after: dict[int, dict[str, Any]]) -> None:
        fq, tags = self.fq, self.tags.tags(self.fq)
        for n in sorted(set(before) | set(after)):
            old, new = before.get(n), after.get(n)
            if old == new:
                continue
            mark_tag, reason_tag = MARK_TAG.format(n=n), REASON_TAG.format(n=n)
            mark = str((new or {}).get("mark") or "")
            if new is None or mark not in ("good", "bad"):
                if new is None:   # removed by the change
                    for tag in (mark_tag, reason_tag):
                        if tag in tags:
                            self.tags.remove_tag(fq, tag)
                continue
            reason = fit(str(new.get("reason") or "").strip())
            if tags.get(mark_tag, "").strip() != mark:
                self.tags.set_tag(fq, mark_tag, mark)
            if reason and tags.get(reason_tag, "").strip() != reason:
                self.tags.set_tag(fq, reason_tag, reason)
            elif not reason and reason_tag in tags:
                self.tags.remove_tag(fq, reason_tag)

    def check_writable(self) -> None:
        """The records location, when there is one. Marks and summaries are stack tags, which anyone who may
        update the stack may set: the apply needs that permission anyway, so no tag is probed."""
        if self.folder is not None:
            self.folder.check_writable()

    # -- records ------------------------------------------------------------------------------
    def record_names(self) -> list[str]:
        if self.folder is not None:
            return self.folder.record_names()
        return sorted(_SUMMARY_FILE.format(kind=m.group(1)) for name in self.tags.tags(self.fq)
                      if (m := _SUMMARY_RE.fullmatch(name)))

    def read_record(self, name: str) -> bytes:
        """A summary tag as a (partial) audit record; StateError when the tag holds no summary."""
        if self.folder is not None:
            return self.folder.read_record(name)
        for tag, value in self.tags.tags(self.fq).items():
            m = _SUMMARY_RE.fullmatch(tag)
            if m and name == _SUMMARY_FILE.format(kind=m.group(1)):
                try:
                    s = json.loads(value)
                except ValueError:
                    s = None
                if not isinstance(s, dict):
                    raise StateError(f"{self.tags.url} stack {self.fq}: tag {tag} holds no record summary")
                return json.dumps(_expand_summary(s, m.group(1), tag), sort_keys=True).encode()
        raise NotFoundInStore(name)

    def write_record(self, name: str, data: bytes) -> str:
        if self.folder is not None:
            return self.folder.write_record(name, data)
        try:
            record = json.loads(data)
        except ValueError as exc:
            raise StateError(f"backend {self.tags.url}: stack {self.fq}: not an audit record") from exc
        kind = re.sub(r"[^a-z0-9-]", "-", str(record.get("kind") or "record").lower())[:20]
        tag = SUMMARY_TAG.format(kind=kind)
        self.tags.set_tag(self.fq, tag, summary_value(record))
        self.tags.warn_once(tag, f"warning: no records location for Pulumi Cloud stack {self.fq}: kept only a "
                                 f"summary in its stack tag {tag}; set {RECORDS_ENV} to a file:// or s3:// location "
                                 f"for full audit records")
        return f"stack tag {tag}"


def _marks_document(tags: Mapping[str, str]) -> bytes:
    marks: dict[str, dict[str, Any]] = {}
    for name, value in tags.items():
        m = _MARK_RE.fullmatch(name)
        if m:   # any value: Marks reports one that is neither good nor bad
            n = int(m.group(1))
            marks[str(n)] = {"mark": value.strip(), "version": n,
                             "reason": tags.get(REASON_TAG.format(n=n), "").strip()}
    return json.dumps({"version": 1, "marks": marks}, sort_keys=True).encode()


def _json(data: bytes, url: str, fq: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise StateError(f"backend {url}: stack {fq}: not a marks document") from exc


def _entries(doc: Any, url: str, fq: str) -> dict[int, dict[str, Any]]:
    """A marks document's entries by version number (entries whose key is not a number cannot be tags)."""
    marks = doc.get("marks") if isinstance(doc, dict) else None
    if not isinstance(marks, dict):
        raise StateError(f"backend {url}: stack {fq}: not a marks document")
    return {int(k): dict(v) for k, v in marks.items()
            if isinstance(k, str) and k.isascii() and k.isdigit() and isinstance(v, dict)}


def fit(text: str, limit: int = TAG_VALUE_MAX) -> str:
    """``text`` cut to ``limit`` UTF-8 bytes (a tag value), marked with an ellipsis when cut."""
    if len(text.encode()) <= limit:
        return text
    out = text.encode()[: limit - 3].decode("utf-8", "ignore")
    return out + "…"


def summary_value(record: Mapping[str, Any]) -> str:
    """A record in at most 256 bytes of compact JSON (the reason, then the user, cut to fit)."""
    actor = record.get("actor") if isinstance(record.get("actor"), dict) else {}
    d: dict[str, Any] = {"kind": record.get("kind"), "id": record.get("id"), "from": record.get("from_version"),
                         "to": record.get("to_version"), "new": record.get("new_version"),
                         "outcome": record.get("outcome"), "at": record.get("decided_at"),
                         "by": str((actor or {}).get("user") or ""), "ttr": record.get("time_to_recover_seconds"),
                         "reason": str(record.get("reason") or "")}
    d = {k: v for k, v in d.items() if v not in (None, "")}

    def text() -> str:
        return json.dumps(d, separators=(",", ":"), sort_keys=True, ensure_ascii=False)

    for key in ("reason", "by"):
        while key in d and len(text().encode()) > TAG_VALUE_MAX:
            over = len(text().encode()) - TAG_VALUE_MAX
            value = str(d[key]).rstrip("…")
            if len(value) <= over + 1:
                del d[key]
            else:
                d[key] = value[: len(value) - over - 1] + "…"
    return text()


def _expand_summary(s: Mapping[str, Any], kind: str, tag: str) -> dict[str, Any]:
    new = s.get("new")
    return {"kind": s.get("kind") or kind, "id": s.get("id"), "from_version": s.get("from"),
            "to_version": s.get("to"), "new_version": new,
            "new_version_key": str(new) if isinstance(new, int) else None,
            "outcome": s.get("outcome"), "decided_at": s.get("at"), "actor": {"user": s.get("by")},
            "reason": s.get("reason") or "", "time_to_recover_seconds": s.get("ttr"),
            "summary_only": True, "notes": [f"only this summary was kept (stack tag {tag}): no records location"]}
