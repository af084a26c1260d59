"""Test support for the replay program and its rehearsal: checkpoint builders and a capturing monitor."""
