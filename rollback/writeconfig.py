"""Write a version's recorded stack config back into ``stacks/Pulumi.<stack>.yaml`` (``--write-config``).

After a rollback the stack runs the target version's config, but git still holds the bad one: the
next ordinary deploy would bring the bad release back. This module edits the file's ``config:`` block
so the revert can be committed:

- only the lines of keys whose value differs are rewritten; new keys are appended to the block and
  keys the target did not have are removed. Comments, blank lines, key order and the other top-level
  keys (``encryptionsalt``, ``secretsprovider``, ``encryptedkey``, ``environment``) stay as they are;
- secure values (``{"secure": "v1:..."}``) are copied as recorded: the ciphertext is never decrypted.
  That is only sound if the file's secrets provider is the one that made them, so the file's
  ``encryptionsalt`` (passphrase) or ``encryptedkey`` (cloud KMS) is compared with the target
  checkpoint's ``secrets_providers`` when the caller gives it; a mismatch is refused;
- objects and lists are written in block style, as Pulumi writes them.

PyYAML only locates the lines (``yaml.compose`` marks); the edit itself is textual, so everything
outside the changed entries is kept byte for byte.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollback.errors import BadInput, RollbackError
from rollback.models import Deployment, Version

SECRET = "[secret]"
_INDENT = 2


@dataclass
class WriteResult:
    """What :func:`write_stack_config` did. Key names only; no value (secret or not) is kept here."""

    path: Path
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    secret_keys: list[str] = field(default_factory=list)   # keys among the above holding secure values
    written: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def any_change(self) -> bool:
        return bool(self.changed or self.added or self.removed)

    def lines(self) -> list[str]:
        """``~ omniserve:image``, ``+ omniserve:newKey``, ``- omniserve:oldKey`` (secure ones marked ``[secret]``)."""
        def name(key: str) -> str:
            return f"{key} {SECRET}" if key in self.secret_keys else key

        return ([f"~ {name(k)}" for k in self.changed] + [f"+ {name(k)}" for k in self.added]
                + [f"- {name(k)}" for k in self.removed])

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "written": self.written, "changed": list(self.changed),
                "added": list(self.added), "removed": list(self.removed),
                "secret_keys": list(self.secret_keys), "notes": list(self.notes)}


# -- values -------------------------------------------------------------------------------------
def _is_secure(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"secure"} and isinstance(value["secure"], str)


def _has_secure(value: Any) -> bool:
    if _is_secure(value):
        return True
    if isinstance(value, Mapping):
        return any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def _scalar_text(value: Any) -> str:
    """A top-level config scalar as Pulumi sees it (config values are strings: ``3`` and ``"3"`` are equal)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _same(current: Any, recorded: Any) -> bool:
    scalars = (str, int, float, bool, type(None))
    if isinstance(current, scalars) and isinstance(recorded, scalars):
        return _scalar_text(current) == _scalar_text(recorded)
    return _canonical(current) == _canonical(recorded)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_./@+=,:~-][A-Za-z0-9_./@+=,:~ -]*$")


def _scalar_yaml(value: Any) -> str:
    """One scalar, as Pulumi's YAML writer would put it: plain when unambiguous, else double-quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    if text and _PLAIN_SAFE.match(text) and not text.endswith((" ", ":")) and ": " not in text \
            and " #" not in text:
        import yaml

        try:
            if yaml.safe_load(text) == text:
                return text
        except yaml.YAMLError:
            pass
    return json.dumps(text, ensure_ascii=False)


def _key_yaml(key: str) -> str:
    return key if _scalar_yaml(key) == key else json.dumps(key, ensure_ascii=False)


def render_entry(key: str, value: Any, indent: int) -> list[str]:
    """``key: value`` lines at ``indent``; objects and lists in block style (lists indented under the key)."""
    pad = " " * indent
    head = f"{pad}{_key_yaml(key)}:"
    if isinstance(value, Mapping):
        if not value:
            return [f"{head} {{}}"]
        return [head] + [line for k, v in value.items() for line in render_entry(str(k), v, indent + _INDENT)]
    if isinstance(value, list):
        if not value:
            return [f"{head} []"]
        return [head] + _render_items(value, indent + _INDENT)
    return [f"{head} {_scalar_yaml(value)}"]


def _render_items(items: list[Any], indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for item in items:
        if isinstance(item, Mapping) and item:
            lines = [line for k, v in item.items() for line in render_entry(str(k), v, indent + 2)]
            out.append(f"{pad}- {lines[0][indent + 2:]}")
            out.extend(lines[1:])
        elif isinstance(item, list) and item:
            lines = _render_items(item, indent + 2)
            out.append(f"{pad}- {lines[0][indent + 2:]}")
            out.extend(lines[1:])
        elif isinstance(item, Mapping):
            out.append(f"{pad}- {{}}")
        elif isinstance(item, list):
            out.append(f"{pad}- []")
        else:
            out.append(f"{pad}- {_scalar_yaml(item)}")
    return out


# -- the file -----------------------------------------------------------------------------------
def _end_line(lines: list[str], node: Any) -> int:
    mark = node.end_mark
    if mark.line >= len(lines):
        return len(lines)
    return mark.line if not lines[mark.line][:mark.column].strip() else mark.line + 1


def _trim(lines: list[str], start: int, end: int) -> int:
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return end


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _check_secrets_provider(doc: Mapping[str, Any], provider: Mapping[str, Any] | None, where: str,
                            notes: list[str]) -> str | None:
    """Refuse when the file's provider did not make the recorded ciphertexts. Returns a salt to add, if any."""
    if not provider:
        notes.append("secure values copied as recorded; the state's secrets provider was not given, "
                     "so it was not checked against the file")
        return None
    kind = str(provider.get("type") or "")
    state = provider.get("state") or {}
    if kind == "passphrase":
        salt = state.get("salt") if isinstance(state, Mapping) else None
        file_salt = doc.get("encryptionsalt")
        if file_salt is None and not doc.get("secretsprovider") and salt:
            return str(salt)
        if not salt or file_salt != salt:
            raise BadInput(f"{where} has a different encryptionsalt than the state: secure values cannot be copied")
    elif kind == "cloud":
        key = state.get("encryptedkey") if isinstance(state, Mapping) else None
        if key and doc.get("encryptedkey") != key:
            raise BadInput(f"{where} has a different encryptedkey than the state: secure values cannot be copied")
    else:
        notes.append(f"secure values copied as recorded; a '{kind or 'unknown'}' secrets provider cannot be "
                     f"checked against the file")
    return None


def write_stack_config(path: Path, recorded: Mapping[str, Any], *,
                       secrets_provider: Mapping[str, Any] | None = None,
                       secrets_provider_note: str | None = None,
                       dry_run: bool = False) -> WriteResult:
    """Make ``path``'s ``config:`` block equal to ``recorded`` (a :attr:`Version.config` mapping).

    ``secrets_provider`` is the target checkpoint's ``secrets_providers`` entry
    (``Deployment.secrets_provider``); when the recorded config holds secure values it is compared
    with the file's ``encryptionsalt`` / ``encryptedkey`` and a mismatch raises :class:`BadInput`.
    A file with no ``encryptionsalt`` gets the state's (passphrase provider). ``secrets_provider_note``
    is carried into :attr:`WriteResult.notes` as is. ``dry_run`` computes the result without writing.
    A missing file is created. The file is replaced atomically, and only when something changed.
    """
    import yaml

    where = _display(path)
    result = WriteResult(path=path)
    if secrets_provider_note:
        result.notes.append(secrets_provider_note)
    for key in recorded:
        if not isinstance(key, str) or not key:
            raise BadInput(f"recorded config has a key that is not a name: {key!r}")
    text, doc, root = _read(path, where)
    current = doc.get("config")
    if current is None:
        current = {}
    if not isinstance(current, dict):
        raise BadInput(f"{where}: 'config' is not a mapping")
    if not recorded and current:
        # A history entry without config (an old or partial UpdateInfo) must not wipe the file.
        raise BadInput(f"{where}: the recorded config is empty; refusing to remove all {len(current)} keys "
                       f"(edit the file by hand if that is really the target's config)")
    add_salt = None
    if any(_has_secure(v) for v in recorded.values()):
        add_salt = _check_secrets_provider(doc, secrets_provider, where, result.notes)
    if doc.get("environment"):
        result.notes.append(f"{where} imports ESC environments: recorded values that came from them are "
                            f"written as stack config keys; review before committing")
    _tally(result, current, recorded)
    if not result.any_change and add_salt is None:
        return result
    new_text = _edit(text, root, {str(k): v for k, v in current.items()}, recorded, add_salt)
    if "\r\n" in text:
        new_text = new_text.replace("\n", "\r\n")
    # The edit must say exactly what was asked: re-read it before replacing the file.
    check = (yaml.safe_load(new_text) or {}).get("config") or {}
    if set(check) != set(recorded) or any(not _same(check[k], v) for k, v in recorded.items()):
        raise BadInput(f"{where}: could not rewrite the config block safely (unusual layout); "
                       f"edit it by hand")
    if not dry_run:
        _replace(path, new_text)
        result.written = True
    return result


def _read(path: Path, where: str) -> tuple[str, dict[str, Any], Any]:
    """The file's text, its document (a mapping; {} when missing or empty) and its YAML node tree."""
    import yaml

    try:
        text = path.read_bytes().decode("utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{where}: cannot read ({exc.__class__.__name__})") from exc
    try:
        doc = yaml.safe_load(text) if text.strip() else {}
        root = yaml.compose(text) if text.strip() else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise BadInput(f"{where}: not valid YAML{at}") from exc
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise BadInput(f"{where}: not a Pulumi stack settings file (top level is not a mapping)")
    return text, doc, root


def _tally(result: WriteResult, current: Mapping[str, Any], recorded: Mapping[str, Any]) -> None:
    """Which keys the write changes, adds and removes, and which of those hold secure values."""
    for key, value in recorded.items():
        if key not in current:
            result.added.append(key)
        elif not _same(current[key], value):
            result.changed.append(key)
        if (key in result.added or key in result.changed) and _has_secure(value):
            result.secret_keys.append(key)
    for key, value in current.items():
        if key not in recorded:
            result.removed.append(str(key))
            if _has_secure(value):
                result.secret_keys.append(str(key))


Edit = tuple[int, int, list[str]]   # (first line, end line, replacement lines)


def _mapping_edits(lines: list[str], pairs: list[Any], current: Mapping[str, Any], wanted: Mapping[str, Any], *,
                   top: bool) -> list[Edit]:
    """Line edits turning a block mapping's entries into ``wanted``; unchanged entries are left alone.

    A changed entry whose old and new values are both non-empty mappings is edited key by key (so
    comments inside it survive); anything else is re-rendered whole. ``top``: compare scalars the way
    Pulumi compares config values (as strings).
    """
    import yaml

    indent = pairs[0][0].start_mark.column
    edits: list[Edit] = []
    last_end = 0
    for k, v in pairs:
        key = str(k.value)
        start = k.start_mark.line
        end = _trim(lines, start, _end_line(lines, v))
        last_end = max(last_end, end)
        if key not in wanted:
            edits.append((start, end, []))
            continue
        old, new = current.get(key), wanted[key]
        if (_same(old, new) if top else _canonical(old) == _canonical(new)):
            continue
        if (isinstance(v, yaml.MappingNode) and not v.flow_style and v.value and isinstance(old, dict)
                and isinstance(new, Mapping) and new and v.start_mark.line > start):
            edits.extend(_mapping_edits(lines, v.value, {str(a): b for a, b in old.items()}, new, top=False))
            continue
        rendered = render_entry(key, new, indent)
        one_line = isinstance(v, yaml.ScalarNode) and v.start_mark.line == start == v.end_mark.line
        if one_line and len(rendered) == 1:
            m = re.match(r"^(\s+#.*)$", lines[start][v.end_mark.column:])
            if m:  # keep a comment that followed the old value
                rendered[0] += m.group(1)
        edits.append((start, end, rendered))
    added = [key for key in wanted if key not in current]
    if added:
        edits.append((last_end, last_end,
                      [line for key in added for line in render_entry(key, wanted[key], indent)]))
    return edits


_LINE_BREAK = re.compile("\r\n|\r|\n|\x85|\u2028|\u2029")   # YAML's line breaks, so that marks match


def _split_lines(text: str) -> list[str]:
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _edit(text: str, root: Any, current: Mapping[str, Any], recorded: Mapping[str, Any],
          add_salt: str | None) -> str:
    import yaml

    lines = _split_lines(text)
    config_key = config_value = None
    if root is not None:
        for k, v in root.value:
            if getattr(k, "value", None) == "config":
                config_key, config_value = k, v
    salt_lines = [f"encryptionsalt: {_scalar_yaml(add_salt)}"] if add_salt else []
    whole = ["config:"] + [line for key in recorded for line in render_entry(key, recorded[key], _INDENT)]

    if config_key is None:   # no config block yet: the salt after the leading comments, the block at the end
        head = 0
        while head < len(lines) and (not lines[head].strip() or lines[head].lstrip().startswith("#")):
            head += 1
        out = lines[:head] + salt_lines + lines[head:]
        while out and not out[-1].strip():
            out.pop()
        return "\n".join(out + whole) + "\n"

    key_line = config_key.start_mark.line
    pairs = config_value.value if isinstance(config_value, yaml.MappingNode) else []
    if not pairs or config_value.flow_style:   # `config:`, `config: {}` or a flow mapping: write it whole
        end = max(_end_line(lines, config_value), key_line + 1)
        return "\n".join(lines[:key_line] + salt_lines + whole + lines[end:]) + "\n"

    out = list(lines)
    for start, end, new in sorted(_mapping_edits(lines, pairs, current, recorded, top=True), reverse=True):
        out[start:end] = new
    return "\n".join(out[:key_line] + salt_lines + out[key_line:]) + "\n"


def _replace(path: Path, text: str) -> None:
    """Replace the file atomically, keeping its permissions (:func:`rollback.state.store.replace_file`)."""
    from rollback.state.store import replace_file

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o7777 if path.exists() else None
        replace_file(path, text.encode("utf-8"), mode=mode)
    except OSError as exc:
        raise BadInput(f"{_display(path)}: cannot write ({exc.strerror or exc.__class__.__name__})") from exc


def _probe_folder(path: Path) -> None:
    """Whether the file's folder (or the nearest one that exists, where it would be made) takes a new file:
    a temporary file created and removed there. BadInput naming the file when not."""
    import tempfile

    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".infra-rollback.tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise BadInput(f"{_display(path)}: cannot write ({exc.strerror or exc.__class__.__name__})") from exc


def _target_config(cwd: Path, stack: str, target: Version) -> tuple[Path, dict[str, Any]]:
    """The stack config file's path and the config to write into it: version ``target``'s recorded config;
    Pulumi Cloud's history hides secure values, and for those keys the file keeps what it has."""
    from rollback.stackconfig import StackConfigFile, reveal_hidden, stack_config_path

    file = StackConfigFile.find(cwd, stack)
    local = file.config if file is not None else {}
    recorded, missing = reveal_hidden(target.config, local)
    recorded.update({key: local[key] for key in missing if key in local})
    return (file.path if file is not None else stack_config_path(cwd, stack)), recorded


def check_target_config(cwd: Path, stack: str, target: Version, deployment: Deployment) -> list[str]:
    """Before the apply: what would stop :func:`write_target_config` afterwards (the file unreadable, its
    salt or key not the state's, a layout it cannot edit safely, a folder that takes no file). Reasons to
    refuse the rollback; empty when the write will go through. Writes nothing."""
    try:
        path, recorded = _target_config(cwd, stack, target)
        write_stack_config(path, recorded, secrets_provider=deployment.secrets_provider, dry_run=True)
        _probe_folder(path)
    except RollbackError as exc:
        return [f"--write-config could not write v{target.number}'s config afterwards: {exc.message}"]
    return []


def write_version_config(cwd: Path, stack: str, target: Version, deployment: Deployment, *,
                         dry_run: bool = False) -> WriteResult:
    """Write version ``target``'s recorded config into the stack's config file (``dry_run``: only say what
    would change). Pulumi Cloud's history hides secure values: for those keys the file keeps what it has."""
    path, recorded = _target_config(cwd, stack, target)
    return write_stack_config(path, recorded, secrets_provider=deployment.secrets_provider, dry_run=dry_run)


def write_target_config(cwd: Path, stack: str, target: Version, deployment: Deployment) -> str:
    """``--write-config``: write version ``target``'s recorded config into the stack's config file; a note."""
    result = write_version_config(cwd, stack, target, deployment)
    if not result.any_change:
        return f"{result.path}: already holds v{target.number}'s config"
    return (f"{result.path}: wrote v{target.number}'s config ({'; '.join(result.lines())}); "
            f"commit it so the next deploy does not bring the bad release back")
