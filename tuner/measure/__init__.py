"""Measure real round-trips phase by phase: workload in, samples out, summaries on top. No printing here."""
