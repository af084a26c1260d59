"""Injection into what people read and approve: markdown, terminals and one-line errors.

Update messages, mark reasons, lock owners, stack names and environment values are written by whoever
can write the backend. Shown in a CI job summary they must not become a heading ("Approved"), a link,
raw HTML or a table cell of their own; on a terminal they must not carry escape sequences; in an error
they must not start a second line. Markdown is checked by rendering it (markdown-it: CommonMark with
GitHub's tables and strikethrough), not by looking for characters.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from rollback.health.runner import GateResult
from rollback.safetext import md_code, md_text, one_line
from tests.reliability.conftest import refused, run
from tests.support.backends import ShopBackend

EVIL = ("ok\n## Approved by security\n<img src=x onerror=alert(1)> [click](https://evil.example) "
        "| cell | \x1b[2J\x1b[31mred\x1b[0m \x1b]8;;https://evil.example\x07link\x1b]8;;\x07 ```fence "
        "*bold* @octocat #12 $x^2$ ~~gone~~ &amp; \u202egnp.exe\r\nerror: forged")

MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
OUR_HEADINGS = {"What changes", "Resources", "A replay cannot restore", "Notes", "Engine plan"}


def tokens(markdown: str) -> list[Any]:
    out = []
    for token in MD.parse(markdown):
        out.append(token)
        out.extend(token.children or [])
    return out


def assert_inert(markdown: str) -> None:
    """Only the structure we write: our headings, no HTML, links, images or emphasis from the data."""
    found = tokens(markdown)
    kinds = {t.type for t in found}
    assert not kinds & {"html_inline", "link_open", "image", "s_open", "fence"}, kinds
    ours = {"<details><summary>Property changes</summary>", "</details>"}
    assert {t.content.strip() for t in found if t.type == "html_block"} <= ours
    headings = [found[i + 1].content for i, t in enumerate(found) if t.type == "heading_open"]
    assert headings[0].startswith(("Rollback preview", "Diff")) and set(headings[1:]) <= OUR_HEADINGS, headings
    for i, t in enumerate(found):
        if t.type == "tr_open":
            cells = 0
            for u in found[i + 1:]:
                if u.type == "tr_close":
                    break
                cells += u.type in ("td_open", "th_open")
            assert cells == 4
    assert "\x1b" not in markdown and "\u202e" not in markdown


def assert_clean_terminal_text(text: str) -> None:
    assert not any(unicodedata.category(c) in ("Cc", "Cf") and c != "\n" for c in text), repr(text)
    assert not any(line.startswith(("## Approved", "error: forged")) for line in text.splitlines())


# -- through the CLI -----------------------------------------------------------------------------------
def test_an_update_message_cannot_inject_markdown_or_escapes(tmp_path) -> None:
    shop = ShopBackend(tmp_path / "state")
    shop.deploy(image="web:1", message=EVIL)
    shop.deploy(image="web:2", message="two")
    md = run("rollback", "prod", "--to", "1", "--preview", "--markdown", "--backend", shop.url)
    assert md.code == 0, md.stderr
    assert_inert(md.stdout)
    target = next(line for line in md.stdout.splitlines() if line.startswith("**Target:**"))
    shown = "".join(t.content for t in tokens(target) if t.type == "text")
    assert one_line(EVIL).strip() in shown                   # the message is all there, as text
    for args in (["rollback", "prod", "--to", "1", "--preview"], ["history", "prod"]):
        text = run(*args, "--backend", shop.url)
        assert text.code == 0
        assert_clean_terminal_text(text.stdout)


def test_a_mark_reason_cannot_inject_markdown_or_escapes(shop: ShopBackend) -> None:
    marked = run("mark", "prod", "2", "--bad", "--reason", EVIL, "--backend", shop.url)
    assert marked.code == 0 and len(marked.stdout.splitlines()) == 1
    assert_clean_terminal_text(marked.stdout)
    assert json.loads(run("mark", "prod", "2", "--bad", "--reason", EVIL, "--json", "--backend",
                          shop.url).stdout)["reason"] == EVIL          # stored and --json as given
    for target in ("previous", "2"):      # skipped "marked bad: ...", or a warning "v2 is marked bad: ..."
        md = run("rollback", "prod", "--to", target, "--preview", "--markdown", "--backend", shop.url)
        assert md.code == 0, md.stderr
        assert_inert(md.stdout)
        assert "Approved by security" in md.stdout
        text = run("rollback", "prod", "--to", target, "--preview", "--backend", shop.url)
        assert_clean_terminal_text(text.stdout)


def test_a_lock_owner_cannot_break_the_one_line_error(shop: ShopBackend) -> None:
    shop.writer.write_lock(shop.project, shop.stack, pid=7, username="ana\x1b[2J\nerror: all good, proceed",
                           hostname="ci\r\n## Approved", timestamp=1_790_000_000)
    line = refused(run("rollback", "prod", "--to", "1", "--yes", "--backend", shop.url), "stack is locked by ana",
                   code=3)
    assert "all good, proceed" in line                       # shown, on the same line


def test_environment_values_cannot_inject_markdown_or_escapes(tmp_path) -> None:
    shop = ShopBackend(tmp_path / "state")
    shop.deploy(image="web:1", env={"MODE": EVIL})
    shop.deploy(image="web:2", env={"MODE": "prod"})
    md = run("rollback", "prod", "--to", "1", "--preview", "--markdown", "--backend", shop.url)
    assert md.code == 0, md.stderr
    assert_inert(md.stdout)
    assert "MODE" in md.stdout
    text = run("rollback", "prod", "--to", "1", "--preview", "--backend", shop.url)
    assert_clean_terminal_text(text.stdout)


@pytest.mark.parametrize("args", [
    ["history", "a\x1b[31mb\nerror: forged"],
    ["history", "--\x1b[2Jbogus"],
    ["history", "prod", "--backend", "ftp://x\x1b[2J\nerror: forged"],
])
def test_errors_quoting_what_the_user_typed_stay_one_clean_line(shop: ShopBackend, args: list[str]) -> None:
    if "--backend" not in args:
        args = [*args, "--backend", shop.url]
    refused(run(*args))


def test_a_gate_detail_from_a_service_is_one_clean_line() -> None:
    result = GateResult.unhealthy("HTTP 500 \x1b[2Jdown\nerror: forged")
    assert result.detail == "HTTP 500 down error: forged"


# -- the helpers, for any text --------------------------------------------------------------------------
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from(list("\x1b\x9b[]();\x07\\`|<>")),
               max_size=80)
MANY = settings(max_examples=400, deadline=None)


@MANY
@given(TEXT)
def test_one_line_leaves_no_control_character_and_is_stable(text: str) -> None:
    line = one_line(text)
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in line)
    assert one_line(line) == line
    if text.isascii() and text.isprintable():
        assert line == text


@MANY
@given(TEXT)
def test_md_text_renders_as_exactly_the_text(text: str) -> None:
    expected = one_line(text).strip(" \t")
    for doc, wrap in ((md_text(text), "paragraph_open"), ("- " + md_text(text), "list_item_open")):
        found = tokens(doc)
        if not expected.strip():
            continue
        assert found[0].type == ("bullet_list_open" if wrap == "list_item_open" else wrap), [t.type for t in found]
        inline = [t for t in found if t.type == "inline"]
        assert len(inline) == 1
        assert [c.type for c in inline[0].children] == ["text"], [c.type for c in inline[0].children]
        assert inline[0].children[0].content.strip() == expected.strip()


@MANY
@given(TEXT, TEXT)
def test_md_text_and_md_code_keep_a_table_row_to_its_cells(a: str, b: str) -> None:
    row = f"| {md_code(a, table=True)} | {md_text(b)} |"
    found = tokens("| x | y |\n|---|---|\n" + row + "\n")
    cells = [i for i, t in enumerate(found) if t.type == "td_open"]
    assert len(cells) == 2
    code = [c for c in found[cells[0] + 1].children if c.type == "code_inline"]
    assert len(code) == 1 and code[0].content.strip() == one_line(a).strip()
    assert "".join(c.content for c in found[cells[1] + 1].children).strip() == one_line(b).strip()


@MANY
@given(TEXT)
def test_md_code_cannot_be_closed_by_its_content(text: str) -> None:
    found = tokens(f"x {md_code(text)} y")
    inline = next(t for t in found if t.type == "inline")
    kinds = [c.type for c in inline.children]
    assert kinds == ["text", "code_inline", "text"], kinds
    if one_line(text).strip():
        assert inline.children[1].content.strip() == one_line(text).strip()
