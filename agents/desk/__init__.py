"""The console's desk area."""
