"""HTTP metrics gate: GET a URL, read a JSON body, hold dotted metric paths to max/min thresholds.

No answer at all (DNS, connection refused, a timeout) is *unknown*: the gate could not reach the service,
which says nothing about its health. A non-2xx answer, a non-JSON body or a metric not reported yet is
*progressing*: the service may be restarting. The runner keeps polling both until the timeout. A threshold violation is unhealthy at
once, with the numbers (``tags.urgent_escalation_share = 0.93 > max 0.2``). Header values are never
shown; the URL is shown without its query string.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from rollback.health.runner import GateResult
from rollback.health.spec import HTTP, HttpSpec, Threshold

MAX_BODY = 5 * 1024 * 1024
_MISSING = object()


def dig(doc: Any, path: str) -> Any:
    """The value at a dotted path (``a.b.0.c``: list items by index), or ``_MISSING``."""
    node = doc
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def fmt(number: float) -> str:
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number) if isinstance(number, float) else str(number)


def judge(doc: Any, thresholds: tuple[Threshold, ...]) -> GateResult:
    """Apply thresholds to a decoded JSON body."""
    violations: list[str] = []
    waiting: list[str] = []
    within: list[str] = []
    for t in thresholds:
        value = dig(doc, t.metric)
        if value is _MISSING or value is None:
            waiting.append(f"{t.metric} not reported yet")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:   # NaN
            shown = json.dumps(value)[:40] if not isinstance(value, (dict, list)) else type(value).__name__
            violations.append(f"{t.metric} = {shown} is not a number")
            continue
        if t.max is not None and value > t.max:
            violations.append(f"{t.metric} = {fmt(value)} > max {fmt(t.max)}")
        elif t.min is not None and value < t.min:
            violations.append(f"{t.metric} = {fmt(value)} < min {fmt(t.min)}")
        else:
            bounds = [f"max {fmt(t.max)}"] if t.max is not None else []
            bounds += [f"min {fmt(t.min)}"] if t.min is not None else []
            within.append(f"{t.metric} = {fmt(value)} ({', '.join(bounds)})")
    if violations:
        return GateResult.unhealthy("; ".join(violations))
    if waiting:
        return GateResult.progressing("; ".join(waiting + within))
    return GateResult.healthy("; ".join(within) if within else "answered 2xx with JSON")


class HttpGate:
    kind = HTTP

    def __init__(self, spec: HttpSpec, *, headers: Mapping[str, str] | None = None,
                 opener: Callable[..., Any] | None = None) -> None:
        """``headers`` are the spec's headers with secrets already decrypted (never shown)."""
        self.spec = spec
        self.name = spec.label
        self._headers = dict(headers or {})
        self._opener = opener

    def _get(self) -> tuple[int, bytes, str]:
        import urllib.request

        request = urllib.request.Request(self.spec.url, method="GET", headers={
            "Accept": "application/json", "User-Agent": "infra-rollback-health", **self._headers})
        open_ = self._opener or urllib.request.urlopen
        with open_(request, timeout=self.spec.request_timeout) as response:
            return response.status, response.read(MAX_BODY + 1), response.headers.get("Content-Type", "")

    def check(self) -> GateResult:
        import urllib.error

        try:
            status, body, content_type = self._get()
        except urllib.error.HTTPError as exc:
            exc.close()
            return GateResult.progressing(f"HTTP {exc.code} {exc.reason}".rstrip())
        except urllib.error.URLError as exc:   # DNS, connection refused, TLS: the service was not reached
            reason = exc.reason
            return GateResult.unknown(f"no answer: {reason.strerror if isinstance(reason, OSError) and reason.strerror else reason}")
        except TimeoutError:
            return GateResult.unknown(f"no answer within {fmt(self.spec.request_timeout)} s")
        except (OSError, ValueError) as exc:
            return GateResult.unknown(f"no answer: {exc.__class__.__name__}")
        if not 200 <= status < 300:
            return GateResult.progressing(f"HTTP {status}")
        if len(body) > MAX_BODY:
            return GateResult.progressing(f"answer larger than {MAX_BODY // (1024 * 1024)} MiB")
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            kind = content_type.split(";")[0].strip() or "no content type"
            return GateResult.progressing(f"HTTP {status} but the answer is not JSON ({kind})")
        return judge(doc, self.spec.thresholds)
