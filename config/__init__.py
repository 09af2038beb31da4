"""Settings and data files: directory, escalation policy, flows, texts."""
