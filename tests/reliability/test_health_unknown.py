"""Health gates that cannot reach their target are "unknown", never "unhealthy".

Connection refused, a name that does not resolve, a timeout, no credentials or no permission to look
say nothing about the service: such a gate keeps polling until the timeout, the report names the gates
never reached, and an unknown verdict never marks a version bad nor triggers --auto-rollback.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollback.actions.context import Context
from rollback.actions.deploy import Deploy, GitState
from rollback.actions.verify import Verify
from rollback.console import Console, TerminalConfirm
from rollback.errors import OperationFailed
from rollback.health.runner import GateResult, GateUnreachable, run_gates
from rollback.render.health import health_text as render_text
from statekit.pulumi_writer import DiyBackend
from tests.health.conftest import FakeClock
from tests.health.k8s_stub import kube_api_stub, kubeconfig_text
from tests.paths import ROOT
from tests.reliability.conftest import run
from tests.support.fake_engine import FakeEngine

H, P, U, X = GateResult.healthy, GateResult.progressing, GateResult.unhealthy, GateResult.unknown


class Scripted:
    def __init__(self, name: str, *answers: GateResult, kind: str = "http") -> None:
        self.name, self.kind, self.answers, self.checks = name, kind, list(answers), 0

    def check(self) -> GateResult:
        self.checks += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def gates_run(*gates: Scripted, timeout: float = 30, interval: float = 10) -> Any:
    clock = FakeClock()
    return run_gates(list(gates), timeout=timeout, interval=interval, clock=clock, sleep=clock.sleep, stack="prod")


# -- the runner's rules ------------------------------------------------------------------------------
def test_an_unreachable_gate_keeps_polling_until_the_timeout_and_has_no_verdict() -> None:
    gate = Scripted("https://x/metrics", X("no answer: Connection refused"))
    report = gates_run(gate)
    assert gate.checks == 4                                        # 0, 10, 20, 30 s: polled to the end
    assert (report.healthy, report.timed_out, report.verdict) == (False, True, "unknown")
    assert [g.name for g in report.unreached] == ["https://x/metrics"]
    data = report.to_dict()
    assert data["verdict"] == "unknown" and data["unreached"] == ["http https://x/metrics"]
    assert data["gates"][0]["state"] == "unknown" and data["gates"][0]["reached"] is False
    lines = render_text(report).splitlines()
    assert lines[0].startswith("? http https://x/metrics  unknown")
    assert lines[-2].startswith("stack prod: UNKNOWN after 30.0 s") and "no verdict" in lines[-2]
    assert lines[-1] == "never reached: http https://x/metrics"


def test_unknown_beside_unhealthy_is_unhealthy_and_names_the_unreached_gate() -> None:
    report = gates_run(Scripted("a", X("no answer")), Scripted("b", U("0.9 > max 0.2")))
    assert report.verdict == "unhealthy" and report.elapsed_seconds == 0
    assert [g.name for g in report.unreached] == ["a"]
    assert render_text(report).splitlines()[-1] == "never reached: http a"


def test_unknown_beside_a_reached_gate_that_never_converged_is_timed_out() -> None:
    report = gates_run(Scripted("a", X("no answer")), Scripted("b", P("1 of 3 updated")))
    assert report.verdict == "timed out"


def test_an_unreachable_gate_that_answers_later_counts_like_any_other() -> None:
    late = gates_run(Scripted("a", X("no answer"), X("no answer"), H("ok")))
    assert late.healthy and late.verdict == "healthy" and late.unreached == []
    lost = gates_run(Scripted("a", P("starting"), X("no answer")))
    assert lost.verdict == "unknown" and lost.unreached == [] and lost.gates[0].reached


def test_a_gate_raising_unreachable_is_unknown_not_unhealthy() -> None:
    class Raises:
        name, kind = "c/s", "ecs-service"

        def check(self) -> GateResult:
            raise GateUnreachable("ecs-service c/s: cannot reach the AWS endpoint for describe_services: refused")

    report = gates_run(Raises())  # type: ignore[arg-type]
    assert report.verdict == "unknown"
    assert report.gates[0].detail == "cannot reach the AWS endpoint for describe_services: refused"


# -- real gates that cannot reach their target --------------------------------------------------------
@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a request times out)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def http_health(url: str, *, timeout: float = 30, interval: float = 10) -> dict[str, Any]:
    return {"infra-rollback:health": {"timeout": timeout, "interval": interval, "gates": [
        {"kind": "http", "url": url, "request_timeout": 0.2,
         "thresholds": [{"metric": "tags.urgent_escalation_share", "max": 0.2}]}]}}


@pytest.mark.parametrize("where", ["refused", "dns", "timeout"])
def test_the_http_gate_without_an_answer_is_unknown(where: str, closed_port: int, silent_server: int) -> None:
    url = {"refused": f"http://127.0.0.1:{closed_port}/m", "dns": "http://does-not-exist.invalid/m",
           "timeout": f"http://127.0.0.1:{silent_server}/m"}[where]
    clock = FakeClock()
    report = Verify(config=http_health(url), clock=clock, sleep=clock.sleep).run("prod")
    assert report.verdict == "unknown" and report.gates[0].state == "unknown" and not report.gates[0].reached
    assert report.gates[0].detail.startswith("no answer")


def test_the_ecs_gate_without_an_endpoint_is_unknown(closed_port: int, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    for name, value in (("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port}"), ("AWS_ACCESS_KEY_ID", "testing"),
                        ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", "eu-west-1"),
                        ("AWS_MAX_ATTEMPTS", "1"), ("AWS_CONFIG_FILE", str(tmp_path / "none"))):
        monkeypatch.setenv(name, value)
    clock = FakeClock()
    config = {"infra-rollback:health": {"timeout": 10, "interval": 10, "gates": [
        {"kind": "ecs-service", "cluster": "c", "service": "s"},
        {"kind": "cloudwatch-alarms", "alarms": ["a"]}]}}
    report = Verify(config=config, clock=clock, sleep=clock.sleep).run("prod")
    assert report.verdict == "unknown"
    assert [g.state for g in report.gates] == ["unknown", "unknown"]
    assert all("cannot reach the AWS endpoint" in g.detail for g in report.gates)


def test_aws_refusing_to_let_us_look_is_unknown() -> None:
    from botocore.exceptions import ClientError

    from rollback.health._aws import translate

    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeServices")
    assert isinstance(translate(denied, who="ecs-service c/s", call="describe_services"), GateUnreachable)
    other = ClientError({"Error": {"Code": "InvalidParameterException", "Message": "bad"}}, "DescribeServices")
    assert not isinstance(translate(other, who="ecs-service c/s", call="describe_services"), GateUnreachable)


@pytest.mark.parametrize("status", [401, 403])
def test_the_kubernetes_api_refusing_to_let_us_look_is_unknown(status: int, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    server = kube_api_stub().start()
    try:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(kubeconfig_text(server.base_url))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        server.script("/apis/apps/v1/namespaces/omniserve/deployments/omniserve",
                      (status, {"kind": "Status", "code": status, "reason": "Forbidden"}))
        clock = FakeClock()
        config = {"infra-rollback:health": {"timeout": 10, "interval": 10, "gates": [
            {"kind": "kubernetes-rollout", "namespace": "omniserve", "deployment": "omniserve"}]}}
        report = Verify(config=config, clock=clock, sleep=clock.sleep).run("prod")
    finally:
        server.stop()
    assert report.verdict == "unknown" and str(status) in report.gates[0].detail


# -- what the commands do with an unknown verdict -------------------------------------------------------
PASS = "omniserve-example"


@pytest.fixture
def project(tmp_path: Path, closed_port: int) -> Path:
    """The repository's project with a fresh DIY backend, its only gate an HTTP endpoint nobody serves."""
    for name in ("infra", "stacks"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    text = (ROOT / "Pulumi.yaml").read_text().replace("file://./.state", "file://./state")
    (tmp_path / "Pulumi.yaml").write_text(text)
    DiyBackend(tmp_path / "state").write_stack("omniserve", "prod", None)
    config_path = tmp_path / "stacks" / "Pulumi.prod.yaml"
    doc = yaml.safe_load(config_path.read_text())
    doc["config"]["infra-rollback:health"] = http_health(f"http://127.0.0.1:{closed_port}/metrics/triage",
                                                         timeout=0.3, interval=0.1)["infra-rollback:health"]
    config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return tmp_path


def deploy(project: Path, engine: FakeEngine, **kw: Any) -> Deploy:
    return Deploy(ctx=Context(cwd=project, passphrase=lambda: PASS), engine=engine,
                  confirm=TerminalConfirm(yes=True), listener=Console(out=io.StringIO(), err=io.StringIO()),
                  git=lambda cwd: GitState("4f1c2e9d0b7a6c5e4d3f2a1b0c9d8e7f", False, "main"), **kw)


def marks(project: Path) -> dict[str, Any]:
    path = project / "state" / ".infra-rollback" / "omniserve" / "prod" / "marks.json"
    return json.loads(path.read_text())["marks"] if path.exists() else {}


def test_deploy_with_unreachable_gates_sets_no_mark_and_never_rolls_back(project: Path) -> None:
    engine = FakeEngine(project / "state", PASS)
    healthy = {"stack": "prod", "healthy": True, "timed_out": False, "verdict": "healthy", "unreached": [],
               "elapsed_seconds": 0.1, "gates": []}
    first = deploy(project, engine, verifier=lambda **kw: healthy)
    assert first.run("prod").error is None and len(marks(project)) == 1  # v1 is good: a rollback target exists

    config = project / "stacks" / "Pulumi.prod.yaml"
    config.write_text(config.read_text().replace("omniserve:image:", "omniserve:image: ghcr.io/omniserve/bot:1.5.0 #", 1))
    console = Console(out=io.StringIO(), err=io.StringIO())
    second = deploy(project, engine, auto_rollback=True, timeout=0.5)    # the real gates, unreachable
    second.listener = console
    outcome = second.run("prod")
    with pytest.raises(OperationFailed) as err:
        outcome.raise_for_error()
    assert err.value.exit_code == 1
    assert "unverified" in err.value.message and "nothing rolled back" in err.value.message
    result = outcome.to_dict()
    assert result["outcome"] == "unverified"
    assert result["health"]["verdict"] == "unknown" and result["health"]["unreached"]
    assert len(marks(project)) == 1                                      # no bad (nor good) mark for v2
    assert [c[0] for c in engine.calls].count("up") == 2                 # no third update: no rollback
    assert "rolling back" not in console.out.getvalue() + console.err.getvalue()


def test_verify_reports_the_gates_never_reached_and_exits_1(project: Path) -> None:
    text = run("verify", "prod", "--cwd", str(project))
    assert text.code == 1
    assert "UNKNOWN" in text.stdout and "never reached: http http://127.0.0.1:" in text.stdout
    doc = run("verify", "prod", "--json", "--cwd", str(project))
    assert doc.code == 1 and json.loads(doc.stdout)["verdict"] == "unknown"


# -- what a reached endpoint answers ---------------------------------------------------------------------
def test_a_nan_metric_is_not_a_number_and_a_too_deep_answer_is_not_json() -> None:
    from rollback.health.http import HttpGate
    from rollback.health.spec import load_health_spec

    spec = load_health_spec(http_health("http://metrics.example/m"))
    assert spec is not None
    for body, state, detail in ((b'{"tags": {"urgent_escalation_share": NaN}}', "unhealthy", "NaN is not a number"),
                                (b'{"tags": {"urgent_escalation_share": Infinity}}', "unhealthy", "> max 0.2"),
                                (b"[" * 100_000 + b"]" * 100_000, "progressing", "not JSON")):
        gate = HttpGate(spec.gates[0])  # type: ignore[arg-type]
        gate._get = lambda body=body: (200, body, "application/json")  # type: ignore[method-assign]
        result = gate.check()
        assert (result.state, detail in result.detail) == (state, True), result
