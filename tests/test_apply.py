"""The rollback itself, through the engine boundary with the test double in tests/support/fake_engine.py.

The whole cycle (bad release -> rollback -> history shows the rollback and the marks -> `--to previous`
picks the next good version), every guard (exit 3, the backend byte for byte as it was), engine
failures, confirmation rules and the CLI contract.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from rollback.actions.context import Context
from rollback.actions.history import History
from rollback.actions.preview import Preview
from rollback.actions.rollback import Rollback, RollbackOutcome
from rollback.console import Console, TerminalConfirm, interactive
from rollback.errors import EXIT_FAILED, EXIT_REFUSED, OperationFailed, Refused
from rollback.models import Outcome
from rollback.records import Records
from rollback.render.text import rollback_result
from statekit.pulumi_writer import DiyBackend
from tests.paths import EXAMPLES, FIXTURES
from tests.support.fake_engine import FakeEngine

PASS = "omniserve-example"
HEALTHY = {"stack": "prod", "healthy": True, "timed_out": False, "elapsed_seconds": 1.5, "gates": [
    {"name": "omniserve/omniserve", "kind": "kubernetes-rollout", "state": "healthy", "detail": "", "seconds": 1.5}]}
UNHEALTHY = {"stack": "prod", "healthy": False, "timed_out": False, "elapsed_seconds": 3.0, "gates": [
    {"name": "https://omniserve.example.com/metrics/triage", "kind": "http", "state": "unhealthy",
     "detail": "tags.urgent_escalation_share = 0.93 > max 0.2", "seconds": 3.0}]}


@pytest.fixture()
def world(tmp_path: Path) -> Path:
    """A copy of the bundled example backend (prod: v6 current, v5 the bad release, v2 the good one)."""
    shutil.copytree(EXAMPLES / "backend", tmp_path / "backend")
    return tmp_path


def ctx_for(world: Path, passphrase: str | None = PASS) -> Context:
    return Context(cwd=world, backend_flag=f"file://{world / 'backend'}", passphrase=lambda: passphrase)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under the backend with its sha256: 'byte for byte as it was'."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def rollback(world: Path, engine: FakeEngine | None = None, *, health: dict[str, Any] | None = HEALTHY,
             yes: bool = True, is_interactive: Any = interactive, confirm: Any = None,
             **kw: Any) -> tuple[Rollback, io.StringIO, io.StringIO]:
    """The action as the CLI builds it (a terminal confirmation, a console printing to ``out`` and ``err``)."""
    out, err = io.StringIO(), io.StringIO()
    answer = TerminalConfirm(yes=yes, is_interactive=is_interactive, prompt=confirm or (lambda question: False))
    action = Rollback(ctx=ctx_for(world), engine=engine or FakeEngine(world / "backend", PASS),
                      verifier=lambda **_: health, confirm=answer, listener=Console(out=out, err=err), **kw)
    return action, out, err


def run(action: Rollback, target: str) -> RollbackOutcome:
    """As the CLI runs it: the last line on the console, then the error (if any) raised."""
    outcome = action.run("prod", target)
    line = rollback_result(outcome.to_dict())
    if line:
        action.listener.say(line)
    outcome.raise_for_error()
    return outcome


# -- the whole cycle ---------------------------------------------------------------------------

def test_bad_release_rollback_history_marks_and_previous_again(world: Path) -> None:
    engine = FakeEngine(world / "backend", PASS)
    action, out, err = rollback(world, engine, reason="every ticket tagged urgent escalation")
    assert run(action, "previous").outcome is Outcome.ROLLED_BACK
    assert "rolled back prod to v2 as v7" in out.getvalue()
    # The engine was driven in the documented order: saved-plan preview, up with that plan, convergence.
    assert [c[0] for c in engine.calls] == ["open", "preview", "up", "preview"]
    assert engine.calls[1][1] == {"plan": True, "expect_no_changes": False}
    assert engine.calls[2][1]["message"] == ("infra-rollback: roll back to v2 (from v6): "
                                             "every ticket tagged urgent escalation")
    assert engine.calls[3][1] == {"plan": False, "expect_no_changes": True}
    # The stack config the target recorded was set for the providers (e.g. aws:region), secure values as ciphertext.
    config = engine.calls[0][1]["config"]
    assert config["aws:region"] == "us-east-1"
    assert config["omniserve:image"] == "ghcr.io/omniserve/bot:1.4.0"
    assert set(config["omniserve:apiToken"]) == {"secure"}
    # Progress display fed by engine events.
    assert "[1/" in err.getvalue() and "replace aws:ecs/taskDefinition:TaskDefinition omniserve" in err.getvalue()

    ctx = ctx_for(world)
    hist = History(ctx=ctx).run("prod")
    newest = hist["versions"][0]
    assert newest["version"] == 7 and newest["kind"] == "update" and newest["result"] == "succeeded"
    assert newest["rollback"]["from_version"] == 6 and newest["rollback"]["to_version"] == 2
    assert newest["rollback"]["reason"] == "every ticket tagged urgent escalation"
    marks = {v["version"]: v["mark"] for v in hist["versions"]}
    assert marks[6] == "bad" and marks[5] == "bad"          # the release and its refresh
    assert marks[4] is None and marks[2] is None
    assert hist["current_version"] == 7

    # Everything reverted as one unit: v7's desired state is v2's.
    history = ctx.history("prod")
    assert not history.diff_from_current(2).changes

    (record,) = Records(ctx.backend, history.ref).all()
    assert record["outcome"] == "rolled-back"
    assert (record["from_version"], record["to_version"], record["new_version"]) == (6, 2, 7)
    assert record["actor"]["user"] and record["actor"]["host"]
    assert {"decided_at", "applied_at", "converged_at", "healthy_at"} <= set(record["timings"])
    assert record["health"]["healthy"] is True
    assert record["time_to_recover_seconds"] is not None
    assert any("image ghcr.io/omniserve/bot:1.5.0 -> ghcr.io/omniserve/bot:1.4.0" in line
               for line in record["summary"]["lines"])
    assert (world / "backend" / ".infra-rollback" / "omniserve" / "prod" / "marks.json").is_file()
    assert not list((world / "backend" / ".pulumi").rglob("*infra-rollback*"))

    again = Preview(ctx=ctx_for(world), rehearse=False).run("prod", "previous")
    assert again.resolution.target.number == 1
    reasons = {s.version: s.reason for s in again.resolution.skipped}
    assert reasons[7] == "same as current" and reasons[2] == "same as current"
    assert reasons[5].startswith("marked bad") and reasons[4] == "failed update"


def test_last_good_uses_marks(world: Path) -> None:
    from rollback.actions.mark import MarkVersion

    MarkVersion(ctx=ctx_for(world)).run("prod", "v1", "good", "known good")
    action, _, _ = rollback(world)
    outcome = run(action, "last-good")
    assert outcome.outcome is Outcome.ROLLED_BACK
    assert outcome.record is not None and outcome.record.to_version == 1


def test_nothing_to_do_when_target_equals_current(world: Path) -> None:
    before = snapshot(world / "backend")
    engine = FakeEngine(world / "backend", PASS)
    action, out, _ = rollback(world, engine)
    assert run(action, "5").outcome is Outcome.NOTHING_TO_DO
    assert "nothing to roll back" in out.getvalue()
    assert engine.calls == []
    assert snapshot(world / "backend") == before


# -- confirmation ----------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["no-tty", "ci-true", "declined"])
def test_no_confirmation_refuses_and_changes_nothing(world: Path, how: str, monkeypatch) -> None:
    before = snapshot(world / "backend")
    engine = FakeEngine(world / "backend", PASS)
    kw: dict[str, Any] = {"yes": False}
    if how == "no-tty":
        kw["is_interactive"] = lambda: False
    elif how == "ci-true":
        monkeypatch.setenv("CI", "true")
    else:
        kw["is_interactive"] = lambda: True
        kw["confirm"] = lambda question: False
    action, _, _ = rollback(world, engine, **kw)
    with pytest.raises(Refused) as err:
        run(action, "previous")
    assert err.value.exit_code == EXIT_REFUSED
    assert ("--yes" in err.value.message) if how != "declined" else ("not confirmed" in err.value.message)
    if how == "declined":
        # The person was shown the engine's own plan before being asked: a preview, never an update.
        assert [c[0] for c in engine.calls] == ["open", "preview"]
    else:
        assert engine.calls == []   # no one to ask: refused before the engine is even opened
    assert snapshot(world / "backend") == before


def test_confirmed_at_a_terminal_applies(world: Path) -> None:
    asked: list[str] = []
    action, _, _ = rollback(world, yes=False, is_interactive=lambda: True,
                            confirm=lambda q: asked.append(q) or True)
    assert run(action, "previous").outcome is Outcome.ROLLED_BACK
    assert asked == ["Roll prod back to v2 (from v6)? This applies the changes above"]


class _Interrupted(io.StringIO):
    def readline(self, *args: Any) -> str:
        raise KeyboardInterrupt


@pytest.mark.parametrize("key", ["ctrl-c", "ctrl-d"])
def test_ctrl_c_or_ctrl_d_at_the_prompt_is_not_confirmed(world: Path, key: str, monkeypatch) -> None:
    """The real prompt (typer.confirm) interrupted: a refusal (exit 3, nothing changed), not an internal error."""
    monkeypatch.setattr("sys.stdin", _Interrupted() if key == "ctrl-c" else io.StringIO(""))
    before = snapshot(world / "backend")
    engine = FakeEngine(world / "backend", PASS)
    action = Rollback(ctx=ctx_for(world), engine=engine, verifier=lambda **_: HEALTHY,
                      confirm=TerminalConfirm(yes=False, is_interactive=lambda: True), listener=Console(
                          out=io.StringIO(), err=io.StringIO()))
    with pytest.raises(Refused) as err:
        action.run("prod", "previous")
    assert err.value.exit_code == EXIT_REFUSED and "not confirmed" in err.value.message
    assert [c[0] for c in engine.calls] == ["open", "preview"]   # the engine's plan was shown; nothing applied
    assert snapshot(world / "backend") == before


# -- guards ----------------------------------------------------------------------------------

def _add_operation(world: Path, mutate, *, kind: str = "update", message: str = "extra") -> None:
    """Record one more operation on prod whose state is the current one changed by ``mutate``."""
    writer = DiyBackend(world / "backend", seed=3)
    dep = writer.latest("omniserve", "prod")
    mutate(dep)
    writer.record_operation("omniserve", "prod", dep, kind=kind, message=message,
                            start_time=1_795_000_000, end_time=1_795_000_060)


BUCKET = {
    "urn": "urn:pulumi:prod::omniserve::aws:s3/bucketV2:BucketV2::omniserve-transcripts",
    "custom": True, "id": "omniserve-transcripts-1a2b", "type": "aws:s3/bucketV2:BucketV2",
    "inputs": {"bucket": "omniserve-transcripts-1a2b"}, "outputs": {"bucket": "omniserve-transcripts-1a2b"},
    "parent": "urn:pulumi:prod::omniserve::pulumi:pulumi:Stack::omniserve-prod",
}


def test_data_bearing_delete_is_refused_then_allowed_by_flag(world: Path) -> None:
    _add_operation(world, lambda dep: dep["resources"].append(dict(BUCKET)))
    before = snapshot(world / "backend")
    action, out, _ = rollback(world)
    with pytest.raises(Refused) as err:
        run(action, "6")
    assert err.value.exit_code == EXIT_REFUSED
    assert "data-bearing aws:s3/bucketV2:BucketV2" in err.value.message
    assert "omniserve-transcripts" in err.value.message and "--allow-data-loss" in err.value.message
    assert "DATA LOSS" in out.getvalue()
    assert snapshot(world / "backend") == before

    action, out, _ = rollback(world, allow_data_loss=True)
    assert run(action, "6").outcome is Outcome.ROLLED_BACK
    assert "allowed by --allow-data-loss: will delete data-bearing aws:s3/bucketV2:BucketV2" in out.getvalue()


def test_protected_delete_is_refused(world: Path) -> None:
    _add_operation(world, lambda dep: dep["resources"].append(dict(BUCKET, type="aws:sns/topic:Topic",
                   urn=BUCKET["urn"].replace("aws:s3/bucketV2:BucketV2", "aws:sns/topic:Topic"), protect=True)))
    before = snapshot(world / "backend")
    action, _, _ = rollback(world, allow_data_loss=True)
    with pytest.raises(Refused) as err:
        run(action, "6")
    assert "protected resource" in err.value.message and "pulumi state unprotect" in err.value.message
    assert snapshot(world / "backend") == before


def test_locked_stack_is_refused_naming_the_holder(world: Path) -> None:
    DiyBackend(world / "backend").write_lock("omniserve", "prod", pid=4242, username="alice",
                                             hostname="ci-runner-7", timestamp=1_795_000_000)
    before = snapshot(world / "backend")
    action, _, _ = rollback(world)
    with pytest.raises(Refused) as err:
        run(action, "previous")
    assert "locked by alice@ci-runner-7 pid 4242" in err.value.message
    assert snapshot(world / "backend") == before


def test_pending_operations_are_refused_with_the_way_out(world: Path) -> None:
    def pending(dep: dict[str, Any]) -> None:
        dep["pending_operations"] = [{"resource": dep["resources"][-1], "type": "creating"}]

    writer = DiyBackend(world / "backend", seed=3)
    dep = writer.latest("omniserve", "prod")
    pending(dep)
    writer.write_stack("omniserve", "prod", dep)   # an interrupted update leaves this in the stack file
    before = snapshot(world / "backend")
    action, _, _ = rollback(world)
    with pytest.raises(Refused) as err:
        run(action, "previous")
    assert "pending operation" in err.value.message and "pulumi refresh --clear-pending-creates" in err.value.message
    assert snapshot(world / "backend") == before


def test_failed_rehearsal_refuses(world: Path, monkeypatch) -> None:
    from rollback.replay.rehearsal import RehearsalResult

    def broken(*args: Any, **kw: Any) -> RehearsalResult:
        return RehearsalResult(ok=False, resources=16, mismatches=(
            "urn:pulumi:prod::omniserve::omniserve:bot:KubernetesBot$kubernetes:apps/v1:Deployment::omniserve: "
            "not registered",))

    monkeypatch.setattr("rollback.replay.rehearse", broken)
    before = snapshot(world / "backend")
    action, _, _ = rollback(world)
    with pytest.raises(Refused) as err:
        run(action, "previous")
    assert "rehearsal mismatch" in err.value.message and "Deployment::omniserve: not registered" in err.value.message
    assert snapshot(world / "backend") == before


# -- engine failures ---------------------------------------------------------------------------

def test_preview_failure_changes_nothing(world: Path) -> None:
    before = snapshot(world / "backend")
    action, _, _ = rollback(world, FakeEngine(world / "backend", PASS, fail_preview="provider crashed"))
    with pytest.raises(OperationFailed) as err:
        run(action, "previous")
    assert err.value.exit_code == EXIT_FAILED and "provider crashed" in err.value.message
    assert snapshot(world / "backend") == before


def test_concurrent_update_is_a_clear_error(world: Path) -> None:
    before = snapshot(world / "backend")
    action, _, _ = rollback(world, FakeEngine(world / "backend", PASS, concurrent=True))
    with pytest.raises(OperationFailed) as err:
        run(action, "previous")
    assert "another update is in progress" in err.value.message and "pulumi cancel" in err.value.message
    assert snapshot(world / "backend") == before


def test_unusable_saved_plan_falls_back_to_a_fresh_preview(world: Path) -> None:
    engine = FakeEngine(world / "backend", PASS, plan_unsupported=True)
    action, out, _ = rollback(world, engine)
    outcome = run(action, "previous")
    assert outcome.outcome is Outcome.ROLLED_BACK
    # pulumi#16412: `up --plan` cannot read the plan (nothing applied); a fresh preview, held against ours
    # again, then `up` without the plan, then the convergence preview
    assert [c[0] for c in engine.calls] == ["open", "preview", "up", "preview", "up", "preview"]
    assert engine.calls[2][1]["plan"] is True and engine.calls[4][1]["plan"] is False
    assert "falling back to a fresh preview" in out.getvalue()
    assert any("fell back to a fresh preview" in n for n in outcome.record.notes)


def test_failed_update_is_recorded_and_not_marked(world: Path) -> None:
    engine = FakeEngine(world / "backend", PASS, fail_up="aws:ecs/service:Service omniserve: "
                        "ServiceNotActiveException", fail_up_after=3)
    action, _, _ = rollback(world, engine)
    with pytest.raises(OperationFailed) as err:
        run(action, "previous")
    assert "ServiceNotActiveException" in err.value.message
    ctx = ctx_for(world)
    hist = History(ctx=ctx).run("prod")
    assert hist["versions"][0]["result"] == "failed"              # the engine's own record of it
    assert all(v["mark"] is None for v in hist["versions"])       # nothing is marked on a failure
    (record,) = Records(ctx.backend, ctx.history("prod").ref).all()
    assert record["outcome"] == "failed" and "ServiceNotActiveException" in record["notes"][0]


def test_not_converged_is_a_failure(world: Path) -> None:
    action, _, _ = rollback(world, FakeEngine(world / "backend", PASS, not_converged=True))
    outcome = action.run("prod", "previous")
    assert isinstance(outcome.error, OperationFailed) and "not converged" in outcome.error.message
    assert outcome.outcome is Outcome.FAILED and outcome.record is not None
    assert outcome.record.outcome is Outcome.NOT_CONVERGED
    assert outcome.to_dict()["outcome"] == "failed" and outcome.to_dict()["record"]["outcome"] == "applied-not-converged"


def test_unhealthy_after_rollback_exits_1_naming_the_gate(world: Path) -> None:
    action, _, _ = rollback(world, health=UNHEALTHY)
    outcome = action.run("prod", "previous")
    assert outcome.outcome is Outcome.UNHEALTHY and outcome.error is not None
    assert outcome.error.exit_code == EXIT_FAILED
    assert "not healthy" in outcome.error.message
    assert "https://omniserve.example.com/metrics/triage" in outcome.error.message
    assert outcome.record is not None and outcome.record.health is not None
    assert outcome.record.health["healthy"] is False


# -- the command line --------------------------------------------------------------------------

def run_cli(args: list[str], monkeypatch, *, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from rollback.cli import _route, app

    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    result = CliRunner().invoke(app, _route(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_without_pulumi_says_how_to_install_and_changes_nothing(world: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(world))  # no pulumi here
    before = snapshot(world / "backend")
    code, out, err = run_cli(["prod", "--to", "previous", "--yes", "--backend", f"file://{world / 'backend'}"],
                             monkeypatch, env={"PULUMI_CONFIG_PASSPHRASE": PASS})
    assert code == EXIT_FAILED
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: the Pulumi CLI is not installed")
    assert "--preview` works without it" in lines[0]
    assert snapshot(world / "backend") == before


def test_cli_refusal_is_exit_3_with_json(world: Path, monkeypatch) -> None:
    DiyBackend(world / "backend").write_lock("omniserve", "prod", pid=1, username="bob", hostname="laptop",
                                             timestamp=1_795_000_000)
    code, out, err = run_cli(["prod", "--to", "previous", "--yes", "--json", "--backend",
                              f"file://{world / 'backend'}"], monkeypatch, env={"PULUMI_CONFIG_PASSPHRASE": PASS})
    assert code == EXIT_REFUSED
    data = json.loads(out)
    assert data["outcome"] == "refused" and "locked by bob@laptop" in data["refused"][0]
    assert err.startswith("error: rollback refused")
    # before an apply the whole replay is rehearsed, and the JSON says so
    assert data["rehearsal"] == {"scope": "full", "ok": True, "resources": 16, "total": 16, "mismatches": []}


def test_rehearsal_verdict_in_preview_json(world: Path, monkeypatch) -> None:
    code, out, _ = run_cli(["prod", "--to", "previous", "--preview", "--json", "--backend",
                            f"file://{world / 'backend'}"], monkeypatch, env={"PULUMI_CONFIG_PASSPHRASE": PASS})
    assert code == 0
    data = json.loads(out)
    # 19 live resources in the target v2, less the root stack and the two default providers; a preview
    # rehearses those the rollback changes and what comes with them (a rollback, every one).
    changed = {c["urn"] for c in data["changes"] if c["op"] != "delete"}
    rehearsal = data["rehearsal"]
    assert (rehearsal["scope"], rehearsal["ok"], rehearsal["total"], rehearsal["mismatches"]) == ("changed", True, 16, [])
    assert len(changed) <= rehearsal["resources"] < 16
    assert any("deleteBeforeReplace" in c for c in data["cannot_restore"])


def test_progress_reads_real_engine_events() -> None:
    from pulumi.automation.events import EngineEvent

    from rollback.progress import Progress

    stream = io.StringIO()
    progress = Progress(total=40, stream=stream, clock=iter(range(1000)).__next__)
    for line in (FIXTURES / "pulumi-engine-events" / "up.json").read_text().splitlines():
        if line.strip():
            progress(EngineEvent.from_json(json.loads(line)))
    assert progress.done > 0 and progress.changes.get("create", 0) > 0
    assert "create" in stream.getvalue()


def test_progress_names_the_failed_step() -> None:
    from pulumi.automation.events import EngineEvent

    from rollback.progress import Progress

    progress = Progress(total=10)
    for line in (FIXTURES / "pulumi-engine-events" / "failed-stacks-dont-rewrite-operations.json").read_text().splitlines():
        if line.strip():
            progress(EngineEvent.from_json(json.loads(line)))
    assert progress.failures, "the fixture has a failed step"
    assert progress.failure_summary()


def test_write_config_keeps_git_honest(world: Path) -> None:
    import yaml

    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(EXAMPLES / name, world / name)
    before = yaml.safe_load((world / "Pulumi.prod.yaml").read_text())["config"]
    assert before["omniserve:image"] == "ghcr.io/omniserve/bot:1.5.0"
    action, out, _ = rollback(world, write_config=True)
    outcome = run(action, "previous")
    assert outcome.outcome is Outcome.ROLLED_BACK
    after = yaml.safe_load((world / "Pulumi.prod.yaml").read_text())
    v2 = ctx_for(world).history("prod").version(2).config
    assert after["config"]["omniserve:image"] == "ghcr.io/omniserve/bot:1.4.0"
    assert after["config"]["omniserve:apiToken"] == v2["omniserve:apiToken"]     # ciphertext copied, not decrypted
    assert after["encryptionsalt"] == yaml.safe_load((EXAMPLES / "Pulumi.prod.yaml").read_text())["encryptionsalt"]
    assert "commit it so the next deploy does not bring the bad release back" in out.getvalue()
    assert outcome.record is not None and any("Pulumi.prod.yaml" in n for n in outcome.record.notes)
    (stored,) = Records(ctx_for(world).backend, ctx_for(world).history("prod").ref).all()
    assert stored["notes"] == outcome.record.notes             # the stored record says so too


def test_hidden_secure_config_comes_from_the_stack_file_or_is_left_alone(world: Path) -> None:
    """Pulumi Cloud's history shows secure config as [secret]: the replay must never send the placeholder."""
    history_dir = world / "backend" / ".pulumi" / "history" / "omniserve" / "prod"
    info_path = sorted(history_dir.glob("*.history.json"))[1]           # v2, the target
    info = json.loads(info_path.read_text())
    info["config"]["omniserve:apiToken"] = {"secure": "[secret]"}
    info["config"]["omniserve:otherToken"] = {"secure": "[secret]"}
    info_path.write_text(json.dumps(info))
    (world / "Pulumi.prod.yaml").write_text("config:\n  omniserve:apiToken:\n    secure: v1:bG9jYWw=:bG9jYWw=\n")
    engine = FakeEngine(world / "backend", PASS)
    action, _, _ = rollback(world, engine)
    outcome = run(action, "previous")
    assert outcome.outcome is Outcome.ROLLED_BACK and outcome.record is not None
    sent = engine.calls[0][1]["config"]
    assert sent["omniserve:apiToken"] == {"secure": "v1:bG9jYWw=:bG9jYWw="}
    assert "omniserve:otherToken" not in sent
    assert any("omniserve:otherToken" in n and "left as the stack has it now" in n for n in outcome.record.notes)


def test_write_config_keeps_the_files_secure_value_when_history_hides_it(world: Path) -> None:
    import yaml

    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(EXAMPLES / name, world / name)
    info_path = sorted((world / "backend" / ".pulumi" / "history" / "omniserve" / "prod").glob("*.history.json"))[1]
    info = json.loads(info_path.read_text())
    info["config"]["omniserve:apiToken"] = {"secure": "[secret]"}      # as Pulumi Cloud's history shows it
    info_path.write_text(json.dumps(info))
    before = yaml.safe_load((world / "Pulumi.prod.yaml").read_text())["config"]["omniserve:apiToken"]
    action, _, _ = rollback(world, write_config=True)
    assert run(action, "previous").outcome is Outcome.ROLLED_BACK
    after = yaml.safe_load((world / "Pulumi.prod.yaml").read_text())["config"]
    assert after["omniserve:apiToken"] == before and after["omniserve:apiToken"]["secure"] != "[secret]"
    assert after["omniserve:image"] == "ghcr.io/omniserve/bot:1.4.0"


def test_a_target_using_an_unreplayable_checkpoint_feature_is_refused(world: Path) -> None:
    history_dir = world / "backend" / ".pulumi" / "history" / "omniserve" / "prod"
    checkpoint = sorted(history_dir.glob("*.checkpoint.json"))[1]          # v2
    doc = json.loads(checkpoint.read_text())
    doc["version"], doc["features"] = 4, ["hooks"]
    checkpoint.write_text(json.dumps(doc))
    before = snapshot(world / "backend")
    action, _, _ = rollback(world)
    with pytest.raises(Refused) as err:
        run(action, "previous")
    assert err.value.exit_code == EXIT_REFUSED
    assert "v2 uses the checkpoint feature 'hooks'" in err.value.message and str(checkpoint) in err.value.message
    assert snapshot(world / "backend") == before
