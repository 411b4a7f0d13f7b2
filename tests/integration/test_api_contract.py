"""The OpenAPI 3.1 document of /api (agents/openapi.yaml) against the app: it is valid OpenAPI, it names exactly
the routes the router has, real answers over seeded data in the real PostgreSQL match its response schemas, and
a property-based run of Schemathesis against the live server finds no server error and no answer outside it."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from argon2 import PasswordHasher
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agents import app as agents_app
from agents.openapi import document
from db import agents
from hotline.clock import SYSTEM
from hotline.config import Settings
from tests.support.openapi import operations, problems, routes, validator
from tests.support.records import CALLERS, Client, basic, serve

FUZZER = "fuzzer"  # a supervisor whose password hash is cheap to check, so the fuzz run is many requests
# The answers must be in the document. Left out: positive_data_acceptance (an opaque cursor, an unknown id or a
# text with NUL is schema-valid yet refused by design) and the checks that probe other methods and credentials
# (test_web_auth.py holds those).
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = {GenerationMode.POSITIVE: 50, GenerationMode.NEGATIVE: 25}


@pytest.fixture
async def api(db: str) -> AsyncIterator[Client]:
    async with serve(db) as client:
        yield client
        # the work-order API shows its assignee and supervisors the facts as written (numbers typed in included):
        # only the callers' own numbers are never there
        assert client.leaked(CALLERS) == []


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()

    validate(doc)

    assert doc["openapi"].startswith("3.1.")
    schemes = doc["components"]["securitySchemes"]
    assert schemes["basic"] == {"type": "http", "scheme": "basic", "description": schemes["basic"]["description"]}
    assert (schemes["session"]["in"], schemes["session"]["name"]) == ("cookie", "hotline_session")
    assert (schemes["csrf"]["in"], schemes["csrf"]["name"]) == ("header", "X-CSRF-Token")


def test_the_checks_of_answers_know_the_formats_the_document_uses() -> None:
    checker = validator("GET", "/api/calls", 200).format_checker
    assert checker is not None
    assert {"date-time", "date", "uuid"} <= set(checker.checkers)  # date-time needs rfc3339-validator installed
    assert problems("GET", "/api/calls/{call_id}", 200, {"id": "x"}) != []


def test_every_api_route_is_in_the_document_and_every_documented_operation_is_routed() -> None:
    root = agents_app.create_root(None, Settings(), SYSTEM)
    routed = sorted((method, path) for method, path in routes(root) if path.startswith(agents_app.PREFIX + "/"))

    assert sorted(operations(document())) == routed
    assert ("GET", "/api/referrals/{ticket_number}") in routed  # the walk reaches the areas' routes


def test_the_security_of_each_operation_is_what_its_handler_declares() -> None:
    doc = document()
    for method, path in operations(doc):
        operation = doc["paths"][path][method.lower()]
        security = operation.get("security", doc["security"])
        if path == "/api/openapi.json":
            assert security == []
        elif method == "GET":
            assert security == [{"basic": []}, {"session": []}], path
        else:
            assert security == [{"basic": []}, {"session": [], "csrf": []}], path
            assert {"401", "403", "413"} <= set(operation["responses"]), path


async def test_the_document_is_served_as_json_without_credentials(api: Client) -> None:
    status, body = await api.get("/api/openapi.json", user=None)

    assert status == 200
    assert body == document()


async def test_real_answers_of_every_operation_match_the_document(api: Client) -> None:
    """Each operation called with seeded values for its answers that a client meets; each answer validated."""
    world = api.world
    number = world.referrals["legal_aid"]
    call = world.calls[1].id
    answers: list[tuple[str, str, int, Any]] = []

    async def get(template: str, path: str, user: str | None = "boss", **query: str) -> None:
        answers.append(("GET", template, *await api.get(path, user, **query)))

    async def post(template: str, path: str, body: Any, user: str | None = "boss") -> None:
        answers.append(("POST", template, *await api.post(path, body, user)))

    await get("/api/openapi.json", "/api/openapi.json", None)
    await get("/api/agents/me", "/api/agents/me")
    await get("/api/agents/me", "/api/agents/me", None)
    await post("/api/agents/me/state", "/api/agents/me/state", {"state": "paused", "reason": "午休"})
    await post("/api/agents/me/state", "/api/agents/me/state", {"state": "dancing"})
    await post("/api/agents/me/state", "/api/agents/me/state", {"state": "available"})  # no phone registered
    await post("/api/agents/{username}/state", "/api/agents/lawyer02/state", {"state": "paused", "reason": "培训"})
    await post("/api/agents/{username}/state", "/api/agents/nobody/state", {"state": "paused", "reason": "培训"})
    await post("/api/agents/{username}/state", "/api/agents/lawyer02/state", {"state": "paused"}, "lawyer01")
    await get("/api/tickets/{number}", f"/api/tickets/{number}")
    await get("/api/tickets/{number}", f"/api/tickets/{number}", "lawyer02")
    await get("/api/tickets/{number}", "/api/tickets/YN-20990101-000001")
    await post(
        "/api/tickets/{number}/fields", f"/api/tickets/{number}/fields", {"field": "legal_area", "value": "劳动争议"}
    )
    await post("/api/tickets/{number}/fields", f"/api/tickets/{number}/fields", {"field": "colour", "value": "红"})
    await get("/api/suggestions/accuracy", "/api/suggestions/accuracy", since="2026-05-01")
    await get("/api/suggestions/accuracy", "/api/suggestions/accuracy", since="May")
    await get("/api/calls", "/api/calls", limit="3")
    await get("/api/calls", "/api/calls", limit="1000")
    await get("/api/calls/{call_id}", f"/api/calls/{call}")
    await get("/api/calls/{call_id}", f"/api/calls/{call}", "lawyer01")
    await get("/api/referrals", "/api/referrals", status="referred")
    await get("/api/referrals", "/api/referrals", user=None)
    await get("/api/referrals/{ticket_number}", f"/api/referrals/{number}")
    await get("/api/referrals/{ticket_number}", f"/api/referrals/{world.unreferred}")

    found = {(method, path, status): problems(method, path, status, body) for method, path, status, body in answers}
    assert {key: wrong for key, wrong in found.items() if wrong} == {}
    assert {(m, p) for m, p, s in found if s == 200} == set(operations(document()))
    assert {s for _, _, s in found} == {200, 400, 401, 403, 404, 409}


@pytest.mark.parametrize(
    ("method", "template", "path", "body"),
    [
        (
            "POST",
            "/api/agents/{username}/state",
            "/api/agents/lawyer02/state",
            b'{"state": "paused", "reason": "a\\u0000"}',
        ),
        ("POST", "/api/agents/me/state", "/api/agents/me/state", b'{"state": "paused", "reason": "\\udbfc"}'),
        ("POST", "/api/agents/{username}/state", "/api/agents/%00/state", b'{"state": "paused", "reason": "x"}'),
        ("POST", "/api/tickets/{number}/fields", "/api/tickets/%00/fields", b'{"field": "flag", "value": "x"}'),
        ("GET", "/api/tickets/{number}", "/api/tickets/%00", None),
        ("GET", "/api/referrals/{ticket_number}", "/api/referrals/%00", None),
    ],
)
async def test_text_postgresql_cannot_hold_is_refused_with_400_not_a_server_error(
    api: Client, method: str, template: str, path: str, body: bytes | None
) -> None:
    """NUL and unpaired surrogates (found by the fuzz run: they reached asyncpg and answered 500)."""
    status, answer = await (api.get(path) if body is None else api.post(path, body))

    assert status == 400
    assert "无法保存的字符" in answer["error"]
    assert problems(method, template, 400, answer) == []
    assert await api.fetch("SELECT state FROM agents WHERE username = 'lawyer02'") == [("logged_out",)]


def _cheap_hash() -> str:
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("fuzz-password-123")


def _examples(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    session: requests.Session,
    checks: list[Any],
    pinned: dict[str, str] | None = None,
) -> Any:
    """A Hypothesis test of ``operation`` in ``mode``: bounded, derandomized (the same examples each run); path
    parameters ``pinned`` to seeded records, so that the rest of the request is fuzzed against real ones."""

    @hypothesis.settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode, path_parameters=pinned))
    def run(case: Any) -> None:
        case.call_and_validate(base_url=base_url, session=session, checks=checks)

    return run


def _fuzz(base_url: str, seeded: dict[str, str]) -> list[str]:
    """Run every operation of the document against the live server as the fuzzing supervisor: valid requests
    (all checks of conformance; path parameters generated, then ``seeded``), and for safe operations with
    parameters invalid ones too (which must be refused with a 4xx). What failed, one line per run."""
    schema = schemathesis.openapi.from_dict(document())
    failures: list[str] = []
    with requests.Session() as session:
        session.headers.update(basic(FUZZER, "fuzz-password-123"))
        for result in schema.get_all_operations():
            operation = result.ok()
            names = re.findall(r"\{(\w+)\}", operation.path)
            runs: list[tuple[GenerationMode, dict[str, str] | None]] = [(GenerationMode.POSITIVE, None)]
            if names:
                runs.append((GenerationMode.POSITIVE, {name: seeded[name] for name in names}))
            if operation.method.upper() == "GET" and operation.definition.raw.get("parameters"):
                runs.append((GenerationMode.NEGATIVE, None))
            for mode, pinned in runs:
                checks = CONFORMANCE + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])
                try:
                    _examples(operation, mode, base_url, session, checks, pinned)()
                except Exception as exc:  # hypothesis re-raises the failing example's error
                    failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}, {pinned}): {exc}")
    return failures


async def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(api: Client) -> None:
    async with api.pool.acquire() as conn:
        await agents.create(conn, FUZZER, "模糊测试", "supervisor", "fuzz-password-123")
        await conn.execute("UPDATE agents SET password_hash = $2 WHERE username = $1", FUZZER, _cheap_hash())
    started = time.monotonic()

    referral = api.world.referrals["legal_aid"]
    seeded = {
        "number": referral,
        "ticket_number": referral,
        "call_id": str(api.world.calls[0].id),
        "username": "lawyer02",
    }
    failures = await asyncio.to_thread(_fuzz, api.url, seeded)

    assert failures == [], "\n\n".join(failures)
    assert time.monotonic() - started < 60
    requests_seen = await api.fetch("SELECT count(*) FROM audit_log WHERE actor = $1", FUZZER)
    assert requests_seen[0][0] > 0  # the run reached the audited lists with its credentials
