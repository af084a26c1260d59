"""Pulumi Cloud backends, driven through the whole CLI against RECORDED Pulumi CLI output.

``RecordedPulumi`` (below) stands in for ``pulumi.automation.PulumiCommand``: it answers the commands
infra-rollback runs (``stack history --json --page-size N --page P``, ``stack export [--version N]
--show-secrets``, ``stack tag ls --json``, ``stack tag set|rm``, ``whoami --json``, ``org get-default``)
from ``tests/recordings/cloud/`` (see its README for how the recordings follow the CLI's formats) and
keeps every command it was asked to run, so the tests can count them. It is injected through the
documented seam ``rollback.state.cloud.use_pulumi_command`` (or ``CloudBackend(command=...)``): no
monkeypatching. The last test drives a real Pulumi CLI and Pulumi Cloud where both are available.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rollback.cli import _route, app
from rollback.errors import BadInput, StackNotFound
from rollback.history import StackHistory
from rollback.models import StackRef
from rollback.state.cloud import CloudBackend, use_pulumi_command
from rollback.state.open import open_backend

REC = Path(__file__).parent / "recordings" / "cloud"
URL = "https://api.pulumi.com"
FQ = "acme/omniserve/prod"
TOKENS = ("tok-live-3f9a61c2d8e04b7f", "tok-live-9b27e4d05a1c6f83")   # the plaintext secrets in the exports
SECRET_TEXTS = TOKENS + tuple(base64.b64encode(t.encode()).decode() for t in TOKENS)
TAG_NAME = re.compile(r"[a-zA-Z0-9-_.:]{1,40}")


def go_json(doc: Any) -> str:
    """What the CLI's ui.PrintJSON prints: 2-space indent, HTML characters not escaped, a final newline."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


class RecordedPulumi:
    """``PulumiCommand`` as the recordings say the Pulumi CLI behaves for stack ``acme/omniserve/prod``."""

    def __init__(self, *, stack: str = FQ, default_org: str = "org-get-default.txt", logged_in: bool = True,
                 in_progress: bool = False) -> None:
        from semver import VersionInfo

        self.version = VersionInfo.parse("3.196.0")
        self.stack = stack
        self.default_org = (REC / default_org).read_text()
        self.logged_in = logged_in
        self.history: list[dict[str, Any]] = json.loads((REC / "history.json").read_text())
        if in_progress:
            self.history = json.loads((REC / "history-v7-in-progress.json").read_text()) + self.history
        self.tags: dict[str, str] = json.loads((REC / "tags.json").read_text())
        self.calls: list[list[str]] = []
        self.envs: list[dict[str, str]] = []

    # -- what tests look at -------------------------------------------------------------------
    def exports(self) -> list[str | None]:
        """The versions exported, in order (None: the current state)."""
        out: list[str | None] = []
        for c in self.calls:
            if c[:2] == ["stack", "export"]:
                out.append(c[c.index("--version") + 1] if "--version" in c else None)
        return out

    def pages(self) -> list[tuple[int, int]]:
        return [(int(c[c.index("--page") + 1]), int(c[c.index("--page-size") + 1]))
                for c in self.calls if c[:2] == ["stack", "history"]]

    def tag_sets(self) -> list[tuple[str, str]]:
        return [(c[3], c[4]) for c in self.calls if c[:3] == ["stack", "tag", "set"]]

    # -- PulumiCommand ------------------------------------------------------------------------
    def run(self, args: list[str], cwd: str, additional_env: Mapping[str, str],
            on_output: Any = None, on_error: Any = None) -> Any:
        from pulumi.automation import CommandResult

        if "--non-interactive" not in args:   # as PulumiCommand.run does
            args.insert(0, "--non-interactive")
        argv = [a for a in args if a != "--non-interactive"]
        self.calls.append(argv)
        self.envs.append(dict(additional_env))
        assert os.path.isdir(cwd)
        words, flags = _split(argv)
        out = self._answer(words, flags)
        # PulumiCommand.run joins the output lines, each right-stripped.
        return CommandResult(stdout="\n".join(line.rstrip() for line in out.splitlines()), stderr="", code=0)

    def _fail(self, stderr: str) -> None:
        from pulumi.automation import CommandResult
        from pulumi.automation.errors import create_command_error

        raise create_command_error(CommandResult(stdout="", stderr=stderr.rstrip(), code=255))

    def _answer(self, words: list[str], flags: dict[str, str | bool]) -> str:
        if not self.logged_in:
            self._fail((REC / "stderr-not-logged-in.txt").read_text())
        if words == ["whoami"] and flags.get("--json"):
            return (REC / "whoami.json").read_text()
        if words == ["org", "get-default"]:
            return self.default_org
        stack = flags.get("--stack")
        assert words[:1] == ["stack"] and isinstance(stack, str), f"unrecorded command: {words} {flags}"
        if stack != self.stack:
            self._fail((REC / "stderr-no-such-stack.txt").read_text() % stack)
        if words == ["stack", "select"]:                  # only the Automation API's Stack.select asks this
            return ""
        if words == ["stack", "history"]:
            assert flags.get("--json") and "--page-size" in flags, "always --json and --page-size"
            assert "--show-secrets" not in flags, "secret config values must never be asked for"
            size, page = int(str(flags["--page-size"])), int(str(flags.get("--page", "1")))
            return go_json(self.history[(page - 1) * size: page * size])
        if words == ["stack", "export"]:
            assert flags.get("--show-secrets"), "exports are read with --show-secrets"
            version = flags.get("--version")
            path = REC / (f"export-v{version}.json" if version else "export-current.json")
            assert path.exists(), f"export of v{version} not recorded: infra-rollback should not need it"
            return path.read_text()
        if words == ["stack", "tag", "ls"] and flags.get("--json"):
            return go_json(dict(sorted(self.tags.items())))
        if words[:3] == ["stack", "tag", "set"] and len(words) == 5:
            name, value = words[3], words[4]
            if not TAG_NAME.fullmatch(name):
                self._fail("error: stack tag names may only contain alphanumerics, hyphens, underscores, "
                           "periods, or colons")
            if len(value.encode()) > 256:
                self._fail(f'error: stack tag "{name}" value is too long (max length 256 characters)')
            self.tags[name] = value
            return ""
        if words[:3] == ["stack", "tag", "rm"] and len(words) == 4:
            self.tags.pop(words[3], None)
            return ""
        raise AssertionError(f"unrecorded command: {words} {flags}")


_VALUED = {"--stack", "--page-size", "--page", "--version"}


def _split(argv: list[str]) -> tuple[list[str], dict[str, str | bool]]:
    words: list[str] = []
    flags: dict[str, str | bool] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in _VALUED:
            flags[a] = argv[i + 1]
            i += 2
            continue
        if a.startswith("--"):
            flags[a] = True
        else:
            words.append(a)
        i += 1
    return words, flags


# -- fixtures and helpers ---------------------------------------------------------------------------
@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory (Pulumi.yaml names the project) and an environment with no Pulumi settings."""
    for name in ("PULUMI_BACKEND_URL", "INFRA_ROLLBACK_RECORDS", "PULUMI_CONFIG_PASSPHRASE",
                 "PULUMI_CONFIG_PASSPHRASE_FILE", "CI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi-home"))
    root = tmp_path / "omniserve"
    root.mkdir()
    (root / "Pulumi.yaml").write_text("name: omniserve\nruntime: python\n")
    return root


@pytest.fixture
def fake() -> RecordedPulumi:
    return RecordedPulumi()


def cli(fake: RecordedPulumi | None, *args: str) -> Any:
    """Run the CLI (stdout and stderr apart); no output of any command may hold a plaintext secret."""
    runner = CliRunner()   # click >= 8.2 keeps stderr apart
    if fake is None:
        result = runner.invoke(app, _route(list(args)), catch_exceptions=False)
    else:
        with use_pulumi_command(fake):
            result = runner.invoke(app, _route(list(args)), catch_exceptions=False)
    for text in (result.stdout, result.stderr):
        for s in SECRET_TEXTS:
            assert s not in text, "a plaintext secret was printed"
    return result


def cloud(project: Path, *extra: str) -> list[str]:
    return ["--backend", URL, "--cwd", str(project), *extra]


def error_line(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# -- history --------------------------------------------------------------------------------------
def test_history_numbers_versions_as_pulumi_cloud_does(project: Path, fake: RecordedPulumi) -> None:
    result = cli(fake, "history", "prod", "--json", *cloud(project))
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["backend"], doc["project"], doc["stack"]) == (URL, "omniserve", "prod")
    assert [v["version"] for v in doc["versions"]] == [6, 5, 4, 3, 2, 1]
    assert [(v["kind"], v["result"]) for v in doc["versions"][:3]] == [
        ("refresh", "succeeded"), ("update", "succeeded"), ("update", "failed")]
    v3 = doc["versions"][3]
    assert v3["message"] == "release 1.4.0" and v3["git_head"].startswith("4f2a9b13")
    assert (v3["start_time"], v3["end_time"]) == (1759312925, 1759313022)   # 2025-10-01T10:02:05Z, 10:03:42Z
    assert v3["resource_changes"] == {"same": 3, "update": 2}
    assert doc["versions"][4]["mark"] == "good"          # from the stack tag infra-rollback.mark.v2
    assert doc["current_version"] == 6 and doc["warnings"] == []
    # One page of history (with an explicit page size), one export (the current state), one tag listing.
    assert fake.pages() == [(1, 20)]
    assert fake.exports() == [None]
    assert {tuple(c[:3]) for c in fake.calls} == {("org", "get-default"), ("stack", "history", "--json"),
                                                  ("stack", "tag", "ls"), ("stack", "export", "--show-secrets")}
    assert all(e.get("PULUMI_BACKEND_URL") == URL for e in fake.envs)


def test_history_limit_reads_only_the_first_page(project: Path) -> None:
    fake = RecordedPulumi()
    backend = CloudBackend(URL, command=fake, page_size=2)
    ref = backend.resolve_stack(FQ)
    history = StackHistory(backend, ref)
    assert history.count == 6 and [v.number for v in itertools.islice(history.newest_first(), 2)] == [6, 5]
    assert fake.pages() == [(1, 2)]
    assert history.version(1).message == "omniserve on kubernetes"
    assert fake.pages() == [(1, 2), (3, 2)]              # straight to the page holding v1
    assert fake.exports() == []


def test_pages_shifted_by_a_new_update_are_followed(fake: RecordedPulumi) -> None:
    backend = CloudBackend(URL, command=fake, page_size=2)
    history = StackHistory(backend, backend.resolve_stack(FQ))          # sees v6..v1
    fake.history = json.loads((REC / "history-v7-in-progress.json").read_text()) + fake.history   # v7 starts
    assert history.version(1).message == "omniserve on kubernetes"
    assert fake.pages() == [(1, 2), (3, 2), (4, 2)]   # page 3 now ends at v2: on to page 4


def test_version_metadata_from_the_cli_json(fake: RecordedPulumi) -> None:
    backend = CloudBackend(URL, command=fake)
    history = StackHistory(backend, backend.resolve_stack(FQ))
    v4 = history.version(4)
    assert (v4.kind, v4.result, v4.key, v4.has_checkpoint) == ("update", "failed", "4", True)
    assert v4.environment["ci.system"] == "GitHub" and v4.git_dirty is False
    # The CLI never shows a secret config value's ciphertext: an undecryptable placeholder stands in.
    assert v4.config == {"omniserve:apiToken": {"secure": "[secret]"}, "omniserve:image": "ghcr.io/omniserve/bot:1.5.0",
                         "omniserve:labels": {"team": "bots"}, "omniserve:replicas": "3",
                         "omniserve:sentimentThreshold": "0.3"}
    assert [c for c in fake.calls if c[0] == "org"] == []   # a fully qualified name needs no org lookup


def test_recordings_parse_with_the_automation_apis_own_readers(fake: RecordedPulumi, tmp_path: Path) -> None:
    """The recordings are in the shapes the Automation API itself reads (its UpdateSummary, export and
    tag parsers), and our reading of them agrees with its reading."""
    import datetime as dt

    from pulumi import automation as auto

    # The recordings do hold the plaintext secrets the no-leak checks look for.
    assert TOKENS[0] in (REC / "export-v3.json").read_text() and TOKENS[1] in (REC / "export-current.json").read_text()
    assert all(any(s in (REC / f).read_text() for f in ("export-v3.json", "export-v5.json")) for s in SECRET_TEXTS)
    ws = auto.LocalWorkspace(pulumi_command=fake, env_vars={"PULUMI_BACKEND_URL": URL}, work_dir=str(tmp_path))
    summaries = auto.Stack.select(FQ, ws).history(page_size=20, show_secrets=False)
    backend = CloudBackend(URL, command=fake)
    history = StackHistory(backend, backend.resolve_stack(FQ))
    assert [s.version for s in summaries] == [v.number for v in history.newest_first()] == [6, 5, 4, 3, 2, 1]
    for s in summaries:
        v = history.version(s.version)
        assert (s.kind, s.result, s.message) == (v.kind, v.result, v.message)
        assert s.start_time.replace(tzinfo=dt.timezone.utc).timestamp() == v.start_time
        assert dict(s.resource_changes or {}) == v.resource_changes
        assert s.config["omniserve:apiToken"].secret and s.config["omniserve:apiToken"].value == "[secret]"
    exported = ws.export_stack(FQ)
    assert exported.version == 3 and exported.deployment["secrets_providers"]["type"] == "service"
    assert history.current().stack == "" and len(history.current().resources) == 5
    assert ws.list_tags(FQ)["infra-rollback.mark.v2"] == "good"
    assert ws.who_am_i().user == "sam-reyes" and ws.org_get_default() == "acme"


# -- previews: only the checkpoints a decision needs ----------------------------------------------
def test_preview_previous_exports_only_what_it_needs(project: Path, fake: RecordedPulumi) -> None:
    result = cli(fake, "prod", "--to", "previous", "--preview", "--json", *cloud(project))
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["from_version"], doc["to_version"]) == (6, 3)
    assert doc["skipped"] == [{"version": 6, "reason": "a refresh"}, {"version": 5, "reason": "same as current"},
                              {"version": 4, "reason": "failed update"}]
    assert doc["target"]["message"] == "release 1.4.0"
    # The current state, v5 to compare with it, v3 the target: never v1, v2, v4, nor v6 (the current state).
    assert fake.exports() == [None, "5", "3"]
    assert fake.pages() == [(1, 20)]
    assert any("bot:1.5.0 -> ghcr.io/omniserve/bot:1.4.0" in line for line in doc["summary"]["lines"])
    secret_props = [p for c in doc["changes"] for p in c.get("properties", []) if p.get("secret")]
    assert secret_props and all(p["before"] == p["after"] == "[secret]" for p in secret_props)


def test_preview_text_never_shows_a_secret(project: Path, fake: RecordedPulumi) -> None:
    result = cli(fake, "prod", "--to", "3", "--preview", "--verbose", *cloud(project))
    assert result.exit_code == 0, result.stderr
    assert "[secret]" in result.stdout and "1.4.0" in result.stdout     # cli() checks no plaintext secret shows
    assert fake.exports() == [None, "3"]


# -- marks and records ----------------------------------------------------------------------------
def test_mark_lands_as_stack_tags_and_previous_honours_it(project: Path, fake: RecordedPulumi) -> None:
    result = cli(fake, "mark", "prod", "3", "--bad", "--reason", "-- tags every ticket urgent", "--json",
                 *cloud(project))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"stack": "prod", "project": "omniserve", "version": 3, "mark": "bad",
                                         "reason": "-- tags every ticket urgent"}
    # A value starting with '-' would be read as a flag by the CLI: it is sent with a leading space.
    assert fake.tag_sets() == [("infra-rollback.mark.v3", "bad"),
                               ("infra-rollback.reason.v3", " -- tags every ticket urgent")]
    assert fake.tags["infra-rollback.mark.v2"] == "good"          # other tags untouched
    assert fake.exports() == []                                    # marking reads no checkpoint

    again = RecordedPulumi()
    again.tags = dict(fake.tags)
    doc = json.loads(cli(again, "history", "prod", "--json", *cloud(project)).stdout)
    assert [(v["version"], v["mark"]) for v in doc["versions"] if v["mark"]] == [(3, "bad"), (2, "good")]
    doc = json.loads(cli(again, "prod", "--to", "previous", "--preview", "--json", *cloud(project)).stdout)
    assert doc["to_version"] == 2
    assert doc["skipped"][-1] == {"version": 3, "reason": "marked bad: -- tags every ticket urgent"}
    assert again.exports() == [None, None, "5", "2"]     # history's current export, then the preview's


def test_records_without_a_location_keep_a_summary_tag_and_say_so(project: Path, fake: RecordedPulumi) -> None:
    from rollback.actions.context import Context
    from rollback.actions.history import History
    from rollback.records import AuditRecord, Records

    warnings: list[str] = []
    backend = CloudBackend(URL, command=fake, warn=warnings.append)
    ref = backend.resolve_stack(FQ)
    # (as if the rollback from v5 to v3 had made v6)
    record = AuditRecord(kind="rollback", stack="prod", project="omniserve", from_version=5, to_version=3,
                         reason="tags every ticket urgent " * 20, actor={"user": "sam-reyes", "host": "laptop"},
                         decided_at="2025-10-09T10:00:00.000Z", outcome="rolled-back", new_version=6,
                         new_version_key="6", time_to_recover_seconds=75.3)
    Records(backend, ref).save(record)
    Records(backend, ref).save(record)          # the same operation, saved again with its outcome
    value = fake.tags["infra-rollback.last-rollback"]
    summary = json.loads(value)
    assert len(value.encode()) <= 256
    assert (summary["from"], summary["to"], summary["new"], summary["outcome"]) == (5, 3, 6, "rolled-back")
    assert summary["reason"].startswith("tags every ticket urgent") and summary["reason"].endswith("…")
    assert len(warnings) == 1 and "INFRA_ROLLBACK_RECORDS" in warnings[0] and "\n" not in warnings[0]
    [back] = Records(backend, ref).all()
    assert (back["from_version"], back["to_version"], back["new_version_key"]) == (5, 3, "6")
    assert back["summary_only"] is True

    # `history` shows the summary on the version the rollback made.
    with use_pulumi_command(fake):
        doc = History(ctx=Context(cwd=project, backend_flag=URL), limit=2).run("prod")
    assert [v["rollback"] and v["rollback"]["to_version"] for v in doc["versions"]] == [3, None]
    assert doc["versions"][0]["rollback"]["by"] == "sam-reyes"


def test_a_summary_tag_or_mark_tag_that_cannot_be_read_is_said_not_dropped(project: Path, fake: RecordedPulumi) -> None:
    """Stack tags are editable in the console: one that holds no summary, or a mark that is neither good nor
    bad, is reported in `history`'s warnings instead of vanishing."""
    fake.tags["infra-rollback.last-deploy"] = "deployed, probably"
    fake.tags["infra-rollback.mark.v4"] = "meh"
    doc = json.loads(cli(fake, "history", FQ, "--json", *cloud(project)).stdout)
    assert any("tag infra-rollback.last-deploy" in w and "skipped" in w for w in doc["warnings"])
    assert any("the mark of v4 is 'meh', neither good nor bad: ignored" in w for w in doc["warnings"])
    assert {v["version"]: v["mark"] for v in doc["versions"]}[4] is None


def test_records_go_to_the_chosen_location(project: Path, fake: RecordedPulumi, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from rollback.records import AuditRecord, Records

    records_dir = tmp_path / "audit"
    records_dir.mkdir()
    monkeypatch.setenv("INFRA_ROLLBACK_RECORDS", f"file://{records_dir}")
    with use_pulumi_command(fake):
        backend = open_backend(URL, project)
        assert isinstance(backend, CloudBackend)
        ref = backend.resolve_stack("omniserve/prod")
        record = AuditRecord(kind="rollback", stack="prod", project="omniserve", from_version=6, to_version=3,
                             reason="r", actor={"user": "sam-reyes"}, decided_at="2025-10-09T10:00:00.000Z")
        key = Records(backend, ref).save(record)
        assert [r["id"] for r in Records(backend, ref).all()] == [record.id]
    assert key.startswith(".infra-rollback/acme/omniserve/prod/records/")
    assert json.loads((records_dir / key).read_text())["to_version"] == 3
    assert not any(t.startswith("infra-rollback.last-") for t in fake.tags)

    with pytest.raises(BadInput, match="does not exist"):
        open_backend(URL, project, records_url=f"file://{tmp_path / 'missing'}")
    with pytest.raises(BadInput, match="file://DIR or s3://"):
        open_backend(URL, project, records_url="https://example.com/records")


# -- locks, stack names, errors -------------------------------------------------------------------
def test_an_update_in_progress_refuses_a_rollback(project: Path) -> None:
    fake = RecordedPulumi(in_progress=True)
    result = cli(fake, "prod", "--to", "previous", "--yes", *cloud(project))
    assert result.exit_code == 3, result.stderr
    line = error_line(result)
    assert "v7" in line and "in progress" in line and "pulumi cancel" in line
    assert fake.exports() == [None, "5", "3"]            # v7 (in progress) is the current state: one export


@pytest.mark.parametrize("name, default_org, project_flag, fq, org_calls", [
    ("acme/omniserve/prod", "org-get-default.txt", None, FQ, []),
    ("omniserve/prod", "org-get-default.txt", None, FQ, [["org", "get-default"]]),
    ("prod", "org-get-default.txt", "omniserve", FQ, [["org", "get-default"]]),
    ("omniserve/prod", "org-get-default-none.txt", None, "sam-reyes/omniserve/prod",
     [["org", "get-default"], ["whoami", "--json"]]),
])
def test_stack_names(name: str, default_org: str, project_flag: str | None, fq: str,
                     org_calls: list[list[str]]) -> None:
    fake = RecordedPulumi(default_org=default_org, stack=fq)
    backend = CloudBackend(URL, command=fake)
    ref = backend.resolve_stack(name, project_flag)
    assert ref == StackRef("omniserve", "prod") and backend.qualified_name(ref) == fq
    assert backend.records_prefix(ref) == f".infra-rollback/{fq}"
    assert [c for c in fake.calls if c[0] in ("org", "whoami")] == org_calls


def test_a_bare_stack_name_needs_a_project(tmp_path: Path, fake: RecordedPulumi) -> None:
    backend = CloudBackend(URL, command=fake, project_dir=tmp_path)
    with pytest.raises(BadInput, match="which project"):
        backend.resolve_stack("prod")
    with pytest.raises(BadInput, match="not a stack name"):
        backend.resolve_stack("a/b/c/d")


def test_unknown_stack_is_bad_input(project: Path, fake: RecordedPulumi) -> None:
    result = cli(fake, "history", "acme/omniserve/nope", *cloud(project))
    assert result.exit_code == 2
    assert "acme/omniserve/nope" in error_line(result) and "not found" in error_line(result)
    with pytest.raises(StackNotFound):
        backend = CloudBackend(URL, command=fake)
        StackHistory(backend, backend.resolve_stack("acme/omniserve/nope"))


def test_not_logged_in_is_one_line(project: Path) -> None:
    result = cli(RecordedPulumi(logged_in=False), "history", "acme/omniserve/prod", *cloud(project))
    assert result.exit_code == 2
    line = error_line(result)
    assert URL in line and "PULUMI_ACCESS_TOKEN must be set" in line


def test_without_a_cli_says_how_to_install_it(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(project))       # no pulumi here
    result = cli(None, "prod", "--to", "previous", "--preview", *cloud(project))
    assert result.exit_code == 1
    line = error_line(result)
    assert "https://www.pulumi.com/docs/install/" in line and "file:// and s3://" in line and URL in line
    assert "`--preview` works without it" not in line


@pytest.mark.parametrize("origin_env", ["PULUMI_BACKEND_URL", None])
def test_cloud_urls_open_a_cloud_backend(project: Path, monkeypatch: pytest.MonkeyPatch,
                                         origin_env: str | None) -> None:
    from rollback.config import choose_backend

    env = {"PULUMI_HOME": str(project.parent / "pulumi-home")}            # not logged in anywhere
    if origin_env:
        env[origin_env] = "https://pulumi.example.internal"           # a self-hosted Pulumi Service
    choice = choose_backend(None, project, env)
    backend = open_backend(choice.url, project, origin=choice.origin, environ=env)
    assert isinstance(backend, CloudBackend)
    assert (backend.url, backend.origin) == (("https://pulumi.example.internal", origin_env) if origin_env
                                             else (URL, "default"))


def test_tag_values_fit_the_service_limits(fake: RecordedPulumi) -> None:
    backend = CloudBackend(URL, command=fake)
    history = StackHistory(backend, backend.resolve_stack(FQ))
    from rollback.models import Mark

    history.marks.set(5, Mark.BAD, version=5, reason="é" * 300, by="sam", at="now")
    assert len(fake.tags["infra-rollback.reason.v5"].encode()) <= 256
    assert fake.tags["infra-rollback.mark.v5"] == "bad"
    assert history.marks.get(5)[0] is Mark.BAD


# -- the real thing -------------------------------------------------------------------------------
@pytest.mark.engine
def test_real_pulumi_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two updates of a throwaway Cloud stack (a secret output), then history, diff and mark through our CLI."""
    if not os.environ.get("PULUMI_ACCESS_TOKEN"):
        pytest.skip("needs PULUMI_ACCESS_TOKEN (a Pulumi Cloud login) to create a throwaway stack")
    import pulumi
    from pulumi import automation as auto

    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.delenv("INFRA_ROLLBACK_RECORDS", raising=False)
    url = os.environ.get("INFRA_ROLLBACK_TEST_CLOUD_URL", URL)
    project_name = "infra-rollback-it"
    secret_value = f"it-secret-{uuid.uuid4().hex}"

    def program() -> None:
        cfg = pulumi.Config()
        pulumi.export("release", cfg.require("release"))
        pulumi.export("token", pulumi.Output.secret(secret_value))

    opts = auto.LocalWorkspaceOptions(env_vars={"PULUMI_BACKEND_URL": url},
                                      project_settings=auto.ProjectSettings(name=project_name, runtime="python"))
    org = auto.LocalWorkspace(env_vars={"PULUMI_BACKEND_URL": url}).who_am_i().user
    fq = f"{org}/{project_name}/t{uuid.uuid4().hex[:10]}"
    stack = auto.create_stack(fq, project_name=project_name, program=program, opts=opts)
    try:
        for release in ("1", "2"):
            stack.set_config("release", auto.ConfigValue(release))
            stack.up(message=f"release {release}")
        cloud_versions = [u.version for u in stack.history(page_size=10, show_secrets=False)]
        (tmp_path / "Pulumi.yaml").write_text(f"name: {project_name}\nruntime: python\n")
        args = ["--backend", url, "--cwd", str(tmp_path)]

        def run(*a: str) -> Any:
            result = CliRunner().invoke(app, _route([*a, *args]), catch_exceptions=False)
            assert secret_value not in result.output
            return result

        doc = json.loads(run("history", fq, "--json").stdout)
        assert [v["version"] for v in doc["versions"]] == cloud_versions
        newest, oldest = cloud_versions[0], cloud_versions[-1]
        assert doc["current_version"] == newest
        assert run("diff", fq, "--from", str(oldest), "--to", "current", "--json").exit_code == 0
        preview = run(fq, "--to", str(oldest), "--preview", "--json")
        assert preview.exit_code == 0 and json.loads(preview.stdout)["to_version"] == oldest
        assert run("mark", fq, str(oldest), "--good").exit_code == 0
        assert stack.workspace.list_tags(fq)[f"infra-rollback.mark.v{oldest}"] == "good"
    finally:
        stack.destroy()
        stack.workspace.remove_stack(fq)

