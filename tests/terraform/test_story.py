"""The Terraform story end to end through the `infra-rollback` command: a real engine (OpenTofu), the real
hashicorp/aws provider, moto's server, and the bot's health endpoint.

Workspace ``prod`` of the bot (examples/terraform) in a git repository. v1 is deployed and healthy (marked good);
v2 (a new image, 1 GiB, an extra env var, a rotated token) is deployed and its health gate fails (marked bad).
`infra-rollback prod --to previous --yes` then goes back: moto's ECS describes v1's image, memory and env again
from an ACTIVE task definition revision, the parameter is v1's, the table and its data untouched, the target
commit's gate passes, the record and the marks say so. A later release that replaced the table cannot be rolled
back without --allow-data-loss (nothing changes), and a held state lock is refused naming its holder.

The bot itself does not run on moto: its metrics endpoint is played by a small server here that answers from the
image ECS says the service runs (1.5.0 tags a third of the tickets urgent), so the gate judges what was deployed.

The tests of this module share one workspace and run in order (each starts where the last left it).
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.paths import EXAMPLES
from tests.terraform.conftest import (
    CHANGE_KEYS,
    PREVIEW_KEYS,
    VERSION_KEYS,
    Aws,
    Cli,
    commit_all,
    init_repo,
    make_engine,
    needs_engine,
    s3_backend_settings,
    send_json,
    write_backend_file,
)

pytestmark = needs_engine

PASSPHRASE = "correct horse battery staple"
STATE_KEY = "env:/prod/bot/terraform.tfstate"
V1_IMAGE, V2_IMAGE = "ghcr.io/example/bot:1.4.0", "ghcr.io/example/bot:1.5.0"
TOKENS = ("tok-v1-7f3a", "tok-v2-c41d")


class _Metrics(BaseHTTPRequestHandler):
    """The bot's /metrics/triage: the share of tickets tagged urgent, as the image ECS runs makes it."""

    aws: Aws

    def do_GET(self) -> None:
        ecs = self.aws.client("ecs")
        service = ecs.describe_services(cluster="bot", services=["bot"])["services"][0]
        task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        share = 0.34 if task["containerDefinitions"][0]["image"] == V2_IMAGE else 0.04
        send_json(self, {"tags": {"urgent_escalation_share": share}})

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Bot:
    aws: Aws
    repo: Path
    workdir: Path
    cli: Cli

    def edit(self, old: str, new: str, file: str = "main.tf") -> None:
        path = self.workdir / file
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new))

    def deploy(self, image: str, token: str, *args: str) -> Any:
        return self.cli("deploy", "prod", "--yes", "--var", f"image={image}", "--var",
                        f"aws_endpoint={self.aws.endpoint}", *args, env={"TF_VAR_bot_token": token})

    # -- what AWS says ------------------------------------------------------------------------
    def service_task(self) -> dict[str, Any]:
        ecs = self.aws.client("ecs")
        service = ecs.describe_services(cluster="bot", services=["bot"])["services"][0]
        return ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]

    def token(self) -> str:
        return self.aws.client("ssm").get_parameter(Name="/bot/token", WithDecryption=True)["Parameter"]["Value"]

    def table(self) -> dict[str, Any]:
        return self.aws.client("dynamodb").describe_table(TableName="bot-sessions")["Table"]

    def state_versions(self) -> int:
        s3 = self.aws.client("s3")
        listed = s3.list_object_versions(Bucket="bot-tfstate", Prefix=STATE_KEY).get("Versions", [])
        return len([v for v in listed if v["Key"] == STATE_KEY])

    def our_files(self) -> dict[str, str]:
        s3 = self.aws.client("s3")
        prefix = f".infra-rollback/terraform/{STATE_KEY}/"
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="bot-tfstate", Prefix=prefix).get("Contents", [])]
        return {k: s3.get_object(Bucket="bot-tfstate", Key=k)["Body"].read().decode() for k in keys}


@pytest.fixture(scope="module")
def bot(aws: Aws, state_bucket: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    _Metrics.aws = aws
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    repo = tmp_path_factory.mktemp("bot-repo")
    init_repo(repo)
    workdir = repo / "infra"
    shutil.copytree(EXAMPLES / "terraform", workdir, ignore=shutil.ignore_patterns("state-bucket", "*.example"))
    (workdir / "infra-rollback.health.yaml").write_text(
        "timeout: 20\ninterval: 0.5\ngates:\n  - kind: http\n    name: triage\n"
        f"    url: http://127.0.0.1:{server.server_address[1]}/metrics/triage\n"
        "    thresholds:\n      - metric: tags.urgent_escalation_share\n        max: 0.2\n")
    engine = make_engine()
    backend_file = write_backend_file(workdir / "moto.s3.tfbackend", s3_backend_settings(
        aws.endpoint, bucket=state_bucket["bucket"], key="bot/terraform.tfstate", lock_table=state_bucket["lock_table"]))
    engine.init(workdir, backend_config=[backend_file])
    engine.workspace_new(workdir, "prod")
    commit_all(repo, "bot v1")
    try:
        yield Bot(aws=aws, repo=repo, workdir=workdir,
                  cli=Cli(cwd=workdir, env={"INFRA_ROLLBACK_PASSPHRASE": PASSPHRASE}))
    finally:
        server.shutdown()


def test_a_healthy_v1_then_a_bad_v2(bot: Bot) -> None:
    v1 = bot.deploy(V1_IMAGE, TOKENS[0], "-m", "release 1.4.0", "--json")
    assert v1.code == 0, v1.stderr
    record = json.loads(v1.stdout)
    assert record["kind"] == "deploy" and record["outcome"] == "deployed" and record["new_version"] == 1
    assert record["health"]["healthy"] and record["summary"]["commit"]
    bot.aws.client("dynamodb").put_item(TableName="bot-sessions", Item={"session_id": {"S": "s-1"}})

    # v2: a new image and a rotated token (variables), 1 GiB and an extra env var (a commit).
    bot.edit("memory = 512", "memory = 1024")
    bot.edit('LOG_LEVEL   = "info"', 'LOG_LEVEL   = "info"\n    FEATURE_X   = "on"')
    commit_all(bot.repo, "bot v2: 1 GiB, FEATURE_X")
    v2 = bot.deploy(V2_IMAGE, TOKENS[1], "-m", "release 1.5.0")
    assert v2.code == 1, v2.stderr
    assert "error: deploy of prod is unhealthy (triage)" in v2.stderr
    assert bot.service_task()["containerDefinitions"][0]["image"] == V2_IMAGE and bot.token() == TOKENS[1]

    # What deploy recorded beside the state: provenance of both versions, the token sealed, never in clear.
    files = bot.our_files()
    provenance = [body for key, body in files.items() if "/provenance/" in key]
    assert len(provenance) == 2 and all('"secure": "v1:' in body for body in provenance)
    assert not any(token in body for body in files.values() for token in TOKENS)


def test_history_as_a_table_and_as_json(bot: Bot) -> None:
    table = bot.cli("history", "prod")
    assert table.code == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "History of prod (newest first; * = current state)"
    assert lines[1].split() == ["VERSION", "WHEN", "KIND", "RESULT", "WHO", "GIT", "IMAGE", "CHANGES", "MARK"]
    assert lines[2].startswith("*v2 ") and "bot:1.5.0" in lines[2] and "bad: health gates failed: triage" in lines[2]
    assert lines[3].startswith(" v1 ") and "bot:1.4.0" in lines[3] and "good: deployed; health gates passed" in lines[3]
    doc = json.loads(bot.cli("history", "prod", "--json").stdout)
    assert set(doc) == {"stack", "project", "backend", "current_version", "versions", "operations", "total",
                        "not_shown", "warnings"}
    assert doc["backend"] == f"s3://bot-tfstate/{STATE_KEY}" and doc["current_version"] == 2
    assert [v["version"] for v in doc["versions"]] == [2, 1]
    assert all(VERSION_KEYS <= set(v) for v in doc["versions"])
    assert doc["versions"][1]["message"] == "release 1.4.0" and doc["versions"][1]["mark"] == "good"

    # The working directory's gate, run on demand: v2 is unhealthy (exit 1).
    verify = bot.cli("verify", "prod", "--json")
    assert verify.code == 1
    report = json.loads(verify.stdout)
    assert report["verdict"] == "unhealthy" and report["gates"][0]["name"] == "triage"


def test_the_preview_reads_like_the_pulumi_one(bot: Bot) -> None:
    text = bot.cli("prod", "--to", "previous", "--preview")
    assert text.code == 0, text.stderr
    first, second = text.stdout.splitlines()[:2]
    assert first.startswith("prod v2 (image 1.5.0) -> v1 (image 1.4.0, marked good): image, memory 1024->512, ")
    assert second == "preview only, nothing changed | apply: infra-rollback prod --to v1"
    for line in ('ECS task definition bot, container "bot": image ghcr.io/example/bot:1.5.0 -> ghcr.io/example/bot:1.4.0',
                 'ECS task definition bot, container "bot": memory limit 1024 -> 512',
                 'ECS task definition bot, container "bot": env FEATURE_X removed (was "on")',
                 "SSM parameter bot_token: value changed ([secret])"):
        assert f"  {line}\n" in text.stdout
    assert "would be refused" not in text.stdout

    doc = json.loads(bot.cli("prod", "--to", "previous", "--preview", "--json").stdout)
    assert set(doc) == PREVIEW_KEYS | {"terraform"}
    assert set(doc["target"]) == VERSION_KEYS and doc["target"]["version"] == 1
    assert doc["from_version"] == 2 and doc["to_version"] == 1 and doc["refusals"] == []
    for change in doc["changes"]:
        assert CHANGE_KEYS <= set(change) <= CHANGE_KEYS | {"replace_reason"}
    ops = {c["urn"]: c["op"] for c in doc["changes"]}
    assert ops["aws_ecs_task_definition.bot"] == "replace" and ops["aws_ssm_parameter.bot_token"] == "update"
    engine = doc["engine"]
    assert engine["ran"] and engine["disagreements"] == [] and engine["not_restored"] == []
    steps = {s["urn"]: s for s in engine["steps"]}
    assert steps["aws_ecs_task_definition.bot"] == {"urn": "aws_ecs_task_definition.bot",
                                                    "type": "aws_ecs_task_definition", "op": "replace",
                                                    "predicted_op": "replace"}
    assert steps["aws_dynamodb_table.sessions"]["op"] == "same"
    assert doc["terraform"]["variables"]["bot_token"] == "[secret]"
    assert doc["terraform"]["health"].startswith("infra-rollback.health.yaml at commit ")
    markdown = bot.cli("prod", "--to", "previous", "--preview", "--markdown", "--no-engine-check")
    assert markdown.stdout.startswith("## Rollback preview: `prod` v2 \\(image 1\\.5\\.0\\) → v1 \\(image 1\\.4\\.0\\, "
                                      "marked good\\)\n")
    assert "not asked \\(\\-\\-no\\-engine\\-check\\)" in markdown.stdout
    for out in (text, markdown):
        assert not any(token in out.stdout + out.stderr for token in TOKENS)
    assert not any(token in json.dumps(doc) for token in TOKENS)


def test_back_to_previous_through_the_command(bot: Bot) -> None:
    table_before = bot.table()
    result = bot.cli("prod", "--to", "previous", "--yes", "--reason", "v2 tags every ticket urgent", "--json")
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["outcome"] == "rolled-back" and set(doc) == PREVIEW_KEYS | {"terraform", "outcome", "record"}
    record = doc["record"]
    assert record["outcome"] == "rolled-back" and (record["from_version"], record["to_version"]) == (2, 1)
    assert record["new_version"] == 3 and record["health"]["healthy"] and record["time_to_recover_seconds"] > 0
    assert record["engine_plan"]["steps"] and record["summary"]["engine"] == "tofu"

    task = bot.service_task()
    assert task["status"] == "ACTIVE"
    container = task["containerDefinitions"][0]
    assert container["image"] == V1_IMAGE and container["memory"] == 512 and task["memory"] == "512"
    assert {e["name"]: e["value"] for e in container["environment"]} == {"LOG_LEVEL": "info", "TOKEN_PARAM": "/bot/token"}
    assert bot.token() == TOKENS[0]
    assert bot.table()["CreationDateTime"] == table_before["CreationDateTime"]
    assert bot.aws.client("dynamodb").get_item(TableName="bot-sessions", Key={"session_id": {"S": "s-1"}}).get("Item")
    assert bot.state_versions() == 4   # the empty state `workspace new` wrote (not a version), v1, v2, v3
    assert any(n.startswith("workspace prod now runs commit") for n in record["notes"])

    history = json.loads(bot.cli("history", "prod", "--json").stdout)
    v3, v2 = history["versions"][0], history["versions"][1]
    assert history["current_version"] == 3 and v3["kind"] == "rollback"
    assert v3["rollback"]["reason"] == "v2 tags every ticket urgent" and v3["image"] == "bot:1.4.0"
    assert v2["mark"] == "bad"
    assert not any(token in body for body in bot.our_files().values() for token in TOKENS)
    assert bot.cli("verify", "prod").code == 0


def test_diff_show_and_mark_on_the_workspace(bot: Bot) -> None:
    diff = json.loads(bot.cli("diff", "prod", "--from", "2", "--to", "current", "--json").stdout)
    assert set(diff) == {"stack", "project", "from_version", "to_version", "skipped", "changes", "summary", "warnings"}
    assert (diff["from_version"], diff["to_version"]) == (2, "current")
    assert 'ECS task definition bot, container "bot": image ghcr.io/example/bot:1.5.0 -> ghcr.io/example/bot:1.4.0' \
        in diff["summary"]["lines"]
    text = bot.cli("diff", "prod", "--from", "2", "--to", "current")
    assert text.stdout.startswith("diff prod v2 (image 1.5.0) -> current (image 1.4.0): image, memory 1024->512")

    show = json.loads(bot.cli("show", "prod", "v1", "--json").stdout)
    assert show["config"]["bot_token"] == "[secret]" and show["config"]["image"] == V1_IMAGE
    assert {"field": "image", "value": V1_IMAGE} in next(w for w in show["workloads"] if w["container"] == "bot")["fields"]

    marked = bot.cli("mark", "prod", "3", "--good", "--reason", "back on 1.4.0", "--json")
    assert json.loads(marked.stdout) == {"stack": "prod", "project": None, "version": 3, "mark": "good",
                                         "reason": "back on 1.4.0"}
    assert bot.cli("mark", "prod", "3", "--good").stdout == "marked prod v3 good\n"


def test_a_rollback_that_would_replace_the_table_is_refused(bot: Bot) -> None:
    bot.edit('hash_key     = "session_id"', 'hash_key     = "sid"')
    bot.edit('name = "session_id"', 'name = "sid"')
    commit_all(bot.repo, "bot v4: sessions keyed by sid (replaces the table)")
    assert bot.deploy(V1_IMAGE, TOKENS[0], "-m", "sid").code == 0
    assert bot.table()["KeySchema"][0]["AttributeName"] == "sid"
    versions = bot.state_versions()

    refused = bot.cli("prod", "--to", "previous", "--yes", "--json")
    assert refused.code == 3, refused.stderr
    doc = json.loads(refused.stdout)
    assert doc["outcome"] == "refused"
    assert doc["refused"] == ["DATA LOSS: would replace data-bearing aws_dynamodb_table aws_dynamodb_table.sessions "
                              "(hash_key forces replacement) (pass --allow-data-loss to allow it)"]
    assert refused.stderr.startswith("error: rollback refused: DATA LOSS: would replace data-bearing")
    assert bot.state_versions() == versions and bot.table()["KeySchema"][0]["AttributeName"] == "sid"

    allowed = bot.cli("prod", "--to", "previous", "--yes", "--allow-data-loss")
    assert allowed.code == 0, allowed.stderr
    assert bot.table()["KeySchema"][0]["AttributeName"] == "session_id"


def test_a_held_state_lock_refuses_naming_the_holder(bot: Bot) -> None:
    ddb = bot.aws.client("dynamodb")
    lock_id = f"bot-tfstate/{STATE_KEY}"
    info = {"ID": "5f0c2b1e-lock", "Operation": "OperationTypeApply", "Who": "alice@ci-runner-7",
            "Version": "1.12.6", "Created": "2026-12-02T09:00:00Z", "Path": lock_id, "Info": ""}
    ddb.put_item(TableName="bot-tflock", Item={"LockID": {"S": lock_id}, "Info": {"S": json.dumps(info)}})
    versions = bot.state_versions()
    try:
        locked = bot.cli("prod", "--to", "v1", "--yes")
        assert locked.code == 3
        assert "locked by alice@ci-runner-7 (apply, since 2026-12-02T09:00:00Z, lock 5f0c2b1e-lock)" in locked.stderr
        assert "force-unlock 5f0c2b1e-lock" in locked.stderr
        preview = json.loads(bot.cli("prod", "--to", "v1", "--preview", "--json").stdout)
        assert any("alice@ci-runner-7" in r for r in preview["refusals"])
        assert preview["engine"]["note"] == "the state is locked: the engine's plan needs the lock"
        assert bot.state_versions() == versions
    finally:
        ddb.delete_item(TableName="bot-tflock", Key={"LockID": {"S": lock_id}})
