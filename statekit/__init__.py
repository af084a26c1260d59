"""Writers of Pulumi state, shared by the tests, scripts/make_example.py (examples/backend) and bench/.

- :mod:`statekit.pulumi_writer`   DIY backends byte for byte in the Pulumi CLI's on-disk formats
- :mod:`statekit.omniserve_model` the omniserve bot's checkpoint for a release, as infra/ registers it

Not part of the installed ``rollback`` package (infra-rollback itself never writes Pulumi's files).
"""
