"""`infra-rollback deploy`: the real infra/ program and stack config through the engine test double.

Bad release -> gate fails -> automatic rollback to the last good version -> healthy, with the time to
recover in the record; a config identical to a version marked bad is refused; a dirty tree is refused.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rollback.actions.context import Context
from rollback.actions.deploy import Deploy, DeployOutcome, GitState
from rollback.actions.history import History
from rollback.console import Console, TerminalConfirm
from rollback.errors import OperationFailed, Refused
from rollback.models import Outcome
from rollback.records import Records
from rollback.render.text import deploy_result
from rollback.stackconfig import Sameness, compare_configs
from statekit.pulumi_writer import DiyBackend
from tests.paths import ROOT
from tests.support.backends import invoke_json
from tests.support.fake_engine import FakeEngine

PASS = "omniserve-example"


def gates(*verdicts: bool):
    """A health verifier that answers the given verdicts in turn (the last one repeats)."""
    answers = list(verdicts)
    seen: list[dict[str, Any]] = []

    def verify(**kw: Any) -> dict[str, Any]:
        healthy = answers.pop(0) if len(answers) > 1 else answers[0]
        seen.append(kw)
        state = "healthy" if healthy else "unhealthy"
        return {"stack": "prod", "healthy": healthy, "timed_out": False, "elapsed_seconds": 0.5,
                "gates": [{"name": "https://omniserve.example.com/metrics/triage", "kind": "http", "state": state,
                           "detail": "tags.urgent_escalation_share = 0.93 > max 0.2" if not healthy else "",
                           "seconds": 0.5}]}

    verify.seen = seen  # type: ignore[attr-defined]
    return verify


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """The repository's Pulumi project (infra/, stacks/) with a fresh local DIY backend."""
    for name in ("infra", "stacks"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    text = (ROOT / "Pulumi.yaml").read_text().replace("file://./.state", "file://./state")
    (tmp_path / "Pulumi.yaml").write_text(text)
    DiyBackend(tmp_path / "state").write_stack("omniserve", "prod", None)   # `pulumi stack init prod`
    return tmp_path


HEAD = GitState("4f1c2e9d0b7a6c5e4d3f2a1b0c9d8e7f6a5b4c3d", False, "main")


def deploy(project: Path, engine: FakeEngine, verifier: Any, *, passphrase: str | None = PASS,
           git: GitState = HEAD, **kw: Any) -> Deploy:
    """The action as the CLI builds it with --yes, printing to its console's ``out``."""
    ctx = Context(cwd=project, passphrase=lambda: passphrase)
    return Deploy(ctx=ctx, engine=engine, verifier=verifier, confirm=TerminalConfirm(yes=True),
                  listener=Console(out=io.StringIO(), err=io.StringIO()), git=lambda cwd: git, **kw)


def run(action: Deploy) -> DeployOutcome:
    """As the CLI runs it: the last lines on the console, then the error (if any) raised."""
    outcome = action.run("prod")
    for line in deploy_result(outcome.to_dict(), seconds=outcome.seconds,
                              rollback=outcome.rollback.to_dict() if outcome.rollback else None):
        action.listener.say(line)
    outcome.raise_for_error()
    return outcome


def set_image(project: Path, image: str) -> None:
    path = project / "stacks" / "Pulumi.prod.yaml"
    text = path.read_text()
    old = next(line for line in text.splitlines() if line.strip().startswith("omniserve:image:"))
    path.write_text(text.replace(old, f"  omniserve:image: {image}"))


def test_deploy_then_bad_release_rolls_itself_back(project: Path) -> None:
    engine = FakeEngine(project / "state", PASS)
    good = run(deploy(project, engine, gates(True))).to_dict()
    assert good["outcome"] == "deployed" and good["new_version"] == 1
    assert good["summary"]["git"]["head"].startswith("4f1c2e9")
    assert engine.calls[0][1]["inline"] is False and str(engine.calls[0][1]["config_file"]).endswith(
        "stacks/Pulumi.prod.yaml")

    set_image(project, "ghcr.io/omniserve/bot:1.5.0")
    verifier = gates(False, True)          # the release is unhealthy; after the rollback, healthy
    bad = deploy(project, engine, verifier, auto_rollback=True)
    with pytest.raises(OperationFailed) as err:
        run(bad)
    assert err.value.exit_code == 1 and "rolled back" in err.value.message
    result = Records(bad.ctx.backend, bad.ctx.history("prod").ref).all()
    result = next(r for r in result if r["kind"] == "deploy" and r["new_version"] == 2)
    assert result["outcome"] == "rolled-back"
    assert result["time_to_recover_seconds"] is not None and result["time_to_recover_seconds"] >= 0
    assert "failure_detected_at" in result["timings"] and "recovered_at" in result["timings"]
    shown = bad.listener.out.getvalue()
    assert "rolling back to last-good" in shown
    assert "omniserve/prod v2 (image 1.5.0) -> v1 (image 1.4.0, marked good): image revert" in shown
    assert "rolled back prod to v1 as v3" in shown and "time to recover" in shown

    ctx = Context(cwd=project, passphrase=lambda: PASS)
    hist = History(ctx=ctx).run("prod")
    by_number = {v["version"]: v for v in hist["versions"]}
    assert by_number[1]["mark"] == "good"
    assert by_number[2]["mark"] == "bad"                       # the release that failed its gates
    assert by_number[3]["rollback"]["to_version"] == 1          # not N-1 blindly: the last good one
    history = ctx.history("prod")
    assert not history.diff_from_current(1).changes
    image = next(r for r in history.current().live_resources() if r.type == "kubernetes:apps/v1:Deployment")
    assert image.inputs["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/omniserve/bot:1.4.0"
    records = Records(ctx.backend, history.ref).all()
    rollback = next(r for r in records if r["kind"] == "rollback")
    assert rollback["time_to_recover_seconds"] is not None
    assert rollback["reason"].startswith("auto-rollback: health gates failed")

    # The same bad config again is refused (nothing is changed) unless --force.
    calls = len(engine.calls)
    with pytest.raises(Refused) as refused:
        run(deploy(project, engine, gates(True)))
    assert "identical to v2, marked bad" in refused.value.message and "--force" in refused.value.message
    assert len(engine.calls) == calls
    assert run(deploy(project, engine, gates(True), force=True)).outcome is Outcome.DEPLOYED


def test_unhealthy_without_auto_rollback_is_exit_1_and_marked_bad(project: Path) -> None:
    engine = FakeEngine(project / "state", PASS)
    action = deploy(project, engine, gates(False))
    with pytest.raises(OperationFailed) as err:
        run(action)
    assert "unhealthy" in err.value.message and "metrics/triage" in err.value.message
    hist = History(ctx=Context(cwd=project, passphrase=lambda: PASS)).run("prod")
    assert hist["versions"][0]["mark"] == "bad"


def test_dirty_tree_is_refused_unless_allowed(project: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "."], cwd=project, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "init"], cwd=project,
                   check=True)
    set_image(project, "ghcr.io/omniserve/bot:1.4.1")
    engine = FakeEngine(project / "state", PASS)
    ctx = Context(cwd=project, passphrase=lambda: PASS)
    action = Deploy(ctx=ctx, engine=engine, verifier=gates(True))            # the real git state
    with pytest.raises(Refused) as err:
        action.run("prod")
    assert "uncommitted changes" in err.value.message and "--allow-dirty" in err.value.message
    assert engine.calls == []
    allowed = Deploy(ctx=ctx, engine=engine, verifier=gates(True), allow_dirty=True).run("prod")
    assert allowed.outcome is Outcome.DEPLOYED and allowed.error is None
    assert allowed.to_dict()["summary"]["git"]["dirty"] is True


def test_compare_configs_by_plaintext_failing_closed() -> None:
    from rollback.state.secrets import PassphraseCrypter

    crypter, _ = PassphraseCrypter.create("pw", salt=b"12345678", nonce=b"n" * 12)
    a = {"omniserve:replicas": 3, "omniserve:apiToken": {"secure": crypter.encrypt("tok", nonce=b"a" * 12)},
         "omniserve:env": {"LOG_LEVEL": "info"}}
    b = {"omniserve:replicas": "3", "omniserve:apiToken": {"secure": crypter.encrypt("tok", nonce=b"b" * 12)},
         "omniserve:env": {"LOG_LEVEL": "info"}}
    assert compare_configs(a, b, reveal=crypter.decrypt).verdict is Sameness.SAME
    # A secure value that cannot be revealed: "unknown", never "different" (a bad config must not slip through).
    cannot = compare_configs(a, b, reveal=None)
    assert cannot.verdict is Sameness.UNKNOWN and cannot.unknown == ("omniserve:apiToken",)
    hidden = compare_configs(a, dict(b, **{"omniserve:apiToken": {"secure": "[secret]"}}), reveal=crypter.decrypt)
    assert hidden.verdict is Sameness.UNKNOWN and "Pulumi Cloud" in hidden.why
    b["omniserve:env"] = {"LOG_LEVEL": "debug"}
    assert compare_configs(a, b, reveal=crypter.decrypt).verdict is Sameness.DIFFERENT
    assert compare_configs(a, b, reveal=None).verdict is Sameness.DIFFERENT      # a plain value differs: known


def test_a_bad_config_whose_secret_cannot_be_compared_is_refused(project: Path) -> None:
    """The same release re-encrypted (a new ciphertext of the same token) and no passphrase: cannot tell, refuse."""
    import yaml

    from rollback.state.secrets import PassphraseCrypter

    engine = FakeEngine(project / "state", PASS)
    with pytest.raises(OperationFailed):
        run(deploy(project, engine, gates(False)))                       # v1, unhealthy: marked bad
    path = project / "stacks" / "Pulumi.prod.yaml"
    doc = yaml.safe_load(path.read_text())
    crypter = PassphraseCrypter.from_salt(doc["encryptionsalt"], PASS, source=str(path))
    old = doc["config"]["omniserve:apiToken"]["secure"]
    path.write_text(path.read_text().replace(old, crypter.encrypt(crypter.decrypt(old))))
    calls = len(engine.calls)
    with pytest.raises(Refused) as refused:
        run(deploy(project, engine, gates(True), passphrase=None))
    assert "may be identical to v1, marked bad" in refused.value.message
    assert "omniserve:apiToken could not be compared (no passphrase" in refused.value.message
    with pytest.raises(Refused) as identical:
        run(deploy(project, engine, gates(True)))                        # with the passphrase: the same token
    assert "identical to v1, marked bad" in identical.value.message
    assert len(engine.calls) == calls


def test_deploy_finds_the_stack_config_where_the_health_gates_do(project: Path) -> None:
    """One rule for where Pulumi.<stack>.yaml lives: without stackConfigDir, stacks/ before the project directory."""
    text = (project / "Pulumi.yaml").read_text()
    (project / "Pulumi.yaml").write_text("\n".join(line for line in text.splitlines()
                                                   if not line.startswith("stackConfigDir")) + "\n")
    engine = FakeEngine(project / "state", PASS)
    assert run(deploy(project, engine, gates(True))).outcome is Outcome.DEPLOYED
    assert str(engine.calls[0][1]["config_file"]).endswith("stacks/Pulumi.prod.yaml")


# -- git kept honest: rollback, write-config, a clean deploy ------------------------------------------
def _cli(*args: str) -> Any:
    from tests.support.backends import cli

    return cli(*args)


def _roll_back(project: Path, engine: FakeEngine, target: str) -> None:
    from rollback.actions.rollback import Rollback

    ctx = Context(cwd=project, passphrase=lambda: PASS)
    outcome = Rollback(ctx=ctx, engine=engine, verifier=gates(True), confirm=TerminalConfirm(yes=True),
                       listener=Console(out=io.StringIO(), err=io.StringIO())).run("prod", target)
    outcome.raise_for_error()
    assert outcome.outcome is Outcome.ROLLED_BACK


def test_rollback_then_write_config_then_a_clean_deploy(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flow docs/ci.md describes: after a rollback git still holds the bad release; deploy refuses it and
    names the command that fixes the file; write-config writes it; the next deploy is clean."""
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASS)
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    engine = FakeEngine(project / "state", PASS)
    run(deploy(project, engine, gates(True)))                                   # v1 1.4.0, marked good
    set_image(project, "ghcr.io/omniserve/bot:1.5.0")
    with pytest.raises(OperationFailed):
        run(deploy(project, engine, gates(False)))                              # v2 1.5.0, unhealthy: bad
    _roll_back(project, engine, "previous")                                      # v3: v1's state and config
    path = project / "stacks" / "Pulumi.prod.yaml"
    assert "omniserve:image: ghcr.io/omniserve/bot:1.5.0" in path.read_text()    # git still has the bad one

    with pytest.raises(Refused) as refused:
        run(deploy(project, engine, gates(True)))
    assert "identical to v2, marked bad" in refused.value.message
    assert "`infra-rollback write-config prod`" in refused.value.message and "(v3)" in refused.value.message

    dry = _cli("write-config", "prod", "--dry-run", "--cwd", str(project))
    assert dry.exit_code == 0, dry.stderr
    assert "would write v3's config (~ omniserve:image)" in dry.stdout and "1.5.0" in path.read_text()
    written = _cli("write-config", "prod", "--cwd", str(project / "infra"))      # Pulumi.yaml found above
    assert written.exit_code == 0, written.stderr
    assert written.stdout.strip().endswith("wrote v3's config (~ omniserve:image); commit it so the next deploy "
                                           "does not bring the bad release back")
    text = path.read_text()
    assert "omniserve:image: ghcr.io/omniserve/bot:1.4.0" in text and text.startswith("# omniserve, production.")
    again = invoke_json(_cli("write-config", "prod", "--json", "--cwd", str(project)))
    assert again["written"] is False and again["lines"] == [] and again["version"] == 3

    clean = run(deploy(project, engine, gates(True)))                            # no --force needed
    assert clean.outcome is Outcome.DEPLOYED and clean.to_dict()["new_version"] == 4

    table = _cli("history", "prod", "--cwd", str(project)).stdout.splitlines()
    v3 = next(line for line in table if line.startswith(" v3 "))
    assert "rollback to v1" in v3 and "succeeded" in v3 and "bot:1.4.0" in v3
    assert next(line for line in table if line.startswith(" v2 ")).rstrip().endswith(
        "bad: health gates failed: https://omniserve.example.com/metrics/triage (" + _who() + ")")


def _who() -> str:
    from rollback.records import actor

    return str(actor()["user"])


def test_write_config_on_a_rollback_with_nothing_to_roll_back(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone rolled back without --write-config; running it again with the flag writes the file, though
    there is nothing left to roll back."""
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASS)
    engine = FakeEngine(project / "state", PASS)
    run(deploy(project, engine, gates(True)))
    set_image(project, "ghcr.io/omniserve/bot:1.5.0")
    with pytest.raises(OperationFailed):
        run(deploy(project, engine, gates(False)))
    _roll_back(project, engine, "1")
    result = _cli("rollback", "prod", "--to", "1", "--write-config", "--yes", "--cwd", str(project))
    assert result.exit_code == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[-2] == "nothing to roll back: prod already has the desired state of v1"
    assert out[-1].endswith("wrote v1's config (~ omniserve:image); commit it so the next deploy does not bring the "
                            "bad release back")
    assert "omniserve:image: ghcr.io/omniserve/bot:1.4.0" in (project / "stacks" / "Pulumi.prod.yaml").read_text()
    doc = invoke_json(_cli("rollback", "prod", "--to", "1", "--write-config", "--yes", "--json", "--cwd",
                           str(project)))
    assert doc["outcome"] == "nothing-to-do" and doc["config"]["written"] is False


def test_a_failed_apply_still_prints_its_json_document(project: Path) -> None:
    engine = FakeEngine(project / "state", PASS, fail_up="the provider said no")
    outcome = deploy(project, engine, gates(True)).run("prod")
    assert outcome.outcome is Outcome.FAILED and outcome.error is not None
    assert outcome.to_dict()["outcome"] == "failed" and outcome.to_dict()["notes"]


def test_no_pulumi_cli_hint_fits_deploy(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(project / "no-bin"))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASS)
    result = _cli("deploy", "prod", "--yes", "--json", "--cwd", str(project))
    assert result.exit_code == 1
    assert "Pulumi CLI is not installed" in result.stderr and "--preview` works" not in result.stderr
    assert "a deploy runs `pulumi up`" in result.stderr
    assert json.loads(result.stdout) == {"stack": "prod", "outcome": "failed", "error": result.stderr[7:].strip(),
                                         "exit_code": 1}
