"""Configuration shared by every action: which backend, which project directory.

Backend URL precedence: ``--backend``, then ``PULUMI_BACKEND_URL``, then ``backend.url`` of the
``Pulumi.yaml`` in ``--cwd``, then Pulumi's own default (the backend the CLI is logged in to,
from ``~/.pulumi/credentials.json``, else Pulumi Cloud).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rollback.errors import BadInput
from rollback.state.diy import DiyBackend

if TYPE_CHECKING:
    from rollback.state.cloud import CloudBackend
    from rollback.state.store import Store

CLOUD_URL = "https://api.pulumi.com"
RECORDS_ENV = "INFRA_ROLLBACK_RECORDS"   # where Cloud backends keep full audit records (file:// or s3://)


@dataclass(frozen=True)
class BackendChoice:
    url: str
    origin: str   # "--backend", "PULUMI_BACKEND_URL", "<path>/Pulumi.yaml", "pulumi login", "default"


def read_project_file(cwd: Path) -> dict[str, Any] | None:
    """The ``Pulumi.yaml`` (or ``.yml``) in ``cwd`` as a mapping, or None when there is none."""
    for name in ("Pulumi.yaml", "Pulumi.yml"):
        path = cwd / name
        if path.is_file():
            import yaml

            try:
                doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            except UnicodeDecodeError as exc:
                raise BadInput(f"{path}: not UTF-8 text") from exc
            except (OSError, yaml.YAMLError, ValueError) as exc:   # ValueError: an integer of 4300+ digits
                raise BadInput(f"{path}: not readable as YAML ({exc.__class__.__name__})") from exc
            return doc if isinstance(doc, dict) else {}
    return None


def choose_backend(flag: str | None, cwd: Path, environ: Mapping[str, str] | None = None) -> BackendChoice:
    env = os.environ if environ is None else environ
    if flag:
        return BackendChoice(flag, "--backend")
    if env.get("PULUMI_BACKEND_URL"):
        return BackendChoice(env["PULUMI_BACKEND_URL"], "PULUMI_BACKEND_URL")
    project = read_project_file(cwd)
    if project:
        backend = project.get("backend")
        if isinstance(backend, dict) and backend.get("url"):
            return BackendChoice(str(backend["url"]), str(cwd / "Pulumi.yaml"))
    home = Path(env.get("PULUMI_HOME") or Path.home() / ".pulumi")
    try:
        current = json.loads((home / "credentials.json").read_text()).get("current")
    except (OSError, ValueError, AttributeError):
        current = None
    if current:
        return BackendChoice(str(current), "pulumi login")
    return BackendChoice(CLOUD_URL, "default")


def file_url_path(url: str, cwd: Path) -> Path:
    """``file://`` URL -> path. Relative paths resolve against ``cwd`` (as ``pulumi --cwd`` does)."""
    rest = url[len("file://"):]
    if rest.startswith("~"):
        return Path(os.path.expanduser(rest))
    path = Path(rest)
    return path if path.is_absolute() else (cwd / path)


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a directory; a name too long, a link loop or no permission is one clear line."""
    try:
        return path.is_dir()
    except OSError as exc:
        raise BadInput(f"{str(path)[:200]}: cannot use this directory ({exc.strerror or exc.__class__.__name__})") from exc


def open_backend(choice: BackendChoice, cwd: Path, *, records_url: str | None = None,
                 environ: Mapping[str, str] | None = None) -> DiyBackend | CloudBackend:
    """The backend at ``choice.url``: DIY (``file://``, ``s3://``) or Pulumi Cloud / a self-hosted Pulumi
    Service (``https://``, ``http://``). ``records_url`` (else ``$INFRA_ROLLBACK_RECORDS``) is where a Cloud
    backend keeps full audit records; DIY backends keep theirs beside the state."""
    url = choice.url
    if url.startswith("file://"):
        from rollback.state.store import FileStore

        root = file_url_path(url, cwd)
        if not _is_dir(root):
            raise BadInput(f"backend {url} (from {choice.origin}): directory {root} does not exist")
        return DiyBackend(FileStore(root, url=url))
    if url.startswith("s3://"):
        from rollback.state.s3 import open_s3_store

        return DiyBackend(open_s3_store(url))
    if url.startswith(("https://", "http://")):
        from rollback.state.cloud import CloudBackend

        env = os.environ if environ is None else environ
        records = records_url or env.get(RECORDS_ENV) or None
        return CloudBackend(url, origin=choice.origin, project_dir=cwd, records_url=records,
                            records=open_records_store(records, cwd) if records else None)
    if url.startswith(("gs://", "azblob://")):
        raise BadInput(f"backend {url} (from {choice.origin}): {url.split(':')[0]}:// backends are not supported yet "
                       f"(file://, s3:// and Pulumi Cloud are)")
    raise BadInput(f"backend {url} (from {choice.origin}): not a backend URL infra-rollback can read "
                   f"(file://DIR, s3://BUCKET/PREFIX or a Pulumi Cloud https:// URL)")


def open_records_store(url: str, cwd: Path) -> Store:
    """The records location of a Cloud backend: an existing ``file://`` directory or an ``s3://`` prefix."""
    if url.startswith("file://"):
        from rollback.state.store import FileStore

        root = file_url_path(url, cwd)
        if not _is_dir(root):
            raise BadInput(f"records location {url}: directory {root} does not exist")
        return FileStore(root, url=url)
    if url.startswith("s3://"):
        from rollback.state.s3 import open_s3_store

        return open_s3_store(url)
    raise BadInput(f"records location {url}: use a file://DIR or s3://BUCKET/PREFIX URL")
