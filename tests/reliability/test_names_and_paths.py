"""Names and paths: stack, project and organization names by Pulumi's rules before they touch a path;
file-system trouble (names too long, symbolic link loops) in one line; records stay inside the backend."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollback.errors import BadInput
from rollback.state import names
from rollback.state.store import FileStore
from tests.reliability.conftest import refused, run, snapshot
from tests.support.backends import ShopBackend


def outside(tmp_path: Path) -> set[str]:
    """Every path below tmp_path except the backend, the Pulumi home and pytest's own files."""
    return {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
            if not str(p.relative_to(tmp_path)).startswith(("state", "pulumi-home"))}


# -- names from the command line ---------------------------------------------------------------------
@pytest.mark.parametrize("project", ["../../../evil", "..", ".", "a/b", "", "x" * 101, "caf\u00e9", "sp ace",
                                     "a\x1b[31mb"])
def test_a_project_name_pulumi_would_refuse_is_refused_before_any_path(shop: ShopBackend, tmp_path: Path,
                                                                        project: str) -> None:
    before, others = snapshot(shop.root), outside(tmp_path)
    for args in (["history", "prod"], ["mark", "prod", "1", "--bad", "--reason", "x"],
                 ["rollback", "prod", "--to", "1", "--preview"], ["diff", "prod", "--from", "1", "--to", "2"]):
        refused(run(*args, "--project", project, "--backend", shop.url), "project name", "--project")
    assert snapshot(shop.root) == before and outside(tmp_path) == others


@pytest.mark.parametrize("stack, fragment", [
    ("../../x", "organization '..'"),
    ("../x", "project name '..'"),
    ("shop/..", "stack name '..'"),
    ("organization/../prod", "project name '..'"),
    ("organization/shop/../prod", "is not a stack name"),
    ("acme/shop/prod", "organization 'acme'"),
    ("shop/" + "p" * 101, "longer than 100"),
    ("pr od", "' '"),
    ("prod\n## Approved", "'\\n'"),
    ("", "it is empty"),
])
def test_a_stack_argument_pulumi_would_refuse_is_refused(shop: ShopBackend, stack: str, fragment: str) -> None:
    before = snapshot(shop.root)
    refused(run("history", stack, "--backend", shop.url), fragment)
    refused(run("mark", stack, "1", "--good", "--backend", shop.url))
    assert snapshot(shop.root) == before


def test_valid_names_in_every_form_still_work(shop: ShopBackend) -> None:
    for name in ("prod", "shop/prod", "organization/shop/prod"):
        assert run("history", name, "--backend", shop.url).code == 0
    assert run("history", "prod", "--project", "shop", "--backend", shop.url).code == 0


@pytest.mark.parametrize("stack, fragment", [("acme/../prod", "project name '..'"), ("a/shop/prod", "organization 'a'"),
                                             ("acme/shop/a:b", "stack name"), ("x" * 41 + "/shop/prod", "organization")])
def test_cloud_names_are_checked_before_the_pulumi_cli_is_asked(stack: str, fragment: str) -> None:
    refused(run("history", stack, "--backend", "https://api.pulumi.com"), fragment)
    refused(run("history", "prod", "--project", "../x", "--backend", "https://api.pulumi.com"), "--project")


def test_names_in_the_backend_listing_that_are_no_names_are_skipped(shop: ShopBackend) -> None:
    stacks = shop.pulumi / "stacks" / "shop"
    (stacks / "bad name.json").write_bytes(stacks.joinpath("prod.json").read_bytes())
    (stacks / "evil\x1b[2J.json").write_bytes(b"{}")
    (shop.pulumi / "stacks" / "no project").mkdir()
    (shop.pulumi / "stacks" / "no project" / "prod.json").write_bytes(b"{}")
    line = refused(run("history", "nope", "--backend", shop.url), "stack 'nope' not found")
    assert line.endswith("(stacks: shop/prod)")
    assert run("history", "prod", "--backend", shop.url).code == 0      # not "exists in several projects"


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=120))
def test_any_accepted_name_is_one_path_component_inside_its_folder(text: str) -> None:
    accepted = names.is_name(text)
    assert accepted == (re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", text) is not None and text not in (".", ".."))
    if accepted:
        root = os.path.join(os.sep, "backend", "stacks")
        assert os.path.dirname(os.path.normpath(os.path.join(root, text))) == root
        assert len((text + ".json.zst").encode()) <= 255
        assert names.check_stack(text) == text and names.check_project(text) == text
    else:
        with pytest.raises(BadInput) as err:
            names.check_stack(text)
        assert "\n" not in err.value.message and "\x1b" not in err.value.message


# -- the file system ---------------------------------------------------------------------------------
def test_a_backend_path_with_a_name_too_long_is_one_line(tmp_path: Path) -> None:
    long = tmp_path / ("d" * 300)
    refused(run("history", "prod", "--backend", f"file://{long}"), "cannot use this directory", "too long")
    refused(run("history", "prod", "--cwd", str(long)), "--cwd")


def test_a_store_key_with_a_name_too_long_is_one_line(shop: ShopBackend) -> None:
    store = FileStore(shop.root)
    for call in (lambda: store.read(".pulumi/" + "x" * 300), lambda: store.exists(".pulumi/" + "x" * 300),
                 lambda: store.write(".infra-rollback/" + "x" * 300, b"{}")):
        with pytest.raises(BadInput, match="file name too long"):
            call()


def loop(path: Path) -> None:
    """Make ``path`` a symbolic link loop (path -> path.loop -> path)."""
    other = path.with_name(path.name + ".loop")
    if path.exists() or path.is_symlink():
        path.unlink()
    os.symlink(other.name, path)
    os.symlink(path.name, other)


def test_a_stack_file_that_is_a_symlink_loop_is_one_line_naming_it(shop: ShopBackend) -> None:
    stack_file = shop.stack_file()
    loop(stack_file)
    refused(run("history", "prod", "--backend", shop.url), str(stack_file), "symbolic link loop")


def test_a_history_checkpoint_that_is_a_symlink_loop_is_one_line_naming_it(shop: ShopBackend) -> None:
    _, checkpoint = shop.history_paths(1)
    loop(checkpoint)
    refused(run("rollback", "prod", "--to", "1", "--preview", "--backend", shop.url), str(checkpoint),
            "symbolic link loop")


def test_a_pulumi_folder_that_is_a_symlink_loop_is_one_line(shop: ShopBackend, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shop.pulumi.rename(moved)
    loop(shop.pulumi)
    refused(run("history", "prod", "--backend", shop.url), str(shop.pulumi), "symbolic link loop")


# -- .infra-rollback stays inside the backend ---------------------------------------------------------
def test_an_infra_rollback_symlink_leading_outside_the_backend_is_refused(shop: ShopBackend, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, shop.root / ".infra-rollback")
    before = snapshot(shop.root)
    refused(run("mark", "prod", "1", "--bad", "--backend", shop.url), ".infra-rollback", "outside the backend")
    refused(run("history", "prod", "--backend", shop.url), "outside the backend")
    assert list(elsewhere.iterdir()) == [] and snapshot(shop.root) == before


def test_a_symlink_deeper_in_infra_rollback_leading_outside_is_refused(shop: ShopBackend, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (shop.root / ".infra-rollback").mkdir()
    os.symlink(elsewhere, shop.root / ".infra-rollback" / "shop")
    refused(run("mark", "prod", "1", "--good", "--backend", shop.url), "outside the backend")
    assert list(elsewhere.iterdir()) == []


def test_an_infra_rollback_symlink_inside_the_backend_is_fine(shop: ShopBackend) -> None:
    (shop.root / "records-here").mkdir()
    os.symlink("records-here", shop.root / ".infra-rollback")
    result = run("mark", "prod", "1", "--good", "--backend", shop.url)
    assert result.code == 0, result.stderr
    assert (shop.root / "records-here" / "shop" / "prod" / "marks.json").is_file()
