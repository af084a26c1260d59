"""boto3 clients for the AWS gates, and botocore errors translated into one line.

Region: the gate's ``region``, else ``AWS_REGION`` (which :class:`rollback.actions.verify.Verify` sets to the
stack's ``aws:region`` when its config has one), else ``AWS_DEFAULT_REGION``, else whatever boto3's own
configuration (profile) says. Endpoint: boto3's own ``AWS_ENDPOINT_URL`` /
``AWS_ENDPOINT_URL_<SERVICE>`` support (nothing hard-coded here). Credentials: boto3's usual chain.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from rollback.errors import BadInput, OperationFailed
from rollback.health.runner import GateUnreachable

#: Error codes that mean "you may not", not "try again".
_AUTH_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
    "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "InvalidSignatureException",
    "SignatureDoesNotMatch", "AuthFailure",
})


def aws_client(service: str, *, region: str | None, environ: Mapping[str, str] | None, who: str) -> Any:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    env = os.environ if environ is None else environ
    region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
    try:
        session = boto3.session.Session(region_name=region)
        if not session.region_name:
            raise BadInput(f"{who}: no AWS region (set region: in the gate, aws:region in the stack config, or "
                           f"AWS_REGION)")
        return session.client(service, config=Config(
            connect_timeout=5, read_timeout=15, retries={"max_attempts": 3, "mode": "standard"}))
    except BotoCoreError as exc:
        raise BadInput(f"{who}: cannot set up an AWS {service} client: {one_line(str(exc))}") from exc


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code") or "")
    return ""


def translate(exc: Exception, *, who: str, call: str) -> OperationFailed:
    """A botocore exception as OperationFailed with one clear line (callers ``raise ... from exc``).

    No connection, no credentials or no permission is :class:`GateUnreachable` (the gate's verdict is
    unknown: AWS was not asked, or would not tell)."""
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        CredentialRetrievalError,
        HTTPClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)):
        return GateUnreachable(f"{who}: no usable AWS credentials for {call} (set AWS_PROFILE or "
                               f"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
    if isinstance(exc, NoRegionError):
        return OperationFailed(f"{who}: no AWS region for {call}")
    if isinstance(exc, (ConnectionError, HTTPClientError)):   # DNS, refused, connect/read timeouts, TLS
        return GateUnreachable(f"{who}: cannot reach the AWS endpoint for {call}: {one_line(str(exc))}")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = one_line((exc.response.get("Error") or {}).get("Message") or "")
        if code in _AUTH_CODES:
            return GateUnreachable(f"{who}: AWS refused {call} ({code}): {message}")
        return OperationFailed(f"{who}: {call} failed ({code or 'error'}): {message}")
    return OperationFailed(f"{who}: {call} failed: {one_line(str(exc)) or exc.__class__.__name__}")
