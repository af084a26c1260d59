"""Targets a person names on the command line: `git:REF` never picks a failed update, `--to N` on a version
marked bad says so (in every format)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import refused, run
from tests.support.backends import ShopBackend

A, B, C = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", "b" * 40, "c0ffee" + "0" * 34


@pytest.fixture
def releases(tmp_path: Path) -> ShopBackend:
    """v1 from commit A, v2 from B, v3 from A again (failed part-way), v4 from C (current)."""
    shop = ShopBackend(tmp_path / "state")
    shop.deploy(image="web:1", token="tok", git_head=A, message="release A")
    shop.deploy(image="web:2", token="tok", git_head=B, message="release B")
    shop.deploy(image="web:3", token="tok", git_head=A, result="failed", message="release A again, failed")
    shop.deploy(image="web:4", token="tok", git_head=C, message="release C")
    return shop


def preview(shop: ShopBackend, target: str, *fmt: str) -> Any:
    result = run("rollback", "prod", "--to", target, "--preview", *fmt, "--backend", shop.url)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout) if fmt == ("--json",) else result.stdout


@pytest.mark.parametrize("ref", [A[:7], A, A[:12].upper()])
def test_git_ref_whose_newest_update_failed_picks_the_last_one_that_succeeded(releases: ShopBackend, ref: str) -> None:
    doc = preview(releases, f"git:{ref}", "--json")
    assert doc["to_version"] == 1                      # not v3, the newest update from A, which failed
    assert doc["target"]["git_head"] == A and doc["target"]["result"] == "succeeded"


def test_git_ref_whose_only_update_failed_names_nothing(tmp_path: Path) -> None:
    shop = ShopBackend(tmp_path / "state")
    shop.deploy(image="web:1", token="tok", git_head=B)
    shop.deploy(image="web:2", token="tok", git_head=A, result="failed")
    shop.deploy(image="web:3", token="tok", git_head=C)
    refused(run("rollback", "prod", "--to", f"git:{A[:7]}", "--preview", "--backend", shop.url),
            f"no succeeded update was made from git commit {A[:7]}")


def test_a_version_marked_bad_named_by_number_is_warned_about_in_every_format(releases: ShopBackend) -> None:
    marked = run("mark", "prod", "2", "--bad", "--reason", "tags every ticket urgent", "--backend", releases.url)
    assert marked.code == 0, marked.stderr
    warning = "v2 is marked bad: tags every ticket urgent"
    for target in ("2", "v2"):
        doc = preview(releases, target, "--json")
        assert doc["to_version"] == 2 and warning in doc["warnings"]
    assert f"! {warning}" in preview(releases, "2")
    assert "marked bad" in preview(releases, "2", "--markdown")
    # and a version that is not marked carries no such warning
    assert not any("marked bad" in w for w in preview(releases, "1", "--json")["warnings"])
