"""ECS service gate: the PRIMARY deployment's rollout, task counts, and the running task definition.

- ``rolloutState`` FAILED is unhealthy at once: the deployment circuit breaker has given its verdict
  (its ``rolloutStateReason`` is shown); IN_PROGRESS is progressing; COMPLETED makes the service a
  candidate for healthy. Services without a rollout state (other deployment controllers) must have a
  single deployment instead, as the ``services-stable`` waiter requires.
- ``runningCount == desiredCount``.
- The running task definition (the primary deployment's ``taskDefinition``) is compared with the
  target checkpoint's task definition of the same family *by content* (container images, memory,
  cpu, environment; task cpu and memory), never by revision number: a rollback registers a new
  revision with the old content.

Environment differences name the variable and show only the target's value: the running value may
come from a secret of the bad version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollback.health._aws import aws_client, error_code, one_line, translate
from rollback.health.expect import EcsTaskExpectation, Expectations
from rollback.health.runner import GateResult
from rollback.health.spec import ECS_SERVICE, EcsServiceSpec

_VALUE_LIMIT = 80


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _VALUE_LIMIT else text[: _VALUE_LIMIT - 3] + "..."


def _same_number(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def task_definition_differences(expected: EcsTaskExpectation, actual: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between a target task definition and a running one (empty: same)."""
    diffs: list[str] = []
    for key in ("cpu", "memory"):
        want = getattr(expected, key)
        have = actual.get(key)
        if want is not None and (have is None or not _same_number(want, have)):
            diffs.append(f"task {key} is {have if have is not None else 'unset'}, target {want}")
    running = {str(c.get("name") or ""): c for c in actual.get("containerDefinitions") or [] if isinstance(c, Mapping)}
    wanted = {c.name: c for c in expected.containers}
    for name, want in wanted.items():
        have = running.get(name)
        if have is None:
            diffs.append(f'container "{name}" is missing (target image {want.image})')
            continue
        if want.image is not None and have.get("image") != want.image:
            diffs.append(f'container "{name}": image is {have.get("image")}, target {want.image}')
        if want.memory is not None and not _same_number(have.get("memory"), want.memory):
            diffs.append(f'container "{name}": memory is {have.get("memory", "unset")}, target {want.memory}')
        if want.cpu is not None and not _same_number(have.get("cpu") or 0, want.cpu):
            diffs.append(f'container "{name}": cpu is {have.get("cpu", 0)}, target {want.cpu}')
        have_env = {str(e.get("name")): "" if e.get("value") is None else str(e.get("value"))
                    for e in have.get("environment") or [] if isinstance(e, Mapping)}
        for var in sorted(set(want.environment) | set(have_env)):
            if var not in have_env:
                diffs.append(f'container "{name}": environment {var} is missing '
                             f'(target "{_short(want.environment[var])}")')
            elif var not in want.environment:
                diffs.append(f'container "{name}": environment {var} is set but not in the target')
            elif have_env[var] != want.environment[var]:
                diffs.append(f'container "{name}": environment {var} differs '
                             f'(target "{_short(want.environment[var])}")')
    for name in sorted(set(running) - set(wanted)):
        diffs.append(f'container "{name}" ({running[name].get("image")}) is not in the target')
    return diffs


class EcsServiceGate:
    kind = ECS_SERVICE

    def __init__(self, spec: EcsServiceSpec, *, expectations: Expectations | None = None, client: Any = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.spec = spec
        self.name = spec.label
        self.expectations = expectations
        self._client = client
        self._environ = environ
        self._verdicts: dict[str, tuple[list[str], str]] = {}   # task definition ARN -> (differences, note)

    @property
    def who(self) -> str:
        return f"{self.kind} {self.name}"

    def _ecs(self) -> Any:
        if self._client is None:
            self._client = aws_client("ecs", region=self.spec.region, environ=self._environ, who=self.who)
        return self._client

    def _call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._ecs(), method)(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise translate(exc, who=self.who, call=method) from exc

    def check(self) -> GateResult:
        from botocore.exceptions import BotoCoreError, ClientError

        cluster, service = self.spec.cluster, self.spec.service
        try:
            answer = self._ecs().describe_services(cluster=cluster, services=[service])
        except ClientError as exc:
            if error_code(exc) == "ClusterNotFoundException":
                return GateResult.unhealthy(f"cluster {cluster} not found")
            raise translate(exc, who=self.who, call="describe_services") from exc
        except BotoCoreError as exc:
            raise translate(exc, who=self.who, call="describe_services") from exc
        services = answer.get("services") or []
        if not services:
            failure: dict[str, Any] = next(iter(answer.get("failures") or []), {})
            reason = failure.get("reason") or "not returned"
            return GateResult.unhealthy(f"service {service} not found in cluster {cluster} ({reason})")
        svc = services[0]
        status = svc.get("status")
        if status and status != "ACTIVE":
            return GateResult.unhealthy(f"service {service} is {status}")
        deployments = [d for d in svc.get("deployments") or [] if isinstance(d, Mapping)]
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
        if primary is None:
            return GateResult.progressing("no PRIMARY deployment yet")
        rollout = primary.get("rolloutState")
        if rollout == "FAILED":
            reason = one_line(primary.get("rolloutStateReason") or "no reason given")
            return GateResult.unhealthy(f"rollout FAILED (deployment circuit breaker): {reason}")

        task_def = str(primary.get("taskDefinition") or svc.get("taskDefinition") or "")
        differences, note = self._content(task_def)
        short_td = task_def.rsplit("/", 1)[-1]
        if differences:
            return GateResult.unhealthy(f"running task definition {short_td} differs from the target: "
                                        + "; ".join(differences))

        desired, running = svc.get("desiredCount", 0), svc.get("runningCount", 0)
        counts = f"{running}/{desired} tasks running"
        tail = f"; {note}" if note else ""
        if rollout == "IN_PROGRESS":
            return GateResult.progressing(f"rollout IN_PROGRESS, {counts}{tail}")
        if rollout is None and len(deployments) > 1:
            return GateResult.progressing(f"{len(deployments)} deployments active, {counts}{tail}")
        if running != desired:
            return GateResult.progressing(f"{counts}{tail}")
        done = f"rollout {rollout}, " if rollout else ""
        return GateResult.healthy(f"{done}{counts}, task definition {short_td}{tail}")

    def _content(self, task_def: str) -> tuple[list[str], str]:
        """(differences, note) of the running task definition against the target, cached per ARN."""
        if self.expectations is None:
            return [], ""
        if not task_def:
            return [], "content not compared: the primary deployment names no task definition"
        if task_def in self._verdicts:
            return self._verdicts[task_def]
        answer = self._call("describe_task_definition", taskDefinition=task_def)
        actual = answer.get("taskDefinition") or {}
        family = str(actual.get("family") or "")
        expected = self.expectations.ecs.get(family)
        if expected is None:
            verdict: tuple[list[str], str] = (
                [], f"content not compared: the target has no task definition of family {family}")
        elif expected.skipped:
            verdict = ([], expected.skipped)
        else:
            differences = task_definition_differences(expected, actual)
            verdict = (differences, "" if differences else "content matches the target")
        self._verdicts[task_def] = verdict
        return verdict
