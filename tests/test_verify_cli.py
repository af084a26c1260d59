"""`infra-rollback verify STACK` end to end: gates from the stack config file, a local metrics server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.backends import cli


@pytest.fixture()
def metrics():
    """A local triage-metrics endpoint whose urgent-escalation share the test sets."""
    state = {"share": 0.05}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = json.dumps({"tags": {"urgent_escalation_share": state["share"]}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/metrics/triage"
    server.shutdown()


def project(tmp_path: Path, url: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: omniserve\nruntime: python\nstackConfigDir: stacks\n"
                                          f"backend:\n  url: file://{tmp_path / 'nowhere'}\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text(
        "config:\n  infra-rollback:health:\n    timeout: 2\n    interval: 0.1\n    gates:\n"
        f"      - kind: http\n        url: {url}\n        thresholds:\n"
        "          - metric: tags.urgent_escalation_share\n            max: 0.2\n")
    return tmp_path


def test_verify_healthy_and_unhealthy(tmp_path: Path, metrics) -> None:
    state, url = metrics
    cwd = project(tmp_path, url)
    ok = cli("verify", "prod", "--cwd", str(cwd), "--json")
    assert ok.exit_code == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["healthy"] is True and report["gates"][0]["kind"] == "http"
    assert set(report) >= {"stack", "healthy", "timed_out", "elapsed_seconds", "gates"}
    # The backend (file://.../nowhere) cannot be read: the gates still run, and it says what was not checked.
    assert "note: what should be running is not checked" in ok.stderr and "nowhere" in ok.stderr

    state["share"] = 0.93      # the story: every ticket tagged "urgent escalation"
    bad = cli("verify", "prod", "--cwd", str(cwd))
    assert bad.exit_code == 1
    assert "tags.urgent_escalation_share = 0.93 > max 0.2" in bad.stdout


def test_verify_without_gates_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: omniserve\nruntime: python\n")
    (tmp_path / "Pulumi.prod.yaml").write_text("config:\n  aws:region: us-east-1\n")
    result = cli("verify", "prod", "--cwd", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: stack prod declares no health gates")


def test_verify_prints_each_check_once(tmp_path: Path, metrics) -> None:
    _, url = metrics
    cwd = project(tmp_path, url)
    result = cli("verify", "prod", "--cwd", str(cwd))
    assert result.exit_code == 0, result.stderr
    assert (result.stdout + result.stderr).count(f"http {url}") == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("stack prod: HEALTHY: all 1 gate(s) healthy")
    quiet = cli("--quiet", "verify", "prod", "--cwd", str(cwd))
    assert quiet.stdout.splitlines() == [quiet.stdout.strip()] and "HEALTHY" in quiet.stdout
    assert quiet.stderr == ""                                  # notes are not errors


def test_verify_uses_the_stacks_aws_region(tmp_path: Path, monkeypatch) -> None:
    """An ECS gate without `region:` asks AWS in the stack's aws:region, not the shell's AWS_REGION."""
    from rollback.actions.verify import Verify, stack_region
    from rollback.health import gates

    seen: list[str | None] = []

    def build_gates(spec, *, expectations=None, environ=None, decrypt=None):
        seen.append((environ or {}).get("AWS_REGION"))
        return []

    monkeypatch.setattr(gates, "build_gates", build_gates)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    config = {"aws:region": "eu-west-3", "infra-rollback:health": {
        "timeout": 1, "gates": [{"kind": "ecs-service", "cluster": "c", "service": "s"}]}}
    Verify(config=config).run("prod")
    Verify(config={"config": config, "encryptionsalt": "v1:x"}).run("prod")    # the whole file
    del config["aws:region"]
    Verify(config=config).run("prod")
    assert seen == ["eu-west-3", "eu-west-3", "us-east-1"]
    assert stack_region({"aws:region": " "}) is None
