"""Colour and width for text on a terminal: styles by meaning, never inside values.

Renderers build lines from :class:`Span` pieces (text and a style name); :func:`paint` makes each piece
inert (:func:`rollback.safetext.one_line`) and, when colour is on, wraps it in the style's ANSI codes.
Colour follows the usual rules (:func:`color_wanted`): on only for a terminal, off with ``NO_COLOR`` (any
value) or ``--no-color``, forced with ``FORCE_COLOR``. :func:`wrap` breaks long lines at spaces only, so an
ARN or an image name is never split or cut, and continues them under an indent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import IO, Any

from rollback.safetext import one_line

STYLES = {
    "delete": "31",        # red: deletes, refusals, data loss
    "refuse": "1;31",
    "replace": "33",       # yellow: replacements, worries
    "worry": "33",
    "create": "32",        # green: creates
    "ok": "32",
    "bold": "1",
    "dim": "2",
}

Span = tuple[str, str | None]
Line = str | list[Span]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def color_wanted(stream: IO[str] | Any, environ: Mapping[str, str] | None = None) -> bool:
    """Colour for ``stream``: never with ``NO_COLOR`` set (https://no-color.org), always with
    ``FORCE_COLOR`` set, else only when it is a terminal."""
    env = os.environ if environ is None else environ
    if "NO_COLOR" in env:
        return False
    if env.get("FORCE_COLOR"):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def paint(line: Line, *, color: bool) -> str:
    """One line: every piece made inert, then coloured by its style when ``color``."""
    spans: Iterable[Span] = [(line, None)] if isinstance(line, str) else line
    out = []
    for text, style in spans:
        safe = one_line(text)
        code = STYLES.get(style or "")
        out.append(f"\x1b[{code}m{safe}\x1b[0m" if color and code and safe else safe)
    return "".join(out)


def visible_len(text: str) -> int:
    return len(_ANSI.sub("", text))


def wrap(line: str, width: int | None, *, indent: int = 4) -> list[str]:
    """``line`` broken at spaces to fit ``width`` (None: as it is); continuation lines are indented by the
    line's own indent plus ``indent``. A word longer than the width stays whole on a line of its own."""
    if width is None or width < 20 or visible_len(line) <= width:
        return [line]
    lead = len(line) - len(line.lstrip(" "))
    pad = " " * (lead + indent)
    words = line[lead:].split(" ")
    out: list[str] = []
    current = line[:lead]
    length = lead
    for word in words:
        w = visible_len(word)
        start = length == (lead if not out else len(pad))
        if not start and length + 1 + w > width:
            out.append(current)
            current, length = pad + word, len(pad) + w
        else:
            current += ("" if start else " ") + word
            length += (0 if start else 1) + w
    out.append(current)
    return out
