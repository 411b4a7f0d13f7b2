"""Helpers shared by the tests (and the benches): the only test code another module may import.

Fixtures stay in conftest.py files, which pytest provides; a fixture shared by two test folders is defined
here and imported by both conftests. tests/unit/test_layout.py holds the rule.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
