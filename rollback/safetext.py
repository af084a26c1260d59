"""Text other people control, made safe to show: on a terminal, in a one-line error, in markdown.

Update messages, mark reasons, lock owners, stack names and environment values come from whoever wrote
the state or the backend. Shown raw they could move the cursor, recolour or hide text (ANSI escapes),
break a one-line error into several (newlines), or, in a CI job summary, add a fake "Approved" heading,
a link or raw HTML.

- :func:`one_line`: escape sequences and control or invisible formatting characters removed; line
  breaks and tabs become spaces. For terminal text and every error line.
- :func:`md_text`: :func:`one_line`, then every ASCII punctuation character backslash-escaped
  (CommonMark allows exactly those), so a renderer shows the text and interprets nothing: no heading,
  list, quote, emphasis, link, autolink, image, raw HTML, entity, table pipe or code fence.
- :func:`md_code`: :func:`one_line` in a code span that the text cannot close (pipes escaped inside a
  table cell, as GitHub's tables require).
"""

from __future__ import annotations

import re
import unicodedata

# ESC-introduced sequences (CSI ... final byte, OSC/DCS/SOS/PM/APC ... terminator, two-byte escapes) and
# their 8-bit C1 forms.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"                      # CSI
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]"                                      # other escapes (ESC c, ESC ( B, ...)
)
_BREAKS = {"\n", "\r", "\t", "\v", "\f", "\x85", "\u2028", "\u2029"}
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def one_line(text: object, *, limit: int | None = None) -> str:
    """``text`` as one line of plain, inert text (``limit``: at most that many characters, then "…")."""
    s = text if isinstance(text, str) else str(text)
    if not (s.isprintable() and s.isascii()):
        s = _ESCAPES.sub("", s)
        s = "".join(" " if c in _BREAKS else c for c in s
                    if c in _BREAKS or unicodedata.category(c) not in ("Cc", "Cf", "Cs"))
    if limit is not None and len(s) > limit:
        s = s[: max(0, limit - 1)] + "…"
    return s


def md_text(text: object) -> str:
    """``text`` as inline markdown that renders as exactly :func:`one_line` of it."""
    return "".join("\\" + c if c in _PUNCTUATION else c for c in one_line(text))


def md_code(text: object, *, table: bool = False) -> str:
    """``text`` as a code span it cannot break out of; ``table``: inside a GitHub table cell."""
    s = one_line(text)
    longest = max((len(run) for run in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    if s.startswith("`") or s.endswith("`") or (s.startswith(" ") and s.endswith(" ") and s.strip()):
        s = f" {s} "
    if table:
        s = s.replace("|", "\\|")
    return f"{fence}{s}{fence}" if s else "` `"
