"""The call-record and referral APIs (agents/calls, agents/referrals) in the supervisor's web app on a loopback
port, against the real PostgreSQL: filters narrow, pages follow one another without overlap, agents are refused,
every pull is audited, and no caller number leaves in plaintext."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.openapi import problems
from tests.support.records import IN_FACTS, MAY_1, PLAINTEXT, Client, serve


@pytest.fixture
async def api(db: str) -> AsyncIterator[Client]:
    async with serve(db) as client:
        yield client
        assert client.leaked() == []
        audited = [row[0] for row in await client.fetch("SELECT detail::text FROM audit_log")]
        assert [text for text in audited if any(number in text for number in PLAINTEXT)] == []


async def _listed(api: Client, listed: str, field: str, **query: str) -> list[str]:
    """The ``field`` of each row of the first page of /api/``listed`` for ``query``."""
    status, body = await api.get(f"/api/{listed}", **query)
    assert status == 200, body
    return [row[field] for row in body[listed]]


async def _all_pages(api: Client, path: str, key: str, **query: str) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        asked = {**query, **({"cursor": cursor} if cursor else {})}
        status, body = await api.get(path, **asked)
        assert status == 200, body
        assert problems("GET", path, 200, body) == []
        pages.append(body[key])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "the cursor never ends"


async def test_calls_list_shows_each_call_oldest_first_with_waits_talk_language_and_the_caller_masked(
    api: Client,
) -> None:
    status, body = await api.get("/api/calls")

    assert status == 200
    assert problems("GET", "/api/calls", 200, body) == []
    assert [c["id"] for c in body["calls"]] == [str(c.id) for c in api.world.calls]
    assert body["next_cursor"] is None
    first, second, last = body["calls"][0], body["calls"][1], body["calls"][7]
    assert dt.datetime.fromisoformat(first["started_at"]) == MAY_1
    assert (first["queue"], first["language"], first["outcome"], first["agent"]) == (
        "legal_consult",
        "普通话",
        "answered",
        "lawyer01",
    )
    assert (first["wait_s"], first["talk_s"]) == (10, 60)
    assert first["caller_masked"] == "139****2345"
    assert first["prefecture"] == {"code": "530100", "name": "昆明市"}
    assert first["ticket"] == api.world.referrals["legal_aid"]
    assert (second["queue"], second["language"], second["caller_masked"]) == (
        "minority_language",
        "彝语",
        "0872-***3456",
    )
    assert second["prefecture"] == {"code": "532900", "name": "大理白族自治州"}
    assert (last["outcome"], last["agent"], last["wait_s"], last["talk_s"]) == ("abandoned", None, 17, None)


async def test_call_filters_narrow_by_period_queue_and_prefecture(api: Client) -> None:
    seeded = api.world.calls

    async def ids(**query: str) -> list[str]:
        return await _listed(api, "calls", "id", **query)

    assert await ids(since="2026-05-03", until="2026-05-04") == [str(c.id) for c in seeded[2:4]]
    assert await ids(since="2026-05-03T09:00:00+08:00", until="2026-05-03T09:00:01+08:00") == [str(seeded[2].id)]
    assert await ids(since="2026-05-03T01:00:00Z") == [str(c.id) for c in seeded[2:]]
    assert await ids(queue="minority_language") == [str(c.id) for c in seeded[1:8:2]]
    assert await ids(prefecture="532900", until="2026-05-04") == [str(seeded[1].id), str(seeded[3].id)]
    assert await ids(prefecture="530700") == []


async def test_call_pages_follow_one_another_without_overlap_or_gap(api: Client) -> None:
    pages = await _all_pages(api, "/api/calls", "calls", limit="2")

    assert [len(p) for p in pages] == [2, 2, 2, 2, 1]
    assert [c["id"] for p in pages for c in p] == [str(c.id) for c in api.world.calls]
    filtered = await _all_pages(api, "/api/calls", "calls", limit="3", queue="legal_consult")
    assert [c["id"] for p in filtered for c in p] == [str(c.id) for c in api.world.calls[0:7:2]] + [
        str(api.world.calls[8].id)
    ]


async def test_one_call_by_its_id_and_the_read_is_audited(api: Client) -> None:
    seeded = api.world.calls[3]

    status, body = await api.get(f"/api/calls/{seeded.id}")

    assert status == 200
    assert problems("GET", "/api/calls/{call_id}", 200, body) == []
    assert (body["id"], body["ticket"], body["language"]) == (str(seeded.id), seeded.ticket, "彝语")
    assert await api.fetch("SELECT actor, action, object_type, object_id FROM audit_log") == [
        ("boss", "read", "call", str(seeded.id))
    ]
    status, body = await api.get("/api/calls/6d1c0c4e-0000-4000-8000-000000000000")
    assert (status, body) == (404, {"error": "没有编号为 6d1c0c4e-0000-4000-8000-000000000000 的通话"})
    assert problems("GET", "/api/calls/{call_id}", 404, body) == []
    status, body = await api.get("/api/calls/not-a-uuid")
    assert status == 400 and "UUID" in body["error"]


async def test_a_list_pull_is_audited_as_an_export_naming_what_it_handed_out(api: Client) -> None:
    await api.get("/api/calls", limit="3", queue="legal_consult")
    await api.get("/api/referrals", kind="mediation")

    rows = await api.fetch("SELECT actor, action, object_type, object_id, detail FROM audit_log ORDER BY id")
    assert [r[:4] for r in rows] == [("boss", "export", "call", None), ("boss", "export", "ticket", None)]

    calls_detail, referrals_detail = json.loads(rows[0][4]), json.loads(rows[1][4])
    assert calls_detail == {
        "api": "calls",
        "query": {"limit": "3", "queue": "legal_consult"},
        "ids": [str(c.id) for c in api.world.calls[0:5:2]],
    }
    assert referrals_detail == {
        "api": "referrals",
        "query": {"kind": "mediation"},
        "ids": [api.world.referrals["mediation"]],
    }


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ({"limit": "0"}, "limit", "1 到 200"),
        ({"limit": "201"}, "limit", "1 到 200"),
        ({"limit": "ten"}, "limit", "1 到 200"),
        ({"since": "yesterday"}, "since", "YYYY-MM-DD"),
        ({"since": "2026-05-01T08:00:00"}, "since", "带时区"),
        ({"since": "2026-05-03", "until": "2026-05-01"}, "until", "应晚于"),
        ({"queue": "no_such_queue"}, "queue", "legal_consult"),
        ({"prefecture": "110000"}, "prefecture", "530100"),
        ({"cursor": "not-a-cursor"}, "cursor", "next_cursor"),
        ({"colour": "red"}, "colour", "未知参数"),
    ],
)
async def test_a_wrong_call_query_is_400_naming_the_parameter(
    api: Client, query: dict[str, str], field: str, says: str
) -> None:
    status, body = await api.get("/api/calls", **query)

    assert status == 400
    assert problems("GET", "/api/calls", 400, body) == []
    assert list(body["fields"]) == [field]
    assert says in body["fields"][field] and says in body["error"]
    assert await api.fetch("SELECT * FROM audit_log") == []


async def test_a_cursor_of_the_other_list_is_refused(api: Client) -> None:
    _, first = await api.get("/api/referrals", limit="1")

    status, body = await api.get("/api/calls", cursor=first["next_cursor"])

    assert status == 400 and list(body["fields"]) == ["cursor"]


async def test_referrals_carry_what_the_receiving_agency_needs_with_numbers_masked_in_the_facts(
    api: Client,
) -> None:
    status, body = await api.get("/api/referrals", kind="legal_aid")

    assert status == 200
    assert problems("GET", "/api/referrals", 200, body) == []
    assert [r["ticket"] for r in body["referrals"]] == [api.world.referrals["legal_aid"], api.world.draft_referral]
    made, chosen = body["referrals"]
    assert (made["kind"], made["kind_name"], made["status"], made["priority"]) == (
        "legal_aid",
        "法律援助",
        "referred",
        "normal",
    )
    assert dt.datetime.fromisoformat(made["created_at"]) == MAY_1 + dt.timedelta(minutes=5)
    assert dt.datetime.fromisoformat(made["deadline"]) == MAY_1 + dt.timedelta(minutes=5, hours=72)
    assert made["referred_at"] is not None and chosen["referred_at"] is None
    assert chosen["status"] == "in_progress"
    assert made["prefecture"] == {"code": "530100", "name": "昆明市"}
    assert (made["legal_area"], made["service"], made["flags"]) == ("劳动争议", "法律援助", ["农民工欠薪"])
    assert made["caller_masked"] == "139****2345"
    assert made["facts_summary"] == "老板拖欠工资三个月，对方电话 139****4321，工地在第 0 标段"
    assert IN_FACTS not in str(body)


async def test_referral_filters_narrow_by_kind_status_and_since(api: Client) -> None:
    referrals = api.world.referrals

    async def numbers(**query: str) -> list[str]:
        return await _listed(api, "referrals", "ticket", **query)

    everything = [*referrals.values(), api.world.draft_referral]
    assert await numbers() == everything
    assert api.world.unreferred not in everything
    assert await numbers(kind="arbitration") == [referrals["arbitration"]]
    assert await numbers(status="referred") == list(referrals.values())
    assert await numbers(status="in_progress") == [api.world.draft_referral]
    assert await numbers(since="2026-05-04") == [
        referrals["appraisal"],
        referrals["arbitration"],
        referrals["other"],
        api.world.draft_referral,
    ]
    assert await numbers(since="2026-05-04T09:05:00.000001+08:00") == everything[4:]
    assert await numbers(kind="notary", status="closed") == []


async def test_referral_pages_follow_one_another_without_overlap(api: Client) -> None:
    pages = await _all_pages(api, "/api/referrals", "referrals", limit="3")

    assert [len(p) for p in pages] == [3, 3, 1]
    assert [r["ticket"] for p in pages for r in p] == [*api.world.referrals.values(), api.world.draft_referral]


async def test_one_referral_by_its_work_order_number(api: Client) -> None:
    number = api.world.referrals["notary"]

    status, body = await api.get(f"/api/referrals/{number}")

    assert status == 200
    assert problems("GET", "/api/referrals/{ticket_number}", 200, body) == []
    assert (body["ticket"], body["kind"], body["kind_name"]) == (number, "notary", "公证")
    assert await api.fetch("SELECT actor, action, object_type, object_id FROM audit_log") == [
        ("boss", "read", "ticket", number)
    ]
    for missing in (api.world.unreferred, "YN-20260501-999999", "nonsense"):
        status, body = await api.get(f"/api/referrals/{missing}")
        assert status == 404, missing
        assert problems("GET", "/api/referrals/{ticket_number}", 404, body) == []


@pytest.mark.parametrize(
    "path", ["/api/calls", "/api/calls/6d1c0c4e-0000-4000-8000-000000000000", "/api/referrals", "/api/referrals/x"]
)
async def test_an_agent_is_refused_and_nothing_is_audited(api: Client, path: str) -> None:
    status, body = await api.get(path, user="lawyer01")

    assert status == 403
    assert "lawyer01" in body["error"]
    assert (
        problems(
            "GET",
            path.replace("6d1c0c4e-0000-4000-8000-000000000000", "{call_id}").replace("/x", "/{ticket_number}"),
            403,
            body,
        )
        == []
    )
    assert await api.fetch("SELECT * FROM audit_log") == []


async def test_an_admin_may_pull_and_no_credentials_is_401(api: Client) -> None:
    status, body = await api.get("/api/referrals", user="root")
    assert status == 200 and len(body["referrals"]) == 7

    status, body = await api.get("/api/calls", user=None)
    assert status == 401
    assert problems("GET", "/api/calls", 401, body) == []
