"""Opening the backend a URL names: ``file://`` and ``s3://`` (DIY), ``https://`` (Pulumi Cloud or a
self-hosted Pulumi Service), and the records location of a Cloud backend."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from rollback.errors import BadInput
from rollback.state.backend import RECORDS_ENV, Backend
from rollback.state.store import Store


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


def open_backend(url: str, cwd: Path, *, origin: str = "--backend", records_url: str | None = None,
                 environ: Mapping[str, str] | None = None) -> Backend:
    """The backend at ``url`` (``origin`` says where the URL came from, for messages): DIY (``file://``,
    ``s3://``) or Pulumi Cloud / a self-hosted Pulumi Service (``https://``, ``http://``). ``records_url``
    (else ``$INFRA_ROLLBACK_RECORDS``) is where a Cloud backend keeps full audit records; DIY backends keep
    theirs beside the state. Makes no request yet."""
    if url.startswith("file://"):
        from rollback.state.diy import DiyBackend
        from rollback.state.store import FileStore

        root = file_url_path(url, cwd)
        if not _is_dir(root):
            raise BadInput(f"backend {url} (from {origin}): directory {root} does not exist")
        if root.name == ".pulumi":
            raise BadInput(f"backend {url} (from {origin}) names the .pulumi folder itself; did you mean "
                           f"file://{root.parent} (the folder that holds .pulumi, as `pulumi login` takes it)?")
        return DiyBackend(FileStore(root, url=url))
    if url.startswith("s3://"):
        from rollback.state.diy import DiyBackend
        from rollback.state.s3 import open_s3_store

        return DiyBackend(open_s3_store(url))
    if url.startswith(("https://", "http://")):
        from rollback.state.cloud import CloudBackend

        env = os.environ if environ is None else environ
        records = records_url or env.get(RECORDS_ENV) or None
        return CloudBackend(url, origin=origin, project_dir=cwd, records_url=records,
                            records=open_records_store(records, cwd) if records else None)
    if url.startswith(("gs://", "azblob://")):
        raise BadInput(f"backend {url} (from {origin}): {url.split(':')[0]}:// backends are not supported yet "
                       f"(file://, s3:// and Pulumi Cloud are)")
    raise BadInput(f"backend {url} (from {origin}): not a backend URL infra-rollback can read"
                   f"{_suggest(url, cwd)} (file://DIR, s3://BUCKET/PREFIX or a Pulumi Cloud https:// URL)")


def _suggest(url: str, cwd: Path) -> str:
    """A bare path given as a backend: ``; did you mean file://./state?`` (the folder above, for ``.pulumi``)."""
    if "://" in url or not url.strip():
        return ""
    path = Path(os.path.expanduser(url))
    try:
        exists = (path if path.is_absolute() else cwd / path).is_dir()
    except OSError:
        exists = False
    if not exists and not url.startswith((".", "/", "~")):
        return ""
    if path.name == ".pulumi":
        path = path.parent
    text = str(path) if path.is_absolute() or url.startswith("~") else (
        str(path) if str(path).startswith(".") else f"./{path}")
    return f"; did you mean file://{text}?"


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
