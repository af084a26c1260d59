"""History and rollback on the local backend and in non-default workspaces, with the real engine, through the
`infra-rollback` command.

A small configuration (SSM parameters only) keeps these quick: the local backend in workspace ``staging``
(history from the snapshots ``deploy`` keeps), ``prevent_destroy`` stopping a rollback, the S3 backend's
``env:/`` workspace prefix, ``--to git:REF`` for a version infra-rollback did not make, and a deploy whose
health gate fails rolling itself back.
"""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rollback.terraform.deploy import TfDeploy
from rollback.terraform.workspace import Workspace, write_var_file
from tests.terraform.conftest import (
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
FIXTURE = Path(__file__).parent / "fixtures" / "param"


def _repo(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "repo"
    init_repo(repo)
    workdir = repo / "param"
    shutil.copytree(FIXTURE, workdir)
    return repo, workdir


def _param(aws: Aws, name: str) -> str | None:
    ssm = aws.client("ssm")
    try:
        return ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None


def test_local_backend_in_a_workspace(aws: Aws, tmp_path: Path) -> None:
    repo, workdir = _repo(tmp_path)
    commit_all(repo, "param")
    engine = make_engine()
    engine.init(workdir)
    engine.workspace_new(workdir, "staging")
    variables: dict[str, Any] = {"aws_endpoint": aws.endpoint, "prefix": "local"}
    cli = Cli(cwd=workdir)

    def deploy(**extra: Any) -> Any:
        return TfDeploy(Workspace.open(workdir, workspace="staging", environ={}), engine,
                        variables={**variables, **extra}, environ={}).run()

    deploy(value="one")
    deploy(value="two")
    ws = Workspace.open(workdir, environ={})
    assert ws.name == "staging"   # what `workspace new` selected
    assert ws.backend.describe().endswith("param/terraform.tfstate.d/staging/terraform.tfstate")
    history = ws.history()
    assert history.count == 2
    assert [v.config["value"] for v in history.newest_first()] == ["two", "one"]
    assert (workdir / ".infra-rollback" / ".gitignore").read_text().strip().endswith("*")

    result = cli("staging", "--to", "previous", "--yes", "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["record"]["new_version"] == 3
    assert _param(aws, "/local/setting") == "one"
    history = Workspace.open(workdir, environ={}).history()
    assert history.count == 3 and history.version(3).kind == "rollback"
    assert history.state(3).serial > history.state(2).serial
    assert history.version(2).mark is not None and history.version(2).mark.value == "bad"

    # A version that added a prevent_destroy resource: going back to v1 would destroy it.
    deploy(value="one", guarded=True)
    assert _param(aws, "/local/guarded") == "keep me"
    prevented = cli("staging", "--to", "1", "--yes")
    assert prevented.code == 3, prevented.stderr
    assert prevented.stderr.startswith("error: rollback refused: would destroy aws_ssm_parameter.guarded[0] "
                                       "(lifecycle.prevent_destroy)")
    assert _param(aws, "/local/guarded") == "keep me"
    assert Workspace.open(workdir, environ={}).history().count == 4


def test_s3_workspace_prefix_and_a_git_target(aws: Aws, state_bucket: dict[str, str], tmp_path: Path) -> None:
    repo, workdir = _repo(tmp_path)
    (workdir / "backend.tf").write_text('terraform {\n  backend "s3" {}\n}\n')
    settings = s3_backend_settings(aws.endpoint, bucket=state_bucket["bucket"], key="param/terraform.tfstate",
                                   lock_table=state_bucket["lock_table"])
    backend_file = write_backend_file(workdir / "moto.s3.tfbackend", settings)
    (workdir / "terraform.tfvars").write_text('prefix = "gitref"\nvalue = "from-the-commit"\n')
    first = commit_all(repo, "param, values in terraform.tfvars")
    engine = make_engine()
    engine.init(workdir, backend_config=[backend_file])
    engine.workspace_new(workdir, "staging")
    cli = Cli(cwd=workdir)

    # Applied by hand, not through deploy: a version with no provenance.
    var_file = write_var_file(tmp_path, {"aws_endpoint": aws.endpoint})
    engine.plan(workdir, out=tmp_path / "p.tfplan", var_files=[var_file], workspace="staging")
    engine.apply(workdir, tmp_path / "p.tfplan", workspace="staging")
    (workdir / "terraform.tfvars").write_text('prefix = "gitref"\nvalue = "second"\n')
    commit_all(repo, "second value")
    deployed = cli("deploy", "staging", "--yes", "--var", f"aws_endpoint={aws.endpoint}", "-m", "release two")
    assert deployed.code == 0, deployed.stderr
    assert _param(aws, "/gitref/setting") == "second"

    ws = Workspace.open(workdir, environ={})
    assert ws.backend.describe() == "s3://bot-tfstate/env:/staging/param/terraform.tfstate"
    versions = aws.client("s3").list_object_versions(Bucket="bot-tfstate", Prefix="env:/staging/param/")["Versions"]
    # `workspace new` wrote an empty state (not a version), the hand-made apply v1, the deploy v2.
    assert len([v for v in versions if v["Key"] == "env:/staging/param/terraform.tfstate"]) == 3
    history = ws.history()
    assert history.count == 2
    assert [(v.kind, v.git_head is not None) for v in history.newest_first()] == [("update", True), ("update", False)]
    # Every variable's value as the plan used it is recorded, from --var and terraform.tfvars alike.
    assert history.version(2).config == {"aws_endpoint": aws.endpoint, "guarded": False, "prefix": "gitref",
                                         "value": "second"}

    no_previous = cli("staging", "--to", "previous", "--yes")
    assert no_previous.code == 2 and "use --to git:REF" in no_previous.stderr
    no_record = cli("staging", "--to", "1", "--yes")
    assert no_record.code == 2
    assert no_record.stderr == ("error: v1 of workspace 'staging' has no provenance record (it was not applied by "
                                "infra-rollback deploy): name its commit with --to git:REF\n")

    # git:REF works from the commit alone (its terraform.tfvars), plus what the environment gives; only the
    # engine's plan can say what that changes.
    quick = cli("staging", "--to", f"git:{first[:10]}", "--preview", "--no-engine-check")
    assert quick.code == 2 and quick.stderr == (f"error: git:{first[:12]} is a commit with no recorded state: only "
                                                f"the engine's plan can preview it (not asked (--no-engine-check))\n")
    env = {"TF_VAR_aws_endpoint": aws.endpoint}
    preview = cli("staging", "--to", f"git:{first[:10]}", "--preview", env=env)
    assert preview.code == 0, preview.stderr
    assert preview.stdout.splitlines()[0].startswith(f"staging v2 -> git:{first[:12]}: ")
    assert preview.stdout.splitlines()[1] == ("preview only, nothing changed | apply: infra-rollback staging --to "
                                              f"git:{first[:12]}")
    result = cli("staging", "--to", f"git:{first[:10]}", "--yes", "--json", env=env)
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["to_version"] is None and doc["target"]["git_head"] == first
    # The provider marks every aws_ssm_parameter value sensitive, String ones too: never shown.
    assert doc["summary"]["lines"] == ["SSM parameter setting: value changed ([secret])"]
    for out in (preview.stdout, result.stdout):
        assert "from-the-commit" not in out and '"second"' not in out
    assert _param(aws, "/gitref/setting") == "from-the-commit"
    assert Workspace.open(workdir, environ={}).history().version(3).git_head == first


class _SettingMetrics(BaseHTTPRequestHandler):
    """A service whose error rate follows the parameter it reads: "bad" breaks it."""

    aws: Aws

    def do_GET(self) -> None:
        value = _param(self.aws, "/auto/setting")
        send_json(self, {"errors": {"rate": 0.5 if value == "bad" else 0.0}})

    def log_message(self, *args: Any) -> None:
        pass


def test_a_deploy_whose_gate_fails_rolls_itself_back(aws: Aws, tmp_path: Path) -> None:
    _SettingMetrics.aws = aws
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SettingMetrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        repo, workdir = _repo(tmp_path)
        (workdir / "infra-rollback.health.yaml").write_text(
            f"timeout: 20\ninterval: 0.5\ngates:\n  - kind: http\n    name: errors\n"
            f"    url: http://127.0.0.1:{server.server_address[1]}/metrics\n"
            f"    thresholds: [{{metric: errors.rate, max: 0.1}}]\n")
        commit_all(repo, "param with a health gate")
        make_engine().init(workdir)
        cli = Cli(cwd=workdir)
        common = ("--yes", "--var", f"aws_endpoint={aws.endpoint}", "--var", "prefix=auto")
        assert cli("deploy", "default", *common, "--var", "value=good", "-m", "good").code == 0

        bad = cli("deploy", "default", *common, "--var", "value=bad", "-m", "bad", "--auto-rollback", "--json")
        assert bad.code == 1
        record = json.loads(bad.stdout)
        assert record["outcome"] == "rolled-back" and record["health"]["healthy"] is False
        assert record["time_to_recover_seconds"] > 0 and record["new_version"] == 2
        assert bad.stderr.splitlines()[-1] == "error: deploy of default is unhealthy (errors); rolled back"
        assert _param(aws, "/auto/setting") == "good"
        history = json.loads(cli("history", "default", "--json").stdout)
        assert [(v["version"], v["kind"], v["mark"]) for v in history["versions"]] == [
            (3, "rollback", None), (2, "update", "bad"), (1, "update", "good")]
        assert history["versions"][0]["rollback"]["reason"] == "auto-rollback: health gates failed: errors"
        assert cli("verify", "default").code == 0
    finally:
        server.shutdown()
