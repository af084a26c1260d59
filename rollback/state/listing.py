"""A DIY history listed from its newest end: every version's name, and the files of the newest few.

A version's number is its position (v1 is the oldest), so numbering needs every version's name; what a
command reads (the files of a version, their sizes and ETags) is almost always among the newest. On a store
that groups names itself (S3, with ``.`` as the delimiter: one name per version, 1,000 to a request, where a
listing of the files holds 500 versions to a request), :class:`TailEntries` holds every version's id and the
files of the newest :data:`TAIL` versions only, listed from the newest end; an older version's files are
listed the first time one is asked for, all at once, as a full listing would give them.

A name counts as a version when it is ``<stack>-<digits>`` followed by a dot, whatever the file's suffix;
Pulumi writes no other files there. If the history changes between the two listings (an update lands, or
history is removed), the listings disagree and the caller lists every file instead, so numbers never shift.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import overload

from rollback.errors import StateError
from rollback.state.backend import HistoryEntry

TAIL = 32
"""How many of the newest versions get their files listed at once: the ten ``history`` shows and the one
below them, and the walk of a preview back to its target in all but long runs of skipped versions."""


class TailEntries(Sequence[HistoryEntry]):
    """Every version, oldest first, as a list; an entry older than the tail is listed when first asked for."""

    def __init__(self, ids: list[int], tail: list[HistoryEntry], everything: Callable[[], list[HistoryEntry]],
                 *, where: str) -> None:
        if [e.id for e in tail] != ids[len(ids) - len(tail):]:
            raise ValueError("the tail must be the newest entries")
        self.ids = ids                       # every version's id, oldest first
        self._tail = tail
        self._offset = len(ids) - len(tail)
        self._everything = everything
        self._where = where
        self._all: list[HistoryEntry] | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> HistoryEntry: ...

    @overload
    def __getitem__(self, index: slice) -> list[HistoryEntry]: ...

    def __getitem__(self, index: int | slice) -> HistoryEntry | list[HistoryEntry]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = index + len(self) if index < 0 else index
        if not 0 <= i < len(self):
            raise IndexError(index)
        if i >= self._offset:
            return self._tail[i - self._offset]
        return self._older()[i]

    @property
    def listed_whole(self) -> bool:
        """Whether every version's files have been listed (an older one was asked for)."""
        return self._all is not None or self._offset == 0

    def _older(self) -> list[HistoryEntry]:
        with self._lock:
            if self._all is None:
                listed = {e.id: e for e in self._everything()}
                gone = [i for i in self.ids if i not in listed]
                if gone:
                    raise StateError(f"{self._where}: the history changed while it was read (version {gone[0]} "
                                     f"is gone): run the command again")
                self._all = [listed[i] for i in self.ids]
            return self._all


def entry_ids(entries: Sequence[HistoryEntry]) -> list[int]:
    """Every entry's id, oldest first, without listing the files of older entries where they are not listed."""
    ids = getattr(entries, "ids", None)
    return list(ids) if ids is not None else [e.id for e in entries]
