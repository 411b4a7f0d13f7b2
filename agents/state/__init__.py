"""Agents' state (available, paused, logged out) over REST, for the console, the phones and `hotline agent`."""
