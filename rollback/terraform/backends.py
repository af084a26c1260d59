"""Where a Terraform workspace's state lives, and where infra-rollback keeps its own files beside it.

The backend is read from the working directory's ``.terraform/terraform.tfstate`` (which ``init`` writes:
the backend type and its effective settings, partial configuration included), so the same settings reach
the rollback's own ``init`` in a temporary worktree. Two backends are read:

* ``s3``: every object version of the state key is a version of the workspace (bucket versioning must
  be on: without it there is one version, and the target of a rollback is found from provenance and
  git alone). A workspace other than ``default`` lives at ``<workspace_key_prefix>/<name>/<key>``
  (``env:`` by default). Locks: the DynamoDB table (``dynamodb_table``) or the ``<key>.tflock``
  object (``use_lockfile``). Our files: ``.infra-rollback/terraform/<state key>/`` in the same bucket
  (provenance records, audit records, marks).
* ``local``: ``terraform.tfstate`` (or ``path``), ``terraform.tfstate.d/<name>/terraform.tfstate`` for
  other workspaces, plus the snapshots that ``deploy`` keeps (the local backend keeps no history of its
  own but ``terraform.tfstate.backup``). Our files: ``.infra-rollback/terraform/<workspace>/`` beside
  the state, with a ``.gitignore`` (snapshots hold secrets in clear, like the state itself).

Reads and writes of our files go through the :class:`~rollback.state.store.Store` protocol. boto3 is
imported lazily; botocore errors are translated here.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol

from rollback.errors import BadInput, OperationFailed
from rollback.models import StackRef
from rollback.state.backend import FolderSideStore
from rollback.state.store import Entry, FileStore, NotFoundInStore, Store, probe_key
from rollback.terraform.engine import LockInfo

OUR_DIR = ".infra-rollback/terraform"


@dataclass(frozen=True)
class StateObject:
    """One stored version of the state: an S3 object version, a snapshot file or the current file."""

    key: str                       # S3 VersionId, or a file name relative to the backend's folder
    time: _dt.datetime | None
    size: int
    latest: bool = False


class Backend(Protocol):
    type: str
    workspace: str
    store: Store

    def describe(self, key: str = "") -> str: ...

    def state_objects(self) -> list[StateObject]:
        """The stored versions of the workspace's state, oldest first."""
        ...

    def read_state(self, obj: StateObject) -> bytes: ...

    def lock(self) -> LockInfo | None:
        """Who holds the workspace's state lock, or None."""
        ...

    def workspaces(self) -> list[str]:
        """The workspaces of this backend that have a state (for a message naming the ones there are)."""
        ...

    def exists(self) -> bool:
        """Whether the workspace exists (``default`` always does; others once ``workspace new`` made them)."""
        ...

    def records_prefix(self, ref: StackRef | None = None) -> str: ...

    def side_store(self, ref: StackRef | None = None) -> FolderSideStore:
        """Where our marks and audit records of the workspace live (the same side store as Pulumi stacks')."""
        ...

    def keep_snapshot(self, data: bytes, *, serial: int, lineage: str) -> None:
        """Keep a copy of a state that a deploy or rollback wrote (only backends without history)."""
        ...


def read_backend_settings(workdir: Path) -> tuple[str, dict[str, Any]]:
    """(type, effective settings) from ``.terraform/terraform.tfstate``; ``local`` with no settings when the
    directory was initialised without a backend block."""
    path = workdir / ".terraform" / "terraform.tfstate"
    if not path.is_file():
        if (workdir / ".terraform").is_dir() or (workdir / "terraform.tfstate").is_file():
            return "local", {}
        raise BadInput(f"{workdir}: not an initialised Terraform working directory (run `init` there first)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"{path}: unreadable ({exc})") from exc
    backend = doc.get("backend") if isinstance(doc, dict) else None
    if not isinstance(backend, dict) or not backend.get("type"):
        return "local", {}
    config = backend.get("config") if isinstance(backend.get("config"), dict) else {}
    return str(backend["type"]), {k: v for k, v in config.items() if v is not None}


def selected_workspace(workdir: Path, environ: Mapping[str, str]) -> str:
    """``TF_WORKSPACE``, else what ``workspace select`` wrote in ``.terraform/environment``, else default."""
    if environ.get("TF_WORKSPACE"):
        return environ["TF_WORKSPACE"]
    try:
        name = (workdir / ".terraform" / "environment").read_text(encoding="utf-8").strip()
    except OSError:
        name = ""
    return name or "default"


def open_backend(workdir: Path, *, workspace: str, settings: tuple[str, dict[str, Any]] | None = None) -> Backend:
    kind, config = settings if settings is not None else read_backend_settings(workdir)
    if kind == "s3":
        return S3Backend(config, workspace=workspace)
    if kind == "local":
        return LocalBackend(workdir, config, workspace=workspace)
    raise BadInput(f"{workdir}: backend '{kind}' is not supported yet (s3 and local are)")


# ----------------------------------------------------------------------------------------------
# local


class LocalBackend:
    type = "local"

    def __init__(self, workdir: Path, config: Mapping[str, Any], *, workspace: str) -> None:
        self.workdir = workdir
        self.config = dict(config)
        self.workspace = workspace
        path = Path(str(config.get("path") or "terraform.tfstate"))
        ws_dir = Path(str(config.get("workspace_dir") or "terraform.tfstate.d"))
        if workspace != "default":
            path = ws_dir / workspace / "terraform.tfstate"
        self.state_path = path if path.is_absolute() else workdir / path
        root = self.state_path.parent if workspace == "default" else workdir
        self.our_root = root / OUR_DIR
        self.store: Store = FileStore(self.our_root)

    def describe(self, key: str = "") -> str:
        return str(self.our_root / key) if key else str(self.state_path)

    def side_store(self, ref: StackRef | None = None) -> FolderSideStore:
        return FolderSideStore(self.store, self.records_prefix(ref), describe=self.describe)

    def records_prefix(self, ref: StackRef | None = None) -> str:
        return self.workspace

    def _snapshot_dir(self) -> Path:
        return self.our_root / self.workspace / "states"

    def state_objects(self) -> list[StateObject]:
        objects: list[StateObject] = []
        snaps = self._snapshot_dir()
        if snaps.is_dir():
            for p in sorted(snaps.glob("*.tfstate")):
                st = p.stat()
                objects.append(StateObject(key=str(p.relative_to(self.our_root)), size=st.st_size,
                                           time=_dt.datetime.fromtimestamp(st.st_mtime, _dt.timezone.utc)))
        if self.state_path.is_file():
            st = self.state_path.stat()
            current = StateObject(key="", size=st.st_size, latest=True,
                                  time=_dt.datetime.fromtimestamp(st.st_mtime, _dt.timezone.utc))
            # The newest snapshot is usually the current state itself (same lineage and serial; `state pull`
            # formats it differently from the file): then the snapshot stands for it.
            if objects and _identity(self.read_state(objects[-1])) == _identity(self.state_path.read_bytes()):
                last = objects[-1]
                objects[-1] = StateObject(key=last.key, time=last.time, size=last.size, latest=True)
            else:
                objects.append(current)
        return objects

    def read_state(self, obj: StateObject) -> bytes:
        path = self.state_path if not obj.key else self.our_root / obj.key
        try:
            return path.read_bytes()
        except OSError as exc:
            raise BadInput(f"{path}: cannot read state ({exc.strerror or exc})") from exc

    def keep_snapshot(self, data: bytes, *, serial: int, lineage: str) -> None:
        self._ignore_file()
        self.store.write(f"{self.workspace}/states/{serial:010d}-{lineage}.tfstate", data)

    def _ignore_file(self) -> None:
        ignore = self.our_root.parent / ".gitignore"
        if not ignore.exists():
            ignore.parent.mkdir(parents=True, exist_ok=True)
            ignore.write_text("# infra-rollback's Terraform snapshots and records: state holds secrets in clear\n*\n")

    def exists(self) -> bool:
        if self.workspace == "default":
            return True
        return self.state_path.parent.is_dir()

    def workspaces(self) -> list[str]:
        path = Path(str(self.config.get("path") or "terraform.tfstate"))
        ws_dir = Path(str(self.config.get("workspace_dir") or "terraform.tfstate.d"))
        default = path if path.is_absolute() else self.workdir / path
        folder = ws_dir if ws_dir.is_absolute() else self.workdir / ws_dir
        names = ["default"] if default.is_file() else []
        if folder.is_dir():
            names += sorted(p.name for p in folder.iterdir() if (p / "terraform.tfstate").is_file())
        return names

    def lock(self) -> LockInfo | None:
        path = self.state_path.with_name(f".{self.state_path.name}.lock.info")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return LockInfo.from_json(doc) if isinstance(doc, dict) else None


# ----------------------------------------------------------------------------------------------
# s3


_MISSING = {"NoSuchKey", "404", "NotFound", "ResourceNotFoundException"}


class S3Backend:
    type = "s3"

    def __init__(self, config: Mapping[str, Any], *, workspace: str, clients: Any = None) -> None:
        self.config = dict(config)
        self.workspace = workspace
        self.bucket = str(config.get("bucket") or "")
        key = str(config.get("key") or "")
        if not self.bucket or not key:
            raise BadInput("s3 backend: bucket and key must be set (in the backend block or with -backend-config)")
        prefix = str(config.get("workspace_key_prefix") or "env:")
        self.state_key = key if workspace == "default" else f"{prefix}/{workspace}/{key}"
        self.our_prefix = OUR_DIR
        self._clients: dict[str, Any] = dict(clients or {})
        self.store: Store = _S3Store(self)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.state_key}"

    def describe(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self.our_prefix}/{key}" if key else self.url

    def side_store(self, ref: StackRef | None = None) -> FolderSideStore:
        return FolderSideStore(self.store, self.records_prefix(ref), describe=self.describe)

    def records_prefix(self, ref: StackRef | None = None) -> str:
        return self.state_key

    # -- clients ------------------------------------------------------------------------------
    def _endpoint(self, service: str) -> str | None:
        endpoints = self.config.get("endpoints")
        if isinstance(endpoints, dict) and endpoints.get(service):
            return str(endpoints[service])
        legacy = {"s3": "endpoint", "dynamodb": "dynamodb_endpoint"}.get(service)
        return str(self.config[legacy]) if legacy and self.config.get(legacy) else None

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            session = boto3.session.Session(profile_name=self.config.get("profile") or None)
            kwargs: dict[str, Any] = {"region_name": self.config.get("region") or None}
            if self.config.get("access_key") and self.config.get("secret_key"):
                kwargs.update(aws_access_key_id=self.config["access_key"],
                              aws_secret_access_key=self.config["secret_key"],
                              aws_session_token=self.config.get("token") or None)
            endpoint = self._endpoint(service)
            if endpoint:
                kwargs["endpoint_url"] = endpoint
            cfg: dict[str, Any] = {"connect_timeout": 10, "read_timeout": 60,
                                   "retries": {"mode": "standard", "max_attempts": 3}}
            if service == "s3" and (self.config.get("use_path_style") or self.config.get("force_path_style")):
                cfg["s3"] = {"addressing_style": "path"}
            self._clients[service] = session.client(service, config=Config(**cfg), **kwargs)
        return self._clients[service]

    def _fail(self, exc: Exception, what: str) -> NoReturn:
        code = ""
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            code = str((response.get("Error") or {}).get("Code") or "")
        if code in _MISSING:
            raise NotFoundInStore(what) from exc
        text = code or type(exc).__name__
        raise OperationFailed(f"{what}: {text}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")) from exc

    # -- state --------------------------------------------------------------------------------
    def state_objects(self) -> list[StateObject]:
        from botocore.exceptions import BotoCoreError, ClientError

        s3 = self.client("s3")
        listed: list[dict[str, Any]] = []
        try:
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=self.state_key):
                listed.extend(v for v in page.get("Versions") or [] if v.get("Key") == self.state_key)
        except (BotoCoreError, ClientError) as exc:
            self._fail(exc, f"{self.url}: cannot list state versions")
        # S3 lists a key's versions newest first; a stable reverse keeps that order for equal times.
        listed.reverse()
        listed.sort(key=lambda v: v.get("LastModified") or _dt.datetime.min.replace(tzinfo=_dt.timezone.utc))
        return [StateObject(key=str(v.get("VersionId") or "null"), time=v.get("LastModified"),
                            size=int(v.get("Size") or 0), latest=bool(v.get("IsLatest"))) for v in listed]

    def read_state(self, obj: StateObject) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self.state_key}
        if obj.key and obj.key != "null":
            kwargs["VersionId"] = obj.key
        try:
            return self.client("s3").get_object(**kwargs)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            self._fail(exc, f"{self.url} (version {obj.key})")

    def keep_snapshot(self, data: bytes, *, serial: int, lineage: str) -> None:
        """Bucket versioning keeps every state: nothing to do."""

    def exists(self) -> bool:
        return self.workspace == "default" or bool(self.state_objects())

    def workspaces(self) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        key = str(self.config.get("key") or "")
        prefix = str(self.config.get("workspace_key_prefix") or "env:")
        names: list[str] = []
        try:
            s3 = self.client("s3")
            first = s3.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1).get("Contents") or []
            if first and first[0].get("Key") == key:
                names.append("default")
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{prefix}/"):
                for obj in page.get("Contents") or []:
                    rest = str(obj["Key"])[len(prefix) + 1:]
                    name, _, tail = rest.partition("/")
                    if tail == key and name:
                        names.append(name)
        except (BotoCoreError, ClientError) as exc:
            self._fail(exc, f"{self.url}: cannot list workspaces")
        return names

    def lock(self) -> LockInfo | None:
        from botocore.exceptions import BotoCoreError, ClientError

        table = self.config.get("dynamodb_table")
        if table:
            try:
                item = self.client("dynamodb").get_item(
                    TableName=str(table), Key={"LockID": {"S": f"{self.bucket}/{self.state_key}"}},
                    ConsistentRead=True).get("Item")
            except (BotoCoreError, ClientError) as exc:
                self._fail(exc, f"{self.url}: cannot read lock table {table}")
            info = ((item or {}).get("Info") or {}).get("S")
            if info:
                return _lock_info(info)
            if item:
                return LockInfo(path=f"{self.bucket}/{self.state_key}")
        if self.config.get("use_lockfile"):
            try:
                body = self.client("s3").get_object(Bucket=self.bucket, Key=f"{self.state_key}.tflock")["Body"].read()
            except NotFoundInStore:
                return None
            except (BotoCoreError, ClientError) as exc:
                try:
                    self._fail(exc, f"{self.url}.tflock")
                except NotFoundInStore:
                    return None
            return _lock_info(body)
        return None


def _identity(data: bytes) -> tuple[str, int] | None:
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return (str(doc.get("lineage")), int(doc.get("serial") or 0)) if isinstance(doc, dict) else None


def _lock_info(text: str | bytes) -> LockInfo:
    try:
        doc = json.loads(text)
    except ValueError:
        return LockInfo(info="unreadable lock info")
    return LockInfo.from_json(doc) if isinstance(doc, dict) else LockInfo()


class _S3Store:
    """Our files under ``.infra-rollback/terraform/`` in the state bucket (keys start with the state key)."""

    def __init__(self, backend: S3Backend) -> None:
        self.backend = backend
        self.url = f"s3://{backend.bucket}/{backend.our_prefix}"

    def _key(self, key: str) -> str:
        return f"{self.backend.our_prefix}/{key}" if key else self.backend.our_prefix

    def read(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.backend.client("s3").get_object(Bucket=self.backend.bucket, Key=self._key(key))["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            self.backend._fail(exc, self.backend.describe(key))

    def list(self, prefix: str) -> builtins.list[Entry]:
        from botocore.exceptions import BotoCoreError, ClientError

        base = self._key(prefix).rstrip("/") + "/"
        out: list[Entry] = []
        try:
            for page in self.backend.client("s3").get_paginator("list_objects_v2").paginate(
                    Bucket=self.backend.bucket, Prefix=base, Delimiter="/"):
                for obj in page.get("Contents") or []:
                    rel = obj["Key"][len(self.backend.our_prefix) + 1:]
                    mtime = obj.get("LastModified")
                    out.append(Entry(rel, int(obj.get("Size") or 0), mtime.timestamp() if mtime else 0.0))
        except (BotoCoreError, ClientError) as exc:
            self.backend._fail(exc, self.backend.describe(prefix))
        return out

    def list_dirs(self, prefix: str) -> builtins.list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        base = self._key(prefix).rstrip("/") + "/"
        names: list[str] = []
        try:
            for page in self.backend.client("s3").get_paginator("list_objects_v2").paginate(
                    Bucket=self.backend.bucket, Prefix=base, Delimiter="/"):
                names.extend(p["Prefix"][len(base):].rstrip("/") for p in page.get("CommonPrefixes") or [])
        except (BotoCoreError, ClientError) as exc:
            self.backend._fail(exc, self.backend.describe(prefix))
        return sorted(names)

    def exists(self, key: str) -> bool:
        try:
            self.read(key)
        except NotFoundInStore:
            return False
        return True

    def write(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.backend.client("s3").put_object(Bucket=self.backend.bucket, Key=self._key(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            self.backend._fail(exc, self.backend.describe(key))

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.backend.client("s3").delete_object(Bucket=self.backend.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            self.backend._fail(exc, self.backend.describe(key))

    def probe(self, folder: str) -> None:
        key = probe_key(folder)
        self.write(key, b"infra-rollback: can records be written here?\n")
        self.delete(key)


__all__ = [
    "Backend", "LocalBackend", "OUR_DIR", "S3Backend", "StateObject", "open_backend", "read_backend_settings",
    "selected_workspace",
]
