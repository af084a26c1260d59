"""The actions of a Terraform/OpenTofu working directory: the same commands, the same result shapes.

The command line (:mod:`rollback.cli`) routes a command here when ``--cwd`` is a Terraform working directory
(:mod:`rollback.workspace_kind`); each class takes the arguments of its Pulumi counterpart in
:mod:`rollback.actions` and returns the same document, outcome or error, so the renderers, exit codes and
JSON contracts are shared. What differs is only how state is read and the engine driven
(:mod:`rollback.terraform`).

    context.py   TfContext: the working directory, the workspace named by STACK, the engine (--engine)
    document.py  the preview and diff documents from the engine's plan or two recorded states
    read.py      History, Show, Diff, MarkVersion, WriteConfig (refused: a workspace's config is a commit)
    rollback.py  Rollback: decide, guard, plan, confirm, apply, converge, verify, record
    deploy.py    Deploy: Deploy's story with Terraform steps (provenance recorded)
    verify.py    VerifyStack: the gates of infra-rollback.health.yaml
"""

from rollback.actions.terraform.context import TfContext
from rollback.actions.terraform.deploy import Deploy
from rollback.actions.terraform.read import Diff, History, MarkVersion, Show, WriteConfig
from rollback.actions.terraform.rollback import Rollback
from rollback.actions.terraform.verify import VerifyStack

__all__ = ["Deploy", "Diff", "History", "MarkVersion", "Rollback", "Show", "TfContext", "VerifyStack", "WriteConfig"]
