"""What people and programs read: text, markdown and JSON renderings of what actions return.

Pure functions, data in and text out: the CLI prints with them; the actions use only
:mod:`rollback.render.summary` (``summary.lines`` is part of the JSON contract and the audit record).
Every value passing through here has already been made safe (secrets are ``[secret]``).

- :mod:`~rollback.render.sections`  the preview/diff document read into sections (shared by both formats)
- :mod:`~rollback.render.text`      preview, diff, history, show, mark and write-config as plain text
- :mod:`~rollback.render.markdown`  preview and diff as markdown (CI job summaries, PR comments)
- :mod:`~rollback.render.style`     colour (by meaning, NO_COLOR) and wrapping for a terminal
- :mod:`~rollback.render.summary`   the workload, ConfigMap and secret lines a person reads first
- :mod:`~rollback.render.health`    health reports and gate progress lines
"""

from __future__ import annotations

import json
import math
from typing import Any

from rollback.render.markdown import preview_markdown
from rollback.render.text import Options, history_text, mark_text, preview_text, show_text, write_config_text


def to_json(data: Any) -> str:
    """Always valid JSON: a NaN or infinite number (which JSON cannot hold) is written as the string
    ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``."""
    try:
        return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(data), indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


__all__ = ["Options", "history_text", "mark_text", "preview_markdown", "preview_text", "show_text", "to_json",
           "write_config_text"]
