"""The polling runner and the report, driven by a fake clock (no real waiting)."""

from __future__ import annotations

import json

import pytest

from rollback.errors import BadInput, OperationFailed
from rollback.health.runner import GateResult, run_gates
from rollback.render.health import GateProgress, health_text
from tests.health.conftest import FakeClock

H, P, U = GateResult.healthy, GateResult.progressing, GateResult.unhealthy


class ScriptedGate:
    """A gate that answers from a script (the last answer repeats) and counts its checks."""

    def __init__(self, name: str, *answers: GateResult | Exception, kind: str = "scripted") -> None:
        self.name, self.kind = name, kind
        self.answers = list(answers)
        self.checks = 0

    def check(self) -> GateResult:
        self.checks += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_polls_until_every_gate_is_healthy_and_reports_when_each_became_healthy(fake_clock: FakeClock) -> None:
    a = ScriptedGate("a", P("1 of 3"), H("3/3"))
    b = ScriptedGate("b", P("x"), P("y"), H("ok"))
    report = run_gates([a, b], timeout=60, interval=5, clock=fake_clock, sleep=fake_clock.sleep, stack="prod")
    assert report.healthy and not report.timed_out
    assert report.elapsed_seconds == 10 and report.time_to_healthy == 10
    assert fake_clock.sleeps == [5, 5]
    assert [(g.name, g.state, g.detail, g.seconds) for g in report.gates] == [
        ("a", "healthy", "3/3", 5), ("b", "healthy", "ok", 10)]


def test_times_out_with_the_last_state_and_a_last_check_at_the_deadline(fake_clock: FakeClock) -> None:
    a = ScriptedGate("a", P("2 of 3 ready"))
    report = run_gates([a], timeout=12, interval=5, clock=fake_clock, sleep=fake_clock.sleep)
    assert not report.healthy and report.timed_out
    assert fake_clock.sleeps == [5, 5, 2]          # the last sleep stops at the deadline
    assert a.checks == 4 and report.elapsed_seconds == 12
    assert report.gates[0].state == "progressing" and report.gates[0].detail == "2 of 3 ready"
    assert report.time_to_healthy is None


def test_fails_fast_on_unhealthy_but_finishes_the_round_so_every_gate_is_reported(fake_clock: FakeClock) -> None:
    bad = ScriptedGate("bad", P("starting"), U("rollout FAILED"))
    slow = ScriptedGate("slow", P("waiting"))
    report = run_gates([bad, slow], timeout=600, interval=5, clock=fake_clock, sleep=fake_clock.sleep)
    assert not report.healthy and not report.timed_out
    assert report.elapsed_seconds == 5 and bad.checks == 2 and slow.checks == 2
    assert [g.state for g in report.gates] == ["unhealthy", "progressing"]


def test_a_gate_must_still_be_healthy_when_the_others_are(fake_clock: FakeClock) -> None:
    flappy = ScriptedGate("flappy", H("ok"), P("blip"), H("ok again"))
    slow = ScriptedGate("slow", P("1"), P("2"), H("done"))
    report = run_gates([flappy, slow], timeout=60, interval=1, clock=fake_clock, sleep=fake_clock.sleep)
    assert report.healthy and report.elapsed_seconds == 2
    assert report.gates[0].seconds == 2             # its healthy streak began at the last round


def test_operation_failed_is_unhealthy_with_its_line_and_bad_input_propagates(fake_clock: FakeClock) -> None:
    boom = ScriptedGate("c/s", OperationFailed("ecs-service c/s: AWS refused describe_services (AccessDenied): no"),
                        kind="ecs-service")
    report = run_gates([boom], timeout=60, interval=1, clock=fake_clock, sleep=fake_clock.sleep)
    assert report.gates[0].state == "unhealthy"
    assert report.gates[0].detail == "AWS refused describe_services (AccessDenied): no"
    assert report.elapsed_seconds == 0                # failed at once
    misconfigured = ScriptedGate("k8s", BadInput("kubernetes-rollout n/d: kubeconfig /nope not found"))
    with pytest.raises(BadInput, match="kubeconfig /nope not found"):
        run_gates([misconfigured], timeout=60, interval=1, clock=fake_clock, sleep=fake_clock.sleep)


def test_interval_and_timeout_must_be_positive(fake_clock: FakeClock) -> None:
    with pytest.raises(BadInput):
        run_gates([ScriptedGate("a", H("ok"))], timeout=0, interval=1)


def test_report_as_json_and_as_text(fake_clock: FakeClock) -> None:
    k8s = ScriptedGate("omniserve/omniserve", P("1 of 3 new replicas updated"), H("3/3 replicas updated"),
                       kind="kubernetes-rollout")
    http = ScriptedGate("https://x/metrics", U("tags.urgent_escalation_share = 0.93 > max 0.2"), kind="http")
    report = run_gates([k8s, http], timeout=600, interval=12, clock=fake_clock, sleep=fake_clock.sleep,
                       stack="prod")
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {"stack", "healthy", "timed_out", "verdict", "unreached", "elapsed_seconds", "gates"}
    assert (data["verdict"], data["unreached"]) == ("unhealthy", [])
    assert data["gates"][1] == {"name": "https://x/metrics", "kind": "http", "state": "unhealthy",
                                "detail": "tags.urgent_escalation_share = 0.93 > max 0.2", "seconds": 0,
                                "reached": True}
    text = health_text(report)
    assert "… kubernetes-rollout omniserve/omniserve  progressing  (0.0 s)" in text
    assert "✗ http https://x/metrics  unhealthy  (0.0 s)\n    tags.urgent_escalation_share = 0.93 > max 0.2" in text
    assert text.splitlines()[-1] == "stack prod: UNHEALTHY after 0.0 s: http https://x/metrics"

    fake = FakeClock()
    ok = run_gates([ScriptedGate("omniserve/omniserve", P("1"), H("3/3"), kind="kubernetes-rollout")],
                   timeout=600, interval=12, clock=fake, sleep=fake.sleep, stack="prod")
    lines = health_text(ok).splitlines()
    assert lines[0] == "✓ kubernetes-rollout omniserve/omniserve  healthy  (12.0 s)"
    assert lines[-1] == "stack prod: HEALTHY: all 1 gate(s) healthy after 12.0 s"

    fake = FakeClock()
    late = run_gates([ScriptedGate("c/s", P("rollout IN_PROGRESS"), kind="ecs-service")],
                     timeout=30, interval=10, clock=fake, sleep=fake.sleep, stack="prod")
    assert health_text(late).splitlines()[-1] == (
        "stack prod: TIMED OUT after 30.0 s (timeout 30 s); still waiting for: ecs-service c/s")


def test_progress_printer_writes_a_line_only_when_a_gate_changes(fake_clock: FakeClock) -> None:
    import io

    out = io.StringIO()
    gate = ScriptedGate("omniserve/omniserve", P("1 of 3 new replicas updated"), P("1 of 3 new replicas updated"),
                        P("2 of 3 new replicas updated"), H("3/3 replicas updated"), kind="kubernetes-rollout")
    run_gates([gate], timeout=60, interval=1, clock=fake_clock, sleep=fake_clock.sleep, on_round=GateProgress(out))
    assert out.getvalue().splitlines() == [
        "… kubernetes-rollout omniserve/omniserve: 1 of 3 new replicas updated",
        "… kubernetes-rollout omniserve/omniserve: 2 of 3 new replicas updated",
        "✓ kubernetes-rollout omniserve/omniserve: 3/3 replicas updated",
    ]
