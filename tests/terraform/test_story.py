"""The Terraform story end to end, with a real engine, the real hashicorp/aws provider and moto's server.

v1 good, v2 bad (new image, 1 GiB, an extra env var, a rotated token), roll back to previous: ECS describes
v1's image, memory and env again from an ACTIVE task definition revision, the parameter is v1's, the
table and its data are untouched. Then a v3 that replaced the table: rolling back would replace it again,
which is refused without allow_data_loss (nothing changes), and goes through with it. A held state lock
refuses before anything runs, naming the holder.

The tests of this module share one workspace and run in order (each starts from where the last left it).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rollback.errors import Refused
from rollback.models import Mark
from rollback.terraform.deploy import TfDeploy
from rollback.terraform.engine import Engine, StateLocked
from rollback.terraform.rollback import TfRollback
from rollback.terraform.workspace import Workspace
from tests.paths import EXAMPLES
from tests.terraform.conftest import (
    Aws,
    commit_all,
    init_repo,
    make_engine,
    needs_engine,
    s3_backend_settings,
    write_backend_file,
)

pytestmark = needs_engine

PASSPHRASE = "correct horse battery staple"
STATE_KEY = "bot/terraform.tfstate"


@dataclass
class Bot:
    aws: Aws
    repo: Path
    workdir: Path
    engine: Engine
    env: dict[str, str]

    def workspace(self) -> Workspace:
        return Workspace.open(self.workdir, environ={})

    def deploy(self, *, image: str, token: str, message: str) -> Any:
        return TfDeploy(self.workspace(), self.engine, variables={"image": image, "bot_token": token,
                                                                  "aws_endpoint": self.aws.endpoint},
                        message=message, passphrase=PASSPHRASE, environ=self.env).run()

    def rollback(self, **kwargs: Any) -> TfRollback:
        return TfRollback(self.workspace(), self.engine, passphrase=PASSPHRASE, environ=self.env, **kwargs)

    def edit(self, old: str, new: str, file: str = "main.tf") -> None:
        path = self.workdir / file
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new))

    # -- what AWS says ------------------------------------------------------------------------
    def service_task(self) -> dict[str, Any]:
        ecs = self.aws.client("ecs")
        service = ecs.describe_services(cluster="bot", services=["bot"])["services"][0]
        return ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]

    def token(self) -> str:
        return self.aws.client("ssm").get_parameter(Name="/bot/token", WithDecryption=True)["Parameter"]["Value"]

    def table(self) -> dict[str, Any]:
        return self.aws.client("dynamodb").describe_table(TableName="bot-sessions")["Table"]

    def state_versions(self) -> list[dict[str, Any]]:
        s3 = self.aws.client("s3")
        return [v for v in s3.list_object_versions(Bucket="bot-tfstate", Prefix=STATE_KEY).get("Versions", [])
                if v["Key"] == STATE_KEY]


@pytest.fixture(scope="module")
def bot(aws: Aws, state_bucket: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    repo = tmp_path_factory.mktemp("bot-repo")
    init_repo(repo)
    workdir = repo / "infra"
    shutil.copytree(EXAMPLES / "terraform", workdir, ignore=shutil.ignore_patterns("state-bucket", "*.example"))
    engine = make_engine()
    backend_file = write_backend_file(workdir / "moto.s3.tfbackend", s3_backend_settings(
        aws.endpoint, bucket=state_bucket["bucket"], key=STATE_KEY, lock_table=state_bucket["lock_table"]))
    engine.init(workdir, backend_config=[backend_file])
    commit_all(repo, "bot v1")
    yield Bot(aws=aws, repo=repo, workdir=workdir, engine=engine, env={})


def test_v1_then_a_bad_v2_then_back_to_previous(bot: Bot) -> None:
    v1 = bot.deploy(image="ghcr.io/example/bot:1.4.0", token="tok-v1-7f3a", message="release 1.4.0")
    assert v1.provenance.result == "succeeded" and v1.version == 1
    bot.aws.client("dynamodb").put_item(TableName="bot-sessions", Item={"session_id": {"S": "s-1"}})
    table_before = bot.table()

    # v2: a new image and a rotated token (variables), 1 GiB and an extra env var (a commit).
    bot.edit("memory = 512", "memory = 1024")
    bot.edit('LOG_LEVEL   = "info"', 'LOG_LEVEL   = "info"\n    FEATURE_X   = "on"')
    v2_commit = commit_all(bot.repo, "bot v2: 1 GiB, FEATURE_X")
    v2 = bot.deploy(image="ghcr.io/example/bot:1.5.0", token="tok-v2-c41d", message="release 1.5.0")
    assert v2.version == 2 and v2.provenance.commit == v2_commit
    task = bot.service_task()
    assert task["containerDefinitions"][0]["image"] == "ghcr.io/example/bot:1.5.0"
    assert bot.token() == "tok-v2-c41d"

    # Provenance of v2 holds the token encrypted, never in clear.
    history = bot.workspace().history()
    assert history.count == 2
    store = bot.workspace().backend.store
    record_keys = [e.key for e in store.list(f"{STATE_KEY}/provenance/{history.state(2).lineage}")]
    assert len(record_keys) == 2
    for key in record_keys:
        raw = store.read(key).decode()
        assert "tok-v1-7f3a" not in raw and "tok-v2-c41d" not in raw and '"secure": "v1:' in raw

    rb = bot.rollback(reason="v2 crashes on start")
    with rb.prepare("previous") as rp:
        assert rp.target_version == 1 and rp.current_version == 2
        text = rp.text()
        lines = rp.summary_lines()
        assert 'ECS task definition bot, container "bot": image ghcr.io/example/bot:1.5.0 -> ghcr.io/example/bot:1.4.0' in lines
        assert 'ECS task definition bot, container "bot": memory limit 1024 -> 512' in lines
        assert "ECS task definition bot: task memory 1024 -> 512" in lines
        assert 'ECS task definition bot, container "bot": env FEATURE_X removed (was "on")' in lines
        assert "SSM parameter bot_token: value changed ([secret])" in lines
        assert "replace aws_ecs_task_definition.bot" in text
        assert not rp.reasons
        dumped = json.dumps(rp.to_dict())
        for secret in ("tok-v1-7f3a", "tok-v2-c41d"):
            assert secret not in text and secret not in dumped
        assert rp.to_dict()["variables"]["bot_token"] == "[secret]"
        result = rb.apply(rp)
    assert result.outcome == "rolled-back"

    task = bot.service_task()
    assert task["status"] == "ACTIVE"
    container = task["containerDefinitions"][0]
    assert container["image"] == "ghcr.io/example/bot:1.4.0"
    assert container["memory"] == 512 and task["memory"] == "512"
    assert {e["name"]: e["value"] for e in container["environment"]} == {"LOG_LEVEL": "info", "TOKEN_PARAM": "/bot/token"}
    assert bot.token() == "tok-v1-7f3a"
    table_after = bot.table()
    assert table_after["CreationDateTime"] == table_before["CreationDateTime"]
    assert bot.aws.client("dynamodb").get_item(TableName="bot-sessions", Key={"session_id": {"S": "s-1"}}).get("Item")

    # The history: a third version made by the rollback, the version it left marked bad, a record.
    history = bot.workspace().history()
    assert history.count == 3 and len(bot.state_versions()) == 3
    v3 = history.version(3)
    assert v3.kind == "rollback" and v3.git_head == history.version(1).git_head
    assert history.version(2).mark is Mark.BAD
    records = store.list(f"{STATE_KEY}/records")
    assert len(records) == 1
    record = json.loads(store.read(records[0].key))
    assert record["outcome"] == "rolled-back" and record["from_version"] == 2 and record["to_version"] == 1
    assert "tok-v" not in json.dumps(record)


def test_rollback_that_would_replace_the_table_is_refused(bot: Bot) -> None:
    bot.edit('hash_key     = "session_id"', 'hash_key     = "sid"')
    bot.edit('name = "session_id"', 'name = "sid"')
    commit_all(bot.repo, "bot v4: sessions keyed by sid (replaces the table)")
    bot.deploy(image="ghcr.io/example/bot:1.4.0", token="tok-v1-7f3a", message="sid")
    assert bot.table()["KeySchema"][0]["AttributeName"] == "sid"
    versions = len(bot.state_versions())

    with pytest.raises(Refused) as refused:
        bot.rollback().run("previous")
    assert "data-bearing aws_dynamodb_table aws_dynamodb_table.sessions" in refused.value.message
    assert "--allow-data-loss" in refused.value.message
    assert len(bot.state_versions()) == versions
    assert bot.table()["KeySchema"][0]["AttributeName"] == "sid"

    result = bot.rollback(allow_data_loss=True).run("previous")
    assert result.outcome == "rolled-back"
    assert bot.table()["KeySchema"][0]["AttributeName"] == "session_id"


def test_a_held_state_lock_refuses_naming_the_holder(bot: Bot) -> None:
    ddb = bot.aws.client("dynamodb")
    lock_id = f"bot-tfstate/{STATE_KEY}"
    info = {"ID": "5f0c2b1e-lock", "Operation": "OperationTypeApply", "Who": "alice@ci-runner-7",
            "Version": "1.12.6", "Created": "2026-12-02T09:00:00Z", "Path": lock_id, "Info": ""}
    ddb.put_item(TableName="bot-tflock", Item={"LockID": {"S": lock_id}, "Info": {"S": json.dumps(info)}})
    versions = len(bot.state_versions())
    try:
        with pytest.raises(StateLocked) as locked:
            bot.rollback().run("v1")
        assert "alice@ci-runner-7" in locked.value.message and "5f0c2b1e-lock" in locked.value.message
        assert locked.value.exit_code == 3
        assert len(bot.state_versions()) == versions
    finally:
        ddb.delete_item(TableName="bot-tflock", Key={"LockID": {"S": lock_id}})
