"""DIY backends in S3 (``s3://bucket/prefix``): the :class:`~rollback.state.store.Store` protocol over boto3.

``s3://bucket/prefix`` means ``prefix/.pulumi/...`` in ``bucket`` (the prefix is optional), as Pulumi
reads it. Credentials, region and endpoint come from boto3's usual chain (environment, profiles, SSO,
instance and web-identity roles; ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` are honoured by boto3
itself). The query parameters Pulumi's s3 URLs accept (gocloud's s3blob opener) are passed through:
``region``, ``endpoint``, ``profile``, ``s3ForcePathStyle`` / ``use_path_style``, ``disableSSL`` /
``disable_https``, ``anonymous``, ``dualstack``, ``fips``, ``accelerate``; the ones that only tune the
Go SDK (``awssdk``, ``rate_limiter_capacity``, ...) are accepted and ignored.

Every botocore error is translated here into :class:`~rollback.errors.BadInput` with one line that
names the bucket and prefix; callers never see a botocore exception. boto3 is imported lazily.
"""

from __future__ import annotations

import builtins
import os
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlsplit

from rollback.errors import BadInput
from rollback.state.store import RECORDS_DIR, Conflict, Entry, NotFoundInStore, Versioned, probe_key

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# Query parameters of gocloud's s3 URL opener that only tune the Go SDK: accepted, ignored.
_IGNORED_PARAMS = {"awssdk", "rate_limiter_capacity", "hostname_immutable", "ssetype", "kmskeyid",
                   "request_checksum_calculation", "response_checksum_validation"}
_KNOWN_PARAMS = {"region", "endpoint", "profile", "s3ForcePathStyle", "use_path_style", "disableSSL",
                 "disable_https", "anonymous", "dualstack", "fips", "accelerate"} | _IGNORED_PARAMS
_DENIED = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "AccountProblem",
           "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired"}
_MISSING_KEY = {"NoSuchKey", "404", "NotFound"}
# A conditional put that lost: the object changed (412) or another conditional write is in flight (409).
_CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


@dataclass(frozen=True)
class S3Location:
    """A parsed ``s3://bucket/prefix?params`` URL."""

    url: str
    bucket: str
    prefix: str                   # without leading/trailing '/', may be ''
    params: dict[str, str]

    @property
    def root(self) -> str:
        """``s3://bucket/prefix`` without the query, for messages."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse_s3_url(url: str) -> S3Location:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise BadInput(f"backend {url}: expected s3://BUCKET[/PREFIX]")
    params: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in _KNOWN_PARAMS:
            raise BadInput(f"backend {url}: unknown query parameter '{name}' "
                           f"(known: {', '.join(sorted(_KNOWN_PARAMS - _IGNORED_PARAMS))})")
        params[name] = value
    return S3Location(url=url, bucket=parts.netloc, prefix=parts.path.strip("/"), params=params)


def _flag(loc: S3Location, *names: str) -> bool:
    for name in names:
        if name in loc.params:
            value = loc.params[name].strip().lower()
            if value in _TRUE:
                return True
            if value in _FALSE:
                return False
            raise BadInput(f"backend {loc.root}: query parameter '{name}' must be true or false, not '{value}'")
    return False


def _client_kwargs(loc: S3Location) -> tuple[dict[str, Any], dict[str, Any]]:
    """(keyword arguments for ``session.client('s3', ...)``, keyword arguments for botocore ``Config``)."""
    from botocore import UNSIGNED

    kwargs: dict[str, Any] = {}
    # 16 connections: history reads up to 16 versions' metadata at once (botocore's default pool is 10)
    config: dict[str, Any] = {"connect_timeout": 10, "read_timeout": 60, "max_pool_connections": 16}
    if not (os.environ.get("AWS_MAX_ATTEMPTS") or os.environ.get("AWS_RETRY_MODE")):
        config["retries"] = {"mode": "standard", "max_attempts": 3}
    s3: dict[str, Any] = {}
    insecure = _flag(loc, "disableSSL", "disable_https")
    if loc.params.get("region"):
        kwargs["region_name"] = loc.params["region"]
    endpoint = loc.params.get("endpoint", "").strip()
    if endpoint:
        if "://" not in endpoint:  # gocloud accepts a bare host name
            endpoint = ("http://" if insecure else "https://") + endpoint
        kwargs["endpoint_url"] = endpoint
    if insecure:
        kwargs["use_ssl"] = False
    if _flag(loc, "s3ForcePathStyle", "use_path_style"):
        s3["addressing_style"] = "path"
    if _flag(loc, "accelerate"):
        s3["use_accelerate_endpoint"] = True
    if _flag(loc, "dualstack"):
        config["use_dualstack_endpoint"] = True
    if _flag(loc, "fips"):
        config["use_fips_endpoint"] = True
    if _flag(loc, "anonymous"):
        config["signature_version"] = UNSIGNED
    if s3:
        config["s3"] = s3
    return kwargs, config


def open_s3_store(url: str) -> S3Store:
    """An :class:`S3Store` for ``s3://bucket/prefix[?params]``. Makes no request yet."""
    loc = parse_s3_url(url)
    import boto3
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    kwargs, config = _client_kwargs(loc)
    try:
        core = botocore.session.get_session()
        # Timestamps stay text (LastModified of every listed key: a third of a 1,000-key listing's parsing);
        # the few this store needs are read by _timestamp.
        core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
        session = boto3.session.Session(botocore_session=core, profile_name=loc.params.get("profile") or None)
        client = session.client("s3", config=Config(**config), **kwargs)
    except (BotoCoreError, ValueError) as exc:  # ProfileNotFound, bad endpoint URL, bad region name, ...
        raise BadInput(f"backend {loc.root}: cannot set up an S3 client ({_first_line(exc)})") from exc
    return S3Store(client, loc)


def _timestamp(value: Any) -> float:
    """Unix seconds of an S3 timestamp, as text (``2026-12-02T15:22:14.000Z``) or parsed; 0.0 when unreadable."""
    if value is None:
        return 0.0
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    import datetime as dt

    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def translate_error(exc: BaseException, loc: S3Location, *, action: str, key: str = "") -> BadInput:
    """A botocore/boto3 exception -> one-line :class:`BadInput` naming the bucket and prefix."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        CredentialRetrievalError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
        SSLError,
        TokenRetrievalError,
        UnauthorizedSSOTokenError,
    )

    where = f"backend {loc.root}"
    obj = f"s3://{loc.bucket}/{key}" if key else loc.root
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return BadInput(f"{where}: no AWS credentials found (set AWS_PROFILE, AWS_ACCESS_KEY_ID/"
                        f"AWS_SECRET_ACCESS_KEY, or run where a role is available)")
    if isinstance(exc, (CredentialRetrievalError, TokenRetrievalError, UnauthorizedSSOTokenError)):
        return BadInput(f"{where}: could not obtain AWS credentials ({_first_line(exc)})")
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError, SSLError)):
        endpoint = getattr(exc, "kwargs", {}).get("endpoint_url") or "the S3 endpoint"
        return BadInput(f"{where}: cannot reach {endpoint} ({exc.__class__.__name__})")
    if isinstance(exc, ReadTimeoutError):
        return BadInput(f"{where}: S3 did not answer in time while trying to {action} {obj}")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {}) if isinstance(exc.response, dict) else {}
        code = str(error.get("Code") or "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") if isinstance(
            exc.response, dict) else None
        if code == "NoSuchBucket":
            return BadInput(f"{where}: bucket '{loc.bucket}' does not exist")
        if code in _DENIED or status == 403:
            detail = "" if code in ("403", "Forbidden", "") else f"{code}: "
            return BadInput(f"{where}: access denied ({detail}cannot {action} {obj}); "
                            f"check the credentials and the bucket policy")
        if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
            region = error.get("Region") or error.get("BucketRegion") or ""
            hint = f" (the bucket is in {region}: add ?region={region})" if region else " (set ?region= or AWS_REGION)"
            return BadInput(f"{where}: wrong region for bucket '{loc.bucket}'{hint}")
        message = str(error.get("Message") or "").strip().splitlines()
        tail = f": {message[0]}" if message else ""
        return BadInput(f"{where}: S3 error {code or status} while trying to {action} {obj}{tail}")
    return BadInput(f"{where}: could not {action} {obj} ({exc.__class__.__name__}: {_first_line(exc)})")


class S3Store:
    """A backend root in S3. Keys are relative to ``prefix`` ('/'-separated, as for :class:`FileStore`)."""

    def __init__(self, client: Any, location: S3Location) -> None:
        self.client = client
        self.location = location
        self.bucket = location.bucket
        self.prefix = location.prefix
        self.url = location.url
        self.page_size: int | None = None   # objects per listing request (None: S3's default, 1000)

    # -- helpers ------------------------------------------------------------------------------
    def _full(self, key: str) -> str:
        key = key.strip("/")
        if not self.prefix:
            return key
        return f"{self.prefix}/{key}" if key else self.prefix

    def _folder(self, key: str) -> str:
        full = self._full(key)
        return f"{full}/" if full else ""

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    def _fail(self, exc: BaseException, *, action: str, key: str = "") -> NoReturn:
        raise translate_error(exc, self.location, action=action, key=self._full(key) if key else "") from exc

    def _errors(self) -> tuple[type[BaseException], ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        return (BotoCoreError, ClientError)

    def _pages(self, folder: str, *, action: str, key: str, delimiter: str = "/", start_after: str = "") -> Any:
        paginator = self.client.get_paginator("list_objects_v2")
        pagination = {"PageSize": self.page_size} if self.page_size else {}
        extra = {"StartAfter": start_after} if start_after else {}
        try:
            yield from paginator.paginate(Bucket=self.bucket, Prefix=folder, Delimiter=delimiter,
                                           PaginationConfig=pagination, **extra)
        except self._errors() as exc:
            self._fail(exc, action=action, key=key)

    # -- Store protocol -----------------------------------------------------------------------
    def read(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
            return bytes(response["Body"].read())
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _MISSING_KEY:
                raise NotFoundInStore(key) from exc
            self._fail(exc, action="read", key=key)
        except self._errors() as exc:
            self._fail(exc, action="read", key=key)

    def read_tail(self, key: str, size: int) -> tuple[bytes, bool]:
        """The last ``size`` bytes (one ranged GET), and whether that is the whole object."""
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(key), Range=f"bytes=-{size}")
            data = bytes(response["Body"].read())
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_KEY:
                raise NotFoundInStore(key) from exc
            if code in ("InvalidRange", "416"):   # an empty object has no last bytes
                return b"", True
            self._fail(exc, action="read", key=key)
        except self._errors() as exc:
            self._fail(exc, action="read", key=key)
        content_range = str(response.get("ContentRange") or "")   # "bytes START-END/TOTAL"; none: all of it
        whole = not content_range or content_range.split(" ", 1)[-1].startswith("0-")
        return data, whole

    def list(self, prefix: str, *, after: str = "") -> list[Entry]:
        """Entries directly below ``prefix``; with ``after``, only those whose names sort after it (S3 lists in
        key order, so a listing can start anywhere)."""
        folder = self._folder(prefix)
        out: list[Entry] = []
        for page in self._pages(folder, action="list", key=prefix, start_after=folder + after if after else ""):
            for obj in page.get("Contents") or []:
                full = obj["Key"]
                if full == folder or full.endswith("/"):  # folder marker objects
                    continue
                mtime = _timestamp(obj.get("LastModified"))
                etag = obj.get("ETag")
                out.append(Entry(self._relative(full), int(obj.get("Size") or 0), mtime,
                                 str(etag) if etag else None))
        return out

    def list_stems(self, prefix: str, head: str) -> builtins.list[str]:
        """The names below ``prefix`` that start with ``head``, each cut before its first ``.`` and listed once,
        in key order: ``prod-1700000000000000000`` for both ``prod-1700000000000000000.history.json`` and its
        ``.checkpoint.json``. S3 groups them itself (a delimiter of ``.``), so a page holds 1,000 of them, where
        a listing of the files holds 1,000 files."""
        folder = self._folder(prefix)
        stems: builtins.list[str] = []
        for page in self._pages(folder + head, action="list", key=prefix, delimiter="."):
            for group in page.get("CommonPrefixes") or []:
                name = str(group.get("Prefix") or "")[len(folder):]
                if name.endswith(".") and "/" not in name:
                    stems.append(name[:-1])
        return stems

    def list_dirs(self, prefix: str) -> builtins.list[str]:
        folder = self._folder(prefix)
        names = set()
        for page in self._pages(folder, action="list", key=prefix):
            for common in page.get("CommonPrefixes") or []:
                name = common["Prefix"][len(folder):].strip("/")
                if name:
                    names.add(name)
        return sorted(names)

    def exists(self, key: str) -> bool:
        """A file with this key, or a folder: any object below ``key/``."""
        from botocore.exceptions import ClientError

        try:
            found = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._folder(key), MaxKeys=1)
            if found.get("KeyCount") or found.get("Contents"):
                return True
        except self._errors() as exc:
            self._fail(exc, action="list", key=key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._full(key))
            return True
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _MISSING_KEY:
                return False
            self._fail(exc, action="read", key=key)
        except self._errors() as exc:
            self._fail(exc, action="read", key=key)

    @staticmethod
    def _own(key: str) -> None:
        if not key.strip("/").startswith(f"{RECORDS_DIR}/"):
            raise ValueError(f"S3Store writes only below {RECORDS_DIR}/, not {key!r}")

    def write(self, key: str, data: bytes) -> None:
        """Write one of infra-rollback's own records; Pulumi's files are never written."""
        self._own(key)
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data,
                                   ContentType="application/json")
        except self._errors() as exc:
            self._fail(exc, action="write", key=key)

    def delete(self, key: str) -> None:
        """Delete one of infra-rollback's own objects (S3 answers success when there is none)."""
        self._own(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._full(key))
        except self._errors() as exc:
            self._fail(exc, action="delete", key=key)

    def probe(self, folder: str) -> None:
        """A small object put below ``folder`` and deleted again: may records be written here?"""
        key = probe_key(folder)
        self.write(key, b"infra-rollback: can records be written here?\n")
        self.delete(key)

    # -- conditional writes -------------------------------------------------------------------
    def read_versioned(self, key: str) -> Versioned | None:
        """The object's bytes and ETag, or None when there is no such object."""
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
            return Versioned(bytes(response["Body"].read()), str(response["ETag"]))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _MISSING_KEY:
                return None
            self._fail(exc, action="read", key=key)
        except self._errors() as exc:
            self._fail(exc, action="read", key=key)

    def write_if(self, key: str, data: bytes, *, token: str | None) -> str:
        """A conditional put: ``If-Match: token`` (the ETag it was read at), or ``If-None-Match: *`` when
        ``token`` is None (create only). Raises :class:`~rollback.state.store.Conflict` when it lost."""
        from botocore.exceptions import ClientError

        self._own(key)
        condition = {"IfMatch": token} if token is not None else {"IfNoneMatch": "*"}
        try:
            response = self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data,
                                              ContentType="application/json", **condition)
            return str(response.get("ETag") or "")
        except ClientError as exc:
            error = exc.response.get("Error", {}) if isinstance(exc.response, dict) else {}
            status = str((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or "")
            if str(error.get("Code") or "") in _CONFLICT or status in _CONFLICT:
                raise Conflict(f"s3://{self.bucket}/{self._full(key)}: changed since it was read; "
                               f"read it again and retry") from exc
            self._fail(exc, action="write", key=key)
        except self._errors() as exc:
            self._fail(exc, action="write", key=key)
