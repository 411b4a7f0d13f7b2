"""Automatic quality check (自动质检) of a call's transcript against administrators' rules (see
``hotline/analysis/README.md``)."""

from hotline.qa.rules import DEFAULT_RULES_PATH, ITEM_NAMES, QaRules, QaRulesError, load_rules, normalise, parse_rules
from hotline.qa.service import QaItem, QaResult, Segment, evaluate

__all__ = [
    "DEFAULT_RULES_PATH",
    "ITEM_NAMES",
    "QaItem",
    "QaResult",
    "QaRules",
    "QaRulesError",
    "Segment",
    "evaluate",
    "load_rules",
    "normalise",
    "parse_rules",
]
