"""A stack's versions, read lazily, their marks, and how a TARGET names one of them.

Versions are numbered from 1 (oldest) in ``<unixnano>`` order, as Pulumi Cloud numbers them.
Listing the history reads file names only; an entry's metadata is read when asked for (several at once
with :meth:`StackHistory.prefetch`), and a checkpoint only when a decision needs it, so a preview costs
the same with 10 or 10,000 versions. Checkpoints examined and found to hold the current state (the no-op
updates of CI runs) are not kept: a preview costs the same after 0 or 100 of them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rollback.errors import StateError, TargetError, VersionNotFound
from rollback.models import Deployment, Mark, StackRef, Version
from rollback.records import Marks
from rollback.safetext import one_line
from rollback.state.backend import Backend, HistoryEntry
from rollback.state.codec import (
    decompress,
    head_secrets_provider,
    parse_deployment,
    pending_operations_at_end,
    same_but_manifest,
)
from rollback.state.listing import entry_ids
from rollback.state.secrets import SecretBox, passphrase_from_env


def did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    """``; did you mean 'previous'?`` for a near miss (``previos``), else nothing."""
    import difflib

    close = difflib.get_close_matches(word.strip().lower(), choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _is_backend_id(key: str) -> bool:
    """A mark's key names a version by its backend id: ASCII digits (``²`` is a digit to ``str.isdigit``)."""
    return 0 < len(key) <= 30 and key.isascii() and key.isdigit()


def version_number(text: str) -> int | None:
    """``N`` or ``vN`` (ASCII digits only) as a number, None when it is no version number at all.

    Other digits (``²``, ``٣``) are refused rather than guessed at, and so is a number too long to be one."""
    digits = text.strip()
    digits = digits[1:] if digits[:1] in ("v", "V") else digits
    if not digits.isdigit():
        return None
    if not digits.isascii():
        raise TargetError(f"'{one_line(text, limit=40)}' is not a version number: use the digits 0-9")
    if len(digits) > 18:
        raise VersionNotFound(f"'{one_line(text, limit=40)}' is not a version number (too many digits)")
    return int(digits)


class _Listing:
    """A stack's history listed in a thread of its own: on a remote backend its pages (two at 1,000
    versions) come back while the current state is downloaded and read, instead of before."""

    def __init__(self, backend: Backend, ref: StackRef) -> None:
        self._entries: Sequence[HistoryEntry] | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if getattr(backend, "concurrent_reads", False):
            self._thread = threading.Thread(target=self._run, args=(backend, ref), name="infra-rollback-history",
                                            daemon=True)
            self._thread.start()
        else:
            self._entries = backend.history(ref)

    def _run(self, backend: Backend, ref: StackRef) -> None:
        try:
            self._entries = backend.history(ref)
        except BaseException as exc:  # noqa: BLE001 - raised where the listing is used
            self._error = exc

    def result(self) -> Sequence[HistoryEntry]:
        if self._entries is None:
            if self._thread is not None:
                self._thread.join()
            if self._error is not None:
                raise self._error
        assert self._entries is not None
        return self._entries


@dataclass(frozen=True)
class Skipped:
    version: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "reason": self.reason}


@dataclass(frozen=True)
class Resolution:
    target: Version
    skipped: tuple[Skipped, ...]
    warnings: tuple[str, ...] = ()


class StackHistory:
    """One stack's current state and history on any backend, loaded lazily and cached."""

    def __init__(self, backend: Backend, ref: StackRef, *,
                 passphrase: Callable[[], str | None] = passphrase_from_env) -> None:
        self.backend = backend
        self.ref = ref
        self.passphrase = passphrase
        self._listing = _Listing(backend, ref)   # listed in the background while the state is read
        self.marks = Marks(backend, ref, is_key=_is_backend_id)
        self._versions: dict[int, Version] = {}
        self._checkpoints: dict[int, Deployment] = {}
        self._checkpoint_bytes: dict[int, bytes] = {}
        self._current: Deployment | None = None
        self._current_bytes: bytes | None = None
        self._current_digest: bytes | None = None   # of the state as first read (kept when the bytes are not)
        self._boxes: dict[str, SecretBox] = {}
        self._diffs: dict[int, Any] = {}
        self._identical: dict[int, bool] = {}     # version -> its checkpoint holds the current state's bytes

    # -- versions -----------------------------------------------------------------------------
    @property
    def entries(self) -> Sequence[HistoryEntry]:
        """The history listing, oldest first (waits for the background listing)."""
        return self._listing.result()

    @property
    def count(self) -> int:
        return len(self.entries)

    def version(self, number: int) -> Version:
        if not 1 <= number <= len(self.entries):
            if not self.entries:
                raise VersionNotFound(f"stack '{self.ref}' has no history")
            raise VersionNotFound(f"stack '{self.ref}' has no version {number} (versions 1 to {len(self.entries)})")
        cached = self._versions.get(number)
        if cached is None:
            cached = self._load_version(number)
            self._versions[number] = cached
        return cached

    def _load_version(self, number: int) -> Version:
        entry = self.entries[number - 1]
        return self._version(number, entry, self.backend.update_info(self.ref, entry) if entry.has_info else {})

    def listed_version(self, number: int, summary: dict[str, Any]) -> Version:
        """Version ``number`` from a summary of its update info kept elsewhere (``history``'s cache of rows):
        what a listing shows, its mark as it is now, and no config: never one to replay or compare."""
        return self._version(number, self.entries[number - 1], {k: v for k, v in summary.items() if k != "config"})

    def _version(self, number: int, entry: HistoryEntry, info: dict[str, Any]) -> Version:
        mark, reason = self.marks.get(entry.id)
        env = info.get("environment") or {}
        return Version(
            number=number,
            kind=str(info.get("kind") or ("unknown" if not entry.has_info else "")),
            result=str(info.get("result") or ""),
            start_time=_int(info.get("startTime")),
            end_time=_int(info.get("endTime")),
            message=str(info.get("message") or ""),
            environment={str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {},
            config=dict(info["config"]) if isinstance(info.get("config"), dict) else {},
            resource_changes={str(k): int(v) for k, v in (info.get("resourceChanges") or {}).items()
                              if isinstance(v, (int, float))},
            has_checkpoint=entry.has_checkpoint,
            key=str(entry.id),
            mark=mark,
            mark_reason=reason,
        )

    def marked(self, mark: Mark) -> list[Version]:
        """The versions carrying ``mark``, newest first, found through the marks (no walk over history)."""
        index = {i: n for n, i in enumerate(entry_ids(self.entries), start=1)}
        numbers = sorted((index[int(k)] for k, e in self.marks.all().items()
                          if e.get("mark") == mark.value and _is_backend_id(k) and int(k) in index), reverse=True)
        return [self.version(n) for n in numbers]

    def newest_first(self) -> Iterator[Version]:
        for number in range(len(self.entries), 0, -1):
            yield self.version(number)

    def prefetch(self, numbers: Iterable[int], *, workers: int = 16) -> None:
        """Read the metadata of these versions now, several at once (a remote backend answers each in a
        round trip). One that cannot be read is left for :meth:`version` to raise its error again."""
        todo = [n for n in dict.fromkeys(numbers) if 1 <= n <= len(self.entries) and n not in self._versions]
        if len(todo) < 2 or not getattr(self.backend, "concurrent_reads", False):
            return
        self.marks.all()   # read once, before the threads look marks up
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(workers, len(todo)), thread_name_prefix="history") as pool:
            loaded = list(zip(todo, [pool.submit(self._load_version, n) for n in todo]))
        for number, future in loaded:
            if future.exception() is None:
                self._versions[number] = future.result()

    # -- checkpoints --------------------------------------------------------------------------
    def current_bytes(self) -> bytes:
        if self._current_bytes is None:
            self._current_bytes = decompress(self.backend.read_current(self.ref),
                                             source=self.backend.describe(self.ref))
            if self._current_digest is None:
                self._current_digest = hashlib.sha256(self._current_bytes).digest()
        return self._current_bytes

    def current(self) -> Deployment:
        if self._current is None:
            self._current = parse_deployment(self.current_bytes(), source=self.backend.describe(self.ref))
        return self._current

    def _read_checkpoint(self, number: int) -> bytes:
        entry = self.entries[number - 1]
        if not entry.has_checkpoint:
            raise StateError(f"stack '{self.ref}' v{number}: history entry has no checkpoint file")
        return decompress(self.backend.read_checkpoint(self.ref, entry), source=self.backend.describe(self.ref, entry))

    def checkpoint_bytes(self, number: int) -> bytes:
        if number not in self._checkpoint_bytes:
            self._checkpoint_bytes[number] = self._read_checkpoint(number)
        return self._checkpoint_bytes[number]

    def checkpoint(self, number: int) -> Deployment:
        self.version(number)
        if number not in self._checkpoints:
            source = self.backend.describe(self.ref, self.entries[number - 1])
            self._checkpoints[number] = parse_deployment(self.checkpoint_bytes(number), source=source)
        return self._checkpoints[number]

    def current_digest(self) -> bytes:
        """SHA-256 of the current state as this history first read it (what a preview showed was made from),
        even after :meth:`release_bytes`."""
        if self._current_digest is None:
            self.current_bytes()
        assert self._current_digest is not None
        return self._current_digest

    def release_bytes(self) -> None:
        """Drop the raw bytes kept for comparing checkpoints with the current state (a decision made: the
        parsed states stay; the bytes are read again should another comparison need them)."""
        self._current_bytes = None
        self._checkpoint_bytes.clear()

    def _forget(self, number: int) -> None:
        """Drop what was read of a checkpoint that turned out to hold the current state."""
        self._checkpoint_bytes.pop(number, None)
        self._checkpoints.pop(number, None)
        self._diffs.pop(number, None)

    def secrets_for(self, deployment: Deployment) -> SecretBox:
        return self._box(deployment.secrets_provider or {}, deployment.source)

    def _box(self, provider: dict[str, Any], source: str) -> SecretBox:
        key = json.dumps(provider, sort_keys=True)
        box = self._boxes.get(key)
        if box is None:
            box = SecretBox(provider, source=source, passphrase=self.passphrase)
            self._boxes[key] = box
        return box

    def warm_secrets(self) -> None:
        """Start deriving the current state's passphrase key in the background, from the first bytes of the
        stack file (see :meth:`SecretBox.warm`): it is ready by the time the state is read and compared."""
        provider = head_secrets_provider(self.current_bytes())
        if provider is not None:
            self._box(provider, self.backend.describe(self.ref)).warm()

    def is_current(self, number: int) -> bool:
        """Whether version ``number``'s checkpoint holds exactly the bytes of the current state.

        The backend answers where it can without reading both files whole (S3: the listings' ETags; local
        files: compared a block at a time); else the sizes from the listing, then the bytes."""
        if number not in self._identical:
            entry = self.entries[number - 1]
            verdict: bool | None = False
            if entry.has_checkpoint:
                verdict = self.backend.is_current(self.ref, entry)
                if verdict is None:
                    current = self.current_bytes()
                    verdict = (entry.checkpoint_size is None or entry.checkpoint_size == len(current)) and \
                        self.checkpoint_bytes(number) == current
            self._identical[number] = bool(verdict)
        return self._identical[number]

    def current_version(self) -> int | None:
        """The newest version whose checkpoint is byte-identical to the stack file, if any.

        Usually the newest entry; after `pulumi stack import` of an older checkpoint, an older one.
        The backend compares without reading where it can (:meth:`is_current`), so a long history costs
        no reads."""
        for number in range(len(self.entries), 0, -1):
            if self.entries[number - 1].has_checkpoint and self.is_current(number):
                return number
        return None

    def pending_operations(self) -> int:
        """How many pending operations the current state records (an interrupted update).

        Read from the end of the stack file, where Pulumi writes them, when the backend can read a file's
        end (the state is not parsed: ``history`` stays small on a 200 MB state); else from the whole file,
        and only when that cannot tell either, from the parsed state."""
        if self._current is not None:
            return len(self._current.pending_operations)
        if self._current_bytes is None:
            tail = self.backend.read_current_tail(self.ref, 1 << 16)
            if tail is not None:
                data, whole = tail
                found = pending_operations_at_end(data, whole=whole)
                if found is not None:
                    return found
        found = pending_operations_at_end(self.current_bytes(), whole=True)
        return found if found is not None else len(self.current().pending_operations)

    # -- comparing ----------------------------------------------------------------------------
    def same_as_current(self, number: int) -> tuple[bool, list[str]]:
        """Whether version ``number`` has the same desired state as now (secrets by value).

        A checkpoint with the current state's bytes, or the same bytes but for the manifest (a ``pulumi
        up`` that changed nothing), is the same without being parsed; such checkpoints are not kept."""
        if self.is_current(number):
            self._forget(number)
            return True, []
        if same_but_manifest(self.checkpoint_bytes(number), self.current_bytes()):
            self._forget(number)
            return True, []
        result = self.diff_from_current(number)
        notes = list(getattr(result, "warnings", []) or [])
        if not result.changes:
            self._forget(number)
            return True, notes
        return False, notes

    def diff_from_current(self, number: int) -> Any:
        """The semantic diff current -> version ``number`` (computed once)."""
        if number not in self._diffs:
            from rollback.diff import diff_deployments

            current, target = self.current(), self.checkpoint(number)
            self._diffs[number] = diff_deployments(current, target, current_secrets=self.secrets_for(current),
                                                   target_secrets=self.secrets_for(target))
        return self._diffs[number]

    # -- targets ------------------------------------------------------------------------------
    def resolve(self, target: str) -> Resolution:
        spec = target.strip()
        if not self.entries:
            raise VersionNotFound(f"stack '{self.ref}' has no history: nothing to roll back to")
        if spec == "previous":
            return self._previous()
        if spec == "last-good":
            return self._last_good()
        if spec.startswith("git:"):
            return self._git(spec[4:])
        number = version_number(spec)
        if number is not None:
            version = self.version(number)
            if not version.has_checkpoint:
                raise StateError(f"stack '{self.ref}' {version.label}: history entry has no checkpoint file "
                                 f"({self.backend.describe(self.ref, self.entries[version.number - 1], part='info')})")
            warnings = []
            if not version.succeeded:
                warnings.append(f"{version.label} is a {version.result or 'unfinished'} {version.kind}: "
                                f"its checkpoint is the partial state it left")
            if version.mark is Mark.BAD:
                warnings.append(f"{version.label} is marked bad{': ' + version.mark_reason if version.mark_reason else ''}")
            return Resolution(version, (), tuple(warnings))
        hint = did_you_mean(spec, ("previous", "last-good"))
        raise TargetError(f"unknown target '{one_line(target, limit=60)}'{hint} (use previous, N, vN, last-good or "
                          f"git:REF)")

    def current_number(self) -> int:
        """The version the current state is (``current``); an error when it matches none."""
        number = self.current_version()
        if number is None:
            if not self.entries:
                raise VersionNotFound(f"stack '{self.ref}' has no history")
            raise VersionNotFound(f"stack '{self.ref}': the current state matches no version of its history "
                                  f"(e.g. after `pulumi stack import`); name a version (N or vN)")
        return number

    def number_of(self, spec: str, *, targets: bool = True) -> int:
        """The version ``spec`` names: ``current``, ``N``, ``vN``, and with ``targets`` also ``previous``,
        ``last-good`` and ``git:REF`` (as ``--to`` reads them)."""
        text = spec.strip()
        if text.lower() == "current":
            return self.current_number()
        number = version_number(text)
        if number is not None:
            return self.version(number).number
        if targets:
            return self.resolve(text).target.number
        raise VersionNotFound(f"'{one_line(spec, limit=60)}' is not a version number{did_you_mean(text, ('current',))} "
                              f"(use N, vN or current)")

    def _skip_reason(self, v: Version) -> str | None:
        if not v.has_checkpoint:
            return "no checkpoint file"
        if v.kind != "update":
            return f"a {v.kind or 'unknown operation'}"
        if v.result != "succeeded":
            return f"{v.result or 'unfinished'} update"
        if v.mark is Mark.BAD:
            return "marked bad" + (f": {v.mark_reason}" if v.mark_reason else "")
        return None

    def _previous(self) -> Resolution:
        skipped: list[Skipped] = []
        warnings: list[str] = []
        for v in self.newest_first():
            reason = self._skip_reason(v)
            if reason is None:
                same, notes = self.same_as_current(v.number)
                if same:
                    reason = "same as current"
                    warnings.extend(notes)
            if reason is None:
                return Resolution(v, tuple(skipped), tuple(warnings))
            skipped.append(Skipped(v.number, reason))
        raise TargetError(f"stack '{self.ref}': no earlier succeeded update differs from the current state "
                          f"({len(skipped)} versions examined)")

    def _last_good(self) -> Resolution:
        for v in self.newest_first():
            if v.mark is Mark.GOOD:
                if not v.has_checkpoint:
                    raise StateError(f"stack '{self.ref}' {v.label} is marked good but has no checkpoint file")
                return Resolution(v, ())
        raise TargetError(f"stack '{self.ref}': no version is marked good "
                          f"(mark one with: infra-rollback mark {self.ref.name} N --good)")

    def _git(self, ref: str) -> Resolution:
        if not ref or any(c not in "0123456789abcdefABCDEF" for c in ref):
            raise TargetError(f"git:{ref}: expected a commit hash prefix")
        for v in self.newest_first():
            head = v.git_head or ""
            if v.kind == "update" and v.succeeded and v.has_checkpoint and head.lower().startswith(ref.lower()):
                return Resolution(v, ())
        raise TargetError(f"stack '{self.ref}': no succeeded update was made from git commit {ref}")
