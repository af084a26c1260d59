"""Input the tool refuses with exit 2 and one line naming the file, stack, version or variable.

Each case writes the bad input into a real (temporary) DIY backend or project and drives the CLI; the
backend must be byte-identical afterwards. Where Pulumi itself reads the input (a 900-deep document)
the limit is ours and the message says so; everything else here Pulumi refuses too.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from rollback import render
from rollback.state.codec import MAX_DEPTH
from tests.reliability.conftest import refused, run, snapshot
from tests.support.backends import ShopBackend


def envelope(shop: ShopBackend) -> dict[str, Any]:
    return json.loads(shop.stack_file().read_bytes())


def write_state(shop: ShopBackend, doc: dict[str, Any] | str) -> Path:
    """Rewrite the current stack file (what `history` and every preview read first)."""
    path = shop.stack_file()
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def deployment_resource(doc: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in doc["checkpoint"]["latest"]["resources"] if r["type"] == "kubernetes:apps/v1:Deployment")


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


# -- JSON that Go reads differently or not at all --------------------------------------------------
@pytest.mark.parametrize("depth", [900, 5000])
def test_json_nested_deeper_than_our_limit_is_refused_naming_the_file(shop: ShopBackend, depth: int) -> None:
    doc = envelope(shop)
    deployment_resource(doc)["inputs"]["deep"] = "@DEEP@"
    deep = '{"k":' * depth + '"leaf"' + "}" * depth           # written as text: json.dumps would recurse
    path = write_state(shop, json.dumps(doc).replace('"@DEEP@"', deep))
    before = snapshot(shop.root)
    refused(run("diff", "prod", "--from", "1", "--to", "current", "--backend", shop.url), str(path),
            f"nested more than {MAX_DEPTH} levels deep")
    refused(run("rollback", "prod", "--to", "1", "--preview", "--backend", shop.url), str(path), "nested")
    assert snapshot(shop.root) == before


def test_a_deep_value_the_command_never_reads_does_not_stop_it(shop: ShopBackend) -> None:
    """history lists versions without parsing the current state; where the deep value is, only the
    commands that read it refuse it (a resource's values are checked as they are decoded)."""
    doc = envelope(shop)
    deployment_resource(doc)["inputs"]["deep"] = "@DEEP@"
    path = write_state(shop, json.dumps(doc).replace('"@DEEP@"', '{"k":' * 900 + '"leaf"' + "}" * 900))
    assert run("history", "prod", "--backend", shop.url).code == 0
    refused(run("diff", "prod", "--from", "1", "--to", "current", "--backend", shop.url), str(path), "nested")


def test_json_nested_just_under_the_limit_is_read_by_every_command(shop: ShopBackend) -> None:
    doc = envelope(shop)
    deployment_resource(doc)["inputs"]["deep"] = nested(MAX_DEPTH - 10)     # the envelope takes ~7 levels
    write_state(shop, doc)
    assert run("history", "prod", "--backend", shop.url).code == 0
    for fmt in ([], ["--json"], ["--markdown"]):
        result = run("diff", "prod", "--from", "1", "--to", "current", *fmt, "--backend", shop.url)
        assert result.code == 0, result.stderr
    preview = run("rollback", "prod", "--to", "1", "--preview", "--json", "--backend", shop.url)
    assert preview.code == 0, preview.stderr


def test_an_integer_over_4300_digits_is_refused(shop: ShopBackend) -> None:
    text = shop.stack_file().read_text()
    path = write_state(shop, text.replace('"replicas":2', '"replicas":' + "9" * 5000, 1))
    refused(run("diff", "prod", "--from", "1", "--to", "current", "--backend", shop.url), str(path),
            "more than 4300 digits")


@pytest.mark.parametrize("literal, word", [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "Infinity"),
                                           ("1e999", "too large")])
def test_nan_and_infinity_in_state_are_refused_as_go_refuses_them(shop: ShopBackend, literal: str, word: str) -> None:
    text = shop.stack_file().read_text()
    path = write_state(shop, text.replace('"replicas":2', f'"replicas":{literal}', 1))
    before = snapshot(shop.root)
    refused(run("diff", "prod", "--from", "1", "--to", "current", "--json", "--backend", shop.url), str(path), word)
    assert snapshot(shop.root) == before


def test_to_json_never_prints_bare_nan_or_infinity() -> None:
    data = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": {"d": (math.nan,)}}
    text = render.to_json(data)

    def strict(token: str) -> Any:
        raise AssertionError(f"bare {token} in --json output")

    assert json.loads(text, parse_constant=strict) == {"a": "NaN", "b": ["Infinity", "-Infinity", 1.5],
                                                       "c": {"d": ["NaN"]}}
    assert render.to_json({"x": 1.5}) == json.dumps({"x": 1.5}, indent=2)


@pytest.mark.parametrize("key, value", [("inputs", [1, 2]), ("inputs", "text"), ("outputs", 7)])
def test_inputs_or_outputs_that_are_not_objects_are_refused_naming_the_urn(shop: ShopBackend, key: str,
                                                                           value: Any) -> None:
    doc = envelope(shop)
    target = deployment_resource(doc)
    target[key] = value
    path = write_state(shop, doc)
    refused(run("rollback", "prod", "--to", "1", "--preview", "--backend", shop.url), str(path), target["urn"],
            f"'{key}' is not an object")


def test_a_string_field_of_another_type_is_refused(shop: ShopBackend) -> None:
    doc = envelope(shop)
    target = deployment_resource(doc)
    target["id"] = {"not": "a string"}
    path = write_state(shop, doc)
    refused(run("diff", "prod", "--from", "1", "--to", "current", "--backend", shop.url), str(path), target["urn"],
            "'id' is not a string")


def test_duplicate_urns_are_refused_as_pulumi_refuses_them(shop: ShopBackend) -> None:
    doc = envelope(shop)
    target = deployment_resource(doc)
    doc["checkpoint"]["latest"]["resources"].append(dict(target, id="another"))
    path = write_state(shop, doc)
    before = snapshot(shop.root)
    refused(run("rollback", "prod", "--to", "1", "--preview", "--backend", shop.url), str(path),
            f"duplicate resource {target['urn']}")
    refused(run("diff", "prod", "--from", "1", "--to", "current", "--backend", shop.url), "duplicate resource")
    assert snapshot(shop.root) == before


def test_a_duplicate_urn_pending_deletion_is_the_old_copy_of_a_replace_and_is_read(shop: ShopBackend) -> None:
    doc = envelope(shop)
    target = deployment_resource(doc)
    doc["checkpoint"]["latest"]["resources"].append(dict(target, id="old-copy", delete=True))
    write_state(shop, doc)
    preview = run("rollback", "prod", "--to", "1", "--preview", "--json", "--no-rehearse", "--backend", shop.url)
    assert preview.code == 0, preview.stderr
    assert "pending deletion" in " ".join(json.loads(preview.stdout)["warnings"])


# -- targets ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["²", "v²", "٣", "１", "v1²"])
def test_non_ascii_digits_are_not_a_version(shop: ShopBackend, target: str) -> None:
    before = snapshot(shop.root)
    refused(run("rollback", "prod", "--to", target, "--preview", "--backend", shop.url), "not a version number")
    refused(run("diff", "prod", "--from", target, "--to", "current", "--backend", shop.url))
    refused(run("mark", "prod", target, "--bad", "--backend", shop.url), "version number")
    assert snapshot(shop.root) == before


def test_a_version_number_too_long_to_be_one_is_refused(shop: ShopBackend) -> None:
    refused(run("rollback", "prod", "--to", "9" * 5000, "--preview", "--backend", shop.url), "not a version number")
    refused(run("mark", "prod", "v" + "9" * 30, "--good", "--backend", shop.url), "not a version number")
    refused(run("rollback", "prod", "--to", "99", "--preview", "--backend", shop.url), "no version 99")


# -- files people edit -------------------------------------------------------------------------------
def test_a_passphrase_file_that_is_not_utf8_is_refused_naming_it(shop: ShopBackend, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    phrase = tmp_path / "passphrase.txt"
    phrase.write_bytes(b"caf\xe9-latin-1\n")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(phrase))
    refused(run("rollback", "prod", "--to", "1", "--preview", "--backend", shop.url),
            f"PULUMI_CONFIG_PASSPHRASE_FILE {phrase}", "not UTF-8")


def test_a_passphrase_variable_with_undecodable_bytes_is_refused(shop: ShopBackend,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", b"caf\xe9".decode("utf-8", "surrogateescape"))
    refused(run("rollback", "prod", "--to", "1", "--preview", "--backend", shop.url),
            "PULUMI_CONFIG_PASSPHRASE is not UTF-8")


def test_a_pulumi_yaml_that_is_not_utf8_is_refused_naming_it(shop: ShopBackend, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_bytes(b"name: caf\xe9\nruntime: python\nbackend:\n  url: " + shop.url.encode())
    refused(run("history", "prod", "--cwd", str(project)), str(project / "Pulumi.yaml"), "not UTF-8")
    (project / "Pulumi.yaml").write_bytes(b"name: shop\nruntime: python\nversion: " + b"9" * 5000 + b"\n")
    refused(run("history", "prod", "--cwd", str(project)), str(project / "Pulumi.yaml"), "not readable as YAML")


LOCKS = {
    "not JSON": (b"{pid: 1", "malformed lock file (corrupt JSON"),
    "truncated": (b'{"pid": 1, "username": "a', "JSON at line 1"),
    "not an object": (b"[1, 2]", "not a JSON object"),
    "pid is text": (b'{"pid": "one", "username": "a", "hostname": "h", "timestamp": "2026-01-01T00:00:00Z"}',
                    "'pid' is not a whole number"),
    "username is a list": (b'{"pid": 1, "username": ["a"], "hostname": "h"}', "'username' is not a string"),
    "not UTF-8": (b'{"pid": 1, "username": "\xff"}', "not UTF-8"),
    "too deep": (b"[" * 3000 + b"]" * 3000, "nested"),
}


@pytest.mark.parametrize("case", sorted(LOCKS))
def test_a_malformed_lock_file_is_refused_naming_it(shop: ShopBackend, case: str) -> None:
    body, fragment = LOCKS[case]
    lock = shop.writer.lock_dir(shop.project, shop.stack) / "0b3c7b3e-2f6e-4c55-9d57-1c1d8d0b7f3a.json"
    lock.parent.mkdir(parents=True)
    lock.write_bytes(body)
    before = snapshot(shop.root)
    line = refused(run("rollback", "prod", "--to", "1", "--yes", "--backend", shop.url), str(lock), fragment)
    assert "pulumi cancel" in line
    assert snapshot(shop.root) == before


def test_a_well_formed_lock_still_refuses_the_rollback_as_a_guard(shop: ShopBackend) -> None:
    shop.writer.write_lock(shop.project, shop.stack, pid=42, username="ana", hostname="ci-1", timestamp=1_790_000_000)
    refused(run("rollback", "prod", "--to", "1", "--yes", "--backend", shop.url), "stack is locked by ana@ci-1 pid 42",
            code=3)


# -- meta.yaml -------------------------------------------------------------------------------------
META = {
    "version 2": (b"version: 2\n", "meta.yaml version 2 is not supported"),
    "version -1": (b"version: -1\n", "meta.yaml version -1 is not supported"),
    "no version": (b"other: 1\n", "corrupt store: no 'version'"),
    "empty": (b"", "corrupt store: no 'version'"),
    "version as text": (b"version: '1'\n", "not a whole number"),
    "version as float": (b"version: 1.5\n", "not a whole number"),
    "not YAML": (b"version: [1\n", "not valid YAML"),
    "not UTF-8": (b"version: 1 # \xff\n", "not UTF-8"),
    "version of 5000 digits": (b"version: " + b"9" * 5000 + b"\n", "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(META))
def test_meta_yaml_pulumi_refuses_is_refused_naming_it(shop: ShopBackend, case: str) -> None:
    body, fragment = META[case]
    meta = shop.pulumi / "meta.yaml"
    meta.write_bytes(body)
    before = snapshot(shop.root)
    refused(run("history", "prod", "--backend", shop.url), str(meta), fragment)
    assert snapshot(shop.root) == before


def test_meta_yaml_version_1_and_0_are_the_two_layouts(shop: ShopBackend, tmp_path: Path) -> None:
    (shop.pulumi / "meta.yaml").write_bytes(b"# written by pulumi\nversion: 1\n")
    assert run("history", "prod", "--backend", shop.url).code == 0
    legacy = ShopBackend(tmp_path / "legacy", layout="legacy")
    legacy.deploy(image="web:1")
    (legacy.pulumi / "meta.yaml").write_bytes(b"version: 0\n")
    assert run("history", "prod", "--backend", legacy.url).code == 0
