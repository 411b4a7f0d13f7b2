"""``hotline tag``: JSON lines in, JSON lines out, one output line per input line, in order.

A line that is not a JSON object with a string ``text`` gives the output line ``{"error": "..."}`` and the
same message on stderr, prefixed with its line number; the other lines are still tagged, and the exit status is
1 if any line was bad, else 0.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from hotline.tag.service import tag
from hotline.tag.taxonomy import Taxonomy

_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}
EXPECTED = 'expected a JSON object with a string field "text", e.g. {"text": "我想咨询离婚"}'


def _parse(raw: bytes | str) -> str:
    """The statement's text, or raise ValueError with a message for the caller."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 ({exc.reason} at byte {exc.start}); {EXPECTED}") from None
    line = raw.rstrip("\r\n")
    if not line.strip():
        raise ValueError(f"empty line; {EXPECTED}")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno}); {EXPECTED}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"got a JSON {_JSON_TYPES.get(type(obj), 'value')}; {EXPECTED}")
    text = obj.get("text")
    if not isinstance(text, str):
        what = "missing" if "text" not in obj else f"a JSON {_JSON_TYPES.get(type(text), 'value')}"
        raise ValueError(f'"text" is {what}; {EXPECTED}')
    return text


def tag_main(stdin: IO[Any], stdout: IO[str], stderr: IO[str] | None = None, taxonomy: Taxonomy | None = None) -> int:
    """Tag every line of ``stdin`` to ``stdout``; bad lines are reported on ``stderr`` (sys.stderr if None)."""
    err = stderr if stderr is not None else sys.stderr
    source = getattr(stdin, "buffer", stdin)  # read bytes when we can, so bad UTF-8 is one bad line, not a crash
    status = 0
    for lineno, raw in enumerate(source, 1):
        try:
            text = _parse(raw)
        except ValueError as exc:
            status = 1
            message = f"line {lineno}: {exc}"
            print(f"hotline tag: {message}", file=err)
            out: dict[str, object] = {"error": message}
        else:
            out = tag(text, taxonomy).to_json()
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()
    return status
