"""The console's supervisor area."""
