"""A malformed marks file or audit record never breaks `history` (or a preview) for everyone.

Everyone who uses the backend reads the same ``.infra-rollback/`` files, and anyone can edit them by hand.
One that cannot be read is skipped with a warning naming it; the rest is shown. A marks file that cannot be
read at all is never overwritten by a `mark` (nothing lost): that is refused, naming it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rollback.actions.context import Context
from rollback.models import Mark
from tests.reliability.conftest import refused, run, snapshot
from tests.support.backends import ShopBackend


def ours(shop: ShopBackend) -> Path:
    return shop.root / ".infra-rollback" / "shop" / "prod"


def history(shop: ShopBackend) -> dict[str, Any]:
    result = run("history", "prod", "--json", "--backend", shop.url)
    assert result.code == 0 and result.stderr == "", (result.code, result.stderr)
    return json.loads(result.stdout)


def preview(shop: ShopBackend, target: str = "1") -> dict[str, Any]:
    result = run("rollback", "prod", "--to", target, "--preview", "--json", "--backend", shop.url)
    assert result.code == 0, (result.code, result.stderr)
    return json.loads(result.stdout)


def warned(doc: dict[str, Any], *fragments: str) -> str:
    found = [w for w in doc["warnings"] if all(f in w for f in fragments)]
    assert len(found) == 1, (fragments, doc["warnings"])
    assert "\n" not in found[0]
    return found[0]


def deep(depth: int) -> str:
    return '{"k":' * depth + '"leaf"' + "}" * depth


# -- marks.json ----------------------------------------------------------------------------------------
def write_marks(shop: ShopBackend, text: str) -> Path:
    path = ours(shop) / "marks.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def entry(mark: str, version: int, reason: str = "") -> dict[str, Any]:
    return {"mark": mark, "version": version, "reason": reason, "by": "someone", "at": "2025-10-09T10:00:00Z"}


@pytest.mark.parametrize("text, why", [
    ("{not json", "corrupt JSON"),
    ("[1, 2, 3]", "a JSON array, not an object"),
    ('"bad"', "a JSON string, not an object"),
    ("null", "a JSON null, not an object"),
    ('{"version": 1, "marks": ["v1"]}', "'marks' is a JSON array"),
    ('{"marks": ' + deep(5000) + "}", "nested more than"),
    ('{"marks": {"1": NaN}}', "NaN"),
], ids=["not-json", "array", "string", "null", "marks-array", "deep", "nan"])
def test_a_marks_file_that_cannot_be_read_is_a_warning_and_counts_as_no_marks(
        shop: ShopBackend, text: str, why: str) -> None:
    path = write_marks(shop, text)
    doc = history(shop)
    assert [v["mark"] for v in doc["versions"]] == [None, None]
    warned(doc, str(path), why, "no mark could be read")
    warned(preview(shop), str(path), why)


@pytest.mark.parametrize("text", ["{not json", "[1]", '{"marks": ' + deep(5000) + "}"], ids=["not-json", "array", "deep"])
def test_mark_refuses_to_overwrite_a_marks_file_it_cannot_read(shop: ShopBackend, text: str) -> None:
    path = write_marks(shop, text)
    before = snapshot(shop.root)
    refused(run("mark", "prod", "1", "--good", "--backend", shop.url), str(path))
    assert snapshot(shop.root) == before                        # the hand-edited file is kept as it was


def test_malformed_entries_are_skipped_with_a_warning_and_kept_by_the_next_mark(shop: ShopBackend) -> None:
    first, second = (str(n) for n in sorted(shop.nanos))
    marks = {second: entry("bad", 2, "tags every ticket urgent"),
             "²": entry("bad", 1),                                    # str.isdigit() says yes; no version id
             first: "bad",                                           # not an object
             "12345": entry("meh", 7)}                               # neither good nor bad
    path = write_marks(shop, json.dumps({"version": 1, "marks": marks}))
    doc = history(shop)
    assert {v["version"]: v["mark"] for v in doc["versions"]} == {2: "bad", 1: None}
    warned(doc, str(path), "'²'", "names no version")
    warned(doc, str(path), f"the mark of {first} is a JSON string, not an object")
    warned(doc, str(path), "the mark of v7 is 'meh', neither good nor bad")
    plan = preview(shop, "previous")
    assert plan["warnings"] and any("'²'" in w for w in plan["warnings"])

    # `deploy` asks for the versions marked bad: the malformed entries are no version at all.
    history_ = Context(backend_flag=shop.url).history("prod")
    assert [v.number for v in history_.marked(Mark.BAD)] == [2]

    # A new mark changes its own entry only: the others stay byte for byte as they were (nothing lost).
    assert run("mark", "prod", "1", "--good", "--backend", shop.url).code == 0
    stored = json.loads(path.read_text())["marks"]
    assert stored[first]["mark"] == "good"
    assert {k: v for k, v in stored.items() if k != first} == {k: v for k, v in marks.items() if k != first}


# -- audit records ---------------------------------------------------------------------------------------
def write_record(shop: ShopBackend, name: str, text: str) -> Path:
    path = ours(shop) / "records" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def good_record(shop: ShopBackend) -> dict[str, Any]:
    return {"kind": "rollback", "id": "a1", "stack": "prod", "project": "shop", "from_version": 1,
            "to_version": 1, "new_version": 2, "new_version_key": str(sorted(shop.nanos)[1]),
            "reason": "back to one", "actor": {"user": "sam"}, "outcome": "rolled-back",
            "decided_at": "2025-10-09T10:00:00.000Z", "time_to_recover_seconds": 42.0}


@pytest.mark.parametrize("text, why", [
    (deep(5000), "nested more than"),
    ("[]", "a JSON array, not an object"),
    ('"rolled back"', "a JSON string, not an object"),
    ("{trunc", "JSON"),
    ('{"kind": "rollback", "new_version_key": ["x"]}', "'new_version_key' is a JSON array"),
    ('{"kind": "rollback", "actor": "sam"}', "'actor' is a JSON string"),
    ('{"kind": "rollback", "actor": {"user": {"name": "sam"}}}', "'actor.user' is a JSON object"),
    ('{"kind": ["rollback"]}', "'kind' is a JSON array"),
    ('{"kind": "rollback", "to_version": true}', "'to_version' is a JSON boolean"),
], ids=["deep", "array", "string", "truncated", "key-array", "actor-string", "user-object", "kind-array", "bool"])
def test_one_bad_record_is_skipped_with_a_warning_naming_it(shop: ShopBackend, text: str, why: str) -> None:
    write_record(shop, "20251009T100000000Z-good.json", json.dumps(good_record(shop)))
    bad = write_record(shop, "20251009T110000000Z-bad.json", text)
    doc = history(shop)
    warned(doc, str(bad), "not readable as an audit record", why, "skipped")
    newest = doc["versions"][0]
    assert newest["rollback"] == {"kind": "rollback", "from_version": 1, "to_version": 1, "reason": "back to one", "by": "sam",
                                  "outcome": "rolled-back", "time_to_recover_seconds": 42.0}
    text_run = run("history", "prod", "--backend", shop.url)
    assert text_run.code == 0 and str(bad) in text_run.stdout
