"""Gate objects from a HealthSpec: the one place that knows which class serves which ``kind``.

Heavy clients (boto3, kubernetes) are created on a gate's first check, not here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rollback.errors import BadInput
from rollback.health.expect import Expectations
from rollback.health.runner import Gate
from rollback.health.spec import (
    CloudWatchAlarmsSpec,
    EcsServiceSpec,
    GateSpec,
    HealthSpec,
    HttpSpec,
    KubernetesRolloutSpec,
    SecureValue,
)

#: Decrypts a stack config ``secure:`` ciphertext into its plaintext string.
Decrypt = Callable[[str], str]


def _headers(spec: HttpSpec, decrypt: Decrypt | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in spec.headers:
        if isinstance(value, SecureValue):
            if decrypt is None:
                raise BadInput(f"{spec.kind} {spec.label}: header {name} is a secret and cannot be decrypted here "
                               f"(set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE)")
            headers[name] = decrypt(value.ciphertext)
        else:
            headers[name] = value
    return headers


def build_gate(spec: GateSpec, *, expectations: Expectations | None = None,
               environ: Mapping[str, str] | None = None, decrypt: Decrypt | None = None) -> Gate:
    if isinstance(spec, KubernetesRolloutSpec):
        from rollback.health.kubernetes import KubernetesRolloutGate

        return KubernetesRolloutGate(spec, expectations=expectations, environ=environ)
    if isinstance(spec, EcsServiceSpec):
        from rollback.health.ecs import EcsServiceGate

        return EcsServiceGate(spec, expectations=expectations, environ=environ)
    if isinstance(spec, HttpSpec):
        from rollback.health.http import HttpGate

        return HttpGate(spec, headers=_headers(spec, decrypt))
    if isinstance(spec, CloudWatchAlarmsSpec):
        from rollback.health.cloudwatch import CloudWatchAlarmsGate

        return CloudWatchAlarmsGate(spec, environ=environ)
    raise BadInput(f"unknown health gate {spec!r}")


def build_gates(spec: HealthSpec, *, expectations: Expectations | None = None,
                environ: Mapping[str, str] | None = None, decrypt: Decrypt | None = None) -> list[Gate]:
    return [build_gate(g, expectations=expectations, environ=environ, decrypt=decrypt) for g in spec.gates]
