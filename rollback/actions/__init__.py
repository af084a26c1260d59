"""One action object per command (Helm style): built with its dependencies, ``run()`` tells the story and
returns what happened; the CLI renders it. Actions never print or prompt (:mod:`~rollback.actions.hooks`).

- :mod:`~rollback.actions.context`  what every action needs (backend, project directory, passphrase)
- :mod:`~rollback.actions.preview`  the plan of a rollback (current, target, diff, workloads, replay)
- :mod:`~rollback.actions.rollback` prepare, perform, record a rollback; :class:`RollbackOutcome`
- :mod:`~rollback.actions.deploy`   a guarded deploy that can roll itself back; :class:`DeployOutcome`
- :mod:`~rollback.actions.verify`   health gates: the ``verify`` command, and after a rollback or deploy
- :mod:`~rollback.actions.diff`, :mod:`~rollback.actions.history`, :mod:`~rollback.actions.mark`
"""
