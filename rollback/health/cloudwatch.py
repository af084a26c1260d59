"""CloudWatch alarms gate: named alarms must exist and must not be in ALARM.

ALARM or a missing alarm is unhealthy (naming it); INSUFFICIENT_DATA is progressing (a fresh alarm, or
a metric not reported yet); all OK is healthy. Metric and composite alarms are both looked up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollback.health._aws import aws_client, one_line, translate
from rollback.health.runner import GateResult
from rollback.health.spec import CLOUDWATCH_ALARMS, CloudWatchAlarmsSpec

_BATCH = 100          # describe_alarms takes at most 100 names


class CloudWatchAlarmsGate:
    kind = CLOUDWATCH_ALARMS

    def __init__(self, spec: CloudWatchAlarmsSpec, *, client: Any = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.spec = spec
        self.name = spec.label
        self._client = client
        self._environ = environ

    @property
    def who(self) -> str:
        return f"{self.kind} {self.name}"

    def _cloudwatch(self) -> Any:
        if self._client is None:
            self._client = aws_client("cloudwatch", region=self.spec.region, environ=self._environ, who=self.who)
        return self._client

    def _states(self) -> dict[str, tuple[str, str]]:
        from botocore.exceptions import BotoCoreError, ClientError

        found: dict[str, tuple[str, str]] = {}
        names = list(self.spec.alarms)
        for start in range(0, len(names), _BATCH):
            kwargs: dict[str, Any] = {"AlarmNames": names[start:start + _BATCH],
                                      "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
            while True:
                try:
                    page = self._cloudwatch().describe_alarms(**kwargs)
                except (BotoCoreError, ClientError) as exc:
                    raise translate(exc, who=self.who, call="describe_alarms") from exc
                for alarm in (page.get("MetricAlarms") or []) + (page.get("CompositeAlarms") or []):
                    found[str(alarm.get("AlarmName"))] = (str(alarm.get("StateValue") or ""),
                                                          one_line(alarm.get("StateReason") or "", 160))
                token = page.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        return found

    def check(self) -> GateResult:
        states = self._states()
        bad: list[str] = []
        waiting: list[str] = []
        for name in self.spec.alarms:
            if name not in states:
                bad.append(f"alarm {name} not found")
                continue
            state, reason = states[name]
            if state == "ALARM":
                bad.append(f"alarm {name} is in ALARM" + (f": {reason}" if reason else ""))
            elif state != "OK":
                waiting.append(f"alarm {name} is {state or 'in no state'}")
        if bad:
            return GateResult.unhealthy("; ".join(bad + waiting))
        if waiting:
            return GateResult.progressing("; ".join(waiting))
        count = len(self.spec.alarms)
        return GateResult.healthy(f"{count} alarm{'s' if count != 1 else ''} OK")
