"""From what the user asks (KNOB[entry]=VALUE) to the exact bytes each file would get: pure, no writing."""
