"""Find a Chatchat install, tell its generation, and read its settings files (never importing them)."""
