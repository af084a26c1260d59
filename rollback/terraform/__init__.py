"""Terraform and OpenTofu workspaces: history, provenance, preview, guards and rollback.

The engine-neutral parts (versions, targets, marks, records, the workload summary's result types) are
shared with the Pulumi side; only reading state and driving the engine differ. Layout:

    engine.py      the one boundary to the `tofu`/`terraform` binary (JSON interfaces only)
    backends.py    where the state lives (s3 with bucket versioning, local) and where our files go
    state.py       a state snapshot (format 4) and its engine-neutral Deployment
    provenance.py  commit + variables of each version (secrets sealed), stored in the backend
    history.py     the workspace's versions, numbered from 1, and target resolution
    plan.py        the engine's plan (show -json), masked, and the guards on its actions
    summary.py     the semantic preview (images, task definitions, memory, env, [secret] values)
    workspace.py   working directory, git, temporary worktrees of old commits
    deploy.py      a guarded apply that records provenance
    rollback.py    the rollback: checkout, init, plan -out, guards, apply the saved plan, converge, record

Nothing here is imported by ``infra-rollback --help``; boto3 is imported only when S3 is read.
"""
