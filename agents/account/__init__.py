"""The console's account area."""
