"""The engine boundary without a CLI: settings sent to the stack, error translation, the missing-CLI line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi.automation._cmd import CommandResult
from pulumi.automation.errors import CommandError, ConcurrentUpdateError, StackNotFoundError

from rollback.engine import (
    INSTALL_HINT,
    AutomationEngine,
    StackSpec,
    stack_settings,
    translate,
)
from rollback.errors import EXIT_BAD_INPUT, ConcurrentUpdate, EngineUnavailable, OperationFailed, PlanUnsupported, StackNotFound


def test_stack_settings_carry_recorded_config_and_salt_without_decrypting() -> None:
    spec = StackSpec(backend_url="file:///b", project="omniserve", stack="prod",
                     config={"aws:region": "us-east-1", "omniserve:apiToken": {"secure": "v1:abc:def"},
                             "omniserve:env": {"LOG_LEVEL": "info"}},
                     secrets_provider="passphrase", encryption_salt="v1:c2FsdA==:v1:bm9uY2U=:Y3Q=")
    doc = stack_settings(spec)._serialize()
    assert doc["config"] == {"aws:region": "us-east-1", "omniserve:apiToken": {"secure": "v1:abc:def"},
                             "omniserve:env": {"LOG_LEVEL": "info"}}
    assert doc["encryptionsalt"] == "v1:c2FsdA==:v1:bm9uY2U=:Y3Q="
    assert "secretsprovider" not in doc          # passphrase is the default: not written


def test_cloud_kms_provider_is_written() -> None:
    spec = StackSpec(backend_url="s3://b", project="p", stack="s", secrets_provider="awskms://alias/x",
                     encrypted_key="AQIDBA==")
    doc = stack_settings(spec)._serialize()
    assert doc["secretsprovider"] == "awskms://alias/x" and doc["encryptedkey"] == "AQIDBA=="


def result(stderr: str) -> CommandResult:
    return CommandResult(stdout="", stderr=stderr, code=255)


@pytest.mark.parametrize("exc, kind, words", [
    (ConcurrentUpdateError(result("error: [409] Conflict: Another update is currently in progress.")),
     ConcurrentUpdate, "another update is in progress"),
    (StackNotFoundError(result("error: no stack named 'prod' found")), StackNotFound, "does not know this stack"),
    (CommandError(result("warning: x\nerror: aws:ecs/service:Service omniserve: updating: "
                         "InvalidParameterException: TaskDefinition is inactive")),
     OperationFailed, "update failed: aws:ecs/service:Service omniserve: updating: InvalidParameterException"),
])
def test_engine_errors_become_one_clear_line(exc: Exception, kind: type, words: str) -> None:
    err = translate(exc, "update")
    assert isinstance(err, kind) and words in err.message
    assert "\n" not in err.message


@pytest.mark.parametrize("stderr", [
    # pulumi#16412 as the engine says it (pkg/cmd/pulumi/operations/up.go reading the plan file): the text does
    # not mention the plan; before pulumi#18743 it read "error decrypting secret value"
    "error: decrypting secret value: cipher: message authentication failed",
    "error: error decrypting secret value: cipher: message authentication failed",
])
def test_a_plan_that_cannot_be_decrypted_asks_for_the_fallback(stderr: str) -> None:
    exc = CommandError(result(stderr))
    assert isinstance(translate(exc, "update", plan=True), PlanUnsupported)
    assert not isinstance(translate(exc, "update", plan=False), PlanUnsupported)


def test_stack_config_that_cannot_be_decrypted_is_not_the_plan_fallback() -> None:
    exc = CommandError(result("error: validating stack config: cipher: message authentication failed"))
    err = translate(exc, "preview", plan=True)
    assert not isinstance(err, PlanUnsupported) and "validating stack config" in err.message


def test_an_unknown_stack_is_bad_input() -> None:
    err = translate(StackNotFoundError(result("error: no stack named 'prod' found")), "selecting stack prod")
    assert err.exit_code == EXIT_BAD_INPUT


def test_pulumi_cloud_secrets_provider_is_never_written() -> None:
    doc = stack_settings(StackSpec(backend_url="https://api.pulumi.com", project="p", stack="s",
                                   secrets_provider="service"))._serialize()
    assert "secretsprovider" not in doc


def test_no_cli_on_path_is_exit_1_with_how_to_install(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineUnavailable) as err:
        AutomationEngine().open(StackSpec(backend_url="file:///b", project="p", stack="s"), lambda: None)
    assert err.value.exit_code == 1 and err.value.message == INSTALL_HINT
    assert "https://www.pulumi.com/docs/install/" in INSTALL_HINT and "--preview` works without it" in INSTALL_HINT
