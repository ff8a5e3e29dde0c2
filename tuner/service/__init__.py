"""Ollama service settings: not Chatchat's files, so written as an artifact the user applies."""
