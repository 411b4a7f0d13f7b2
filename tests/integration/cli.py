"""Moved to tests.support.cli; this re-export serves test modules of a parallel change until they import it
from there (tests/unit/test_layout.py lists them)."""

from tests.support.cli import ROOT, SECRET, env_for, finish, hotline, popen

__all__ = ["ROOT", "SECRET", "env_for", "finish", "hotline", "popen"]
