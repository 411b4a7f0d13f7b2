"""The whole agent path through the real front: a caller reaches a cell through Kamailio, the cell dials a
registered agent by username through Kamailio (digest-authenticated registration, location lookup), and the
two are bridged with audio both ways and a two-channel recording."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.support.audio import dominant, rms, wav_channels
from tests.support.cell import StartCell
from tests.support.front import AGENTS, StartFront
from tests.support.ports import free_port
from tests.support.sip import RtpPeer, SipUa
from tests.support.sipp import register_keys, run_uac


async def test_caller_through_the_front_is_bridged_to_a_registered_agent(
    start_front: StartFront,
    workdir: Path,
    start_cell: StartCell,
    rtp: RtpPeer,
) -> None:
    front_port = free_port()
    username, password = next(iter(AGENTS.items()))
    agent = start_cell("agent", handler="agent")
    cell = start_cell(
        "cell1",
        handler="bridge",
        extra_env={"HOTLINE_TEST_AGENT_URI": f"sip:{username}@127.0.0.1:{front_port}"},
    )
    front = await start_front((f"127.0.0.1:{cell.port}",), sip_port=front_port)
    registered = await run_uac(
        workdir,
        "register",
        "register",
        front_port,
        "x",
        keys=register_keys(username, f"127.0.0.1:{agent.port}"),
        auth=(username, password),
    )
    assert registered.ok, registered.errors
    assert await front.contacts(username), "the agent's registration is not in the location table"

    ua = SipUa(front_port)
    try:
        rtp.tone = 600.0
        assert (await asyncio.to_thread(ua.invite, rtp.port, [0, 101])).status == 200
        await asyncio.to_thread(cell.wait_event, "bridged", 15)
        bridged_at = time.monotonic()
        ended = await asyncio.to_thread(cell.wait_event, "call_ended", 20)
    finally:
        await asyncio.to_thread(ua.bye)
        ua.close()
    heard_by_agent = max(e["tone_600"] for e in agent.find("agent_heard"))
    assert heard_by_agent >= 50, f"the agent heard the caller in only {heard_by_agent} frames"
    from_agent = rtp.pcmu_after(bridged_at + 0.3, bridged_at + 2.3)
    assert len(from_agent) > 8000, "the caller got under 1 s of audio from the agent"
    assert ended["recording"], (cell.events, cell.stderr_path.read_text() if cell.stderr_path else "")
    rate, channels, (left, right) = wav_channels(Path(ended["recording"]))
    assert channels == 2
    right_tail = right[-2 * rate :]
    assert rms(right_tail) > 1000 and dominant(right_tail, [440, 600, 1000]) == 1000, "agent missing on the right"
    assert rms(left[-2 * rate :]) > 1000, "caller missing on the left"
