"""History and rollback on the local backend and in non-default workspaces, with the real engine, through the
`infra-rollback` command.

A small configuration (SSM parameters only) keeps these quick: the local backend in workspace ``staging``
(history from the snapshots ``deploy`` keeps), ``prevent_destroy`` stopping a rollback, the S3 backend's
``env:/`` workspace prefix, ``--to git:REF`` for a version infra-rollback did not make, and the one-line
errors of bad input.
"""

from __future__ import annotations

import json
import shutil
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

    # git:REF works from the commit alone (its terraform.tfvars), plus what the environment gives.
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
