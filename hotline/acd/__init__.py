"""Automatic call distribution: pure strategies here, PostgreSQL state and the dispatcher beside them."""
