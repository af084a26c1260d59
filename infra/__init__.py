"""The omniserve bot's infrastructure (Pulumi Python program; entry point ``infra/__main__.py``)."""
