"""Tests of tuner.search (a package, so that test modules may share basenames with other folders)."""
