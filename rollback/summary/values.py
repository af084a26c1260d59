"""Values as the workload summary compares and shows them: secrets opened into :class:`Revealed` leaves
(or :class:`Opaque` ones that cannot be opened), compared by value (Kubernetes quantities as numbers:
``"1000m" == "1"``), shown as ``[secret]``.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from rollback.state.secrets import SecretBox, SecretUnavailable
from rollback.state.values import SECRET_TEXT, Revealed, Secret, to_display


class Opaque:
    """A secret that cannot be revealed here."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return SECRET_TEXT

    __str__ = __repr__


class Unknown(Exception):
    """A comparison that needs a secret we cannot open."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def hide(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: hide(x) for k, x in v.items()}
    if isinstance(v, list):
        return [hide(x) for x in v]
    if isinstance(v, (Revealed, Opaque)):
        return v
    return Revealed(v)


def reveal_all(v: Any, box: SecretBox) -> Any:
    """The value with every secret revealed into :class:`Revealed` leaves (or :class:`Opaque`)."""
    if isinstance(v, Secret):
        try:
            inner = box.reveal(v)
        except SecretUnavailable as exc:
            return Opaque(str(exc))
        return hide(reveal_all(inner, box))
    if isinstance(v, dict):
        return {k: reveal_all(x, box) for k, x in v.items()}
    if isinstance(v, list):
        return [reveal_all(x, box) for x in v]
    return v


def is_secret(v: Any) -> bool:
    if isinstance(v, (Revealed, Opaque)):
        return True
    if isinstance(v, dict):
        return any(is_secret(x) for x in v.values())
    if isinstance(v, list):
        return any(is_secret(x) for x in v)
    return False


def plain(v: Any) -> Any:
    """A comparable value (secrets unwrapped); raises Unknown for a secret we cannot open."""
    if isinstance(v, Revealed):
        return v.value
    if isinstance(v, Opaque):
        raise Unknown(v.reason)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items() if not k.startswith("__")}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def get(obj: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(key, int):
            if not isinstance(obj, list) or key >= len(obj):
                return None
            obj = obj[key]
        else:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(key)
    return obj


def json_doc(v: Any) -> Any:
    """Parse a JSON string (possibly from a secret: the parsed leaves stay hidden)."""
    if isinstance(v, Revealed) and isinstance(v.value, str):
        try:
            return hide(json.loads(v.value))
        except ValueError:
            return None
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return None
    return None


def as_text(v: Any) -> str | None:
    """Display text for a scalar-ish value."""
    if v is None:
        return None
    if isinstance(v, (Revealed, Opaque)):
        return SECRET_TEXT
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float, str)):
        return str(v)
    if is_secret(v):
        return SECRET_TEXT
    return json.dumps(to_display(v), sort_keys=True, ensure_ascii=False)


# Kubernetes quantities: "1000m" == "1", "1Gi" == "1024Mi" (compare, but display as written).
_SUFFIXES = {
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60, "n": Decimal("1e-9"), "u": Decimal("1e-6"),
    "m": Decimal("1e-3"), "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"),
    "T": Decimal("1e12"), "P": Decimal("1e15"), "E": Decimal("1e18"),
}


def as_quantity(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return Decimal(str(v))
    if isinstance(v, str):
        s = v.strip()
        for suffix in sorted(_SUFFIXES, key=len, reverse=True):
            if s.endswith(suffix):
                try:
                    return Decimal(s[: -len(suffix)]) * _SUFFIXES[suffix]
                except InvalidOperation:
                    return v
        try:
            return Decimal(s)
        except InvalidOperation:
            return v
    return v


def same(a: Any, b: Any, *, quantity: bool = False) -> bool:
    """Equal by value (secrets revealed); raises Unknown when a secret cannot be opened."""
    pa, pb = plain(a), plain(b)
    if quantity:
        return bool(as_quantity(pa) == as_quantity(pb))
    return json_equal(pa, pb)


def json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and bool(a == b)
