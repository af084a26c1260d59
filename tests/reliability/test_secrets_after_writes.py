"""No secret plaintext in anything the writing commands print or store.

tests/test_secrets_never_printed.py scans the reading commands. Here the commands that change things run
for real on the engine test double, through the command line: two guarded deploys (the second unhealthy,
rolled back automatically), `verify`, `mark`, two rollbacks (one to a version marked bad, whose secrets
differ from the current ones), then the reading commands. Canary secrets sit in the stack config (the API
token, a different one per release, and a health gate's secure header, which the gate must really send),
and so in the state. stdout and stderr of every command, and every file under ``.infra-rollback/`` (audit
records, marks), must hold none of them, nor any other plaintext found under a secret in the state. The
last test proves the scan fails when a plaintext does reach an audit record.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rollback.state.backend import FolderSideStore
from tests.health.stub_server import ScriptedServer
from tests.reliability.conftest import Run, run
from tests.reliability.story import HEALTHY, METRICS, PASS, project, set_image
from tests.support.backends import isolate_env
from tests.support.engine_cli import use_engine
from tests.support.fake_engine import FakeEngine
from tests.test_secrets_never_printed import secret_plaintexts

TOKEN_1 = "CANARY-api-token-release-1-q8Zr2vXc"
TOKEN_2 = "CANARY-api-token-release-2-Wm4TxLp9"
HEADER = "CANARY-gate-header-key-7Hk3PdJ6"
UNHEALTHY = (200, {"tags": {"urgent_escalation_share": 0.93}})


class GateFollowsTheRelease:
    """The engine double; what the health endpoint answers follows what was applied: a rollback makes it
    healthy, a deploy makes it what ``next_deploy`` says."""

    def __init__(self, engine: FakeEngine, gate: ScriptedServer) -> None:
        self.engine, self.gate, self.calls = engine, gate, engine.calls
        self.next_deploy: tuple[Any, ...] = HEALTHY

    def open(self, spec: Any, program: Any) -> Any:
        stack, outer = self.engine.open(spec, program), self

        class Stack:
            preview = staticmethod(stack.preview)

            def up(self, **kw: Any) -> dict[str, int]:
                out = stack.up(**kw)
                rollback = kw.get("message", "").startswith("infra-rollback: roll back")
                outer.gate.script(METRICS, HEALTHY if rollback else outer.next_deploy)
                return out

        return Stack()


@dataclass
class Story:
    root: Path
    gate: ScriptedServer
    runs: list[tuple[list[str], Run]] = field(default_factory=list)

    @property
    def ours(self) -> Path:
        return self.root / "state" / ".infra-rollback"

    def canaries(self) -> set[str]:
        return {TOKEN_1, TOKEN_2, HEADER} | secret_plaintexts(self.root / "state", PASS)


def cli(story: Story, *args: str, code: int = 0) -> Run:
    result = run(*args, "--cwd", str(story.root))
    story.runs.append((list(args), result))
    assert result.code == code, (args, result.code, result.stderr)
    return result


def set_token(root: Path, plaintext: str) -> None:
    import yaml

    from tests.reliability.story import encrypt

    path = root / "stacks" / "Pulumi.prod.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["omniserve:apiToken"] = encrypt(path, plaintext)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    gate = ScriptedServer().start()
    gate.script(METRICS, HEALTHY)
    base = tmp_path_factory.mktemp("secrets-story")
    with pytest.MonkeyPatch.context() as mp:
        isolate_env(mp, base / "pulumi-home", passphrase=PASS)
        for name in ("INFRA_ROLLBACK_RECORDS", "INFRA_ROLLBACK_MAX_STATE_SIZE", "INFRA_ROLLBACK_MAX_COMPRESSION_RATIO"):
            mp.delenv(name, raising=False)
        root = project(base / "project", gate.base_url, secrets={"omniserve:apiToken": TOKEN_1}, header_secret=HEADER)
        s = Story(root, gate)
        engine = use_engine(mp, GateFollowsTheRelease(FakeEngine(root / "state", PASS), gate))

        cli(s, "deploy", "prod", "--yes", "--json")                                   # v1, healthy: good
        set_token(root, TOKEN_2)
        set_image(root, "ghcr.io/omniserve/bot:1.5.0")
        engine.next_deploy = UNHEALTHY
        cli(s, "deploy", "prod", "--yes", "--auto-rollback", code=1)                  # v2 bad, back to v1 as v3
        cli(s, "verify", "prod")
        cli(s, "verify", "prod", "--json")
        cli(s, "mark", "prod", "3", "--good", "--reason", "after the incident")
        cli(s, "prod", "--to", "2", "--yes", "--write-config")                        # to the bad one: v4
        cli(s, "prod", "--to", "1", "--yes", "--json", "--write-config")              # and back: v5
        for fmt in (("--verbose",), ("--json",), ("--markdown",)):   # every resource and property shown
            cli(s, "prod", "--to", "2", "--preview", *fmt)
            cli(s, "diff", "prod", "--from", "2", "--to", "current", *fmt)
        cli(s, "history", "prod")
        cli(s, "history", "prod", "--json")
        yield s
    gate.stop()


def leaks(text: str, canaries: set[str]) -> list[str]:
    return sorted(c for c in canaries if c in text)


def leaks_in_files(folder: Path, canaries: set[str]) -> dict[str, list[str]]:
    """Every file below ``folder`` that holds a canary, with the canaries it holds."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            hits = leaks(path.read_bytes().decode("utf-8", "replace"), canaries)
            if hits:
                found[str(path)] = hits
    return found


def test_the_story_ran_as_told(story: Story) -> None:
    """Guards the guard: the commands did what the scan assumes (records, marks, a gate sent its secret)."""
    canaries = story.canaries()
    assert {TOKEN_1, TOKEN_2, HEADER} <= canaries and len(canaries) > 3      # secrets in the state too
    history = json.loads(story.runs[-1][1].stdout)
    assert [v["version"] for v in history["versions"]] == [5, 4, 3, 2, 1]
    marks = {v["version"]: v["mark"] for v in history["versions"]}
    assert marks[1] == "good" and marks[2] == "bad" and marks[3] == "good"
    assert history["versions"][0]["rollback"]["to_version"] == 1
    records = sorted((story.ours / "omniserve" / "prod" / "records").glob("*.json"))
    kinds = sorted(json.loads(p.read_text())["kind"] for p in records)
    assert kinds == ["deploy", "deploy", "rollback", "rollback", "rollback"]
    assert (story.ours / "omniserve" / "prod" / "marks.json").is_file()
    sent = [h.get("x-api-key") for path, h in story.gate.requests if path == METRICS]
    assert HEADER in sent                                   # the secure header was decrypted and sent
    previews = [r.stdout for args, r in story.runs if "--preview" in args]
    assert all("[secret]" in out for out in previews)      # the token differs between v2 and now: shown hidden
    written = [r.stdout + r.stderr for args, r in story.runs if "--write-config" in args]
    assert "already holds v2's config" in written[0]                  # the file still held the bad release
    assert "wrote v1's config (~ omniserve:apiToken [secret]; ~ omniserve:image)" in written[1]


def test_no_command_printed_a_secret(story: Story) -> None:
    canaries = story.canaries()
    for args, result in story.runs:
        for name, stream in (("stdout", result.stdout), ("stderr", result.stderr)):
            assert not leaks(stream, canaries), f"`{' '.join(args)}` printed {leaks(stream, canaries)} on {name}"


def test_no_file_under_infra_rollback_holds_a_secret(story: Story) -> None:
    files = [p for p in story.ours.rglob("*") if p.is_file()]
    assert len(files) >= 6
    assert leaks_in_files(story.ours, story.canaries()) == {}


def test_the_stack_config_written_back_holds_ciphertexts_only(story: Story) -> None:
    """--write-config copied each version's secure values as recorded: never decrypted into the file."""
    import yaml

    path = story.root / "stacks" / "Pulumi.prod.yaml"
    assert leaks_in_files(path.parent, story.canaries()) == {}
    token = yaml.safe_load(path.read_text())["config"]["omniserve:apiToken"]
    assert set(token) == {"secure"} and token["secure"].startswith("v1:")


def test_the_scan_finds_a_plaintext_that_reaches_an_audit_record(story: Story, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """One more rollback on a copy of the story, with a fault put into the record writer: a plaintext is
    added to the record on its way to the store. The file scan names that record."""
    root = tmp_path / "project"
    shutil.copytree(story.root, root)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASS)
    later = FakeEngine(root / "state", PASS, now=1_900_000_000)     # its clock past the story's updates
    use_engine(monkeypatch, GateFollowsTheRelease(later, story.gate))
    real = FolderSideStore.write_record

    def leaky(self: FolderSideStore, name: str, data: bytes) -> str:
        record = json.loads(data)
        record["notes"].append(f"debug: token was {TOKEN_2}")
        return real(self, name, json.dumps(record).encode())

    monkeypatch.setattr(FolderSideStore, "write_record", leaky)
    result = run("prod", "--to", "2", "--yes", "--json", "--cwd", str(root))
    assert result.code == 0, result.stderr
    assert not leaks(result.stdout + result.stderr, story.canaries())      # printed clean: only the file leaks
    found = leaks_in_files(root / "state" / ".infra-rollback", story.canaries())
    assert list(found.values()) == [[TOKEN_2]]
    (path,) = found
    assert "/records/" in path and json.loads(Path(path).read_text())["kind"] == "rollback"
    with pytest.raises(AssertionError):
        test_no_file_under_infra_rollback_holds_a_secret(Story(root, story.gate))
