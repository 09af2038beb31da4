"""Escalation: policy, mission matching, RQ jobs, outbound providers, the sweeper."""
