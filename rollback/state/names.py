"""Stack, project and organization names, checked by Pulumi's own rules before they touch a path or key.

The rules (Pulumi's ``sdk/go/common/tokens``: ``ParseStackName``, ``ValidateProjectName``; the DIY
backend's ``projectReferenceStore.ParseReference``; the Cloud backend's ``stackOwnerRegexp``):

- a stack or project name is 1 to 100 ASCII letters, digits, ``-``, ``_`` or ``.``;
- on a DIY backend the organization is always ``organization``;
- on Pulumi Cloud an organization (stack owner) is 3 to 40 ASCII letters, digits, ``-`` or ``_``, starting
  and ending with a letter or digit.

``.`` and ``..`` pass Pulumi's character rule but name no stack: as path components they would leave the
folder they belong to, so they are refused too. Names read from a backend listing are filtered with the
same rules (Pulumi skips what does not parse as a name, and so do we).
"""

from __future__ import annotations

import re

from rollback.errors import BadInput

MAX_LENGTH = 100
DIY_ORGANIZATION = "organization"

_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_OWNER = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{1,38}[a-zA-Z0-9]")


def _shown(text: str) -> str:
    from rollback.safetext import one_line

    clean = one_line(text)
    return clean if len(clean) <= 60 else clean[:59] + "…"


def _problem(text: str) -> str | None:
    """Why ``text`` is not a stack or project name, or None when it is one."""
    if not text:
        return "it is empty"
    if len(text) > MAX_LENGTH:
        return f"it is longer than {MAX_LENGTH} characters"
    if _NAME.fullmatch(text) is None:
        bad = next(c for c in text if _NAME.fullmatch(c) is None)
        return f"it contains {bad!r}: only ASCII letters, digits, '-', '_' and '.' are allowed"
    if text in (".", ".."):
        return "it is a path component, not a name"
    return None


def is_name(text: str) -> bool:
    """Whether ``text`` is a valid stack or project name (for filtering a listing)."""
    return _problem(text) is None


def check_stack(text: str, *, origin: str = "") -> str:
    """``text`` if it is a valid stack name, else :class:`BadInput` (exit 2) saying why."""
    return _check("stack", text, origin)


def check_project(text: str, *, origin: str = "") -> str:
    """``text`` if it is a valid project name, else :class:`BadInput` saying why (``origin``: where it came
    from, e.g. ``--project`` or a Pulumi.yaml)."""
    return _check("project", text, origin)


def _check(kind: str, text: str, origin: str) -> str:
    problem = _problem(text)
    if problem is not None:
        where = f" (from {origin})" if origin else ""
        raise BadInput(f"{kind} name '{_shown(text)}'{where} is not valid: {problem} (Pulumi's rule for {kind} names)")
    return text


def check_diy_organization(text: str) -> str:
    """A DIY backend has one organization, ``organization`` (as Pulumi requires)."""
    if text != DIY_ORGANIZATION:
        raise BadInput(f"organization '{_shown(text)}' is not valid here: a DIY backend's organization is always "
                       f"'{DIY_ORGANIZATION}' (use {DIY_ORGANIZATION}/PROJECT/STACK, PROJECT/STACK or STACK)")
    return text


def check_cloud_organization(text: str, *, origin: str = "") -> str:
    """A Pulumi Cloud organization (stack owner) name, by the service's rule."""
    if _OWNER.fullmatch(text) is None:
        where = f" (from {origin})" if origin else ""
        raise BadInput(f"organization '{_shown(text)}'{where} is not valid: 3 to 40 ASCII letters, digits, '-' or "
                       f"'_', starting and ending with a letter or digit (Pulumi Cloud's rule)")
    return text
