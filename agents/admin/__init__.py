"""The console's admin area."""
