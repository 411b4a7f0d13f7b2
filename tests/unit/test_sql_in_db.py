"""Every SQL statement lives in db/ (docs/architecture.md, "The rule"): no module of hotline/ or agents/ runs a
query or holds SQL text.

The scan is syntactic: a call of one of asyncpg's query methods on anything, or a string literal (f-strings and
implicit concatenations included) that reads as a SQL statement or a fragment of one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hotline", "agents")

# asyncpg's Connection / Pool methods that send SQL text (pg_advisory_lock and NOTIFY included: they are SQL too).
QUERY_METHODS = {
    "execute",
    "executemany",
    "fetch",
    "fetchrow",
    "fetchval",
    "copy_records_to_table",
    "copy_to_table",
    "copy_from_query",
    "cursor",
    "prepare",
}

# SQL is written with its keywords in capitals here, and prose is not: a statement is its verb in capitals and,
# further on, a token that only SQL puts there. Lower-case SQL is caught by its parameters ($1).
_STATEMENTS = re.compile(
    r"""^\s*(?:
        SELECT\s.*?(?:\bFROM\s|\$\d|\b[a-z_]+\s*\(|\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE)\b)
      | SELECT\s+(?:\d+|\*|true|false|null|TRUE|FALSE|NULL)\s*$
      | INSERT\s+INTO\s
      | UPDATE\s+[a-z_][\w.]*(?:\s+[a-z_]\w*)?\s+SET\s
      | DELETE\s+FROM\s
      | WITH\s+(?:RECURSIVE\s+)?[a-z_]\w*(?:\s*\([^)]*\))?\s+AS\s+(?:(?:NOT\s+)?MATERIALIZED\s+)?\(
      | (?:NOTIFY|LISTEN|UNLISTEN)\s+[a-z_"*]
      | (?:CREATE|DROP|ALTER|TRUNCATE|GRANT|REVOKE|LOCK)\s+(?:TABLE|INDEX|VIEW|FUNCTION|TRIGGER|ROLE|SCHEMA|DATABASE)\b
      | COPY\s+[a-z_]\w*.*\b(?:FROM|TO)\b
    )""",
    re.VERBOSE | re.DOTALL,
)
_LOWER_CASE = re.compile(r"^\s*(?:select|insert|update|delete|with|notify)\s.*\$\d", re.IGNORECASE | re.DOTALL)
# A fragment (a query built from parts): a clause keyword in capitals and its operand.
_FRAGMENTS = re.compile(
    r"""^\s*(?:
        FROM\s+[a-z_]\w*(?:\s+[a-z_]\w*)?\s*(?:$|\bWHERE\b|\bJOIN\b|\bLEFT\b|\bCROSS\b|\bGROUP\b|\bORDER\b|,)
      | (?:LEFT\s+|INNER\s+|CROSS\s+)?JOIN\s+(?:LATERAL\s+)?[a-z_(]
      | WHERE\s+[a-z_][\w.]*\s*(?:=|<>|<|>|\bIN\b|\bIS\b|\bLIKE\b|\bAND\b)
      | (?:ORDER|GROUP)\s+BY\s+[a-z_]
      | ON\s+CONFLICT\b
      | RETURNING\s+[a-z_*]
      | VALUES\s*\(
      | SET\s+[a-z_]\w*\s*=
      | AND\s+[a-z_][\w.]*\s*(?:=|<>|\bIN\b|\bIS\b)
    )""",
    re.VERBOSE | re.DOTALL,
)


def looks_like_sql(text: str) -> bool:
    return bool(_STATEMENTS.match(text) or _LOWER_CASE.match(text) or _FRAGMENTS.match(text))


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes: prose about the data (a docstring is never sent to the database)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _text(node: ast.expr) -> str | None:
    """The literal text of a string constant or an f-string (placeholders as `x`)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
    return None


def _is_response_prepare(call: ast.Call) -> bool:
    """aiohttp's `StreamResponse.prepare(request)` (a websocket or a streamed response sending its headers) is
    not asyncpg's `prepare(query)`: its one argument is the handler's request, never SQL text."""
    return (
        len(call.args) == 1
        and not call.keywords
        and isinstance(call.args[0], ast.Name)
        and call.args[0].id == "request"
    )


def sql_outside_db(source: str, filename: str) -> list[str]:
    found: list[tuple[int, int, str]] = []
    tree = ast.parse(source, filename)
    skipped = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # its parts are read with it
            skipped.update(id(v) for v in node.values)
    for node in ast.walk(tree):
        where = (node.lineno, node.col_offset) if isinstance(node, ast.expr) else (0, 0)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in QUERY_METHODS:
            if not (node.func.attr == "prepare" and _is_response_prepare(node)):
                found.append((*where, f"{ast.unparse(node.func)}(...)"))
        elif isinstance(node, ast.Constant | ast.JoinedStr) and id(node) not in skipped:
            text = _text(node)
            if text is not None and looks_like_sql(text):
                found.append((*where, f"SQL text {text.strip().splitlines()[0][:60]!r}"))
    return [f"{filename}:{line}: {what}" for line, _, what in sorted(found)]


def _modules() -> list[Path]:
    return [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]


def test_no_sql_outside_db() -> None:
    found = []
    for path in _modules():
        found += sql_outside_db(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert not found, "SQL belongs in db/ (one function per query):\n" + "\n".join(found)


def test_the_scan_finds_queries_and_sql_text() -> None:
    source = '''
"""Select the callers of a queue from PostgreSQL (a docstring is prose)."""
_WAITING = """
    SELECT e.id FROM queue_entries e WHERE e.state = 'waiting'
"""
_PENDING = """
    FROM recordings r
    LEFT JOIN transcription_state s ON s.call_id = r.call_id
"""
async def f(conn, pool, ws, request, table):
    await conn.fetchval("SELECT pg_try_advisory_lock($1)", 1)
    await pool.execute(f"UPDATE {table} SET state = 'left' WHERE id = $1", 1)
    await conn.executemany(QUERY, [])
    await conn.copy_records_to_table("tags", records=[])
    await conn.prepare(QUERY)
    await ws.prepare(request)
    log.info("select a queue from the menu")
    await conn.add_listener("acd_offer", print)
    x = "NOTIFY acd"
    y = "WITH q AS (SELECT 1) SELECT * FROM q"
    z = "insert into tags (call_id) values ($1)"
'''
    found = [f.split(": ", 1)[1] for f in sql_outside_db(source, "x.py")]
    assert found == [
        "SQL text \"SELECT e.id FROM queue_entries e WHERE e.state = 'waiting'\"",
        "SQL text 'FROM recordings r'",
        "conn.fetchval(...)",
        "SQL text 'SELECT pg_try_advisory_lock($1)'",
        "pool.execute(...)",
        "SQL text \"UPDATE x SET state = 'left' WHERE id = $1\"",
        "conn.executemany(...)",
        "conn.copy_records_to_table(...)",
        "conn.prepare(...)",
        "SQL text 'NOTIFY acd'",
        "SQL text 'WITH q AS (SELECT 1) SELECT * FROM q'",
        "SQL text 'insert into tags (call_id) values ($1)'",
    ], found


def test_prose_is_not_sql() -> None:
    for text in (
        "Select the queue",
        "select a queue from the menu",
        "Update the agent's state",
        "with the caller's consent",
        "From the caller's side",
        "delete the recording",
        "listen to the prompt",
        "Notify the supervisor",
        "where the caller is",
        "SELECT",
        "ORDER",
    ):
        assert not looks_like_sql(text), text


def test_every_query_in_db_is_seen_as_sql() -> None:
    """The patterns recognise the statements db/ really holds (calibration: a scan that sees nothing passes)."""
    seen = 0
    for path in sorted((ROOT / "db").glob("*.py")):
        seen += len(sql_outside_db(path.read_text(encoding="utf-8"), path.name))
    assert seen > 100
