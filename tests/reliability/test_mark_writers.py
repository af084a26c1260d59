"""Concurrent writers of the marks, as people and CI jobs make them: nothing lost.

Marks are written read-modify-write through the side store's conditional write
(:meth:`~rollback.state.backend.SideStore.update_marks`): two ``mark`` commands running at once both land,
or one is told, in one line, to run again; a ``mark --good`` made while a rollback runs survives the
rollback's own marking; on Pulumi Cloud each version's mark is its own tag, so writers of different
versions never touch each other's tags.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import shutil
import threading
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from rollback.actions.context import Context
from rollback.actions.history import History
from rollback.actions.rollback import Rollback
from rollback.console import Console, TerminalConfirm
from rollback.errors import WriteConflict
from rollback.models import Mark, Outcome, StackRef
from rollback.records import Marks
from rollback.state.backend import FolderSideStore
from rollback.state.cloud_tags import CloudSideStore
from tests.paths import EXAMPLES
from tests.reliability.conftest import run
from tests.support.backends import ShopBackend
from tests.support.fake_engine import FakeEngine
from tests.support.moto import fresh_s3_store
from tests.support.threads import in_threads

ROUNDS = 50
PASS = "omniserve-example"


def marks_file(root: Path, project: str = "shop", stack: str = "prod") -> Path:
    return root / ".infra-rollback" / project / stack / "marks.json"


# -- two `mark` processes through the command line ------------------------------------------------
def _mark_writer(url: str, first: int, barrier: Any, queue: Any) -> None:
    """ROUNDS `infra-rollback mark` runs (versions first .. first+ROUNDS-1), in step with the other writer."""
    from rollback.cli import main

    results = []
    for i in range(ROUNDS):
        version = first + i
        barrier.wait(timeout=60)
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main(["mark", "prod", str(version), "--good", "--reason", f"round {i} of writer {first}",
                      "--backend", url])
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        results.append((version, code, err.getvalue()))
    queue.put(results)


@pytest.fixture
def long_shop(tmp_path: Path) -> ShopBackend:
    """shop/prod with 2 x ROUNDS versions: each writer marks its own half."""
    shop = ShopBackend(tmp_path / "state")
    for n in range(2 * ROUNDS):
        shop.deploy(image=f"web:{n + 1}", token="tok", message=f"release {n + 1}")
    return shop


def test_two_mark_commands_in_parallel_for_50_rounds_lose_nothing(long_shop: ShopBackend) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_mark_writer, args=(long_shop.url, first, barrier, queue))
             for first in (1, ROUNDS + 1)]
    for p in procs:
        p.start()
    results = [r for _ in procs for r in queue.get(timeout=300)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    marks = json.loads(marks_file(long_shop.root).read_text())["marks"]
    by_version = {e["version"]: e for e in marks.values()}
    landed = [v for v, code, _ in results if code == 0]
    told = [(v, err) for v, code, err in results if code != 0]
    for version, err in told:      # told, in one line, that it did not land and to run again
        lines = err.splitlines()
        assert len(lines) == 1 and "run the command again" in lines[0], err
        assert version not in by_version
    assert sorted(by_version) == sorted(landed)              # every mark that was reported landed is there
    assert len(landed) >= ROUNDS                              # and almost all of them land at once
    for version in landed:
        first = 1 if version <= ROUNDS else ROUNDS + 1
        assert by_version[version]["reason"] == f"round {version - first} of writer {first}"
        assert by_version[version]["mark"] == "good"
    leftovers = sorted(p.name for p in marks_file(long_shop.root).parent.iterdir())
    assert leftovers == ["marks.json", "marks.json.lock"]      # no temporary file behind


def test_marks_are_read_fresh_for_each_write_not_from_the_copy_read_first(tmp_path: Path) -> None:
    """The Marks object a command holds (read once, as history and target resolution use it) does not
    overwrite what another writer stored since."""
    shop = ShopBackend(tmp_path / "state")
    for n in range(3):
        shop.deploy(image=f"web:{n + 1}", token="tok")
    ctx = Context(backend_flag=shop.url)
    history = ctx.history("prod")
    assert history.marks.get(history.entries[0].id) == (None, "")          # read now, while there is none
    assert run("mark", "prod", "2", "--bad", "--reason", "meanwhile", "--backend", shop.url).code == 0
    key = history.entries[0].id
    assert history.marks.set(key, Mark.GOOD, version=1, reason="mine", by="me", at="now")
    stored = json.loads(marks_file(shop.root).read_text())["marks"]
    assert {e["version"]: e["mark"] for e in stored.values()} == {1: "good", 2: "bad"}
    assert history.marks.get(history.entries[1].id) == (Mark.BAD, "meanwhile")   # and it sees it now


# -- a mark made while a rollback runs ---------------------------------------------------------------
@pytest.fixture
def world(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / "backend", tmp_path / "backend")
    return tmp_path


def test_a_mark_made_during_a_rollback_is_kept(world: Path) -> None:
    """While the rollback (v6 -> v2) verifies its health, someone marks v4 good and v6 good. The rollback then
    marks the versions it left bad (v6 and v5, its twin): v4's mark stays, and so does the person's
    explicit mark of v6 (the rollback marks only versions nobody has marked)."""
    url = f"file://{world / 'backend'}"
    said: list[Any] = []

    def verifier(**_: Any) -> dict[str, Any]:
        said.append(run("mark", "prod", "4", "--good", "--reason", "checked by hand", "--backend", url))
        said.append(run("mark", "prod", "6", "--good", "--reason", "it was the load balancer", "--backend", url))
        return {"stack": "prod", "healthy": True, "timed_out": False, "elapsed_seconds": 0.1, "gates": []}

    ctx = Context(cwd=world, backend_flag=url, passphrase=lambda: PASS)
    action = Rollback(ctx=ctx, engine=FakeEngine(world / "backend", PASS), verifier=verifier,
                      confirm=TerminalConfirm(yes=True), listener=Console(out=io.StringIO(), err=io.StringIO()))
    outcome = action.run("prod", "previous")
    assert outcome.outcome is Outcome.ROLLED_BACK and outcome.error is None
    assert [r.code for r in said] == [0, 0]
    versions = {v["version"]: v["mark"] for v in History(ctx=Context(cwd=world, backend_flag=url)).run("prod")["versions"]}
    assert versions[4] == "good"          # made during the rollback, not lost
    assert versions[6] == "good"          # a person's mark is not overwritten by the automatic one
    assert versions[5] == "bad"           # the rollback still marks the twin it left


# -- S3: two writers through Marks, conditional puts -------------------------------------------------

class _Side:
    """A backend that is only a side store (all Marks asks of it)."""

    def __init__(self, side: Any) -> None:
        self.side = side

    def side_store(self, ref: StackRef) -> Any:
        return self.side


def _threads(marks_for: Callable[[], Marks], count: int = 2) -> tuple[list[int], list[int]]:
    """``count`` threads, ROUNDS marks each on their own versions, each through its own Marks object."""
    landed: list[int] = []
    retry: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def writer(n: int) -> None:
        for i in range(ROUNDS):
            version = n * ROUNDS + i + 1
            barrier.wait(timeout=60)
            try:
                marks_for().set(version, Mark.BAD, version=version, reason=f"w{n}", by="t", at="now")
                with lock:
                    landed.append(version)
            except WriteConflict:
                with lock:
                    retry.append(version)

    in_threads(writer, count)
    return landed, retry


def test_two_s3_mark_writers_for_50_rounds_lose_nothing(moto_url: str, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    store = fresh_s3_store(moto_url, monkeypatch, tmp_path, bucket="state", prefix="team")
    ref = StackRef("shop", "prod")

    def marks_for() -> Marks:
        return Marks(_Side(FolderSideStore(store, ".infra-rollback/shop/prod")), ref)

    landed, retry = _threads(marks_for)
    stored = json.loads(store.read(".infra-rollback/shop/prod/marks.json"))["marks"]
    assert sorted(int(k) for k in stored) == sorted(landed)
    assert len(landed) + len(retry) == 2 * ROUNDS and len(landed) >= ROUNDS


# -- Pulumi Cloud: one tag per version's mark ----------------------------------------------------------
class _Tags:
    """Stack tags as the Pulumi Service keeps them; ``during_listing`` runs right after a listing (another
    writer's tag landing between this writer's read and its write)."""

    url = "https://api.pulumi.com"

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.during_listing: list[Callable[[], None]] = []
        self.lock = threading.Lock()

    def tags(self, fq: str, *, fresh: bool = False) -> dict[str, str]:
        with self.lock:
            seen = dict(self.values)
        while self.during_listing:
            self.during_listing.pop()()
        return seen

    def set_tag(self, fq: str, name: str, value: str) -> None:
        with self.lock:
            self.values[name] = value

    def remove_tag(self, fq: str, name: str) -> None:
        with self.lock:
            self.values.pop(name, None)

    def warn_once(self, key: str, line: str) -> None:
        pass


def test_cloud_mark_tags_of_other_versions_are_never_touched() -> None:
    """Writer A lists the tags; before it writes, writer B marks another version. A sets only its own tags,
    so B's mark (and a tag someone typed in the console, neither good nor bad) are still there."""
    tags = _Tags()
    tags.values = {"infra-rollback.mark.v1": "meh", "owner": "team-a"}
    ref = StackRef("omniserve", "prod")

    def marks() -> Marks:
        return Marks(_Side(CloudSideStore(tags, "acme/omniserve/prod", None)), ref)

    tags.during_listing.append(lambda: marks().set(3, Mark.GOOD, version=3, reason="B", by="b", at="now"))
    marks().set(2, Mark.BAD, version=2, reason="A", by="a", at="now")
    assert tags.values == {"infra-rollback.mark.v1": "meh", "owner": "team-a",
                           "infra-rollback.mark.v2": "bad", "infra-rollback.reason.v2": "A",
                           "infra-rollback.mark.v3": "good", "infra-rollback.reason.v3": "B"}

