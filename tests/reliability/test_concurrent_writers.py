"""Concurrent writers of infra-rollback's own files: conditional writes lose nothing.

The store-level primitive (``read_versioned`` + ``write_if`` + :func:`rollback.state.store.update`): two
writers read-modify-write the same file for 50 rounds each; every change lands, or the writer is told to
retry (:class:`Conflict`) and knows its change did not land. On disk: a lock file and an atomic compare
of the content; on S3 (moto's server, real boto3): conditional puts with If-Match / If-None-Match.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest

from rollback.state.store import Conflict, FileStore, update
from tests.support.moto import fresh_s3_store
from tests.support.threads import in_threads

KEY = ".infra-rollback/shop/prod/marks.json"
ROUNDS = 50


def add(entry: str):
    def change(old: bytes | None) -> bytes:
        doc = json.loads(old) if old else {"entries": []}
        doc["entries"].append(entry)
        return json.dumps(doc).encode()
    return change


def writers(store: Any, count: int = 2) -> tuple[list[str], list[str]]:
    """``count`` threads, ROUNDS updates each; returns (landed, told to retry)."""
    landed: list[str] = []
    retry: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(count)

    def writer(n: int) -> None:
        start.wait()
        for i in range(ROUNDS):
            entry = f"w{n}-{i}"
            try:
                update(store, KEY, add(entry), pause=lambda s: None)
                with lock:
                    landed.append(entry)
            except Conflict:
                with lock:
                    retry.append(entry)

    in_threads(writer, count)
    return landed, retry


def check(store: Any, landed: list[str], retry: list[str]) -> None:
    entries = json.loads(store.read(KEY))["entries"]
    assert sorted(entries) == sorted(landed)              # nothing lost, nothing written twice
    assert len(landed) + len(retry) == 2 * ROUNDS          # every writer heard how it went
    assert not set(entries) & set(retry)                   # "retry" means it did not land
    assert len(landed) >= ROUNDS                           # and most do land


def test_two_file_writers_for_50_rounds_lose_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    landed, retry = writers(store)
    check(store, landed, retry)
    leftovers = [p.name for p in (tmp_path / KEY).parent.iterdir() if p.name != "marks.json"]
    assert leftovers == ["marks.json.lock"]                # no temporary file left behind


def _process_writer(root: str, n: int, queue: Any) -> None:
    store = FileStore(Path(root))
    results = []
    for i in range(ROUNDS):
        try:
            update(store, KEY, add(f"p{n}-{i}"))
            results.append((f"p{n}-{i}", True))
        except Conflict:
            results.append((f"p{n}-{i}", False))
    queue.put(results)


def test_two_file_writer_processes_for_50_rounds_lose_nothing(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process_writer, args=(str(tmp_path), n, queue)) for n in range(2)]
    for p in procs:
        p.start()
    results = [r for _ in procs for r in queue.get(timeout=60)]
    for p in procs:
        p.join(timeout=60)
    landed = [e for e, ok in results if ok]
    check(FileStore(tmp_path), landed, [e for e, ok in results if not ok])


def test_a_stale_version_is_told_to_retry(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    assert store.read_versioned(KEY) is None
    first = store.write_if(KEY, b'{"n": 1}', token=None)
    with pytest.raises(Conflict):
        store.write_if(KEY, b'{"n": 2}', token=None)          # created meanwhile by someone else
    seen = store.read_versioned(KEY)
    assert seen is not None and seen.token == first
    store.write_if(KEY, b'{"n": 2}', token=seen.token)
    with pytest.raises(Conflict):
        store.write_if(KEY, b'{"n": 3}', token=seen.token)    # the version read is gone
    assert store.read(KEY) == b'{"n": 2}'


def test_update_gives_up_with_conflict_after_its_attempts(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.write(KEY, b'{"entries": []}')

    def meddling(old: bytes | None) -> bytes:
        store.write(KEY, json.dumps({"entries": ["someone else"]}).encode() + b" " * len(calls))
        calls.append(1)
        return b'{"entries": ["mine"]}'

    calls: list[int] = []
    with pytest.raises(Conflict, match="retry"):
        update(store, KEY, meddling, attempts=3, pause=lambda s: None)
    assert len(calls) == 3 and b"mine" not in store.read(KEY)


def test_plain_writes_use_unique_temporary_names_and_leave_none(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(ROUNDS):
                store.write(KEY, json.dumps({"writer": n, "round": i}).encode())
        except BaseException as exc:     # the old shared ".tmp" name made os.replace fail here
            errors.append(exc)

    in_threads(writer, 4)
    assert errors == []
    assert json.loads(store.read(KEY))["round"] == ROUNDS - 1
    assert [p.name for p in (tmp_path / KEY).parent.iterdir()] == ["marks.json"]


# -- S3 ---------------------------------------------------------------------------------------------

@pytest.fixture
def s3_store(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    return fresh_s3_store(moto_url, monkeypatch, tmp_path, bucket="state", prefix="team")


def test_two_s3_writers_for_50_rounds_lose_nothing(s3_store: Any) -> None:
    landed, retry = writers(s3_store)
    check(s3_store, landed, retry)


def test_s3_conditional_puts_refuse_a_stale_etag_and_an_existing_key(s3_store: Any) -> None:
    first = s3_store.write_if(KEY, b'{"n": 1}', token=None)
    with pytest.raises(Conflict):
        s3_store.write_if(KEY, b'{"n": 2}', token=None)
    s3_store.write_if(KEY, b'{"n": 2}', token=first)
    with pytest.raises(Conflict):
        s3_store.write_if(KEY, b'{"n": 3}', token=first)
    assert s3_store.read(KEY) == b'{"n": 2}'
    with pytest.raises(ValueError, match="only below .infra-rollback"):
        s3_store.write_if(".pulumi/stacks/shop/prod.json", b"{}", token=None)
