"""An Ollama-compatible lab server with real latency causes (cold loads, keep_alive, slots, faults)."""
