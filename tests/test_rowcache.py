"""history's rows kept between runs (rollback/actions/rowcache.py): good only for the same digest, never
config, a hand-edited or unreadable cache read again, an unwritable one changing nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from rollback.actions.rowcache import RowCache, summary_of
from rollback.models import StackRef, Version
from rollback.state.backend import HistoryEntry

REF = StackRef(project="shop", name="prod")
URL = "s3://bucket/state"


@dataclass(frozen=True)
class Listed(HistoryEntry):
    info: str | None = None
    checkpoint: str | None = None

    @property
    def info_digest(self) -> str | None:
        return self.info

    @property
    def checkpoint_digest(self) -> str | None:
        return self.checkpoint


def version(n: int) -> Version:
    return Version(number=n, kind="update", result="succeeded", start_time=1_700_000_000 + n, end_time=None,
                   message=f"release {n}", environment={"git.author": "Ana", "git.head": "abc", "secret.thing": "x"},
                   config={"shop:token": {"secure": "v1:cipher"}, "shop:region": "eu-west-1"},
                   resource_changes={"update": 2}, has_checkpoint=True, key=str(n))


def entry(n: int, info: str | None = '"i1"', checkpoint: str | None = '"c1"') -> Listed:
    return Listed(n, has_info=True, has_checkpoint=True, info=info, checkpoint=checkpoint)


def test_a_row_is_good_for_the_same_digest_only_and_keeps_no_config() -> None:
    cache = RowCache.open(URL, REF)
    assert cache is not None and cache.summary(entry(7)) is None
    cache.keep(entry(7), version=version(7), images=["ghcr.io/shop/web:1.7.0"])
    cache.save([7])

    again = RowCache.open(URL, REF)
    assert again is not None
    assert again.summary(entry(7)) == summary_of(version(7))
    assert again.images(entry(7)) == ["ghcr.io/shop/web:1.7.0"]
    assert again.summary(entry(7, info='"i2"')) is None and again.images(entry(7, checkpoint='"c2"')) is None
    assert again.summary(entry(7, info=None)) is None   # no digest from the listing: nothing to check against
    text = again.path.read_text()
    assert "cipher" not in text and "eu-west-1" not in text and "secret.thing" not in text
    assert again.path.stat().st_mode & 0o777 == 0o600


def test_only_listed_versions_are_kept_and_other_stacks_have_their_own_file() -> None:
    cache = RowCache.open(URL, REF)
    assert cache is not None
    for n in (1, 2, 3):
        cache.keep(entry(n), version=version(n))
    cache.save([2, 3])                        # v1's history went away
    kept = json.loads(cache.path.read_text())["versions"]
    assert sorted(kept) == ["2", "3"]
    other = RowCache.open(URL, StackRef(project="shop", name="staging"))
    assert other is not None and other.path != cache.path and other.summary(entry(2)) is None


@pytest.mark.parametrize("row", [
    {"kind": "update"},                                             # fields missing
    dict(summary_of(version(1)), resourceChanges=["update"]),      # of the wrong type
    dict(summary_of(version(1)), startTime=True),
    dict(summary_of(version(1)), environment={"git.author": 7}),
    dict(summary_of(version(1)), config={"a": "b"}),               # more than a row holds
])
def test_a_hand_edited_row_is_read_again(row: object) -> None:
    cache = RowCache.open(URL, REF)
    assert cache is not None
    cache.path.parent.mkdir(parents=True)
    cache.path.write_text(json.dumps({"format": 1, "versions": {"1": {"info": '"i1"', "row": row}}}))
    assert RowCache.open(URL, REF).summary(entry(1)) is None   # type: ignore[union-attr]


def test_turned_off_unreadable_or_unwritable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INFRA_ROLLBACK_NO_CACHE", "1")
    assert RowCache.open(URL, REF) is None
    monkeypatch.delenv("INFRA_ROLLBACK_NO_CACHE")
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("INFRA_ROLLBACK_CACHE_DIR", str(blocked))
    cache = RowCache.open(URL, REF)
    assert cache is not None and cache.summary(entry(1)) is None
    cache.keep(entry(1), version=version(1))
    cache.save([1])                           # cannot be written: nothing raised, nothing left
    assert blocked.read_text() == ""
