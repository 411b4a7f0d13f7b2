"""The whole agent path through the real front: a caller reaches a cell through Kamailio, the cell dials a
registered agent by username through Kamailio (digest-authenticated registration, location lookup), and the
two are bridged with audio both ways and a two-channel recording."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sipkit import RtpPeer, SipUa, dominant, free_udp_port, rms, wav_channels

from tests.front.conftest import AGENTS, StartFront, front_db, workdir  # noqa: F401 (fixtures)
from tests.front.conftest import start_front as start_front
from tests.front.sipp import register_scenario, run_uac


async def test_caller_through_the_front_is_bridged_to_a_registered_agent(
    start_front: StartFront,
    workdir: Path,  # noqa: F811
    start_cell,  # type: ignore[no-untyped-def]
    rtp: RtpPeer,
) -> None:
    front_port = free_udp_port()
    username, password = next(iter(AGENTS.items()))
    agent = start_cell("agent", handler="sip_handlers:agent")
    cell = start_cell(
        "cell1",
        handler="sip_handlers:bridge",
        extra_env={"HOTLINE_TEST_AGENT_URI": f"sip:{username}@127.0.0.1:{front_port}"},
    )
    front = await start_front((f"127.0.0.1:{cell.port}",), sip_port=front_port)
    registered = await run_uac(
        workdir, "register", register_scenario(username, password, f"127.0.0.1:{agent.port}", 200), front_port, "x"
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
