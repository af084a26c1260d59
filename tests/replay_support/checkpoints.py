"""Build small checkpoints by hand, the way Pulumi writes them (b64 secrets, as Pulumi's own tests do)."""

from __future__ import annotations

import base64
import json
from typing import Any

from rollback.models import Deployment
from rollback.state.codec import parse_deployment
from rollback.state.secrets import SecretBox
from rollback.state.values import (
    ARCHIVE_SIG,
    ASSET_SIG,
    RESOURCE_REF_SIG,
    SECRET_SIG,
    SIG,
    UNKNOWN_VALUE,
)

PROJECT = "shop"
STACK = "prod"
ROOT = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"
UNKNOWN = UNKNOWN_VALUE


def urn(qualified_type: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{qualified_type}::{name}"


def secret(value: Any) -> dict[str, Any]:
    """A b64-"encrypted" secret: base64 of the JSON plaintext."""
    return {SIG: SECRET_SIG, "ciphertext": base64.b64encode(json.dumps(value).encode()).decode()}


def text_asset(text: str) -> dict[str, Any]:
    return {SIG: ASSET_SIG, "hash": "h-" + str(len(text)), "text": text}


def file_asset(path: str, digest: str = "h-file") -> dict[str, Any]:
    return {SIG: ASSET_SIG, "hash": digest, "path": path}


def remote_asset(uri: str) -> dict[str, Any]:
    return {SIG: ASSET_SIG, "hash": "h-uri", "uri": uri}


def hash_only_asset() -> dict[str, Any]:
    return {SIG: ASSET_SIG, "hash": "0123456789abcdef"}


def asset_archive(assets: dict[str, Any]) -> dict[str, Any]:
    return {SIG: ARCHIVE_SIG, "hash": "h-archive", "assets": assets}


def file_archive(path: str, digest: str = "h-farchive") -> dict[str, Any]:
    return {SIG: ARCHIVE_SIG, "hash": digest, "path": path}


def remote_archive(uri: str) -> dict[str, Any]:
    return {SIG: ARCHIVE_SIG, "hash": "h-rarchive", "uri": uri}


def ref(target_urn: str, id_: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {SIG: RESOURCE_REF_SIG, "urn": target_urn}
    if id_ is not None:
        out["id"] = id_
    return out


def root(outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"urn": ROOT, "custom": False, "type": "pulumi:pulumi:Stack", "outputs": outputs or {}}


def default_provider(pkg: str, version: str, **inputs: Any) -> dict[str, Any]:
    name = "default_" + version.replace(".", "_").replace("-", "_").replace("+", "_")
    return {"urn": urn(f"pulumi:providers:{pkg}", name), "custom": True, "id": f"{pkg}-{name}-uuid",
            "type": f"pulumi:providers:{pkg}", "inputs": {"__internal": {}, "version": version, **inputs},
            "outputs": {"version": version, **inputs}}


def provider_ref(provider: dict[str, Any]) -> str:
    return f"{provider['urn']}::{provider['id']}"


def resource(qualified_type: str, name: str, *, custom: bool = True, parent: str | None = ROOT,
             provider: dict[str, Any] | None = None, inputs: dict[str, Any] | None = None,
             **fields: Any) -> dict[str, Any]:
    type_ = qualified_type.rsplit("$", 1)[-1]
    out: dict[str, Any] = {"urn": urn(qualified_type, name), "custom": custom, "type": type_,
                           "inputs": inputs or {}, "outputs": dict(inputs or {})}
    if custom:
        out["id"] = f"{name}-id"
    if parent is not None:
        out["parent"] = parent
    if provider is not None:
        out["provider"] = provider_ref(provider)
    out.update(fields)
    return out


def checkpoint(resources: list[dict[str, Any]], *, source: str = "test-checkpoint") -> Deployment:
    doc = {"version": 3, "deployment": {
        "manifest": {"time": "2026-01-01T00:00:00Z", "magic": "", "version": "v3.259.0"},
        "secrets_providers": {"type": "b64", "state": {}},
        "resources": resources,
    }}
    return parse_deployment(json.loads(json.dumps(doc)), source=source)


def box(dep: Deployment) -> SecretBox:
    return SecretBox(dep.secrets_provider, source=dep.source, passphrase=lambda: None)
