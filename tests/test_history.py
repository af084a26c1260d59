"""`history`, targets and marks, through the CLI, as a user sees them.

Versions are numbered from 1 (the oldest history entry) in ``<unixnano>`` order; `history --json`
keeps the documented shape; `previous` skips refreshes, failed updates, versions marked bad and
versions whose desired state equals the current one (secrets compared by value); `N`, `vN`,
`last-good` and `git:REF` name versions; `mark` writes beside `.pulumi/`, never inside it.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.backends import (
    EXAMPLE_PASSPHRASE,
    PASSPHRASE,
    ShopBackend,
    cli,
    copy_example,
    invoke_json,
    isolate_env,
    one_error_line,
)

VERSION_KEYS = {"version", "kind", "result", "start_time", "end_time", "message", "git_head", "mark",
                "mark_reason", "mark_by", "who", "image", "resource_changes", "has_checkpoint"}
TOP_KEYS = {"stack", "project", "backend", "current_version", "versions", "operations", "total", "not_shown", "warnings"}






@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_env(monkeypatch, tmp_path / "pulumi-home", passphrase=PASSPHRASE)


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of examples/ (prod: v1 1.3.0, v2 1.4.0, v3 refresh, v4 failed, v5 1.5.0, v6 refresh)."""
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", EXAMPLE_PASSPHRASE)
    return copy_example(tmp_path / "example")


def preview(example: Path, target: str, *extra: str) -> Any:
    return cli("rollback", "prod", "--to", target, "--preview", "--cwd", str(example), *extra)


def preview_json(example: Path, target: str) -> dict[str, Any]:
    return invoke_json(preview(example, target, "--json"))


def history_json(*args: str) -> dict[str, Any]:
    return invoke_json(cli("history", *args, "--json"))


# -- numbering and shape -----------------------------------------------------------------------
def test_versions_are_numbered_from_the_oldest_unixnano_whatever_order_the_files_come_in(tmp_path: Path) -> None:
    shop = ShopBackend(tmp_path / "state")
    # Recorded out of time order, and across a change in the number of digits, so that neither the
    # order files were written nor their names' alphabetical order is the time order.
    shop.deploy(image="web:2", message="second", unixnano=1_000_000_001_000_000_000)
    shop.deploy(image="web:1", message="first", unixnano=999_999_999_000_000_000)
    shop.deploy(image="web:3", message="third", unixnano=1_000_000_002_000_000_000)
    names = sorted(p.name for p in (shop.pulumi / "history" / "shop" / "prod").iterdir())
    assert names[0].startswith("prod-1000000001"), names  # alphabetical order is not time order

    doc = history_json("prod", "--backend", shop.url)

    assert [(v["version"], v["message"]) for v in doc["versions"]] == [(3, "third"), (2, "second"), (1, "first")]
    assert doc["current_version"] == 3


def test_history_json_has_the_documented_shape_newest_first(tmp_path: Path) -> None:
    shop = ShopBackend(tmp_path / "state")
    shop.deploy(image="web:1", message="release 1", git_head="a1b2c3d4e5f6")
    shop.deploy(image="web:2", message="release 2", result="failed")
    shop.deploy(image="web:2", kind="refresh")

    doc = history_json("prod", "--backend", shop.url)

    assert set(doc) == TOP_KEYS
    assert (doc["stack"], doc["project"], doc["backend"]) == ("prod", "shop", shop.url)
    assert doc["current_version"] == 3 and doc["warnings"] == []
    for v in doc["versions"]:
        # "rollback" is an additive key some work in progress puts on versions; docs/cli.md lists the rest.
        assert set(v) - {"rollback"} == VERSION_KEYS, sorted(v)
    newest, failed, oldest = doc["versions"]
    assert (newest["version"], newest["kind"], newest["result"]) == (3, "refresh", "succeeded")
    assert (failed["version"], failed["kind"], failed["result"]) == (2, "update", "failed")
    assert oldest == {**{k: oldest[k] for k in oldest if k not in VERSION_KEYS},
                      "version": 1, "kind": "update", "result": "succeeded", "start_time": 1_790_000_000,
                      "end_time": 1_790_000_060, "message": "release 1", "git_head": "a1b2c3d4e5f6",
                      "mark": None, "mark_reason": None, "mark_by": None, "who": None, "image": "web:1",
                      "resource_changes": {"update": 1}, "has_checkpoint": True}


def test_history_limit_shows_the_newest_n(example: Path) -> None:
    doc = history_json("prod", "--cwd", str(example), "--limit", "2")
    assert [v["version"] for v in doc["versions"]] == [6, 5]
    assert doc["current_version"] == 6 and (doc["total"], doc["not_shown"]) == (6, 4)

    text = cli("history", "prod", "--cwd", str(example), "--limit", "2")
    assert text.exit_code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "History of omniserve/prod (newest first; * = current state)"
    assert lines[1].split() == ["VERSION", "WHEN", "KIND", "RESULT", "WHO", "GIT", "IMAGE", "CHANGES"]
    assert lines[2].split()[:5] == ["*v6", "2026-11-13", "07:45", "UTC", "refresh"]
    assert lines[3].split()[:5] == ["v5", "2026-11-12", "17:03", "UTC", "update"]
    assert lines[4:] == ["  ... 4 older version(s) not shown (--all, or --limit N)"]


def test_history_limit_must_be_positive(example: Path) -> None:
    result = cli("history", "prod", "--cwd", str(example), "--limit", "0")
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


def test_current_state_after_stack_import_has_no_version_and_a_warning(tmp_path: Path) -> None:
    shop = ShopBackend(tmp_path / "state")
    shop.deploy(image="web:1")
    shop.deploy(image="web:2")
    shop.stack_import(image="web:hand-edited")   # `pulumi stack import`: stack file only, no history

    doc = history_json("prod", "--backend", shop.url)
    assert doc["current_version"] is None
    assert len(doc["versions"]) == 2
    assert any("differs from the newest history checkpoint" in w and "import" in w for w in doc["warnings"])

    text = cli("history", "prod", "--backend", shop.url)
    assert "* v2" not in text.stdout and "! the current state differs" in text.stdout

    plan = invoke_json(cli("rollback", "prod", "--to", "previous", "--preview", "--json", "--backend", shop.url))
    assert plan["from_version"] is None and plan["to_version"] == 2   # v2 differs from the imported state
    assert any("differs from the newest history checkpoint" in w for w in plan["warnings"])


def test_current_version_is_found_when_an_older_checkpoint_was_imported_back(tmp_path: Path) -> None:
    shop = ShopBackend(tmp_path / "state")
    shop.deploy(image="web:1")
    shop.deploy(image="web:2")
    shop.stack_file().write_bytes(shop.history_paths(1)[1].read_bytes())   # `pulumi stack import` of v1

    doc = history_json("prod", "--backend", shop.url)

    assert doc["current_version"] == 1


# -- layouts and compression -------------------------------------------------------------------
def test_legacy_layout_without_meta_yaml(tmp_path: Path) -> None:
    shop = ShopBackend(tmp_path / "state", layout="legacy")
    shop.deploy(image="web:1", message="one")
    shop.deploy(image="web:2", message="two")
    assert not (shop.pulumi / "meta.yaml").exists()
    assert (shop.pulumi / "stacks" / "prod.json").is_file()
    assert len(list((shop.pulumi / "history" / "prod").glob("prod-*.checkpoint.json"))) == 2

    doc = history_json("prod", "--backend", shop.url)
    assert [(v["version"], v["message"]) for v in doc["versions"]] == [(2, "two"), (1, "one")]
    assert doc["current_version"] == 2
    assert doc["project"] == "shop"          # not in the legacy path: taken from the resources' URNs

    plan = invoke_json(cli("rollback", "prod", "--to", "previous", "--preview", "--json", "--backend", shop.url))
    assert plan["to_version"] == 1
    assert any(p["after"] == "web:1" for c in plan["changes"] for p in c["properties"])


@pytest.mark.parametrize("compress, ext", [("gzip", ".json.gz"), ("zstd", ".json.zst")])
def test_compressed_stack_and_history_files(tmp_path: Path, compress: Any, ext: str) -> None:
    shop = ShopBackend(tmp_path / "state", compress=compress)
    shop.deploy(image="web:1", message="one")
    shop.deploy(image="web:2", message="two")
    assert shop.stack_file().name == f"prod{ext}"
    assert all(p.name.endswith(ext) for p in (shop.pulumi / "history" / "shop" / "prod").iterdir())

    doc = history_json("prod", "--backend", shop.url)
    assert [v["message"] for v in doc["versions"]] == ["two", "one"] and doc["current_version"] == 2

    plan = invoke_json(cli("rollback", "prod", "--to", "1", "--preview", "--json", "--backend", shop.url))
    assert plan["from_version"] == 2 and plan["to_version"] == 1


@pytest.mark.parametrize("newest", ["prod.json", "prod.json.gz"])
def test_when_json_and_json_gz_both_exist_the_newest_wins(tmp_path: Path, newest: str) -> None:
    shop = ShopBackend(tmp_path / "state")
    shop.deploy(image="web:1")
    shop.deploy(image="web:2")
    plain = shop.stack_file()
    assert plain.name == "prod.json"
    # A stale gzip variant holding another state (as an older CLI with PULUMI_DIY_BACKEND_GZIP left it).
    stale = shop.build(image="web:stale")
    gz = plain.with_name("prod.json.gz")
    gz.write_bytes(gzip.compress(shop.writer.encode(shop.writer.envelope("shop", "prod", stale))))
    older, newer = (gz, plain) if newest == "prod.json" else (plain, gz)
    os.utime(older, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    os.utime(newer, ns=(1_800_000_000_000_000_000, 1_800_000_000_000_000_000))

    doc = history_json("prod", "--backend", shop.url)

    if newest == "prod.json":
        assert doc["current_version"] == 2 and doc["warnings"] == []
    else:
        assert doc["current_version"] is None
        diff = invoke_json(cli("diff", "prod", "--from", "2", "--to", "current", "--json", "--backend", shop.url))
        assert any(p["after"] == "web:stale" for c in diff["changes"] for p in c["properties"])


# -- targets -----------------------------------------------------------------------------------
def test_previous_skips_refreshes_failures_and_versions_equal_to_now(example: Path) -> None:
    plan = preview_json(example, "previous")
    assert plan["from_version"] == 6 and plan["to_version"] == 2
    assert plan["target"]["message"] == "release 1.4.0: tune sentiment threshold"
    skipped = {s["version"]: s["reason"] for s in plan["skipped"]}
    assert list(skipped) == [6, 5, 4, 3]
    assert "refresh" in skipped[6] and "refresh" in skipped[3]
    assert skipped[5] == "same as current"      # v6 re-encrypted v5's secrets: equal by value
    assert "failed" in skipped[4]

    text = preview(example, "previous")
    assert text.exit_code == 0, text.stderr
    assert "  skipped v6 (a refresh); v5 (same as current); v4 (failed update); v3 (a refresh)" in text.stdout


def test_same_as_current_compares_secrets_by_value_after_a_refresh_reencrypted_them(tmp_path: Path) -> None:
    shop = ShopBackend(tmp_path / "state")
    shop.deploy(image="web:1", token="tok-1", message="one")
    shop.deploy(image="web:2", token="tok-2", message="two")
    shop.deploy(image="web:2", token="tok-2", kind="refresh")   # new ciphertexts, same values
    v2_checkpoint = shop.history_paths(2)[1].read_bytes()
    assert v2_checkpoint != shop.stack_file().read_bytes()

    plan = invoke_json(cli("rollback", "prod", "--to", "previous", "--preview", "--json", "--backend", shop.url))

    assert plan["to_version"] == 1
    assert plan["skipped"] == [{"version": 3, "reason": "a refresh"}, {"version": 2, "reason": "same as current"}]
    secret_change = [p for c in plan["changes"] for p in c["properties"] if p.get("secret")]
    assert secret_change and all(p["before"] == p["after"] == "[secret]" for p in secret_change)


def test_previous_never_picks_the_version_before_current_when_it_failed(tmp_path: Path) -> None:
    shop = ShopBackend(tmp_path / "state")
    shop.deploy(image="web:1", message="good")
    shop.deploy(image="web:2", message="half rolled out", result="failed")
    shop.deploy(image="web:3", message="current")

    plan = invoke_json(cli("rollback", "prod", "--to", "previous", "--preview", "--json", "--backend", shop.url))

    assert plan["to_version"] == 1 and plan["target"]["message"] == "good"
    assert plan["skipped"] == [{"version": 3, "reason": "same as current"}, {"version": 2, "reason": "failed update"}]


def test_previous_skips_a_version_marked_bad_and_says_why(example: Path) -> None:
    mark = cli("mark", "prod", "2", "--bad", "--reason", "leaks memory", "--cwd", str(example))
    assert mark.exit_code == 0, mark.stderr

    plan = preview_json(example, "previous")

    assert plan["to_version"] == 1
    assert {"version": 2, "reason": "marked bad: leaks memory"} in plan["skipped"]


def test_previous_with_nothing_to_go_back_to_is_bad_input(tmp_path: Path) -> None:
    shop = ShopBackend(tmp_path / "state")
    shop.deploy(image="web:1")
    shop.deploy(image="web:1", kind="refresh")
    line = one_error_line(cli("rollback", "prod", "--to", "previous", "--preview", "--backend", shop.url))
    assert "no earlier succeeded update differs from the current state" in line


@pytest.mark.parametrize("spec", ["2", "v2", "V2"])
def test_a_version_by_number(example: Path, spec: str) -> None:
    plan = preview_json(example, spec)
    assert plan["to_version"] == 2 and plan["target"]["version"] == 2
    assert plan["skipped"] == []


def test_targeting_a_failed_version_by_number_warns_about_its_partial_state(example: Path) -> None:
    plan = preview_json(example, "4")
    assert plan["to_version"] == 4
    assert any("v4" in w and "failed" in w and "partial" in w for w in plan["warnings"])


def test_last_good_without_marks_is_a_clear_error(example: Path) -> None:
    line = one_error_line(preview(example, "last-good"))
    assert "no version is marked good" in line and "mark prod N --good" in line


def test_last_good_picks_the_newest_version_marked_good(example: Path) -> None:
    for version in ("1", "2"):
        assert cli("mark", "prod", version, "--good", "--cwd", str(example)).exit_code == 0
    plan = preview_json(example, "last-good")
    assert plan["to_version"] == 2 and plan["target"]["mark"] == "good"


@pytest.mark.parametrize("ref, version", [
    ("8b2e6d4", 2),      # v3 (a refresh from the same commit) is not an update
    ("c47d0e9", 5),      # v6 is a refresh, v4 failed: the newest succeeded update is v5
    ("C47D0E9B3A6F", 5),
    ("3f9a1c27e4b8d05a6c1e9f72b34d8a0e5c7b1f26", 1),
])
def test_git_ref_is_the_newest_succeeded_update_from_that_commit(example: Path, ref: str, version: int) -> None:
    plan = preview_json(example, f"git:{ref}")
    assert plan["to_version"] == version
    assert plan["target"]["git_head"].startswith(ref.lower())


@pytest.mark.parametrize("target, words", [
    ("git:0000000", ["no succeeded update", "0000000"]),
    ("git:main", ["git:main", "commit hash"]),
    ("yesterday", ["unknown target 'yesterday'", "previous"]),
    ("v", ["unknown target 'v'"]),
    ("9", ["no version 9", "1 to 6"]),
])
def test_targets_that_name_nothing_are_bad_input(example: Path, target: str, words: list[str]) -> None:
    line = one_error_line(preview(example, target))
    for word in words:
        assert word in line


# -- marks -------------------------------------------------------------------------------------
def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_mark_writes_beside_pulumi_and_history_shows_it(example: Path) -> None:
    backend = example / "backend"
    pulumi_before = _tree(backend / ".pulumi")

    result = cli("mark", "prod", "v5", "--bad", "--reason", "tags every ticket urgent", "--cwd", str(example),
                 "--json")

    assert invoke_json(result) == {"stack": "prod", "project": "omniserve", "version": 5, "mark": "bad",
                                   "reason": "tags every ticket urgent"}
    marks = backend / ".infra-rollback" / "omniserve" / "prod" / "marks.json"
    assert marks.is_file()
    stored = json.loads(marks.read_text())
    assert [m["mark"] for m in stored["marks"].values()] == ["bad"]
    assert _tree(backend / ".pulumi") == pulumi_before, "mark must not touch Pulumi's files"

    doc = history_json("prod", "--cwd", str(example))
    assert {v["version"]: v["mark"] for v in doc["versions"]} == {6: None, 5: "bad", 4: None, 3: None, 2: None,
                                                                  1: None}
    row = next(line for line in cli("history", "prod", "--cwd", str(example)).stdout.splitlines()
               if line.startswith(" v5 "))
    assert row.rstrip().endswith(f"bad: tags every ticket urgent ({doc['versions'][1]['mark_by']})")
    assert doc["versions"][1]["mark_reason"] == "tags every ticket urgent"


def test_mark_text_output_and_remarking(example: Path) -> None:
    first = cli("mark", "prod", "5", "--bad", "--cwd", str(example))
    assert first.exit_code == 0 and first.stdout.strip() == "marked prod v5 bad"
    second = cli("mark", "prod", "5", "--good", "--cwd", str(example))
    assert second.exit_code == 0
    doc = history_json("prod", "--cwd", str(example), "--limit", "2")
    assert doc["versions"][1]["mark"] == "good"


@pytest.mark.parametrize("args, words", [
    (["5"], ["exactly one of --good or --bad"]),
    (["5", "--good", "--bad"], ["exactly one of --good or --bad"]),
    (["latest", "--bad"], ["'latest'", "version number"]),
    (["7", "--bad"], ["no version 7", "1 to 6"]),
])
def test_mark_bad_input(example: Path, args: list[str], words: list[str]) -> None:
    line = one_error_line(cli("mark", "prod", *args, "--cwd", str(example)))
    for word in words:
        assert word in line
    assert not (example / "backend" / ".infra-rollback").exists()


def test_a_mark_or_record_that_cannot_be_read_is_said_not_dropped(example: Path) -> None:
    """A mark edited by hand into neither good nor bad counts as no mark, and history and the preview say so;
    an audit record that is not JSON is skipped with a warning naming it."""
    assert invoke_json(cli("mark", "prod", "v5", "--bad", "--json", "--cwd", str(example)))["mark"] == "bad"
    marks = example / "backend" / ".infra-rollback" / "omniserve" / "prod" / "marks.json"
    doc = json.loads(marks.read_text())
    (entry,) = doc["marks"].values()
    entry["mark"] = "bda"
    marks.write_text(json.dumps(doc))
    records = marks.parent / "records"
    records.mkdir()
    (records / "20251009T100000000Z-abc.json").write_text("{not json")

    history = history_json("prod", "--cwd", str(example))
    assert all(v["mark"] is None for v in history["versions"])
    assert any("the mark of v5 is 'bda', neither good nor bad: ignored" in w for w in history["warnings"])
    assert any(str(records / "20251009T100000000Z-abc.json") in w and "skipped" in w for w in history["warnings"])
    plan = preview_json(example, "previous")
    assert {s["version"]: s["reason"] for s in plan["skipped"]}[5] == "same as current"   # not "marked bad"
    assert any("'bda', neither good nor bad" in w for w in plan["warnings"])


# -- the table, as people read it (goldens read line by line) ------------------------------------------
GOLDEN = Path(__file__).resolve().parent / "golden"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"differs from {path} (UPDATE_GOLDEN=1 rewrites it)"


def test_example_history_table_matches_the_golden(example: Path) -> None:
    """`infra-rollback history prod` on examples/: a table with headers, the current version starred,
    who made each version, its git commit and image; empty columns (MARK, WHY) left out."""
    result = cli("history", "prod", "--cwd", str(example))
    assert result.exit_code == 0 and result.stderr == ""
    _golden("history_example.txt", result.stdout)


def test_an_incident_in_the_history_table(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Marks with their reason and author, and a rollback that died half way (its audit record still says
    in-progress and nobody holds the stack): INTERRUPTED, at the time it was decided."""
    monkeypatch.setenv("LOGNAME", "ana")
    assert cli("mark", "prod", "5", "--bad", "--reason", "tags every ticket urgent", "--cwd", str(example)).exit_code == 0
    assert cli("mark", "prod", "2", "--good", "--reason", "a week without incident", "--cwd",
               str(example)).exit_code == 0
    records = example / "backend" / ".infra-rollback" / "omniserve" / "prod" / "records"
    records.mkdir(parents=True)
    (records / "20261113T080000000Z-0a1b2c3d4e5f.json").write_text(json.dumps({
        "kind": "rollback", "id": "0a1b2c3d4e5f", "stack": "prod", "project": "omniserve", "from_version": 6,
        "to_version": 2, "reason": "tags every ticket urgent", "actor": {"user": "ben", "host": "laptop"},
        "decided_at": "2026-11-13T08:00:00.000Z", "outcome": "in-progress", "summary": {}, "timings": {},
        "notes": []}))
    result = cli("history", "prod", "--cwd", str(example))
    assert result.exit_code == 0, result.stderr
    _golden("history_incident.txt", result.stdout)
    doc = history_json("prod", "--cwd", str(example))
    (op,) = doc["operations"]
    assert (op["to_version"], op["by"], op["outcome"], op["state"]) == (2, "ben", "in-progress", "interrupted")
    # Someone holds the stack: the rollback may still be running, so it is not called interrupted.
    shop_lock = example / "backend" / ".pulumi" / "locks" / "organization" / "omniserve" / "prod"
    shop_lock.mkdir(parents=True)
    (shop_lock / "0b1c.json").write_text(json.dumps({"pid": 7, "username": "ben", "hostname": "laptop",
                                                     "timestamp": "2026-11-13T08:00:01Z"}))
    running = cli("history", "prod", "--cwd", str(example)).stdout.splitlines()[2]
    assert running.split()[:7] == ["-", "2026-11-13", "08:00", "UTC", "rollback", "to", "v2"]
    assert "IN PROGRESS" in running and "INTERRUPTED" not in running


def test_images_are_read_for_the_newest_versions_only(example: Path) -> None:
    from rollback.actions.context import Context
    from rollback.actions.history import History

    doc = History(ctx=Context(cwd=example, passphrase=lambda: EXAMPLE_PASSPHRASE), images=2).run("prod")
    assert [v["image"] for v in doc["versions"]] == ["bot:1.5.0", "bot:1.5.0", None, None, None, None]


def test_history_reads_the_audit_records_that_can_belong_to_the_versions_it_shows(example: Path) -> None:
    """A rollback's record is written after the version it rolled back from: with ``--limit 2`` (v6, v5) the
    record of the rollback that made v5 is read and shown on its row, and one from over an hour before v4 was
    written (an unreadable one here, which would be warned about if read) is not read at all."""
    import datetime as dt

    folder = example / "backend" / ".pulumi" / "history" / "omniserve" / "prod"
    ids = sorted(int(p.name.split("-")[1].split(".")[0]) for p in folder.glob("*.history.json"))
    v4_written = ids[3] / 1e9

    def stamp(seconds: float) -> str:
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y%m%dT%H%M%S000Z")

    records = example / "backend" / ".infra-rollback" / "omniserve" / "prod" / "records"
    records.mkdir(parents=True)
    decided = v4_written + 600
    (records / f"{stamp(decided)}-0a1b2c3d4e5f.json").write_text(json.dumps({
        "kind": "rollback", "id": "0a1b2c3d4e5f", "stack": "prod", "project": "omniserve", "from_version": 4,
        "to_version": 2, "reason": "tags every ticket urgent", "actor": {"user": "ben", "host": "laptop"},
        "decided_at": dt.datetime.fromtimestamp(decided, dt.timezone.utc).isoformat(), "outcome": "rolled-back",
        "new_version_key": str(ids[4]), "summary": {}, "timings": {}, "notes": []}))
    (records / f"{stamp(v4_written - 2 * 3600)}-ffffffffffff.json").write_text("{not json")

    doc = history_json("prod", "--cwd", str(example), "--limit", "2")
    v5 = doc["versions"][1]
    assert v5["version"] == 5 and v5["who"] == "ben"
    assert (v5["rollback"]["to_version"], v5["rollback"]["reason"]) == (2, "tags every ticket urgent")
    assert not [w for w in doc["warnings"] if "ffffffffffff" in w]
    every = history_json("prod", "--cwd", str(example), "--all")
    assert [w for w in every["warnings"] if "ffffffffffff" in w]
