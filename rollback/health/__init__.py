"""Health gates: is the stack healthy after a rollback (or a deploy)?

Gates are declared per stack in versioned stack config (``infra-rollback:health``, see
:mod:`rollback.health.spec`), given expectations from a target checkpoint (:mod:`rollback.health.expect`)
and polled by :func:`rollback.health.runner.run_gates`. Importing this package imports neither boto3
nor kubernetes.
"""

from __future__ import annotations

from rollback.health.expect import Expectations, expectations_from
from rollback.health.runner import (
    HEALTHY,
    PROGRESSING,
    UNHEALTHY,
    UNKNOWN,
    Gate,
    GateReport,
    GateResult,
    GateUnreachable,
    HealthReport,
    run_gates,
)
from rollback.health.spec import (
    CONFIG_KEY,
    HealthSpec,
    load_health_spec,
    parse_health_spec,
)

__all__ = [
    "CONFIG_KEY", "HEALTHY", "PROGRESSING", "UNHEALTHY", "UNKNOWN", "Expectations", "Gate", "GateReport", "GateResult",
    "GateUnreachable", "HealthReport", "HealthSpec", "expectations_from", "load_health_spec", "parse_health_spec",
    "run_gates",
]
