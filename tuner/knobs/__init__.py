"""What can be tuned: knob names, value types, where each knob lives and whether it takes effect."""
