"""Converting the command line's plain values without importing pydantic (start-up time).

Recent Typer releases convert every parameter through a pydantic ``TypeAdapter``: building the first one
imports pydantic, about a third of a command's start-up, to turn ``"5"`` into ``5``. :func:`install`
gives Typer a lighter converter for the plain types this command line declares (``str``, ``int``,
``float``, ``bool``, ``pathlib.Path``, with their optional forms) that accepts only what is unambiguous (``"5"``,
``"0.5"``, any text for ``str``, a path checked by Typer's own path rules) and hands everything else,
and every value it does not take, to Typer's own conversion: the same result and the same error message
either way. On a Typer without this machinery it does nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_INT = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NOT_TAKEN = object()


def install() -> None:
    """Route Typer's parameter conversion through :func:`_light` (once; a no-op on other Typers)."""
    try:
        from typer import _coercion, _param_types, core

        original = core.build_runtime_param
        base = _coercion.RuntimeParam
        coerce_cli_path = _param_types.coerce_cli_path
    except (ImportError, AttributeError):
        return
    if getattr(original, "_infra_rollback", False):
        return

    @dataclass(frozen=True)
    class LightParam(base):  # type: ignore[misc,valid-type]
        descriptor: Any = None

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            out = _convert(self.descriptor, value, param, ctx, coerce_cli_path)
            if out is _NOT_TAKEN:
                return original(self.descriptor)._coerce_value(value, param=param, ctx=ctx)
            return out

    def light(descriptor: Any) -> Any:
        if _handled(descriptor):
            return LightParam(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation,
                              descriptor=descriptor)
        return original(descriptor)

    light._infra_rollback = True  # type: ignore[attr-defined]
    light.original = original  # type: ignore[attr-defined]
    core.build_runtime_param = light


def _handled(descriptor: Any) -> bool:
    info = descriptor.parameter_info
    if getattr(descriptor, "file_annotation", None) is not None or getattr(info, "parser", None) is not None:
        return False
    if getattr(info, "clamp", False) or getattr(info, "formats", None):
        return False
    return descriptor.annotation in (str, int, float, bool, Path)


def _convert(descriptor: Any, value: Any, param: Any, ctx: Any, coerce_cli_path: Any) -> Any:
    """``value`` converted, or :data:`_NOT_TAKEN` for Typer to convert (or refuse) instead."""
    kind, info = descriptor.annotation, descriptor.parameter_info
    if kind is bool:
        return value if isinstance(value, bool) else _NOT_TAKEN
    if kind is str:
        return value if isinstance(value, str) else _NOT_TAKEN
    if kind is Path:
        if isinstance(value, str):
            value = Path(value)
        if not isinstance(value, Path):
            return _NOT_TAKEN
        return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)
    number: Any
    if isinstance(value, str) and (_INT if kind is int else _FLOAT).fullmatch(value):
        number = kind(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or isinstance(value, int)):
        number = kind(value)
    else:
        return _NOT_TAKEN
    if kind is float and not math.isfinite(number):
        return _NOT_TAKEN
    if (info.min is not None and number < info.min) or (info.max is not None and number > info.max):
        return _NOT_TAKEN   # Typer says why
    return number
