"""Which engine a command is about: a Pulumi project or a Terraform/OpenTofu working directory. One rule:

1. ``--engine`` (a ``tofu``/``terraform`` binary) names Terraform: ``--cwd`` must be a Terraform working
   directory (``*.tf`` or ``*.tf.json`` files in it);
2. ``--backend`` (a Pulumi backend URL) names Pulumi;
3. a ``Pulumi.yaml`` in ``--cwd`` itself: Pulumi;
4. ``*.tf`` or ``*.tf.json`` files in ``--cwd`` itself: Terraform (the nearer project wins over a
   ``Pulumi.yaml`` above it; Terraform, like ``terraform -chdir``, works in that one directory);
5. anything else: Pulumi (a ``Pulumi.yaml`` above, ``PULUMI_BACKEND_URL``, ``pulumi login``, or the one-line
   error saying none was found).

Only file names are looked at (no file is parsed): ``--help`` and every command stay as quick as before.
"""

from __future__ import annotations

from pathlib import Path

from rollback.errors import BadInput
from rollback.models import Word


class Kind(Word):
    PULUMI = "pulumi"
    TERRAFORM = "terraform"


def is_terraform_dir(path: Path) -> bool:
    """``path`` holds Terraform configuration (``*.tf`` or ``*.tf.json`` files)."""
    try:
        return any(p.is_file() for pattern in ("*.tf", "*.tf.json") for p in path.glob(pattern))
    except OSError:
        return False


def detect(cwd: Path, *, backend_flag: str | None = None, engine_flag: str | None = None) -> Kind:
    """The kind of project in ``cwd`` (see the module's rule)."""
    if engine_flag:
        if backend_flag:
            raise BadInput("--engine names a Terraform/OpenTofu binary and --backend a Pulumi backend: give one")
        if not is_terraform_dir(cwd):
            raise BadInput(f"--engine is for Terraform/OpenTofu working directories: {cwd} has no *.tf files "
                           f"(pass --cwd DIR)")
        return Kind.TERRAFORM
    if backend_flag or (cwd / "Pulumi.yaml").is_file() or (cwd / "Pulumi.yml").is_file():
        return Kind.PULUMI
    return Kind.TERRAFORM if is_terraform_dir(cwd) else Kind.PULUMI


__all__ = ["Kind", "detect", "is_terraform_dir"]
