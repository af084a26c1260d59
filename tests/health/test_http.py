"""The http gate against a local metrics server."""

from __future__ import annotations

import time
from typing import Any

from rollback.actions.verify import Verify
from rollback.health.http import judge
from rollback.health.spec import Threshold
from tests.health.conftest import FakeClock
from tests.health.stub_server import ScriptedServer

PATH = "/metrics/triage"


def health(server: ScriptedServer, *thresholds: dict[str, Any], timeout: float = 30, interval: float = 0.02,
           **extra: Any) -> dict[str, Any]:
    gate = {"kind": "http", "url": f"{server.base_url}{PATH}?window=5m",
            "thresholds": list(thresholds) or [{"metric": "tags.urgent_escalation_share", "max": 0.2}], **extra}
    return {"infra-rollback:health": {"timeout": timeout, "interval": interval, "gates": [gate]}}


def triage(share: float, **more: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"window": "5m", "tickets": 412, "tags": {"urgent_escalation_share": share, **more}}


def test_under_the_threshold_is_healthy(metrics_server: ScriptedServer) -> None:
    metrics_server.script(PATH, triage(0.05))
    report = Verify(config=health(metrics_server)).run("prod")
    assert report.healthy
    gate = report.gates[0]
    assert gate.detail == "tags.urgent_escalation_share = 0.05 (max 0.2)"
    assert gate.name == f"{metrics_server.base_url}{PATH}"          # no query string in reports
    assert metrics_server.requests[0][1]["accept"] == "application/json"


def test_over_the_threshold_is_unhealthy_at_once_with_the_numbers(metrics_server: ScriptedServer) -> None:
    metrics_server.script(PATH, triage(0.93))
    started = time.monotonic()
    report = Verify(config=health(metrics_server, timeout=30)).run("prod")
    assert time.monotonic() - started < 5
    assert not report.healthy and not report.timed_out
    assert report.gates[0].detail == "tags.urgent_escalation_share = 0.93 > max 0.2"


def test_503_then_200_is_progressing_then_healthy(metrics_server: ScriptedServer) -> None:
    metrics_server.script(PATH, (503, "upstream connect error", {"Retry-After": "1"}),
                          (200, "<html>starting</html>", {"Content-Type": "text/html"}),
                          triage(0.1))
    details: list[str] = []
    report = Verify(config=health(metrics_server), on_round=lambda g: details.append(g[0].detail)).run("prod")
    assert report.healthy
    assert details == ["HTTP 503 Service Unavailable", "HTTP 200 but the answer is not JSON (text/html)",
                       "tags.urgent_escalation_share = 0.1 (max 0.2)"]
    assert metrics_server.hits(PATH) == 3


def test_a_service_that_stays_down_times_out(metrics_server: ScriptedServer) -> None:
    metrics_server.script(PATH, (502, "bad gateway"))
    report = Verify(config=health(metrics_server, timeout=0.2)).run("prod")
    assert report.timed_out and report.gates[0].detail == "HTTP 502 Bad Gateway"


def test_nobody_listening_is_unknown() -> None:
    server = ScriptedServer()          # bound, never started, then closed: the port refuses
    server.httpd.server_close()
    clock = FakeClock()
    report = Verify(config=health(server, timeout=10, interval=5), clock=clock, sleep=clock.sleep).run("prod")
    assert report.timed_out and report.gates[0].detail.startswith("no answer: ")
    assert report.verdict == "unknown" and report.gates[0].state == "unknown" and not report.gates[0].reached


def test_min_thresholds_and_metrics_not_reported_yet(metrics_server: ScriptedServer) -> None:
    metrics_server.script(PATH, (200, {"tags": {}}), (200, {"tags": {"resolved_share": 0.4}}))
    low = {"metric": "tags.resolved_share", "min": 0.6}
    details: list[str] = []
    report = Verify(config=health(metrics_server, low), on_round=lambda g: details.append(g[0].detail)).run("prod")
    assert details == ["tags.resolved_share not reported yet", "tags.resolved_share = 0.4 < min 0.6"]
    assert not report.healthy and not report.timed_out


def test_judge_on_plain_documents() -> None:
    both = (Threshold("a.b", max=10), Threshold("list.1.v", min=1))
    assert judge({"a": {"b": 3}, "list": [{}, {"v": 2}]}, both).detail == "a.b = 3 (max 10); list.1.v = 2 (min 1)"
    assert judge({"a": {"b": "lots"}, "list": []}, both).state == "unhealthy"
    assert judge({"a": {"b": True}}, (Threshold("a.b", max=1),)).detail == "a.b = true is not a number"


def test_secret_header_is_decrypted_and_sent_but_never_shown(metrics_server: ScriptedServer) -> None:
    from rollback.state.secrets import PassphraseCrypter

    crypter, salt = PassphraseCrypter.create("health-pass", salt=b"0123456789ab", nonce=b"nonce-123456")
    token = "Bearer sk-metrics-31337"
    config = health(metrics_server, headers={"Authorization": {"secure": crypter.encrypt(token)}, "X-Env": "prod"})
    doc = {"encryptionsalt": salt, "config": config}
    metrics_server.script(PATH, (401, {"error": "unauthorized"}), triage(0.05))
    report = Verify(config=doc, passphrase=lambda: "health-pass").run("prod")
    assert report.healthy
    sent = metrics_server.requests[-1][1]
    assert sent["authorization"] == token and sent["x-env"] == "prod"
    from rollback.render.health import health_text

    assert "sk-metrics" not in health_text(report) and "sk-metrics" not in str(report.to_dict())
