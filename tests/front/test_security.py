"""Scanners, floods, garbage and wrong numbers: the front stays up and answers only what it should."""

from __future__ import annotations

import asyncio
import os
import secrets

import aiohttp
import pytest

from hotline.front.probe import sip_options
from tests.support.front import StartFront
from tests.support.sip import Collect, exchange, request, status

pytestmark = [pytest.mark.sip, pytest.mark.timeout(60)]


@pytest.mark.parametrize("user_agent", ["friendly-scanner", "SIPVicious 0.3.4", "sipcli/v1.8", "VaxSIPUserAgent/3.1"])
async def test_invite_from_a_scanner_gets_no_answer_at_all(start_front: StartFront, user_agent: str) -> None:
    front = await start_front()
    port = front.params.sip_port

    replies = await exchange(port, lambda lp: request("INVITE", f"sip:12348@127.0.0.1:{port}", port, lp, user_agent))

    assert replies == []
    assert await sip_options("127.0.0.1", port) == 200


async def test_invite_to_another_number_gets_404(start_front: StartFront) -> None:
    front = await start_front()
    port = front.params.sip_port

    replies = await exchange(port, lambda lp: request("INVITE", f"sip:99999@127.0.0.1:{port}", port, lp))

    assert [status(r) for r in replies][-1] == 404


async def test_garbage_and_malformed_sip_do_not_kill_kamailio(start_front: StartFront) -> None:
    front = await start_front()
    port = front.params.sip_port
    bad_cseq = request("INVITE", f"sip:12348@127.0.0.1:{port}", port, 5999).replace(b"CSeq: 1 INVITE", b"CSeq: x")
    junk = [
        os.urandom(1500),
        b"\x00" * 64,
        b"INVITE\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n",
        b"INVITE sip:12348@" + b"A" * 4000 + b" SIP/2.0\r\n\r\n",
        bad_cseq,
        secrets.token_bytes(60000),
    ]

    for data in junk:
        await exchange(port, data, wait=0.2)

    assert await sip_options("127.0.0.1", port) == 200
    assert front.returncode is None


async def burst(port: int, count: int) -> int:
    """Send `count` OPTIONS from one socket at about 250 per second; how many were answered."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(Collect, remote_addr=("127.0.0.1", port))
    try:
        local_port = transport.get_extra_info("sockname")[1]
        for _ in range(count):
            transport.sendto(request("OPTIONS", f"sip:127.0.0.1:{port}", port, local_port))
            await asyncio.sleep(0.004)  # ~250/s: a flood for pike, gentle enough that the kernel drops nothing
        await asyncio.sleep(1.0)
        return proto.received.qsize()
    finally:
        transport.close()


async def test_pike_blocks_a_flood_from_an_untrusted_source(start_front: StartFront) -> None:
    front = await start_front(trusted_networks=("192.0.2.0/24",), pike_density=20)

    answered = await burst(front.params.sip_port, 200)

    assert answered < 100, f"{answered} of 200 flood requests answered"
    assert front.returncode is None


async def test_loopback_is_trusted_and_never_blocked(start_front: StartFront) -> None:
    front = await start_front(pike_density=20)

    answered = await burst(front.params.sip_port, 200)

    assert answered == 200


async def test_metrics_are_served_in_prometheus_format(start_front: StartFront) -> None:
    front = await start_front()
    await sip_options("127.0.0.1", front.params.sip_port)

    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{front.params.http_port}/metrics") as response,
    ):
        body = await response.text()

    assert response.status == 200
    samples = [ln for ln in body.splitlines() if ln.startswith("kamailio_")]
    assert any(ln.startswith("kamailio_core_rcv_requests_options ") for ln in samples), body[:500]
    _, value = samples[0].split()[:2]
    assert float(value) >= 0


def response(top_via: str, victim_port: int) -> bytes:
    """A 200 OK to an INVITE the front never sent: the top Via names `top_via`, the second a victim on loopback."""
    lines = [
        "SIP/2.0 200 OK",
        f"Via: SIP/2.0/UDP {top_via};branch=z9hG4bK{secrets.token_hex(6)}",
        f"Via: SIP/2.0/UDP 127.0.0.1:{victim_port};branch=z9hG4bK{secrets.token_hex(6)}",
        f"From: <sip:13900000000@127.0.0.1>;tag={secrets.token_hex(4)}",
        f"To: <sip:12348@127.0.0.1>;tag={secrets.token_hex(4)}",
        f"Call-ID: {secrets.token_hex(10)}@stray",
        "CSeq: 1 INVITE",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


@pytest.mark.parametrize("whose", ["foreign", "the front's"])
async def test_a_response_matching_no_transaction_is_dropped_not_relayed(start_front: StartFront, whose: str) -> None:
    front = await start_front()
    port = front.params.sip_port
    loop = asyncio.get_running_loop()
    victim, heard = await loop.create_datagram_endpoint(Collect, local_addr=("127.0.0.1", 0))
    try:
        victim_port = victim.get_extra_info("sockname")[1]
        top = "192.0.2.66:5060" if whose == "foreign" else f"127.0.0.1:{port}"

        replies = await exchange(port, response(top, victim_port), wait=1.0)
        await asyncio.sleep(0.5)

        assert replies == []
        assert heard.received.qsize() == 0, "the front relayed a stray response to the second Via"
    finally:
        victim.close()
    assert "stray 200 response" in front.log_tail(50)
    assert await sip_options("127.0.0.1", port) == 200


async def test_a_request_uri_with_headers_gets_400(start_front: StartFront) -> None:
    """RFC 4475 3.1.2.11 (escruri): headers belong in a URI that builds a request, never in a Request-URI."""
    front = await start_front()
    port = front.params.sip_port
    ruri = f"sip:12348@127.0.0.1:{port}?Route=%3Csip:example.com%3E"

    replies = await exchange(port, lambda lp: request("INVITE", ruri, port, lp))

    assert [status(r) for r in replies][-1] == 400
