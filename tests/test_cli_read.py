"""The read-only CLI contract: `diff`, which backend is read, and every kind of bad input.

Bad input exits 2 with ONE line on stderr, ``error: ...``, naming the file, stack, version or
setting concerned, and never a traceback. A missing passphrase is not an error for a preview: it
says which secrets it could not compare.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from rollback.cli import main
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


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    home = tmp_path / "pulumi-home"
    isolate_env(monkeypatch, home, passphrase=PASSPHRASE)
    return home


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", EXAMPLE_PASSPHRASE)
    return copy_example(tmp_path / "example")


@pytest.fixture
def shop(tmp_path: Path) -> ShopBackend:
    """shop/prod: v1 web:1 (tok-1), v2 web:2 (tok-2); the stack file is v2's checkpoint."""
    backend = ShopBackend(tmp_path / "state")
    backend.deploy(image="web:1", token="tok-1", message="one", git_head="1111111aaaa")
    backend.deploy(image="web:2", token="tok-2", message="two", git_head="2222222bbbb")
    return backend


def _urn_paths(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"urn": u["urn"], "path": u["path"]} for u in items]


def _props(doc: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {f"{c['urn'].rsplit('::', 1)[-1]}.{p['path']}": (p.get("before"), p.get("after"))
            for c in doc["changes"] for p in c["properties"]}


# -- diff ----------------------------------------------------------------------------------------
def test_diff_json_between_a_version_and_current(example: Path) -> None:
    doc = invoke_json(cli("diff", "prod", "--from", "2", "--to", "current", "--json", "--cwd", str(example)))

    assert {"stack", "project", "from_version", "to_version", "skipped", "changes", "summary",
            "warnings"} <= set(doc)
    assert (doc["stack"], doc["project"], doc["from_version"], doc["to_version"]) == ("prod", "omniserve", 2,
                                                                                       "current")
    props = _props(doc)
    assert props["omniserve.spec.template.spec.containers[0].image"] == ("ghcr.io/omniserve/bot:1.4.0",
                                                                           "ghcr.io/omniserve/bot:1.5.0")
    ops = {c["urn"].rsplit("::", 1)[-1] + " " + c["type"]: c["op"] for c in doc["changes"]}
    # from v2 to now, the sentiment model ConfigMap appeared
    assert ops["omniserve-sentiment-model kubernetes:core/v1:ConfigMap"] == "create"
    assert any("image ghcr.io/omniserve/bot:1.4.0 -> ghcr.io/omniserve/bot:1.5.0" in line
               for line in doc["summary"]["lines"])


def test_diff_the_other_way_and_between_two_numbered_versions(example: Path) -> None:
    back = invoke_json(cli("diff", "prod", "--from", "current", "--to", "v2", "--json", "--cwd", str(example)))
    assert (back["from_version"], back["to_version"]) == ("current", 2)
    assert _props(back)["omniserve.spec.template.spec.containers[0].image"][1] == "ghcr.io/omniserve/bot:1.4.0"

    same = invoke_json(cli("diff", "prod", "--from", "5", "--to", "6", "--json", "--cwd", str(example)))
    assert same["changes"] == []      # a refresh that only re-encrypted secrets changes nothing


def test_diff_text_and_markdown(example: Path) -> None:
    text = cli("diff", "prod", "--from", "2", "--to", "current", "--cwd", str(example))
    assert text.exit_code == 0, text.stderr
    assert text.stdout.startswith("diff omniserve/prod v2 (image 1.4.0) -> current (image 1.5.0): image, ")
    assert 'Deployment omniserve, container "bot": image ghcr.io/omniserve/bot:1.4.0 -> ghcr.io/omniserve/bot:1.5.0' \
        in text.stdout
    assert "| 3 replace, 3 update, 1 create" in text.stdout   # a forward diff creates; a rollback re-creates
    assert "re-create" not in text.stdout and "kubernetes:core/v1:ConfigMap  omniserve-sentiment-model" \
        not in text.stdout   # each resource is a detail (--verbose)
    verbose = cli("diff", "prod", "--from", "2", "--to", "current", "--verbose", "--cwd", str(example))
    assert "+  create    kubernetes:core/v1:ConfigMap  omniserve-sentiment-model" in verbose.stdout

    md = cli("diff", "prod", "--from", "2", "--to", "current", "--markdown", "--cwd", str(example))
    assert md.exit_code == 0, md.stderr
    assert md.stdout.startswith("## ") and "`omniserve/prod`" in md.stdout.splitlines()[0]
    assert "| op | type | name | details |" in md.stdout

    both = cli("diff", "prod", "--from", "2", "--to", "current", "--markdown", "--json", "--cwd", str(example))
    assert "--json and --markdown" in one_error_line(both)


def test_diff_summary_has_the_previews_configmap_and_secret_lines(example: Path) -> None:
    """The diff's summary is the preview's: ConfigMap keys (env via envFrom) and secrets, not only workloads."""
    lines = invoke_json(cli("diff", "prod", "--from", "2", "--to", "current", "--json", "--cwd",
                            str(example)))["summary"]["lines"]
    assert 'ConfigMap omniserve-config: LOG_LEVEL "info" -> "debug"' in lines
    assert "Secret omniserve-secrets: secret stringData changes (to its current value)" in lines
    back = invoke_json(cli("diff", "prod", "--from", "current", "--to", "2", "--json", "--cwd",
                           str(example)))["summary"]["lines"]
    assert "Secret omniserve-secrets: secret stringData changes (to its v2 value)" in back


@pytest.mark.parametrize("args, says", [
    (["rollback", "prod", "--to", "previous", "--yes", "--json", "--markdown"], "--json and --markdown"),
    (["rollback", "prod", "--to", "previous", "--yes", "--no-rehearse"], "--no-rehearse goes with --preview"),
    (["rollback", "prod", "--to", "previous", "--preview", "--write-config"], "--preview changes nothing"),
    (["diff", "prod", "--from", "1", "--to", "2", "--json", "--markdown"], "--json and --markdown"),
    (["mark", "prod", "2", "--good", "--bad"], "exactly one of --good or --bad"),
])
def test_conflicting_flags_are_rejected_before_any_work(tmp_path: Path, args: list[str], says: str) -> None:
    """Exit 2 with one line about the flags, before the backend (here: one that does not exist) is even opened."""
    line = one_error_line(cli(*args, "--backend", f"file://{tmp_path / 'no-such-backend'}"))
    assert says in line and "no-such-backend" not in line


def test_diff_does_not_call_an_old_version_current_nor_itself_a_rollback(example: Path) -> None:
    text = cli("diff", "prod", "--from", "2", "--to", "current", "--cwd", str(example))
    first = text.stdout.splitlines()[0]
    assert first.startswith("diff omniserve/prod v2 (image 1.4.0) -> current (image 1.5.0): ")
    assert first.endswith("2 secrets change | 3 replace, 3 update, 1 create")
    assert "revert" not in first and "apply" not in text.stdout
    md = cli("diff", "prod", "--from", "2", "--to", "current", "--markdown", "--cwd", str(example))
    first = md.stdout.splitlines()[0]
    assert first.startswith("## Diff: `omniserve/prod` v2") and "Rollback" not in first and "(current)" not in first
    assert "only in current" not in md.stdout and "re-created" not in md.stdout


def test_diff_of_an_unknown_version_names_the_range(example: Path) -> None:
    line = one_error_line(cli("diff", "prod", "--from", "0", "--to", "current", "--cwd", str(example)))
    assert "no version 0" in line and "1 to 6" in line


# -- which backend -------------------------------------------------------------------------------
def _labelled_backend(root: Path, label: str) -> ShopBackend:
    backend = ShopBackend(root)
    backend.deploy(image="web:1", message=f"written to {label}")
    return backend


def _read_from(args: list[str]) -> str:
    doc = invoke_json(cli("history", "prod", "--json", *args))
    return doc["versions"][0]["message"]


def test_backend_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _env: Path) -> None:
    flag = _labelled_backend(tmp_path / "flag", "flag")
    env = _labelled_backend(tmp_path / "env", "env")
    project = tmp_path / "project"
    _labelled_backend(project / "state", "Pulumi.yaml")
    login = _labelled_backend(tmp_path / "login", "login")
    (project / "Pulumi.yaml").write_text("name: shop\nruntime: python\nbackend:\n  url: file://./state\n")
    (_env / "credentials.json").write_text(json.dumps({"current": login.url, "accounts": {}}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)   # a relative file:// URL resolves against --cwd, not the process cwd
    monkeypatch.setenv("PULUMI_BACKEND_URL", env.url)

    assert _read_from(["--backend", flag.url, "--cwd", str(project)]) == "written to flag"
    assert _read_from(["--cwd", str(project)]) == "written to env"
    monkeypatch.delenv("PULUMI_BACKEND_URL")
    assert _read_from(["--cwd", str(project)]) == "written to Pulumi.yaml"
    doc = invoke_json(cli("history", "prod", "--json", "--cwd", str(project)))
    assert doc["backend"] == "file://./state"
    assert _read_from(["--cwd", str(elsewhere)]) == "written to login"


def test_no_backend_configured_means_pulumi_cloud_and_says_so(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    line = one_error_line(cli("history", "prod"))
    assert "Pulumi Cloud" in line and "https://api.pulumi.com" in line and "--backend" in line


def test_logged_in_to_pulumi_cloud_uses_it(tmp_path: Path, _env: Path) -> None:
    (_env / "credentials.json").write_text(json.dumps({"current": "https://api.pulumi.com"}))
    line = one_error_line(cli("history", "prod", "--cwd", str(tmp_path)))
    assert "https://api.pulumi.com" in line and "pulumi login" in line


@pytest.mark.parametrize("url", ["gs://bucket/state", "azblob://container/state"])
def test_other_blob_backends_are_refused(tmp_path: Path, url: str) -> None:
    line = one_error_line(cli("history", "prod", "--backend", url, "--cwd", str(tmp_path)))
    assert url in line and "not supported yet" in line


# -- bad input -----------------------------------------------------------------------------------
def test_missing_backend_directory(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    line = one_error_line(cli("history", "prod", "--backend", f"file://{missing}"))
    assert str(missing) in line and "does not exist" in line


def test_backend_directory_without_pulumi_state(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    line = one_error_line(cli("history", "prod", "--backend", f"file://{tmp_path / 'empty'}"))
    assert ".pulumi" in line and str(tmp_path / "empty") in line


def test_stack_not_found_lists_the_stacks_that_exist(example: Path) -> None:
    line = one_error_line(cli("history", "qa", "--cwd", str(example)))
    assert "'qa' not found" in line and "omniserve/prod" in line and "omniserve/staging" in line
    line = one_error_line(cli("rollback", "prod", "--to", "previous", "--preview", "--cwd", str(example),
                              "--project", "other"))
    assert "'prod' not found in project 'other'" in line


def test_empty_history(tmp_path: Path) -> None:
    backend = ShopBackend(tmp_path / "state")
    backend.stack_import(image="web:1")   # a stack file and no history at all

    doc = invoke_json(cli("history", "prod", "--json", "--backend", backend.url))
    assert doc["versions"] == [] and doc["current_version"] is None
    assert "(no history)" in cli("history", "prod", "--backend", backend.url).stdout

    line = one_error_line(cli("rollback", "prod", "--to", "previous", "--preview", "--backend", backend.url))
    assert "shop/prod" in line and "no history" in line


def test_version_out_of_range_says_the_range(shop: ShopBackend) -> None:
    line = one_error_line(cli("rollback", "prod", "--to", "3", "--preview", "--backend", shop.url))
    assert "no version 3" in line and "versions 1 to 2" in line


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt(path: Path) -> None:
    data = path.read_bytes()
    assert data.count(b'"latest":{') == 1
    path.write_bytes(data.replace(b'"latest":{', b'"latest":{,'))


@pytest.mark.parametrize("damage", [_truncate, _corrupt])
def test_damaged_stack_file_names_the_file(shop: ShopBackend, damage: Any) -> None:
    damage(shop.stack_file())
    for args in (["diff", "prod", "--from", "1", "--to", "current"], ["rollback", "prod", "--to", "1", "--preview"]):
        line = one_error_line(cli(*args, "--backend", shop.url))
        assert str(shop.stack_file()) in line and "JSON" in line


@pytest.mark.parametrize("damage", [_truncate, _corrupt])
def test_history_of_a_damaged_stack_file_lists_the_versions_and_says_no_version_is_current(
        shop: ShopBackend, damage: Any) -> None:
    """history does not parse the current state (it reads only what it shows): a damaged stack file matches
    no checkpoint, which history says; the commands that need the state refuse it (above)."""
    damage(shop.stack_file())
    result = cli("history", "prod", "--json", "--backend", shop.url)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [v["version"] for v in doc["versions"]] == [2, 1] and doc["current_version"] is None
    assert any("differs from the newest history checkpoint" in w for w in doc["warnings"])
    unreadable = [w for w in doc["warnings"] if "cannot be read" in w]   # where its end does not tell either
    assert all(str(shop.stack_file()) in w and "JSON" in w for w in unreadable)


@pytest.mark.parametrize("damage", [_truncate, _corrupt])
def test_damaged_history_checkpoint_names_the_file(shop: ShopBackend, damage: Any) -> None:
    checkpoint = shop.history_paths(1)[1]
    damage(checkpoint)
    for target in ("1", "previous"):
        line = one_error_line(cli("rollback", "prod", "--to", target, "--preview", "--backend", shop.url))
        assert str(checkpoint) in line and "JSON" in line


def test_damaged_gzip_checkpoint_names_the_file(tmp_path: Path) -> None:
    backend = ShopBackend(tmp_path / "state", compress="gzip")
    backend.deploy(image="web:1")
    backend.deploy(image="web:2")
    checkpoint = backend.history_paths(1)[1]
    _truncate(checkpoint)
    line = one_error_line(cli("rollback", "prod", "--to", "1", "--preview", "--backend", backend.url))
    assert str(checkpoint) in line and "truncated" in line   # gzip itself says so


def test_damaged_history_entry_is_skipped_with_a_warning_naming_the_file(shop: ShopBackend) -> None:
    """In an incident, one corrupt history entry must not take `history` down: the others are listed."""
    info = shop.history_paths(2)[0]
    _truncate(info)
    result = cli("history", "prod", "--backend", shop.url)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[2:] if not line.startswith("!")] == ["v1"]
    warning = next(line for line in lines if line.startswith("! "))
    assert warning.startswith("! v2 skipped: ") and str(info) in warning
    doc = invoke_json(cli("history", "prod", "--json", "--backend", shop.url))
    assert [v["version"] for v in doc["versions"]] == [1]
    assert any(str(info) in w for w in doc["warnings"])
    # A rollback needs the entries it reads: a preview that must read v2 still stops, naming the file.
    line = one_error_line(cli("rollback", "prod", "--to", "2", "--preview", "--backend", shop.url))
    assert str(info) in line


def test_unknown_v4_feature_names_the_file_and_the_feature(shop: ShopBackend) -> None:
    shop.deploy(image="web:3", version=4, features=["quantumEntanglement"])
    for args in (["diff", "prod", "--from", "1", "--to", "current"], ["rollback", "prod", "--to", "1", "--preview"]):
        line = one_error_line(cli(*args, "--backend", shop.url))
        assert str(shop.stack_file()) in line and "'quantumEntanglement'" in line


def test_known_v4_features_are_read(shop: ShopBackend) -> None:
    shop.deploy(image="web:3", version=4, features=["refreshBeforeUpdate", "taint"])
    plan = invoke_json(cli("rollback", "prod", "--to", "previous", "--preview", "--json", "--backend", shop.url))
    assert plan["to_version"] == 2


def test_wrong_passphrase(shop: ShopBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "not-the-passphrase")
    for args in (["rollback", "prod", "--to", "1", "--preview"], ["diff", "prod", "--from", "1", "--to", "current"]):
        line = one_error_line(cli(*args, "--backend", shop.url))
        assert "incorrect passphrase" in line and "PULUMI_CONFIG_PASSPHRASE" in line


def test_passphrase_file(shop: ShopBackend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    (tmp_path / "pass").write_text(PASSPHRASE + "\n")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(tmp_path / "pass"))
    plan = invoke_json(cli("rollback", "prod", "--to", "1", "--preview", "--json", "--backend", shop.url))
    assert plan["summary"]["uncompared_secrets"] == []
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(tmp_path / "missing"))
    line = one_error_line(cli("rollback", "prod", "--to", "1", "--preview", "--backend", shop.url))
    assert str(tmp_path / "missing") in line


def test_history_entry_without_its_checkpoint(shop: ShopBackend) -> None:
    info, checkpoint = shop.history_paths(1)
    checkpoint.unlink()

    doc = invoke_json(cli("history", "prod", "--json", "--backend", shop.url))
    assert [v["has_checkpoint"] for v in doc["versions"]] == [True, False]
    assert "succeeded (no checkpoint)" in cli("history", "prod", "--backend", shop.url).stdout

    for target in ("1", "v1"):
        line = one_error_line(cli("rollback", "prod", "--to", target, "--preview", "--backend", shop.url))
        assert "v1" in line and "no checkpoint file" in line and str(info) in line

    line = one_error_line(cli("rollback", "prod", "--to", "previous", "--preview", "--backend", shop.url))
    assert "no earlier succeeded update" in line


def test_no_debug_traceback_unless_asked(shop: ShopBackend, capsys: pytest.CaptureFixture[str]) -> None:
    """`main` (the console script) also exits 2 with one line; --debug adds the traceback."""
    with pytest.raises(SystemExit) as exc:
        main(["prod", "--to", "7", "--preview", "--backend", shop.url])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [err.strip()] and err.startswith("error: ") and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["--debug", "prod", "--to", "7", "--preview", "--backend", shop.url])
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("args, word", [(["history", "prod", "--limit", "0"], "--limit"),
                                        (["prod", "--preview", "--timeout", "soon"], "--timeout"),
                                        (["history", "prod", "--no-such-option"], "--no-such-option")])
def test_usage_errors_are_one_line_too(shop: ShopBackend, capsys: pytest.CaptureFixture[str], args: list[str],
                                       word: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*args, "--backend", shop.url])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.strip().splitlines() == [err.strip()] and err.startswith("error: ") and word in err, err


# -- degraded but readable -------------------------------------------------------------------------
def test_no_passphrase_preview_lists_the_secrets_it_could_not_compare(shop: ShopBackend,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    result = cli("rollback", "prod", "--to", "1", "--preview", "--json", "--backend", shop.url)
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert {"urn": shop.urn("kubernetes:core/v1:Secret", "web-secrets"), "path": "stringData"} in \
        _urn_paths(plan["summary"]["uncompared_secrets"])
    assert any("could not be compared" in w and "web-secrets" in w for w in plan["warnings"])
    text = cli("rollback", "prod", "--to", "1", "--preview", "--backend", shop.url)
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    # right under the verdict, whose counts say they are lower bounds
    assert lines[0].endswith("| 1+ update") and lines[2].startswith("  ! rehearsal skipped")
    assert lines[3] == ("  ! 1 secret could not be compared (no passphrase (set PULUMI_CONFIG_PASSPHRASE or "
                        "PULUMI_CONFIG_PASSPHRASE_FILE)): web-secrets stringData; the counts are lower bounds")


def test_no_passphrase_preview_without_rehearsal_lists_the_secrets_it_could_not_compare(
        shop: ShopBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    plan = invoke_json(cli("rollback", "prod", "--to", "1", "--preview", "--no-rehearse", "--json",
                           "--backend", shop.url))
    assert plan["to_version"] == 1
    assert plan["summary"]["uncompared_secrets"] == [{"urn": shop.urn("kubernetes:core/v1:Secret", "web-secrets"),
                                                      "path": "stringData", "reason": "no passphrase (set "
                                                      "PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE)"}]
    text = cli("rollback", "prod", "--to", "1", "--preview", "--no-rehearse", "--backend", shop.url)
    assert text.exit_code == 0, text.stderr
    assert "1 secret could not be compared (no passphrase" in text.stdout and ": web-secrets stringData;" in text.stdout


def test_no_passphrase_diff_lists_the_secrets_it_could_not_compare(shop: ShopBackend,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    doc = invoke_json(cli("diff", "prod", "--from", "1", "--to", "current", "--json", "--backend", shop.url))
    assert {"urn": shop.urn("kubernetes:core/v1:Secret", "web-secrets"), "path": "stringData"} in \
        _urn_paths(doc["summary"]["uncompared_secrets"])
    text = cli("diff", "prod", "--from", "1", "--to", "current", "--backend", shop.url)
    assert text.exit_code == 0, text.stderr
    assert "1 secret could not be compared (no passphrase" in text.stdout and ": web-secrets stringData;" in text.stdout


def test_pending_operations_are_a_warning_in_the_preview(tmp_path: Path) -> None:
    backend = ShopBackend(tmp_path / "state")
    backend.deploy(image="web:1")
    backend.deploy(image="web:2")
    job = backend.custom("kubernetes:batch/v1:Job", "migrate", {"kind": "Job"})
    dep = backend.build(image="web:3", pending_operations=[{"resource": job, "type": "creating"}])
    backend.deploy(result="failed", dep=dep)   # an interrupted update left a pending create

    plan = invoke_json(cli("rollback", "prod", "--to", "previous", "--preview", "--json", "--backend", backend.url))
    assert plan["to_version"] == 2
    assert any("pending operations" in w and "creating" in w and job["urn"] in w for w in plan["warnings"])

    text = cli("rollback", "prod", "--to", "previous", "--preview", "--backend", backend.url)
    assert text.exit_code == 0 and "pending operations" in text.stdout and job["urn"] in text.stdout
    history = invoke_json(cli("history", "prod", "--json", "--backend", backend.url))
    assert any("pending operation" in w for w in history["warnings"])


# -- goldens: the bundled example's preview, read line by line ---------------------------------------
GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.mark.parametrize("fmt, golden", [([], "preview_example.txt"), (["--verbose"], "preview_example_verbose.txt"),
                                         (["--markdown"], "preview_example.md")])
def test_example_preview_matches_the_golden(example: Path, fmt: list[str], golden: str) -> None:
    """`infra-rollback prod --to previous --preview` on examples/ (UPDATE_GOLDEN=1 rewrites the files)."""
    result = cli("rollback", "prod", "--to", "previous", "--preview", "--cwd", str(example), *fmt)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert str(example) not in result.stdout
    path = GOLDEN / golden
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == path.read_text(encoding="utf-8"), f"differs from {path} (UPDATE_GOLDEN=1 rewrites it)"


def test_the_example_preview_starts_and_ends_with_its_verdict(example: Path) -> None:
    """The answer first (and again last): where from and to, what changes, how many, what to type next."""
    lines = cli("rollback", "prod", "--preview", "--cwd", str(example)).stdout.splitlines()
    verdict = ["omniserve/prod v6 (image 1.5.0) -> v2 (image 1.4.0): image, memory 1Gi->512Mi, cpu 1->500m, "
               "4 env vars, 2 secrets revert | 1 delete, 3 replace, 3 update",
               "preview only, nothing changed | apply: infra-rollback prod --to v2"]
    assert lines[:2] == verdict and lines[-2:] == verdict
    assert lines.index("What changes") < 8                                  # the workloads come next
    assert not any(line.startswith(("Resources", "Provider plugins", "Rehearsal")) for line in lines)
    assert lines[-4].startswith("--verbose shows each of the 7 resources")
