"""The traffic simulator: its script (pure) and its run through the real front."""
