"""When infra-rollback's own records cannot be written: found before the apply, said after it.

Before: a rollback or deploy checks that its audit record and marks can be written where they go (a probe
written and deleted: nothing left behind), that the marks file can be updated, and that ``--write-config``
will be able to write the stack config (salt, key, file); any of these refuses it (exit 3, one line, the
engine never started, the backend and the project byte for byte as they were).

After: when the stack has changed and a write still fails (a disk that fills up, a folder gone, S3 access
denied), every other write is still made, the command says in one line exactly that (exit 1), ``--json``
prints the result anyway (the outcome and the record that could not be written), and no temporary file is
left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rollback.actions.context import Context
from rollback.actions.rollback import Rollback
from rollback.console import Console, TerminalConfirm
from rollback.errors import NotRecorded, Refused
from rollback.models import Outcome, StackRef
from rollback.records import Records
from rollback.state.backend import FolderSideStore
from rollback.writeconfig import write_stack_config
from tests.health.stub_server import ScriptedServer
from tests.paths import ROOT
from tests.reliability.conftest import Run, run, snapshot
from tests.reliability.story import PASS, backend_url, project
from tests.support.engine_cli import AfterConvergence, use_engine
from tests.support.fake_engine import FakeEngine
from tests.support.moto import fresh_s3_store
from tests.support.threads import in_threads


def ours(world: Path) -> Path:
    return world / "backend" / ".infra-rollback" / "omniserve" / "prod"


def one_line(result: Run, code: int, *fragments: str) -> str:
    assert result.code == code, (result.code, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def temporary_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name
                  or p.name.startswith(".write-check-"))


def rollback_args(world: Path, *more: str) -> list[str]:
    return ["prod", "--to", "previous", "--yes", "--no-verify", "--json", "--backend", backend_url(world), *more]


# -- found before the apply ----------------------------------------------------------------------------
def test_a_records_folder_that_takes_no_file_refuses_the_rollback_before_the_apply(
        world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ours(world).mkdir(parents=True)
    (ours(world) / "records").write_text("someone made this a file\n")
    engine = use_engine(monkeypatch, FakeEngine(world / "backend", PASS))
    before = snapshot(world)
    result = run(*rollback_args(world))
    one_line(result, 3, "rollback refused", "infra-rollback could not record this operation",
             str(ours(world) / "records"), "cannot create the folder")
    assert json.loads(result.stdout)["outcome"] == "refused"
    assert engine.calls == []                                  # the engine never started
    assert snapshot(world) == before


def test_a_marks_file_that_cannot_be_updated_refuses_the_rollback_before_the_apply(
        world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ours(world).mkdir(parents=True)
    (ours(world) / "marks.json").write_text('{"version": 1, "marks": {"1": {"mark": "good"')
    engine = use_engine(monkeypatch, FakeEngine(world / "backend", PASS))
    before = snapshot(world)
    one_line(run(*rollback_args(world)), 3, "could not update the marks", str(ours(world) / "marks.json"),
             "truncated JSON")
    assert engine.calls == [] and snapshot(world) == before


def test_the_check_leaves_nothing_behind(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe runs for every rollback that is prepared: one refused for another reason (no --yes in CI)
    leaves no folder and no file where there were none."""
    monkeypatch.setenv("CI", "true")
    engine = use_engine(monkeypatch, FakeEngine(world / "backend", PASS))
    before = snapshot(world)
    one_line(run("prod", "--to", "previous", "--no-verify", "--backend", backend_url(world)), 3, "no terminal")
    assert engine.calls == [] and snapshot(world) == before
    assert not (world / "backend" / ".infra-rollback").exists()


def test_write_config_with_another_salt_is_refused_before_the_apply(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file's encryptionsalt is not the state's, so the target's ciphertexts cannot be copied into it:
    that used to be found after the rollback had been applied."""
    config = world / "Pulumi.prod.yaml"
    other = (ROOT / "stacks" / "Pulumi.prod.yaml").read_text().split("encryptionsalt: ", 1)[1].split("\n", 1)[0]
    text = config.read_text()
    salt = text.split("encryptionsalt: ", 1)[1].split("\n", 1)[0]
    config.write_text(text.replace(salt, other))
    engine = use_engine(monkeypatch, FakeEngine(world / "backend", PASS))
    before = snapshot(world)
    one_line(run("prod", "--to", "previous", "--yes", "--no-verify", "--write-config", "--cwd", str(world)), 3,
             "--write-config could not write v2's config", "Pulumi.prod.yaml has a different encryptionsalt")
    assert engine.calls == [] and snapshot(world) == before


def test_write_config_into_a_folder_that_takes_no_file_is_refused_before_the_apply(
        world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No stack config file yet: it would be made in stackConfigDir, which is a file."""
    (world / "Pulumi.yaml").write_text((world / "Pulumi.yaml").read_text() + "stackConfigDir: stacks\n")
    (world / "Pulumi.prod.yaml").unlink()
    (world / "stacks").write_text("not a folder\n")
    engine = use_engine(monkeypatch, FakeEngine(world / "backend", PASS))
    before = snapshot(world)
    one_line(run("prod", "--to", "previous", "--yes", "--no-verify", "--write-config", "--cwd", str(world)), 3,
             "--write-config", "stacks/Pulumi.prod.yaml")
    assert engine.calls == [] and snapshot(world) == before


def test_a_deploy_whose_records_cannot_be_written_is_refused_before_the_apply(
        tmp_path: Path, gate: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path / "project", gate.base_url)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASS)
    records = root / "state" / ".infra-rollback" / "omniserve" / "prod" / "records"
    records.parent.mkdir(parents=True)
    records.write_text("")
    engine = use_engine(monkeypatch, FakeEngine(root / "state", PASS))
    before = snapshot(root)
    one_line(run("deploy", "prod", "--yes", "--cwd", str(root)), 3, "deploy refused", str(records))
    assert engine.calls == [] and snapshot(root) == before


# -- said after the apply -----------------------------------------------------------------------------
def test_a_write_that_fails_part_way_after_the_apply_is_said_in_one_line_with_the_json(world: Path) -> None:
    """A real process whose writes fail part-way once the engine is done (a file size limit: EFBIG, as a
    full disk fails them): the rollback happened, the record and the marks could not be written."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PULUMI_BACKEND_URL")}
    env.update(PULUMI_CONFIG_PASSPHRASE=PASS, PYTHONDONTWRITEBYTECODE="1", PYTHONWARNINGS="ignore")
    done = subprocess.run([sys.executable, "-m", "tests.support.engine_cli", str(world / "backend"),
                           "--fsize-after-apply", "300", "--", *rollback_args(world)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    line = one_line(Run(done.returncode, done.stdout, done.stderr), 1, "rolled back prod to v2 as v7",
                    "but not everything was recorded", "records/", "marks.json", "File too large")
    doc = json.loads(done.stdout)                          # printed anyway
    assert doc["outcome"] == "rolled-back"
    assert doc["record"]["new_version"] == 7 and doc["record"]["outcome"] == "rolled-back"
    # The record and v6's mark were too large; v5's mark (the first, a small file) landed.
    assert sum(n.startswith("not written: ") for n in doc["record"]["notes"]) == 2, doc["record"]["notes"]
    assert line.count("File too large") == 2 and "v6 not marked bad" in line
    assert temporary_files(world) == []                     # the partial files were removed
    # No half-written record: only the one saved "in progress" before the engine started, as it was then.
    left = [json.loads(p.read_text()) for p in ours(world).rglob("records/*.json")]
    assert [r["outcome"] for r in left] == ["in-progress"]
    history = run("history", "prod", "--json", "--backend", backend_url(world))
    assert json.loads(history.stdout)["current_version"] == 7          # the stack was rolled back


def test_a_records_folder_gone_after_the_apply_still_gets_the_marks_written(
        world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def break_records() -> None:   # the folder holding the in-progress record goes, a file in its place
        import shutil

        shutil.rmtree(ours(world) / "records", ignore_errors=True)
        ours(world).mkdir(parents=True, exist_ok=True)
        (ours(world) / "records").write_text("")

    use_engine(monkeypatch, AfterConvergence(FakeEngine(world / "backend", PASS), break_records))
    result = run(*rollback_args(world))
    one_line(result, 1, "rolled back prod to v2 as v7, but not everything was recorded",
             str(ours(world) / "records"))
    doc = json.loads(result.stdout)
    assert doc["outcome"] == "rolled-back" and doc["record"]["to_version"] == 2
    assert any(str(ours(world) / "records") in n for n in doc["record"]["notes"])
    marks = json.loads((ours(world) / "marks.json").read_text())["marks"]
    assert sorted(e["version"] for e in marks.values() if e["mark"] == "bad") == [5, 6]     # still made
    assert temporary_files(world) == []


def test_a_deploy_whose_record_cannot_be_written_after_the_apply_says_so_with_the_json(
        tmp_path: Path, gate: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path / "project", gate.base_url)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASS)
    records = root / "state" / ".infra-rollback" / "omniserve" / "prod" / "records"

    class BreakAfterUp:
        """The deploy's engine: once the update is applied, the records folder becomes a file."""

        def __init__(self, engine: FakeEngine) -> None:
            self.engine, self.calls = engine, engine.calls

        def open(self, spec: Any, program: Any) -> Any:
            stack = self.engine.open(spec, program)

            class Stack:
                preview = staticmethod(stack.preview)

                def up(self, **kw: Any) -> dict[str, int]:
                    out = stack.up(**kw)
                    records.parent.mkdir(parents=True, exist_ok=True)
                    records.write_text("")
                    return out

            return Stack()

    use_engine(monkeypatch, BreakAfterUp(FakeEngine(root / "state", PASS)))
    result = run("deploy", "prod", "--yes", "--json", "--cwd", str(root))
    one_line(result, 1, "deployed prod as v1, but not everything was recorded", str(records))
    doc = json.loads(result.stdout)
    assert doc["outcome"] == "deployed" and doc["new_version"] == 1
    assert any(n.startswith("not written: ") for n in doc["notes"])
    versions = json.loads(run("history", "prod", "--json", "--cwd", str(root)).stdout)["versions"]
    assert versions[0]["mark"] == "good"                      # the mark was still written


# -- S3: access denied to the records location ------------------------------------------------------------

class RecordsInS3:
    """The example backend with its records in S3 (as a Pulumi Cloud backend keeps them with
    INFRA_ROLLBACK_RECORDS=s3://...)."""

    def __init__(self, backend: Any, store: Any) -> None:
        self.backend, self.store = backend, store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def side_store(self, ref: StackRef) -> FolderSideStore:
        return FolderSideStore(self.store, f".infra-rollback/{ref.project}/{ref.name}")


def deny_puts(store: Any) -> None:
    """From now on S3 answers every PutObject with 403 AccessDenied (through botocore's own error path)."""
    def deny(**_: Any) -> Any:
        return (SimpleNamespace(status_code=403, headers={}, raw=None),
                {"Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                 "ResponseMetadata": {"HTTPStatusCode": 403}})

    store.client.meta.events.register("before-call.s3.PutObject", deny)


@pytest.fixture
def s3_records(world: Path, moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    return fresh_s3_store(moto_url, monkeypatch, tmp_path, bucket="records", prefix="audit")


def s3_rollback(world: Path, store: Any, verifier: Any = None) -> Rollback:
    ctx = Context(cwd=world, backend_flag=backend_url(world), passphrase=lambda: PASS)
    ctx._backend = RecordsInS3(ctx.backend, store)
    return Rollback(ctx=ctx, engine=FakeEngine(world / "backend", PASS), confirm=TerminalConfirm(yes=True),
                    verifier=verifier or (lambda **_: None), listener=Console(out=_Sink(), err=_Sink()))


class _Sink:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def test_s3_access_denied_to_the_records_refuses_before_the_apply(world: Path, s3_records: Any) -> None:
    deny_puts(s3_records)
    before = snapshot(world)
    action = s3_rollback(world, s3_records)
    outcome = action.run("prod", "previous")
    assert outcome.outcome is Outcome.REFUSED and isinstance(outcome.error, Refused)
    (reason,) = outcome.refused
    assert "infra-rollback could not record this operation" in reason and "access denied" in reason
    assert f"s3://{s3_records.bucket}/audit/.infra-rollback/omniserve/prod/records/" in reason
    assert action.engine.calls == [] and snapshot(world) == before


def test_s3_access_denied_after_the_apply_is_said_and_the_record_kept_in_the_result(
        world: Path, s3_records: Any) -> None:
    action = s3_rollback(world, s3_records, verifier=lambda **_: deny_puts(s3_records))
    outcome = action.run("prod", "previous")
    assert outcome.outcome is Outcome.ROLLED_BACK
    assert isinstance(outcome.error, NotRecorded) and outcome.error.exit_code == 1
    message = outcome.error.message
    assert message.startswith("rolled back prod to v2 as v7, but not everything was recorded: ")
    assert "access denied" in message and "records/" in message and "marks.json" in message
    assert "\n" not in message
    doc = outcome.to_dict()
    assert doc["outcome"] == "rolled-back" and doc["record"]["new_version"] == 7
    assert "v5 not marked bad" in message and "v6 not marked bad" in message
    assert len([n for n in doc["record"]["notes"] if n.startswith("not written: ")]) == 3     # record, 2 marks
    ref = StackRef("omniserve", "prod")
    # Nothing half-written in S3: only the record saved "in progress" before the engine started.
    assert [r["outcome"] for r in Records(action.ctx.backend, ref).all()] == ["in-progress"]


# -- the stack config file: unique temporary names ---------------------------------------------------------
def test_stack_config_writers_use_unique_temporary_names_and_leave_none(tmp_path: Path) -> None:
    path = tmp_path / "stacks" / "Pulumi.prod.yaml"
    path.parent.mkdir()
    path.write_text("config:\n  omniserve:image: web:0\n")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(50):
                write_stack_config(path, {"omniserve:image": f"web:{n}-{i}"})
        except BaseException as exc:           # a shared temporary name made the rename fail here
            errors.append(exc)

    in_threads(writer, 4)
    assert errors == []
    assert os.listdir(path.parent) == ["Pulumi.prod.yaml"]
    assert path.read_text().startswith("config:\n  omniserve:image: web:")


# -- health gates that cannot run after the apply -----------------------------------------------------------
def test_a_rollback_whose_gates_cannot_run_is_still_recorded_and_exits_1(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """v2's recorded health config has a gate that cannot run (not an http URL). That is found only after the
    apply; it used to escape as exit 2 with no audit record and no mark although the stack had changed."""
    info_path = sorted((world / "backend" / ".pulumi" / "history" / "omniserve" / "prod").glob("*.history.json"))[1]
    info = json.loads(info_path.read_text())
    info["config"]["infra-rollback:health"] = {"gates": [{"kind": "http", "url": "ftp://omniserve.example.com/"}]}
    info_path.write_text(json.dumps(info))
    use_engine(monkeypatch, FakeEngine(world / "backend", PASS))
    result = run("prod", "--to", "previous", "--yes", "--json", "--backend", backend_url(world))
    one_line(result, 1, "rolled back prod to v2, but its health could not be checked",
             "is not an http:// or https:// URL")
    doc = json.loads(result.stdout)
    assert doc["outcome"] == "unverified" and doc["record"]["new_version"] == 7
    (stored,) = Records(Context(backend_flag=backend_url(world)).backend, StackRef("omniserve", "prod")).all()
    assert stored["outcome"] == "unverified" and any("ftp://" in n for n in stored["notes"])
    marks = json.loads((ours(world) / "marks.json").read_text())["marks"]
    assert sorted(e["version"] for e in marks.values()) == [5, 6]          # the versions it left, marked bad


def test_a_deploy_whose_gates_cannot_run_is_recorded_unverified_and_not_marked(
        tmp_path: Path, gate: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    root = project(tmp_path / "project", gate.base_url)
    path = root / "stacks" / "Pulumi.prod.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["infra-rollback:health"]["gates"][0]["url"] = "ftp://omniserve.example.com/"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASS)
    use_engine(monkeypatch, FakeEngine(root / "state", PASS))
    result = run("deploy", "prod", "--yes", "--json", "--cwd", str(root))
    one_line(result, 1, "deployed prod, but its health could not be checked", "no mark set")
    out = json.loads(result.stdout)
    assert out["outcome"] == "unverified" and out["new_version"] == 1
    history = json.loads(run("history", "prod", "--json", "--cwd", str(root)).stdout)
    assert history["versions"][0]["mark"] is None
    (stored,) = Records(Context(cwd=root).backend, StackRef("omniserve", "prod")).all()
    assert stored["outcome"] == "unverified"
