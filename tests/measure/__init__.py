"""Tests of tuner.measure (a package, so that test modules may share basenames with other folders)."""
