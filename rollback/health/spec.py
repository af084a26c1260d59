"""Health gate declarations: the ``infra-rollback:health`` stack config value, parsed and checked.

The value lives in versioned stack config (``stacks/Pulumi.<stack>.yaml`` under ``config:``, or a
history entry's recorded ``config``), never in code::

    infra-rollback:health:
      timeout: 600          # seconds for all gates together (default 600)
      interval: 5           # poll interval in seconds (default 5)
      gates:
        - kind: kubernetes-rollout   # namespace, deployment; optional context, kubeconfig
        - kind: ecs-service          # cluster, service; optional region
        - kind: http                 # url, thresholds [{metric, max, min}]; optional headers, request_timeout
        - kind: cloudwatch-alarms    # alarms [names]; optional region

Every gate may carry an optional ``name`` (shown in reports). A malformed value raises
:class:`rollback.errors.BadInput` with one line naming the gate index and the key, e.g.
``infra-rollback:health: gates[1] (http): thresholds[0].max: 'high' is not a number``.

Header values may be stack secrets (``{secure: v1:...}``): they stay :class:`SecureValue` here and are
decrypted only when the gate is built; they are never shown.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollback.errors import BadInput

CONFIG_KEY = "infra-rollback:health"
DEFAULT_TIMEOUT = 600.0
DEFAULT_INTERVAL = 5.0
DEFAULT_REQUEST_TIMEOUT = 10.0

KUBERNETES_ROLLOUT = "kubernetes-rollout"
ECS_SERVICE = "ecs-service"
HTTP = "http"
CLOUDWATCH_ALARMS = "cloudwatch-alarms"
KINDS = (KUBERNETES_ROLLOUT, ECS_SERVICE, HTTP, CLOUDWATCH_ALARMS)


@dataclass(frozen=True)
class SecureValue:
    """A ``{secure: ...}`` stack config value: ciphertext only, never printed."""

    ciphertext: str = field(repr=False)

    def __repr__(self) -> str:
        return "[secret]"

    __str__ = __repr__


@dataclass(frozen=True)
class KubernetesRolloutSpec:
    namespace: str
    deployment: str
    context: str | None = None
    kubeconfig: str | None = None
    name: str | None = None
    kind: str = KUBERNETES_ROLLOUT

    @property
    def label(self) -> str:
        return self.name or f"{self.namespace}/{self.deployment}"


@dataclass(frozen=True)
class EcsServiceSpec:
    cluster: str
    service: str
    region: str | None = None
    name: str | None = None
    kind: str = ECS_SERVICE

    @property
    def label(self) -> str:
        return self.name or f"{self.cluster}/{self.service}"


@dataclass(frozen=True)
class Threshold:
    metric: str                       # dotted path into the JSON body, e.g. tags.urgent_escalation_share
    max: float | None = None
    min: float | None = None


@dataclass(frozen=True)
class HttpSpec:
    url: str
    thresholds: tuple[Threshold, ...] = ()
    headers: tuple[tuple[str, str | SecureValue], ...] = ()
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    name: str | None = None
    kind: str = HTTP

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        # Never the query string or user info: they may carry tokens.
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return f"{parts.scheme}://{host}{parts.path}"


@dataclass(frozen=True)
class CloudWatchAlarmsSpec:
    alarms: tuple[str, ...]
    region: str | None = None
    name: str | None = None
    kind: str = CLOUDWATCH_ALARMS

    @property
    def label(self) -> str:
        return self.name or ", ".join(self.alarms)


GateSpec = KubernetesRolloutSpec | EcsServiceSpec | HttpSpec | CloudWatchAlarmsSpec


@dataclass(frozen=True)
class HealthSpec:
    gates: tuple[GateSpec, ...]
    timeout: float = DEFAULT_TIMEOUT
    interval: float = DEFAULT_INTERVAL

    @property
    def has_secrets(self) -> bool:
        return any(isinstance(v, SecureValue) for g in self.gates if isinstance(g, HttpSpec) for _, v in g.headers)


# --------------------------------------------------------------------------- parsing

class _Where:
    """Builds the ``infra-rollback:health: gates[1] (http): key`` prefix of error messages."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def fail(self, key: str, problem: str) -> BadInput:
        return BadInput(f"{self.prefix}: {key}: {problem}" if key else f"{self.prefix}: {problem}")


def _show(value: Any) -> str:
    if isinstance(value, Mapping) and set(value) == {"secure"}:
        return "[secret]"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(where: _Where, key: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise where.fail(key, f"{_show(value)} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise where.fail(key, f"{_show(value)} is not a number") from None
    if not math.isfinite(number):
        raise where.fail(key, f"{_show(value)} is not a finite number")
    if positive and number <= 0:
        raise where.fail(key, f"{_show(value)} must be greater than 0")
    return number


def _text(where: _Where, key: str, value: Any, *, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise where.fail(key, "is required")
        return None
    if isinstance(value, Mapping) and set(value) == {"secure"}:
        raise where.fail(key, "must not be a secret")
    if not isinstance(value, str) or not value.strip():
        raise where.fail(key, f"{_show(value)} is not a non-empty string")
    return value.strip()


def _check_keys(where: _Where, obj: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(str(k) for k in obj if k not in allowed)
    if unknown:
        raise where.fail(unknown[0], f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _parse_kubernetes(where: _Where, g: Mapping[str, Any]) -> KubernetesRolloutSpec:
    _check_keys(where, g, {"kind", "name", "namespace", "deployment", "context", "kubeconfig"})
    return KubernetesRolloutSpec(
        namespace=_text(where, "namespace", g.get("namespace")) or "",
        deployment=_text(where, "deployment", g.get("deployment")) or "",
        context=_text(where, "context", g.get("context"), required=False),
        kubeconfig=_text(where, "kubeconfig", g.get("kubeconfig"), required=False),
        name=_text(where, "name", g.get("name"), required=False),
    )


def _parse_ecs(where: _Where, g: Mapping[str, Any]) -> EcsServiceSpec:
    _check_keys(where, g, {"kind", "name", "cluster", "service", "region"})
    return EcsServiceSpec(
        cluster=_text(where, "cluster", g.get("cluster")) or "",
        service=_text(where, "service", g.get("service")) or "",
        region=_text(where, "region", g.get("region"), required=False),
        name=_text(where, "name", g.get("name"), required=False),
    )


def _parse_threshold(where: _Where, index: int, t: Any) -> Threshold:
    key = f"thresholds[{index}]"
    if not isinstance(t, Mapping):
        raise where.fail(key, f"{_show(t)} is not a mapping with metric and max/min")
    unknown = sorted(str(k) for k in t if k not in {"metric", "max", "min"})
    if unknown:
        raise where.fail(f"{key}.{unknown[0]}", "unknown key (allowed: max, metric, min)")
    metric = _text(where, f"{key}.metric", t.get("metric")) or ""
    if any(not part for part in metric.split(".")):
        raise where.fail(f"{key}.metric", f"{metric!r} is not a dotted path (e.g. tags.share)")
    high = _number(where, f"{key}.max", t["max"]) if t.get("max") is not None else None
    low = _number(where, f"{key}.min", t["min"]) if t.get("min") is not None else None
    if high is None and low is None:
        raise where.fail(key, "needs max and/or min")
    if high is not None and low is not None and low > high:
        raise where.fail(key, f"min {low:g} is greater than max {high:g}")
    return Threshold(metric=metric, max=high, min=low)


def _parse_http(where: _Where, g: Mapping[str, Any]) -> HttpSpec:
    _check_keys(where, g, {"kind", "name", "url", "thresholds", "headers", "request_timeout"})
    url = _text(where, "url", g.get("url")) or ""
    if not url.lower().startswith(("http://", "https://")):
        raise where.fail("url", f"{_show(url)} is not an http:// or https:// URL")
    raw_thresholds = g.get("thresholds") or []
    if not isinstance(raw_thresholds, list):
        raise where.fail("thresholds", "is not a list")
    thresholds = tuple(_parse_threshold(where, i, t) for i, t in enumerate(raw_thresholds))
    raw_headers = g.get("headers") or {}
    if not isinstance(raw_headers, Mapping):
        raise where.fail("headers", "is not a mapping of header name to value")
    headers: list[tuple[str, str | SecureValue]] = []
    for hname, hvalue in raw_headers.items():
        if isinstance(hvalue, Mapping) and set(hvalue) == {"secure"} and isinstance(hvalue["secure"], str):
            headers.append((str(hname), SecureValue(hvalue["secure"])))
        elif isinstance(hvalue, (str, int, float)) and not isinstance(hvalue, bool):
            headers.append((str(hname), str(hvalue)))
        else:
            raise where.fail(f"headers.{hname}", "is not a string or a {secure: ...} value")
    request_timeout = (_number(where, "request_timeout", g["request_timeout"], positive=True)
                       if g.get("request_timeout") is not None else DEFAULT_REQUEST_TIMEOUT)
    return HttpSpec(url=url, thresholds=thresholds, headers=tuple(headers), request_timeout=request_timeout,
                    name=_text(where, "name", g.get("name"), required=False))


def _parse_cloudwatch(where: _Where, g: Mapping[str, Any]) -> CloudWatchAlarmsSpec:
    _check_keys(where, g, {"kind", "name", "alarms", "region"})
    alarms = g.get("alarms")
    if isinstance(alarms, str):
        alarms = [alarms]
    if not isinstance(alarms, list) or not alarms:
        raise where.fail("alarms", "is required: a non-empty list of alarm names")
    names = tuple(_text(where, f"alarms[{i}]", a) or "" for i, a in enumerate(alarms))
    return CloudWatchAlarmsSpec(alarms=names, region=_text(where, "region", g.get("region"), required=False),
                                name=_text(where, "name", g.get("name"), required=False))


_PARSERS: dict[str, Callable[[_Where, Mapping[str, Any]], GateSpec]] = {
    KUBERNETES_ROLLOUT: _parse_kubernetes,
    ECS_SERVICE: _parse_ecs,
    HTTP: _parse_http,
    CLOUDWATCH_ALARMS: _parse_cloudwatch,
}


def parse_health_spec(value: Any, *, source: str = CONFIG_KEY) -> HealthSpec:
    """Parse the ``infra-rollback:health`` value (a mapping, or its JSON text) into a HealthSpec."""
    top = _Where(source)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise top.fail("", "is not a mapping (nor JSON text of one)") from None
    if isinstance(value, Mapping) and set(value) == {"secure"}:
        raise top.fail("", "must not be a secret (only header values may be)")
    if not isinstance(value, Mapping):
        raise top.fail("", f"{_show(value)} is not a mapping with gates")
    _check_keys(top, value, {"timeout", "interval", "gates"})
    timeout = (_number(top, "timeout", value["timeout"], positive=True)
               if value.get("timeout") is not None else DEFAULT_TIMEOUT)
    interval = (_number(top, "interval", value["interval"], positive=True)
                if value.get("interval") is not None else DEFAULT_INTERVAL)
    raw_gates = value.get("gates")
    if not isinstance(raw_gates, list) or not raw_gates:
        raise top.fail("gates", "is required: a non-empty list of gates")
    gates: list[GateSpec] = []
    for index, g in enumerate(raw_gates):
        if not isinstance(g, Mapping):
            raise BadInput(f"{source}: gates[{index}]: {_show(g)} is not a mapping")
        kind = g.get("kind")
        parser = _PARSERS.get(kind) if isinstance(kind, str) else None
        if parser is None:
            problem = "is required" if kind is None else f"{_show(kind)} is not a known gate kind"
            raise BadInput(f"{source}: gates[{index}]: kind: {problem} (known: {', '.join(KINDS)})")
        gates.append(parser(_Where(f"{source}: gates[{index}] ({kind})"), g))
    return HealthSpec(gates=tuple(gates), timeout=timeout, interval=interval)


def load_health_spec(config: Mapping[str, Any] | None, *, source: str = CONFIG_KEY) -> HealthSpec | None:
    """The health spec of a whole stack config mapping, or None when it declares none.

    Accepts the ``config:`` mapping itself (as in a history entry's ``config``) or the whole
    ``Pulumi.<stack>.yaml`` document (with its ``config:`` key).
    """
    if not config:
        return None
    if not isinstance(config, Mapping):
        raise BadInput(f"{source}: stack config is not a mapping")
    if CONFIG_KEY not in config and isinstance(config.get("config"), Mapping):
        config = config["config"]
    value = config.get(CONFIG_KEY)
    if value is None:
        return None
    return parse_health_spec(value, source=source)
