"""Property paths in Pulumi's text form: ``spec.containers[0].image``, ``metadata.annotations["a/b"]``.

A path is a tuple of keys (``str``) and list indexes (``int``); :func:`parse_path` and :func:`format_path`
convert from and to the text form (Pulumi's ``PropertyPath``), where ``*`` / ``[*]`` is a wildcard
(:data:`ANY`): :func:`covers` and :func:`overlaps` match patterns (``ignoreChanges``, replacement rules).
"""

from __future__ import annotations

from collections.abc import Sequence


class _Wildcard:
    """``*`` in a path pattern: any key or index (use the one instance, :data:`ANY`)."""

    def __repr__(self) -> str:
        return "*"


ANY = _Wildcard()
PathElem = str | int | _Wildcard
Path = tuple[PathElem, ...]


def _needs_quotes(key: str) -> bool:
    # Pulumi's PropertyPath.String quotes a key holding anything but ASCII letters, digits and '_'.
    return key == "" or any(not (c.isascii() and (c.isalnum() or c == "_")) for c in key)


def format_path(path: Sequence[PathElem]) -> str:
    """``("spec", "containers", 0, "image")`` -> ``spec.containers[0].image``."""
    out: list[str] = []
    for i, elem in enumerate(path):
        if isinstance(elem, _Wildcard):
            out.append("[*]" if i else "*")
        elif isinstance(elem, int):
            out.append(f"[{elem}]")
        elif _needs_quotes(elem):
            escaped = elem.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'["{escaped}"]')
        else:
            out.append(f".{elem}" if i else elem)
    return "".join(out)


def parse_path(text: str) -> Path:
    """Parse Pulumi's property path syntax (as used by ``ignoreChanges`` / ``replaceOnChanges``).

    Raises ``ValueError`` on malformed input.
    """
    elems: list[PathElem] = []
    i, n = 0, len(text)
    expect_key = True
    while i < n:
        c = text[i]
        if c == "[":
            j = i + 1
            if j < n and text[j] == '"':
                j += 1
                buf: list[str] = []
                while j < n and text[j] != '"':
                    if text[j] == "\\" and j + 1 < n:
                        j += 1
                    buf.append(text[j])
                    j += 1
                if j + 1 >= n or text[j + 1] != "]":
                    raise ValueError(f"unterminated quoted key in property path {text!r}")
                elems.append("".join(buf))
                i = j + 2
            else:
                end = text.find("]", j)
                if end < 0:
                    raise ValueError(f"unterminated index in property path {text!r}")
                inner = text[j:end].strip()
                if inner == "*":
                    elems.append(ANY)
                elif inner.isdigit():
                    elems.append(int(inner))
                else:
                    raise ValueError(f"bad index {inner!r} in property path {text!r}")
                i = end + 1
            expect_key = False
        elif c == ".":
            if expect_key:
                raise ValueError(f"unexpected '.' in property path {text!r}")
            i += 1
            expect_key = True
        else:
            j = i
            while j < n and text[j] not in ".[":
                j += 1
            key = text[i:j]
            elems.append(ANY if key == "*" else key)
            i = j
            expect_key = False
    if expect_key and elems:
        raise ValueError(f"property path {text!r} ends with '.'")
    return tuple(elems)


def as_path(path: str | Sequence[PathElem]) -> Path:
    return parse_path(path) if isinstance(path, str) else tuple(path)


def _elem_matches(pattern: PathElem, elem: PathElem) -> bool:
    return isinstance(pattern, _Wildcard) or isinstance(elem, _Wildcard) or pattern == elem


def covers(pattern: Sequence[PathElem], path: Sequence[PathElem]) -> bool:
    """True if ``path`` is ``pattern`` or lies below it (wildcards allowed in the pattern)."""
    return len(pattern) <= len(path) and all(_elem_matches(p, e) for p, e in zip(pattern, path))


def overlaps(pattern: Sequence[PathElem], path: Sequence[PathElem]) -> bool:
    """True if one path lies within the other: a change at either level touches the other."""
    return all(_elem_matches(p, e) for p, e in zip(pattern, path))
