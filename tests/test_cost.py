"""What makes the cost flat, pinned as call counts (no timings here: bench/ prints those).

- A preview reads the same from S3 (the same requests) with 3 or 45 versions of history, and parses two
  checkpoints (current and target) however many no-op updates lie between them.
- ``history`` reads only what it shows: the newest 10 versions' metadata by default, every one with
  ``--all``; it never parses the current state.
- Start-up imports neither pydantic, Rich nor markdown-it (nor pulumi, grpc, boto3, kubernetes).

Requests are counted by botocore's ``before-send`` event on the S3 client the command opens (one per
HTTP request, retries included), against moto's server on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.paths import ROOT
from tests.support.backends import PASSPHRASE, ShopBackend, cli, invoke_json

BUCKET = "cost-pins"
REGION = "us-east-1"


# -- an S3 backend whose requests are counted ------------------------------------------------------
@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from tests.support.moto import moto_server

    with moto_server() as url:
        yield url


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, tmp_path: Path) -> Counter[str]:
    """Fake credentials and the moto endpoint; returns the counter of the requests commands make."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3",
                 "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "PULUMI_BACKEND_URL", "CI"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "aws-empty").write_text("")
    for name, value in (("AWS_CONFIG_FILE", str(tmp_path / "aws-empty")),
                        ("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-empty")),
                        ("AWS_EC2_METADATA_DISABLED", "true"), ("AWS_ACCESS_KEY_ID", "testing"),
                        ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", REGION),
                        ("AWS_ENDPOINT_URL", moto_endpoint), ("PULUMI_HOME", str(tmp_path / "home")),
                        ("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)):
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    counts: Counter[str] = Counter()
    from rollback.state import s3 as s3_module

    opened = s3_module.open_s3_store

    def counting(url: str) -> Any:
        store = opened(url)

        def count(request: Any, **_: Any) -> None:
            ranged = "Range" in request.headers
            listing = "list-type=" in request.url
            counts["LIST" if listing else "RANGE" if ranged else request.method] += 1

        store.client.meta.events.register("before-send.s3", count)
        return store

    monkeypatch.setattr(s3_module, "open_s3_store", counting)
    return counts


def upload(root: Path, prefix: str, endpoint: str) -> str:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        client.put_object(Bucket=BUCKET, Key=f"{prefix}/{path.relative_to(root).as_posix()}", Body=path.read_bytes())
    return f"s3://{BUCKET}/{prefix}"


def shop_with(tmp: Path, versions: int) -> ShopBackend:
    """``versions`` releases (a new image each), the last two the ones a preview compares."""
    shop = ShopBackend(tmp)
    for n in range(1, versions + 1):
        shop.deploy(image=f"ghcr.io/shop/web:1.{n}.0", message=f"release {n}")
    return shop


# -- a preview --------------------------------------------------------------------------------------
def test_a_preview_makes_the_same_requests_whatever_the_length_of_the_history(
        s3: Counter[str], moto_endpoint: str, tmp_path: Path) -> None:
    made = {}
    for versions in (3, 45):
        url = upload(shop_with(tmp_path / f"h{versions}", versions).root, f"h{versions}", moto_endpoint)
        s3.clear()
        plan = invoke_json(cli("rollback", "prod", "--to", "previous", "--preview", "--no-rehearse", "--json",
                               "--backend", url))
        assert (plan["from_version"], plan["to_version"]) == (versions, versions - 1)
        made[versions] = dict(s3)
    assert made[3] == made[45]
    # LIST: the stacks folder (projects, then the project's stacks: listed once for resolving the stack and
    # finding its file), the history folder twice (every version's name, then the files of the newest ones:
    # rollback/state/listing.py), the stack's locks (a held lock is a refusal); the records folder is not
    # listed; GET: meta.yaml, marks.json, the stack file, the update info of the two newest versions,
    # the target's checkpoint, and marks.json again by the write check (refusals are evaluated in a preview
    # too), which puts and deletes a probe in the records' and the marks' folders (PUT, DELETE). The newest
    # checkpoint is known to hold the stack file's bytes from the listings' ETags: never downloaded.
    assert made[45] == {"LIST": 5, "GET": 7, "PUT": 2, "DELETE": 2}, made[45]


def test_a_preview_parses_two_checkpoints_however_many_no_op_updates_lie_between(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rollback import history

    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    parsed: list[str] = []
    original = history.parse_deployment

    def counting(data: Any, *, source: str) -> Any:
        parsed.append(source)
        return original(data, source=source)

    monkeypatch.setattr(history, "parse_deployment", counting)
    for noops in (0, 6):
        shop = shop_with(tmp_path / f"n{noops}", 2)
        for _ in range(noops):   # CI runs of `pulumi up` that change nothing: only the manifest's time differs
            shop.deploy(image="ghcr.io/shop/web:1.2.0", message="no changes")
        parsed.clear()
        plan = invoke_json(cli("rollback", "prod", "--to", "previous", "--preview", "--no-rehearse", "--json",
                               "--backend", shop.url))
        assert (plan["from_version"], plan["to_version"]) == (2 + noops, 1)
        assert [s["reason"] for s in plan["skipped"]] == ["same as current"] * (1 + noops)
        assert len(parsed) == 2, parsed                      # the stack file and v1, nothing else
        assert parsed[0].endswith("prod.json") and "checkpoint" in parsed[1]


# -- history ----------------------------------------------------------------------------------------
def test_history_reads_only_what_it_shows(s3: Counter[str], moto_endpoint: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from rollback.actions import history

    url = upload(shop_with(tmp_path / "h45", 45).root, "hist45", moto_endpoint)
    monkeypatch.setattr(history, "IMAGE_MAX_BYTES", 0)   # as for a big state: no checkpoint read for images
    monkeypatch.setenv("INFRA_ROLLBACK_NO_CACHE", "1")   # each run as a machine's first
    s3.clear()
    doc = invoke_json(cli("history", "prod", "--json", "--backend", url))
    assert [v["version"] for v in doc["versions"]] == list(range(45, 35, -1)) and doc["total"] == 45
    assert doc["current_version"] == 45 and doc["not_shown"] == 35
    assert {v["image"] for v in doc["versions"]} == {None}
    # GET: meta.yaml, marks.json, the 10 update infos shown (the time of the one below them, which says
    # which audit records can belong to them, is in its file name); RANGE: the end of the stack file
    # (pending operations); LIST: stacks folder (2), history folder (2: names, then the newest files),
    # records folder. The stack file is never read whole.
    assert dict(s3) == {"LIST": 5, "GET": 12, "RANGE": 1}, dict(s3)

    s3.clear()
    every = invoke_json(cli("history", "prod", "--all", "--json", "--backend", url))
    assert len(every["versions"]) == 45 and every["versions"][:10] == doc["versions"]
    assert s3["GET"] == 2 + 45 and s3["RANGE"] == 1 and every["not_shown"] == 0

    # A small state (this one): the image column reads the 10 shown versions' checkpoints (the current one's
    # from the stack file, read whole instead of its end): one GET each, however long the history. In all,
    # at most 30 requests (issue 13's goal), with the images.
    monkeypatch.setattr(history, "IMAGE_MAX_BYTES", 2 << 20)
    s3.clear()
    doc = invoke_json(cli("history", "prod", "--json", "--backend", url))
    assert [v["image"] for v in doc["versions"]] == [f"web:1.{n}.0" for n in range(45, 35, -1)]
    assert dict(s3) == {"LIST": 5, "GET": 12 + 10}, dict(s3)
    assert sum(s3.values()) <= 30


def test_history_reads_each_version_once_per_machine(s3: Counter[str], moto_endpoint: str, tmp_path: Path) -> None:
    """Rows and images are kept between runs (rollback/actions/rowcache.py), checked against the listing's
    ETags: a second run reads no update info and no checkpoint; a file that changed is read again; the cache
    holds no config and no secret; a cache file that cannot be read is started again."""
    import boto3

    url = upload(shop_with(tmp_path / "h45", 45).root, "cached45", moto_endpoint)
    first = invoke_json(cli("history", "prod", "--all", "--json", "--backend", url))
    s3.clear()
    again = invoke_json(cli("history", "prod", "--all", "--json", "--backend", url))
    assert again == first and dict(s3) == {"LIST": 6, "GET": 2, "RANGE": 1}, dict(s3)   # meta.yaml, marks.json
    caches = list((tmp_path / "infra-rollback-cache" / "history").iterdir())
    assert len(caches) == 1 and caches[0].stat().st_mode & 0o777 == 0o600
    kept = caches[0].read_text()
    assert "tok-" not in kept and "secure" not in kept and "config" not in kept and "web:1.45.0" in kept

    # v40's update info is written again with another message: its new ETag says so, and it is read again.
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="cached45/.pulumi/history/")["Contents"]
    infos = sorted((k["Key"] for k in listed if k["Key"].endswith(".history.json")),
                   key=lambda key: int(key.rsplit("-", 1)[1].split(".")[0]))
    info_key = infos[40 - 1]
    info = json.loads(client.get_object(Bucket=BUCKET, Key=info_key)["Body"].read())
    info["message"] = "release 40, amended"
    client.put_object(Bucket=BUCKET, Key=info_key, Body=json.dumps(info).encode())
    s3.clear()
    changed = invoke_json(cli("history", "prod", "--all", "--json", "--backend", url))
    assert {v["version"]: v["message"] for v in changed["versions"]}[40] == "release 40, amended"
    assert s3["GET"] == 3

    caches[0].write_text("{not json")
    s3.clear()
    assert invoke_json(cli("history", "prod", "--all", "--json", "--backend", url))["versions"] == changed["versions"]
    assert s3["GET"] == 2 + 45 + 20   # every update info, and the newest 20 versions' images
    assert json.loads(caches[0].read_text())["format"] == 1


def test_a_long_history_in_s3_is_listed_by_name_and_numbered_as_a_full_listing_numbers_it(
        s3: Counter[str], moto_endpoint: str, tmp_path: Path) -> None:
    """Every version's name in one request per 1,000 versions, the files of the newest 32 in one more; the
    files of an older version are listed (all at once) the first time one is asked for. Whatever is asked,
    each version has the number and files a listing of every file gives it."""
    from rollback.state.diy import DiyBackend, _entries
    from rollback.state.listing import TAIL, TailEntries
    from rollback.state.s3 import open_s3_store

    url = upload(shop_with(tmp_path / "h45", 45).root, "tail45", moto_endpoint)
    backend = DiyBackend(open_s3_store(url))
    ref = backend.resolve_stack("prod")
    folder = f".pulumi/history/{ref.project}/prod"
    full = _entries(backend.store.list(folder), "prod-")
    assert len(full) == 45 and TAIL < 45

    s3.clear()
    entries = backend.history(ref)
    assert isinstance(entries, TailEntries) and dict(s3) == {"LIST": 2}
    assert len(entries) == 45 and entries.ids == [e.id for e in full]
    assert list(entries[-TAIL:]) == full[-TAIL:] and dict(s3) == {"LIST": 2}    # the newest: listed already
    assert not entries.listed_whole
    assert entries[0] == full[0] and dict(s3) == {"LIST": 3}                   # an older one: every file, once
    assert list(entries) == full and dict(s3) == {"LIST": 3}

    # An update that lands between the two listings: the names say 45, the files 46. Every file is listed
    # instead, and numbered from it.
    shop = shop_with(tmp_path / "h46", 46)
    newest = sorted((shop.root / ".pulumi" / "history").rglob("*.json"))[-2:]
    url46 = upload(shop.root, "tail46", moto_endpoint)
    backend46 = DiyBackend(open_s3_store(url46))
    names = backend46.store.list_stems
    newest_stem = newest[0].name.split(".")[0]
    backend46.store.list_stems = lambda prefix, head: [n for n in names(prefix, head) if n != newest_stem]  # type: ignore[method-assign]
    raced = backend46.history(backend46.resolve_stack("prod"))
    assert not isinstance(raced, TailEntries) and len(raced) == 46

    # History that goes away between the listing and an older version's files: said, never renumbered.
    import boto3

    gone = backend.history(ref)
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    for key in (full[0].info_key, full[0].checkpoint_key):
        client.delete_object(Bucket=BUCKET, Key=f"tail45/{key}")
    from rollback.errors import StateError

    with pytest.raises(StateError, match="the history changed while it was read"):
        gone[0]


def test_history_limit_and_all_do_not_go_together(tmp_path: Path) -> None:
    shop = shop_with(tmp_path / "h3", 3)
    result = cli("history", "prod", "--all", "--limit", "2", "--backend", shop.url)
    assert result.exit_code == 2 and "--all and --limit" in result.stderr


def test_history_never_parses_a_big_current_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rollback.actions import history
    from rollback.state import codec

    monkeypatch.setattr(history, "IMAGE_MAX_BYTES", 0)   # every state here is bigger than that
    shop = shop_with(tmp_path / "h3", 3)
    calls: list[str] = []

    def refuse(raw: bytes, *, source: str) -> Any:
        calls.append(source)
        raise AssertionError(f"history parsed {source}")

    monkeypatch.setattr(codec, "read_document", refuse)
    doc = invoke_json(cli("history", "prod", "--json", "--backend", shop.url))
    assert doc["current_version"] == 3 and calls == []


# -- start-up ---------------------------------------------------------------------------------------
_PROBE = """
import contextlib, io, json, sys
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        from rollback.cli import main
        main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(WATCHED))))
"""
WATCHED = ("pydantic", "rich", "markdown_it", "pulumi", "grpc", "boto3", "botocore", "kubernetes")


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["history", "--help"], ["history", "prod"],
                                  ["rollback", "prod", "--to", "previous", "--preview", "--no-rehearse"]],
                         ids=lambda a: " ".join(a))
def test_start_up_imports_nothing_the_output_does_not_need(args: list[str], tmp_path: Path) -> None:
    shop = shop_with(tmp_path / "h3", 3)
    extra = ["--backend", shop.url] if "prod" in args else []
    proc = subprocess.run([sys.executable, "-c", _PROBE.replace("WATCHED", repr(WATCHED)), *args, *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": tempfile.gettempdir(),
                               "PULUMI_HOME": str(tmp_path / "home"), "NO_COLOR": "1",
                               "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
