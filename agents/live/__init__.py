"""The console's live area."""
