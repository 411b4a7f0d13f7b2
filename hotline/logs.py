"""Logging set-up. Every record passes through a filter that masks phone numbers in the final text.

`mask_digits` and `redact` are kernel code (every layer's errors and log lines need them); caller-number
parsing is `hotline.caller.phone`."""

from __future__ import annotations

import logging
import re
import sys

_DIGITS = re.compile(r"\d")
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_LANDLINE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(0\d{2,3})[\s-]?(\d{3,4})[\s-]?(\d{4})(?!\d)")


def mask_digits(text: str) -> str:
    """Mask any string of digits for an error message: keep the first 3 and last 4 digits at most."""
    digits = "".join(_DIGITS.findall(text))
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) <= 7:
        return "*" * (len(digits) - 4) + digits[-4:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def redact(text: str) -> str:
    """Mask anything in free text that looks like a Chinese phone number (for log lines)."""
    text = _MOBILE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _LANDLINE_IN_TEXT.sub(lambda m: f"{m.group(1)}-{'*' * len(m.group(2))}{m.group(3)}", text)


class RedactNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class OneLine(logging.Filter):
    """A library's warning about a lost database (asyncpg's pool retrying its connections while PostgreSQL is
    down) as one line naming the error, not a traceback in the operator's log: the outage is expected, and the
    journal and /healthz say what it means."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.levelno < logging.ERROR and record.name.startswith("asyncpg"):
            error = record.exc_info[1]
            record.msg, record.args = f"{record.getMessage()}: {type(error).__name__}: {error}", None
            record.exc_info, record.exc_text = None, None
        return True


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactNumbers())
    handler.addFilter(OneLine())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
