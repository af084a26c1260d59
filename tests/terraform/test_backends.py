"""History and rollback on the local backend and in non-default workspaces, with the real engine.

A small configuration (SSM parameters only) keeps these quick: the local backend in workspace
``staging`` (history from the snapshots ``deploy`` keeps), ``prevent_destroy`` stopping a rollback, the
S3 backend's ``env:/`` workspace prefix, and ``--to git:REF`` for a version infra-rollback did not make.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from rollback.errors import Refused, TargetError
from rollback.terraform.deploy import TfDeploy
from rollback.terraform.engine import DestroyPrevented
from rollback.terraform.rollback import TfRollback
from rollback.terraform.workspace import Workspace, write_var_file
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

    def deploy(**extra: Any) -> Any:
        return TfDeploy(Workspace.open(workdir, environ={}), engine, variables={**variables, **extra}, environ={}).run()

    deploy(value="one")
    deploy(value="two")
    ws = Workspace.open(workdir, environ={})
    assert ws.name == "staging"
    assert ws.backend.describe().endswith("param/terraform.tfstate.d/staging/terraform.tfstate")
    history = ws.history()
    assert history.count == 2
    assert [v.config["value"] for v in history.newest_first()] == ["two", "one"]
    assert (workdir / ".infra-rollback" / ".gitignore").read_text().strip().endswith("*")

    result = TfRollback(ws, engine, environ={}).run("previous")
    assert result.outcome == "rolled-back"
    assert _param(aws, "/local/setting") == "one"
    history = Workspace.open(workdir, environ={}).history()
    assert history.count == 3 and history.version(3).kind == "rollback"
    assert history.state(3).serial > history.state(2).serial

    # A version that added a prevent_destroy resource: going back to v1 would destroy it.
    deploy(value="one", guarded=True)
    assert _param(aws, "/local/guarded") == "keep me"
    with pytest.raises(DestroyPrevented) as prevented:
        TfRollback(Workspace.open(workdir, environ={}), engine, environ={}).run("1")
    assert "aws_ssm_parameter.guarded[0]" in prevented.value.message
    assert isinstance(prevented.value, Refused) and prevented.value.exit_code == 3
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

    # Applied by hand, not through deploy: a version with no provenance.
    var_file = write_var_file(tmp_path, {"aws_endpoint": aws.endpoint})
    engine.plan(workdir, out=tmp_path / "p.tfplan", var_files=[var_file], workspace="staging")
    engine.apply(workdir, tmp_path / "p.tfplan", workspace="staging")
    (workdir / "terraform.tfvars").write_text('prefix = "gitref"\nvalue = "second"\n')
    commit_all(repo, "second value")
    TfDeploy(Workspace.open(workdir, environ={}), engine, variables={"aws_endpoint": aws.endpoint}, environ={}).run()
    assert _param(aws, "/gitref/setting") == "second"

    ws = Workspace.open(workdir, environ={})
    assert ws.backend.describe() == "s3://bot-tfstate/env:/staging/param/terraform.tfstate"
    versions = aws.client("s3").list_object_versions(Bucket="bot-tfstate", Prefix="env:/staging/param/")["Versions"]
    # `workspace new` wrote an empty state, the hand-made apply one, the deploy the third.
    assert len([v for v in versions if v["Key"] == "env:/staging/param/terraform.tfstate"]) == 3
    history = ws.history()
    assert history.count == 3
    assert [(v.kind, v.git_head is not None) for v in history.newest_first()] == [
        ("update", True), ("update", False), ("empty", False)]

    with pytest.raises(TargetError) as no_previous:
        TfRollback(ws, engine, environ={}).run("previous")
    assert "git:REF" in no_previous.value.message
    with pytest.raises(Refused) as no_record:
        TfRollback(ws, engine, environ={}).run("2")
    assert "no provenance record" in no_record.value.message

    # git:REF works from the commit alone (its terraform.tfvars), plus what the environment gives.
    rollback = TfRollback(ws, engine, environ={})
    rollback.engine = make_engine()
    rollback.engine.extra_env["TF_VAR_aws_endpoint"] = aws.endpoint
    with rollback.prepare(f"git:{first[:10]}") as rp:
        assert rp.target_version is None and rp.commit == first
        assert any("not a version infra-rollback deployed" in w for w in rp.warnings)
        # The provider marks every aws_ssm_parameter value sensitive, String ones too: never shown.
        assert rp.summary_lines() == ["SSM parameter setting: value changed ([secret])"]
        assert "from-the-commit" not in rp.text() and "second" not in rp.text()
        rollback.apply(rp)
    assert _param(aws, "/gitref/setting") == "from-the-commit"
