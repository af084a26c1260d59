"""The stack config ``Pulumi.<stack>.yaml``: where it lives, reading it, comparing two configs, Pulumi
Cloud's hidden secrets. Writing it back is :mod:`rollback.writeconfig`; ``Pulumi.yaml`` is :mod:`rollback.project`.

Where ``Pulumi.<stack>.yaml`` lives, one rule for every command (deploy, verify, the health gates,
``--write-config``): the ``stackConfigDir`` that ``Pulumi.yaml`` names, else ``stacks/``, else the project
directory; ``.yaml`` before ``.yml``. A missing file is reported at the first of those places.

Configs are compared as Pulumi records them (top-level scalars as strings) and secure values by
decrypted value. The comparison fails CLOSED: a secure value that cannot be revealed (no passphrase, or
Pulumi Cloud's history, which hides secure values as ``{"secure": "[secret]"}``) makes the answer
``unknown``, never ``different``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollback.errors import BadInput, SecretsError
from rollback.models import Word
from rollback.project import read_project_file

HIDDEN = "[secret]"          # a secure value Pulumi Cloud's history does not show (never a ciphertext)


def stack_config_path(cwd: Path, stack: str) -> Path:
    """Where ``Pulumi.<stack>.yaml`` lives (the rule above); ``stack`` may be ``org/project/stack``."""
    short = stack.rsplit("/", 1)[-1]
    candidates: list[Path] = []
    project = read_project_file(cwd) or {}
    config_dir = project.get("stackConfigDir")
    if isinstance(config_dir, str) and config_dir:
        candidates.append(cwd / config_dir)
    candidates += [cwd / "stacks", cwd]
    for directory in candidates:
        for ext in ("yaml", "yml"):
            path = directory / f"Pulumi.{short}.{ext}"
            if path.is_file():
                return path
    return candidates[0] / f"Pulumi.{short}.yaml"


def read_stack_config(path: Path) -> dict[str, Any]:
    """A ``Pulumi.<stack>.yaml`` document as a mapping (BadInput naming the file when unreadable)."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{path}: stack config file not found") from None
    except (OSError, yaml.YAMLError) as exc:
        raise BadInput(f"{path}: not readable as YAML ({exc.__class__.__name__})") from exc
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise BadInput(f"{path}: not a mapping")
    return doc


@dataclass(frozen=True)
class StackConfigFile:
    """One ``Pulumi.<stack>.yaml``: its ``config:`` block and its passphrase salt."""

    path: Path
    doc: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.doc.get("config") or {}, dict):
            raise BadInput(f"{self.path}: 'config' is not a mapping")

    @classmethod
    def find(cls, cwd: Path, stack: str) -> StackConfigFile | None:
        """The stack's config file, or None when there is none."""
        path = stack_config_path(cwd, stack)
        return cls(path, read_stack_config(path)) if path.is_file() else None

    @classmethod
    def require(cls, cwd: Path, stack: str) -> StackConfigFile:
        found = cls.find(cwd, stack)
        if found is None:
            raise BadInput(f"{stack_config_path(cwd, stack)}: stack config file not found")
        return found

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.doc.get("config") or {})

    @property
    def salt(self) -> str | None:
        salt = self.doc.get("encryptionsalt")
        return salt if isinstance(salt, str) and salt else None

    def decrypter(self, passphrase: Callable[[], str | None]) -> Callable[[str], str] | None:
        """Decrypts this file's ``secure:`` values; see :func:`decrypter_for`."""
        return decrypter_for(self.salt, passphrase, source=str(self.path))


def decrypter_for(salt: Any, passphrase: Callable[[], str | None], *, source: str) -> Callable[[str], str] | None:
    """Decrypts ``secure:`` config values of a stack whose passphrase provider has ``salt``; None without a
    salt or a passphrase. A wrong passphrase is a :class:`SecretsError` now; a value that does not
    decrypt, one when it is used."""
    if not isinstance(salt, str) or not salt:
        return None
    phrase = passphrase()
    if phrase is None:
        return None
    from rollback.state.secrets import PassphraseCrypter

    crypter = PassphraseCrypter.from_salt(salt, phrase, source=source)

    def decrypt(ciphertext: str) -> str:
        try:
            return crypter.decrypt(ciphertext)
        except Exception as exc:   # InvalidTag, a malformed ciphertext: cryptography's own errors
            raise SecretsError(f"{source}: a secure value could not be decrypted") from exc

    return decrypt


# -- comparing configs ----------------------------------------------------------------------------

class Sameness(Word):
    SAME = "same"
    DIFFERENT = "different"
    UNKNOWN = "unknown"          # only secure values differ in ciphertext, and some cannot be revealed


@dataclass(frozen=True)
class Comparison:
    verdict: Sameness
    unknown: tuple[str, ...] = ()        # secure keys that could not be compared
    why: str = ""                        # why not (no passphrase, hidden by Pulumi Cloud, ...)


def _normal(value: Any, *, top: bool) -> Any:
    """Config values as Pulumi records them: top-level scalars are strings; secure values as-is."""
    if isinstance(value, dict):
        return {str(k): _normal(v, top=False) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v, top=False) for v in value]
    if isinstance(value, bool):
        return ("true" if value else "false") if top else value
    if isinstance(value, (int, float)):
        return str(value) if top else float(value)
    return value


def _secure(value: Any) -> str | None:
    return value["secure"] if isinstance(value, dict) and set(value) == {"secure"} else None


def compare_configs(a: Mapping[str, Any], b: Mapping[str, Any], *,
                    reveal: Callable[[str], str] | None) -> Comparison:
    """Whether two stack configs are the same: secure values by decrypted value, failing closed."""
    if set(a) != set(b):
        return Comparison(Sameness.DIFFERENT)
    unknown: list[str] = []
    why = ""
    for key in a:
        x, y = _secure(a[key]), _secure(b[key])
        if x is None or y is None:
            if _normal(a[key], top=True) != _normal(b[key], top=True):
                return Comparison(Sameness.DIFFERENT)
            continue
        if x == y and HIDDEN not in (x, y):
            continue
        if HIDDEN in (x, y):
            unknown.append(key)
            why = why or "Pulumi Cloud's history does not show secure values"
            continue
        if reveal is None:
            unknown.append(key)
            why = why or "no passphrase (set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE)"
            continue
        try:
            if reveal(x) != reveal(y):
                return Comparison(Sameness.DIFFERENT)
        except SecretsError as exc:
            unknown.append(key)
            why = why or exc.message
    return Comparison(Sameness.UNKNOWN, tuple(unknown), why) if unknown else Comparison(Sameness.SAME)


# -- Pulumi Cloud's hidden secure values ------------------------------------------------------------

def hidden_keys(config: Mapping[str, Any]) -> list[str]:
    """Keys whose secure value the backend's history hides (``{"secure": "[secret]"}``)."""
    return [k for k, v in config.items() if _secure(v) == HIDDEN]


def reveal_hidden(recorded: Mapping[str, Any], local: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``recorded`` with each hidden secure value replaced by ``local``'s secure value for that key (the
    stack file); the keys ``local`` has no secure value for are left out, and returned."""
    config = dict(recorded)
    missing = []
    for key in hidden_keys(recorded):
        if _secure(local.get(key)) is not None:
            config[key] = local[key]
        else:
            del config[key]
            missing.append(key)
    return config, missing
