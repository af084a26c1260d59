"""Provenance: what made each state version, so that a rollback can make it again.

A Terraform state records the result, not the inputs: to apply version N again we need the commit its
configuration came from and the variable values it was applied with. ``deploy`` (and the rollback
itself) write one record per state version they leave, keyed by the state's lineage and serial:
``<records prefix>/provenance/<lineage>/<serial>.json`` in the backend (see
:mod:`rollback.terraform.backends`), so everyone who uses the backend sees the same records.

Variables are recorded as given to the engine. A sensitive one (declared ``sensitive = true``, or named
by the caller) never appears in clear: it is encrypted with AES-256-GCM under a key derived from
``INFRA_ROLLBACK_PASSPHRASE`` (or the file ``INFRA_ROLLBACK_PASSPHRASE_FILE``) and a per-record salt
(``{"secure": "v1:..."}``); without a passphrase it is recorded as a reference to the environment variable
that must supply it at rollback time (``{"from_env": "TF_VAR_name"}``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollback.errors import SecretsError, StateError
from rollback.state.store import NotFoundInStore, Store

PASSPHRASE_ENV = "INFRA_ROLLBACK_PASSPHRASE"
PASSPHRASE_FILE_ENV = "INFRA_ROLLBACK_PASSPHRASE_FILE"
FORMAT = 1


def passphrase_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    if env.get(PASSPHRASE_ENV):
        return env[PASSPHRASE_ENV]
    path = env.get(PASSPHRASE_FILE_ENV)
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read().rstrip("\r\n")
        except OSError as exc:
            raise SecretsError(f"cannot read {PASSPHRASE_FILE_ENV} {path}: {exc.strerror or exc}") from exc
    return None


@dataclass(frozen=True)
class Provenance:
    lineage: str
    serial: int
    commit: str | None                 # the git commit the configuration came from
    subdir: str = ""                   # the working directory, relative to the repository root
    dirty: bool = False
    branch: str | None = None
    workspace: str = "default"
    variables: dict[str, Any] = field(default_factory=dict, repr=False)   # secret ones sealed
    secrets_salt: str | None = field(default=None, repr=False)
    kind: str = "update"               # update | rollback
    result: str = "succeeded"          # succeeded | failed
    engine: str = ""
    engine_version: str = ""
    started_at: str = ""
    finished_at: str = ""
    changes: dict[str, int] = field(default_factory=dict)
    message: str = ""
    actor: dict[str, Any] = field(default_factory=dict)

    @property
    def secret_names(self) -> tuple[str, ...]:
        return tuple(sorted(k for k, v in self.variables.items() if _sealed(v)))

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "lineage": self.lineage, "serial": self.serial, "commit": self.commit,
                "subdir": self.subdir, "dirty": self.dirty, "branch": self.branch, "workspace": self.workspace,
                "variables": self.variables, "secrets_salt": self.secrets_salt, "kind": self.kind,
                "result": self.result, "engine": self.engine, "engine_version": self.engine_version,
                "started_at": self.started_at, "finished_at": self.finished_at, "changes": self.changes,
                "message": self.message, "actor": self.actor}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, source: str) -> Provenance:
        if doc.get("format") != FORMAT or not isinstance(doc.get("serial"), int):
            raise StateError(f"{source}: not a provenance record of format {FORMAT}")
        variables = doc.get("variables")
        return cls(lineage=str(doc.get("lineage") or ""), serial=int(doc["serial"]), commit=doc.get("commit") or None,
                   subdir=str(doc.get("subdir") or ""), dirty=bool(doc.get("dirty")), branch=doc.get("branch"),
                   workspace=str(doc.get("workspace") or "default"),
                   variables=dict(variables) if isinstance(variables, dict) else {},
                   secrets_salt=doc.get("secrets_salt"), kind=str(doc.get("kind") or "update"),
                   result=str(doc.get("result") or ""), engine=str(doc.get("engine") or ""),
                   engine_version=str(doc.get("engine_version") or ""), started_at=str(doc.get("started_at") or ""),
                   finished_at=str(doc.get("finished_at") or ""),
                   changes={k: int(v) for k, v in (doc.get("changes") or {}).items() if isinstance(v, int)},
                   message=str(doc.get("message") or ""), actor=dict(doc.get("actor") or {}))

    def display_variables(self) -> dict[str, Any]:
        """The variables as a person may see them: sealed ones as ``[secret]``."""
        return {k: "[secret]" if _sealed(v) else v for k, v in sorted(self.variables.items())}


def _sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) in ({"secure"}, {"from_env"})


# ----------------------------------------------------------------------------------------------
# Sealing and opening variables


def seal_variables(values: Mapping[str, Any], secret_names: Iterable[str], *,
                   passphrase: str | None) -> tuple[dict[str, Any], str | None]:
    """(recorded variables, salt state): secret values encrypted, or referenced when there is no passphrase."""
    secret = set(secret_names)
    out: dict[str, Any] = {}
    crypter = None
    salt_state = None
    if passphrase and secret & set(values):
        from rollback.state.secrets import PassphraseCrypter

        crypter, salt_state = PassphraseCrypter.create(passphrase, salt=os.urandom(8), nonce=os.urandom(12))
    for name, value in values.items():
        if name not in secret:
            out[name] = value
        elif crypter is not None:
            out[name] = {"secure": crypter.encrypt(json.dumps(value))}
        else:
            out[name] = {"from_env": f"TF_VAR_{name}"}
    return out, salt_state


def open_variables(record: Provenance, *, passphrase: str | None, environ: Mapping[str, str] | None = None,
                   source: str) -> dict[str, Any]:
    """The recorded variables with secrets opened, for the engine only (a 0600 file in a private
    temporary folder, deleted after the run)."""
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    crypter = None
    for name, value in record.variables.items():
        if not _sealed(value):
            out[name] = value
            continue
        if "from_env" in value:
            ref = str(value["from_env"])
            if ref not in env:
                raise SecretsError(f"{source}: variable '{name}' is secret and was recorded without a passphrase: "
                                   f"set {ref} to its value for this rollback")
            out[name] = _maybe_json(env[ref])
            continue
        if crypter is None:
            if not passphrase:
                raise SecretsError(f"{source}: variable '{name}' is encrypted: set {PASSPHRASE_ENV} "
                                   f"(or {PASSPHRASE_FILE_ENV})")
            from rollback.state.secrets import PassphraseCrypter

            try:
                crypter = PassphraseCrypter.from_salt(record.secrets_salt or "", passphrase, source=source)
            except SecretsError as exc:
                raise SecretsError(f"{source}: cannot open the encrypted variables: wrong {PASSPHRASE_ENV}?") from exc
        try:
            out[name] = json.loads(crypter.decrypt(str(value["secure"])))
        except Exception as exc:   # InvalidTag, bad base64, bad JSON
            raise SecretsError(f"{source}: variable '{name}' cannot be decrypted") from exc
    return out


def _maybe_json(text: str) -> Any:
    """TF_VAR_ values are HCL for complex types; a JSON-looking value is passed as its JSON value."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


# ----------------------------------------------------------------------------------------------
# Storage


class ProvenanceStore:
    """The provenance records of one workspace, in the backend's store."""

    def __init__(self, store: Store, prefix: str) -> None:
        self.store = store
        self.prefix = f"{prefix}/provenance" if prefix else "provenance"
        self._cache: dict[tuple[str, int], Provenance | None] = {}

    def key(self, lineage: str, serial: int) -> str:
        return f"{self.prefix}/{lineage}/{serial:010d}.json"

    def save(self, record: Provenance) -> str:
        key = self.key(record.lineage, record.serial)
        self.store.write(key, (json.dumps(record.to_dict(), indent=2, sort_keys=True) + "\n").encode())
        self._cache[(record.lineage, record.serial)] = record
        return key

    def get(self, lineage: str, serial: int) -> Provenance | None:
        ident = (lineage, serial)
        if ident not in self._cache:
            key = self.key(lineage, serial)
            try:
                raw = self.store.read(key)
            except NotFoundInStore:
                self._cache[ident] = None
            else:
                try:
                    doc = json.loads(raw)
                except ValueError as exc:
                    raise StateError(f"{key}: corrupt provenance record") from exc
                self._cache[ident] = Provenance.from_dict(doc, source=key) if isinstance(doc, dict) else None
        return self._cache[ident]


__all__ = [
    "PASSPHRASE_ENV", "PASSPHRASE_FILE_ENV", "Provenance", "ProvenanceStore", "open_variables",
    "passphrase_from_env", "seal_variables",
]
