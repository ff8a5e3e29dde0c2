"""chatchat-tune: measure, tune and safely patch Langchain-Chatchat installs that talk to Ollama."""

__version__ = "0.1.0"
