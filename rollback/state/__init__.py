"""Reading Pulumi state, and where it lives (nothing here writes Pulumi's files).

- :mod:`~rollback.state.backend`   the one backend protocol (history, checkpoints, locks, our side store)
- :mod:`~rollback.state.open`      opening the backend a URL names
- :mod:`~rollback.state.diy`       DIY backends (``file://``, ``s3://``) over a :mod:`~rollback.state.store`
- :mod:`~rollback.state.s3`        the S3 store (boto3, errors translated here)
- :mod:`~rollback.state.cloud`     Pulumi Cloud through the Pulumi CLI; :mod:`~rollback.state.cloud_tags` its tags
- :mod:`~rollback.state.codec`     bytes -> checkpoints (compression, envelopes, versions)
- :mod:`~rollback.state.values`    special values (secrets, assets, archives, references)
- :mod:`~rollback.state.secrets`   decrypting secrets (passphrase, b64, plaintext)
"""
