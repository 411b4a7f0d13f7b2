"""The 12348 public legal-service hotline: engine, ACD, console and reports."""

__version__ = "0.1.0"
