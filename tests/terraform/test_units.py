"""The Terraform side's pure parts, without an engine: plan reading, summary, guards, state, provenance,
history on a local backend, and the engine boundary's error translation (with a stand-in binary)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from rollback.errors import EngineUnavailable, OperationFailed, SecretsError, TargetError
from rollback.models import Mark
from rollback.state.values import Secret
from rollback.terraform.backends import LocalBackend, S3Backend
from rollback.terraform.engine import DestroyPrevented, Engine, LockInfo, StateLocked, find_engine
from rollback.terraform.history import TfHistory
from rollback.terraform.plan import guard_reasons, read_plan
from rollback.terraform.provenance import Provenance, ProvenanceStore, open_variables, seal_variables
from rollback.terraform.state import parse_state, to_deployment
from rollback.terraform.summary import action_lines, summary_lines

# ----------------------------------------------------------------------------------------------
# A plan document as `tofu show -json PLANFILE` prints it (trimmed to the fields the code reads).


def _containers(image: str, memory: int, env: dict[str, str]) -> str:
    return json.dumps([{"name": "bot", "image": image, "memory": memory, "essential": True,
                        "environment": [{"name": k, "value": v} for k, v in env.items()]}])


def plan_doc(*, table_replaced: bool = False) -> dict[str, Any]:
    changes: list[dict[str, Any]] = [
        {"address": "aws_ecs_task_definition.bot", "mode": "managed", "type": "aws_ecs_task_definition", "name": "bot",
         "action_reason": "replace_because_cannot_update",
         "change": {"actions": ["delete", "create"],
                    "before": {"memory": "1024", "cpu": "256",
                               "container_definitions": _containers("bot:1.5.0", 1024, {"LOG_LEVEL": "info", "FEATURE_X": "on"})},
                    "after": {"memory": "512", "cpu": "256",
                              "container_definitions": _containers("bot:1.4.0", 512, {"LOG_LEVEL": "info"})},
                    "after_unknown": {"arn": True, "revision": True}, "before_sensitive": {}, "after_sensitive": {},
                    "replace_paths": [["memory"], ["container_definitions"]]}},
        {"address": "aws_ssm_parameter.bot_token", "mode": "managed", "type": "aws_ssm_parameter", "name": "bot_token",
         "change": {"actions": ["update"], "before": {"name": "/bot/token", "value": "tok-NOW-1111"},
                    "after": {"name": "/bot/token", "value": "tok-THEN-2222"},
                    "before_sensitive": {"value": True}, "after_sensitive": {"value": True}, "after_unknown": {}}},
        {"address": "aws_ecs_service.bot", "mode": "managed", "type": "aws_ecs_service", "name": "bot",
         "change": {"actions": ["update"], "before": {"desired_count": 1, "task_definition": "arn:td:2"},
                    "after": {"desired_count": 1}, "after_unknown": {"task_definition": True},
                    "before_sensitive": {}, "after_sensitive": {}}},
        {"address": "aws_vpc.bot", "mode": "managed", "type": "aws_vpc", "name": "bot",
         "change": {"actions": ["no-op"], "before": {"cidr_block": "10.0.0.0/16"}, "after": {"cidr_block": "10.0.0.0/16"}}},
    ]
    if table_replaced:
        changes.append({"address": "aws_dynamodb_table.sessions", "mode": "managed", "type": "aws_dynamodb_table",
                        "name": "sessions", "action_reason": "replace_because_cannot_update",
                        "change": {"actions": ["delete", "create"], "before": {"hash_key": "sid"},
                                   "after": {"hash_key": "session_id"}, "replace_paths": [["hash_key"]]}})
    return {"format_version": "1.2", "terraform_version": "1.12.6", "resource_changes": changes,
            "variables": {"image": {"value": "bot:1.4.0"}, "bot_token": {"value": "tok-THEN-2222"}},
            "configuration": {"root_module": {"variables": {"bot_token": {"sensitive": True}, "image": {}}}}}


def test_plan_summary_reads_like_the_pulumi_preview() -> None:
    plan = read_plan(plan_doc())
    assert plan.counts() == {"create": 0, "update": 2, "replace": 1, "delete": 0}
    assert plan.sensitive_variables == ("bot_token",)
    assert summary_lines(plan) == [
        "ECS task definition bot: task memory 1024 -> 512",
        'ECS task definition bot, container "bot": image bot:1.5.0 -> bot:1.4.0',
        'ECS task definition bot, container "bot": memory limit 1024 -> 512',
        'ECS task definition bot, container "bot": env FEATURE_X removed (was "on")',
        "SSM parameter bot_token: value changed ([secret])",
    ]
    assert action_lines(plan) == [
        "replace aws_ecs_task_definition.bot (memory, container_definitions forces replacement)",
        "update aws_ssm_parameter.bot_token (value)",
        "update aws_ecs_service.bot (task_definition)",
    ]


def test_sensitive_values_never_leave_the_plan_reader() -> None:
    plan = read_plan(plan_doc())
    dumped = json.dumps(plan.to_dict()) + "\n".join(summary_lines(plan) + action_lines(plan))
    assert "tok-NOW-1111" not in dumped and "tok-THEN-2222" not in dumped
    token = next(c for c in plan.to_dict()["changes"] if c["type"] == "aws_ssm_parameter")
    assert token["properties"] == [{"path": "value", "before": "[secret]", "after": "[secret]", "secret": True}]
    service = next(c for c in plan.to_dict()["changes"] if c["type"] == "aws_ecs_service")
    assert service["properties"][0]["after"] == "(known after apply)"


def test_guards_refuse_a_data_bearing_replace_unless_allowed() -> None:
    plan = read_plan(plan_doc(table_replaced=True))
    reasons, notes = guard_reasons(plan, allow_data_loss=False)
    assert reasons == ["DATA LOSS: would replace data-bearing aws_dynamodb_table aws_dynamodb_table.sessions "
                       "(hash_key forces replacement) (pass --allow-data-loss to allow it)"]
    reasons, notes = guard_reasons(plan, allow_data_loss=True)
    assert not reasons and notes[0].startswith("allowed by --allow-data-loss: will replace data-bearing")
    assert not guard_reasons(read_plan(plan_doc()), allow_data_loss=False)[0]


# ----------------------------------------------------------------------------------------------
# State


def state_doc(serial: int, *, value: str = "v", tainted: bool = False, lineage: str = "lin-1",
              resources: bool = True) -> bytes:
    instance: dict[str, Any] = {"schema_version": 0, "attributes": {"id": "/bot/token", "name": "/bot/token", "value": value},
                                "sensitive_attributes": [[{"type": "get_attr", "value": "value"}]]}
    if tainted:
        instance["status"] = "tainted"
    res = [{"mode": "managed", "type": "aws_ssm_parameter", "name": "token", "provider": "provider[\"x\"]",
            "instances": [instance]},
           {"module": "module.app", "mode": "managed", "type": "aws_sqs_queue", "name": "q", "provider": "p",
            "instances": [{"index_key": "blue", "attributes": {"id": "q1"}}]}] if resources else []
    return json.dumps({"version": 4, "terraform_version": "1.12.6", "serial": serial, "lineage": lineage,
                       "outputs": {}, "resources": res}).encode()


def test_state_parsing_and_the_engine_neutral_deployment() -> None:
    st = parse_state(state_doc(3, value="s3cr3t", tainted=True), source="mem")
    assert (st.serial, st.lineage, st.terraform_version) == (3, "lin-1", "1.12.6")
    assert [i.address for i in st.instances] == ["aws_ssm_parameter.token", 'module.app.aws_sqs_queue.q["blue"]']
    assert [i.address for i in st.tainted] == ["aws_ssm_parameter.token"]
    dep = to_deployment(st)
    token = dep.by_urn()["aws_ssm_parameter.token"]
    assert isinstance(token.inputs["value"], Secret) and "s3cr3t" not in repr(token.inputs)
    with pytest.raises(Exception, match="mem: unsupported Terraform state format version 3"):
        parse_state(b'{"version": 3}', source="mem")


# ----------------------------------------------------------------------------------------------
# Provenance


def test_secret_variables_are_sealed_and_opened() -> None:
    sealed, salt = seal_variables({"image": "bot:1", "token": "tok-123"}, ["token"], passphrase="pw")
    assert sealed["image"] == "bot:1" and "tok-123" not in json.dumps(sealed) and salt
    record = Provenance(lineage="l", serial=1, commit="abc", variables=sealed, secrets_salt=salt)
    assert record.display_variables() == {"image": "bot:1", "token": "[secret]"}
    assert open_variables(record, passphrase="pw", environ={}, source="v1") == {"image": "bot:1", "token": "tok-123"}
    with pytest.raises(SecretsError, match="v1: cannot open the encrypted variables"):
        open_variables(record, passphrase="wrong", environ={}, source="v1")
    with pytest.raises(SecretsError, match="INFRA_ROLLBACK_PASSPHRASE"):
        open_variables(record, passphrase=None, environ={}, source="v1")


def test_without_a_passphrase_a_secret_is_a_reference_to_the_environment() -> None:
    sealed, salt = seal_variables({"token": "tok-123"}, ["token"], passphrase=None)
    assert sealed == {"token": {"from_env": "TF_VAR_token"}} and salt is None
    record = Provenance(lineage="l", serial=1, commit="abc", variables=sealed)
    assert open_variables(record, passphrase=None, environ={"TF_VAR_token": "tok-9"}, source="v1") == {"token": "tok-9"}
    with pytest.raises(SecretsError, match="set TF_VAR_token"):
        open_variables(record, passphrase=None, environ={}, source="v1")


# ----------------------------------------------------------------------------------------------
# History on a local backend (files written here, no engine)


def _local(tmp_path: Path, states: list[bytes], *, records: dict[int, dict[str, Any]]) -> LocalBackend:
    backend = LocalBackend(tmp_path, {}, workspace="default")
    store = ProvenanceStore(backend.store, backend.records_prefix())
    for data in states:
        doc = json.loads(data)
        backend.keep_snapshot(data, serial=doc["serial"], lineage=doc["lineage"])
        if doc["serial"] in records:
            store.save(Provenance(lineage=doc["lineage"], serial=doc["serial"], **records[doc["serial"]]))
    (tmp_path / "terraform.tfstate").write_bytes(states[-1])
    return backend


def test_local_history_numbering_kinds_and_previous(tmp_path: Path) -> None:
    states = [state_doc(1, value="a"), state_doc(2, value="b"), state_doc(3, value="b"), state_doc(4, value="c", tainted=True),
              state_doc(5, value="d")]
    records = {1: {"commit": "c1" * 20}, 2: {"commit": "c2" * 20}, 4: {"commit": "c4" * 20, "result": "failed"},
               5: {"commit": "c5" * 20}}
    backend = _local(tmp_path, states, records=records)
    history = TfHistory(backend)
    assert history.count == 5 and history.current_version() == 5
    kinds = [(v.number, v.kind, v.result) for v in history.newest_first()]
    assert kinds == [(5, "update", "succeeded"), (4, "update", "failed"), (3, "refresh", "succeeded"),
                     (2, "update", "succeeded"), (1, "update", "succeeded")]
    assert history.version(1).environment["terraform.serial"] == "1"
    resolution = history.resolve("previous")
    assert resolution.target.number == 2
    assert [(s.version, s.reason.split(" (")[0].split(":")[0]) for s in resolution.skipped] == [
        (4, "failed update"), (3, "no provenance record")]
    history.mark(2, Mark.BAD, reason="broken", by="me", at="now")
    assert TfHistory(backend).resolve("previous").target.number == 1
    assert TfHistory(backend).resolve("git:c1c1c1").target.number == 1
    with pytest.raises(TargetError, match="unknown target 'yesterday'"):
        history.resolve("yesterday")


# ----------------------------------------------------------------------------------------------
# Backends


def test_s3_workspace_key_and_our_prefix() -> None:
    b = S3Backend({"bucket": "st", "key": "bot/terraform.tfstate"}, workspace="staging")
    assert b.state_key == "env:/staging/bot/terraform.tfstate"
    assert b.describe() == "s3://st/env:/staging/bot/terraform.tfstate"
    assert b.describe("x.json") == "s3://st/.infra-rollback/terraform/x.json"
    custom = S3Backend({"bucket": "st", "key": "k", "workspace_key_prefix": "ws"}, workspace="prod")
    assert custom.state_key == "ws/prod/k"
    assert S3Backend({"bucket": "st", "key": "k"}, workspace="default").state_key == "k"


# ----------------------------------------------------------------------------------------------
# The engine boundary: errors translated (a stand-in binary prints what the real one prints)

LOCK_DETAIL = ("Error message: operation error DynamoDB: PutItem, ConditionalCheckFailedException: The conditional "
               "request failed\nLock Info:\n  ID:        1111-2222\n  Path:      tfstate/bot/terraform.tfstate\n"
               "  Operation: OperationTypeApply\n  Who:       alice@ci-runner\n  Version:   1.12.6\n"
               "  Created:   2026-12-02 13:00:00 +0000 UTC\n  Info:      \n\n\nOpenTofu acquires a state lock...")


def test_lock_info_from_the_engines_diagnostic() -> None:
    lock = LockInfo.from_text(LOCK_DETAIL)
    assert (lock.id, lock.who, lock.operation) == ("1111-2222", "alice@ci-runner", "OperationTypeApply")
    assert lock.holder() == "alice@ci-runner (apply, since 2026-12-02 13:00:00 +0000 UTC, lock 1111-2222)"


def _fake_engine(tmp_path: Path, diagnostic: dict[str, Any], code: int = 1) -> Engine:
    line = json.dumps({"type": "diagnostic", "@level": "error", "diagnostic": diagnostic})
    script = tmp_path / "tofu"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{line}\nEOF\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return Engine(str(script))


def test_engine_errors_are_translated(tmp_path: Path) -> None:
    locked = _fake_engine(tmp_path, {"severity": "error", "summary": "Error acquiring the state lock", "detail": LOCK_DETAIL})
    with pytest.raises(StateLocked, match="locked by alice@ci-runner") as exc:
        locked.plan(tmp_path)
    assert exc.value.exit_code == 3
    prevented = _fake_engine(tmp_path, {"severity": "error", "summary": "Resource instance cannot be destroyed",
                                        "detail": "Resource instance aws_s3_bucket.state has prevent_destroy set, but ..."})
    with pytest.raises(DestroyPrevented, match="aws_s3_bucket.state"):
        prevented.plan(tmp_path)
    other = _fake_engine(tmp_path, {"severity": "error", "summary": "Invalid reference", "detail": "A reference to x"})
    with pytest.raises(OperationFailed, match="tofu plan failed in .*: Invalid reference: A reference to x"):
        other.plan(tmp_path)


def test_finding_the_engine(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable) as missing:
        find_engine(environ={"PATH": str(tmp_path)})
    assert missing.value.message.startswith("no `tofu` or `terraform` on PATH: install OpenTofu "
                                            "(https://opentofu.org/docs/intro/install/) or Terraform")
    with pytest.raises(EngineUnavailable, match="--engine terraform: not an executable, nor a name on PATH"):
        find_engine("terraform", environ={"PATH": str(tmp_path)})
    with pytest.raises(EngineUnavailable, match="INFRA_ROLLBACK_TF_ENGINE /nowhere/tofu: not an executable"):
        find_engine(environ={"PATH": str(tmp_path), "INFRA_ROLLBACK_TF_ENGINE": "/nowhere/tofu"})
    fake = _fake_engine(tmp_path, {})
    os.rename(fake.binary, tmp_path / "terraform")
    assert find_engine(environ={"PATH": str(tmp_path)}).name == "terraform"


def test_s3_locks_are_read_from_the_lock_table_and_the_lockfile(aws: Any) -> None:
    """The lock a guard names before anything runs: a DynamoDB item, or a `<key>.tflock` object."""
    s3, ddb = aws.client("s3"), aws.client("dynamodb")
    s3.create_bucket(Bucket="lock-probe")
    ddb.create_table(TableName="lock-probe", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}])
    settings = {"bucket": "lock-probe", "key": "k/terraform.tfstate", "region": "us-east-1", "access_key": "testing",
                "secret_key": "testing", "endpoints": {"s3": aws.endpoint, "dynamodb": aws.endpoint}, "use_path_style": True}
    info = {"ID": "id-1", "Operation": "OperationTypePlan", "Who": "carol@ci", "Created": "2026-12-02T08:00:00Z"}
    table = S3Backend({**settings, "dynamodb_table": "lock-probe"}, workspace="default")
    assert table.lock() is None
    ddb.put_item(TableName="lock-probe", Item={"LockID": {"S": "lock-probe/k/terraform.tfstate"},
                                               "Info": {"S": json.dumps(info)}})
    assert table.lock().holder() == "carol@ci (plan, since 2026-12-02T08:00:00Z, lock id-1)"
    lockfile = S3Backend({**settings, "use_lockfile": True}, workspace="staging")
    assert lockfile.lock() is None
    s3.put_object(Bucket="lock-probe", Key="env:/staging/k/terraform.tfstate.tflock", Body=json.dumps(info).encode())
    assert lockfile.lock().who == "carol@ci"


def test_previous_reads_only_the_states_it_needs(tmp_path: Path) -> None:
    states = [state_doc(n, value=f"v{n}") for n in range(1, 41)]
    backend = _local(tmp_path, states, records={n: {"commit": f"{n:040x}"} for n in range(1, 41)})
    reads: list[str] = []
    read_state = backend.read_state

    def counting(obj: Any) -> bytes:
        reads.append(obj.key)
        return read_state(obj)

    backend.read_state = counting  # type: ignore[method-assign]
    history = TfHistory(backend)
    assert history.resolve("previous").target.number == 39
    assert len(set(reads)) <= 3 and history.count == 40


def test_lambda_image_memory_and_env_in_the_summary() -> None:
    doc = {"resource_changes": [{
        "address": "aws_lambda_function.worker", "mode": "managed", "type": "aws_lambda_function", "name": "worker",
        "change": {"actions": ["update"],
                   "before": {"image_uri": "w:2", "memory_size": 1024, "environment": [{"variables": {"A": "1", "B": "x"}}]},
                   "after": {"image_uri": "w:1", "memory_size": 512, "environment": [{"variables": {"A": "1"}}]},
                   "before_sensitive": {}, "after_sensitive": {}, "after_unknown": {}}}]}
    assert summary_lines(read_plan(doc)) == [
        "Lambda function worker: image w:2 -> w:1", "Lambda function worker: memory 1024 -> 512",
        'Lambda function worker: env B removed (was "x")']
