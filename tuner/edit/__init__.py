"""Pure editors: source text in, source text out. No file I/O here (see tuner.apply for writing)."""
