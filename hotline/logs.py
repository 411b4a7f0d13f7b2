"""Logging set-up. Every record passes through a filter that masks phone numbers in the final text."""

from __future__ import annotations

import logging
import sys

from hotline.caller.phone import redact


class RedactNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactNumbers())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
