"""Reading Pulumi state: envelopes, special values, secrets and backend layouts."""
