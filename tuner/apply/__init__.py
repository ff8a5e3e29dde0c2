"""The one place that writes an install's files: atomic, all-or-none, backed up, reversible."""
