"""infra-rollback: roll a broken Pulumi deployment back to a known-good version in one command."""

__version__ = "0.1.0"
