"""Calls to 12348 are spread over the cells, fail over past busy or dead cells, and cells are probed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hotline.front.process import CellStatus, KamailioProcess
from tests.support.front import StartFront
from tests.support.ports import free_port
from tests.support.sipp import SippUas, run_uac

pytestmark = [pytest.mark.sip, pytest.mark.timeout(60)]

CALLER = {"caller": "13900000000"}

Cells = Callable[..., Awaitable[list[SippUas]]]


@pytest.fixture
async def cells(workdir: Path) -> AsyncIterator[Cells]:
    """Start sipp UAS cells answering with the given status codes (200 = answer)."""
    running: list[SippUas] = []

    async def start(*codes: int) -> list[SippUas]:
        new = []
        for code in codes:
            scenario = {200: "uas_answer", 503: "uas_unavailable", 486: "uas_busy"}[code]
            uas = SippUas(workdir, f"cell{len(running)}", free_port(), scenario)
            await uas.start()
            running.append(uas)
            new.append(uas)
        return new

    yield start
    for uas in running:
        await uas.stop()


async def wait_for_state(front: KamailioProcess, uri: str, prefix: str, within: float = 20) -> list[CellStatus]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        status = await front.dispatcher_status()
        if any(c.uri == uri and c.flags.startswith(prefix) for c in status):
            return status
        if loop.time() > deadline:
            raise AssertionError(f"{uri} never reached state {prefix}: {status}")
        await asyncio.sleep(0.5)


async def test_twelve_concurrent_calls_are_spread_over_three_cells_and_all_answered(
    start_front: StartFront, cells: Cells, workdir: Path
) -> None:
    cell_list = await cells(200, 200, 200)
    front = await start_front(tuple(f"127.0.0.1:{c.port}" for c in cell_list))

    result = await run_uac(
        workdir,
        "callers",
        "caller_silent",
        front.params.sip_port,
        "12348",
        calls=12,
        rate=30,
        pause_ms=3000,
        keys=CALLER,
    )

    assert result.ok, result.errors
    per_cell = [len(c.invites()) for c in cell_list]
    assert sum(per_cell) == 12
    assert all(n >= 2 for n in per_cell), f"call-load balancing left a cell idle: {per_cell}"


async def test_calls_fail_over_past_a_cell_that_answers_503(
    start_front: StartFront, cells: Cells, workdir: Path
) -> None:
    refusing, good = await cells(503, 200)
    front = await start_front((f"127.0.0.1:{refusing.port}", f"127.0.0.1:{good.port}"))

    result = await run_uac(
        workdir,
        "callers",
        "caller_silent",
        front.params.sip_port,
        "12348",
        calls=6,
        rate=20,
        pause_ms=1000,
        keys=CALLER,
    )

    assert result.ok, result.errors
    assert len(good.invites()) == 6
    assert refusing.invites(), "the 503 cell was never tried, so failover was not exercised"


async def test_calls_fail_over_past_a_dead_cell_which_probing_marks_inactive(
    start_front: StartFront, cells: Cells, workdir: Path
) -> None:
    first, second = await cells(200, 200)
    dead = f"127.0.0.1:{free_port()}"
    front = await start_front((f"127.0.0.1:{first.port}", dead, f"127.0.0.1:{second.port}"))

    result = await run_uac(
        workdir,
        "callers",
        "caller_silent",
        front.params.sip_port,
        "12348",
        calls=6,
        rate=20,
        pause_ms=1000,
        keys=CALLER,
    )

    assert result.ok, result.errors
    assert len(first.invites()) + len(second.invites()) == 6
    status = await wait_for_state(front, f"sip:{dead}", "I")
    alive = {c.uri: c.active for c in status}
    assert alive == {f"sip:127.0.0.1:{first.port}": True, f"sip:{dead}": False, f"sip:127.0.0.1:{second.port}": True}


async def test_caller_gets_503_when_every_cell_fails(start_front: StartFront, cells: Cells, workdir: Path) -> None:
    (busy,) = await cells(486)
    front = await start_front((f"127.0.0.1:{busy.port}", f"127.0.0.1:{free_port()}"))

    result = await run_uac(workdir, "caller", "caller_rejected", front.params.sip_port, "12348", keys={"expect": "503"})

    assert result.ok, result.errors
    assert busy.invites()


async def refused_rows(db_url: str) -> list[tuple[str, str]]:
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch("SELECT caller_masked, reason FROM refused_calls ORDER BY id")
    finally:
        await conn.close()
    return [(r["caller_masked"], r["reason"]) for r in rows]


async def refused_metric(front: KamailioProcess) -> float:
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{front.params.http_port}/metrics") as resp,
    ):
        for line in (await resp.text()).splitlines():
            if line.startswith("kamailio_script_calls_refused "):
                return float(line.split()[1])
    raise AssertionError("kamailio_script_calls_refused not in the front's metrics")


@pytest.mark.parametrize("cells_up", [False, True], ids=["no-cell", "cells-full"])
async def test_a_call_no_cell_takes_gets_503_with_retry_after_and_is_kept_as_a_masked_row(
    start_front: StartFront, cells: Cells, front_db: str, cells_up: bool
) -> None:
    from tests.support.sip import exchange, request, status

    if cells_up:
        (full,) = await cells(503)
        front = await start_front((f"127.0.0.1:{full.port}",))
    else:
        front = await start_front()
    port = front.params.sip_port
    before = await refused_rows(front_db)

    replies = await exchange(port, lambda lp: request("INVITE", f"sip:12348@127.0.0.1:{port}", port, lp), wait=8)

    final = replies[-1]
    assert status(final) == 503
    assert b"\r\nRetry-After: 5\r\n" in final
    rows: list[tuple[str, str]] = []
    for _ in range(50):  # written by an async worker
        rows = (await refused_rows(front_db))[len(before) :]
        if rows:
            break
        await asyncio.sleep(0.1)
    assert rows == [("139****0000", "cells_full" if cells_up else "no_cell")]
    assert await refused_metric(front) == 1
