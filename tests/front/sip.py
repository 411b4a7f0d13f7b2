"""Hand-made SIP messages over UDP, for what sipp cannot express: silence, garbage, odd headers."""

from __future__ import annotations

import asyncio
import secrets


def request(method: str, ruri: str, port: int, local_port: int, user_agent: str = "hotline-test") -> bytes:
    lines = [
        f"{method} {ruri} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{secrets.token_hex(6)};rport",
        "Max-Forwards: 70",
        f"From: <sip:13900000000@127.0.0.1:{local_port}>;tag={secrets.token_hex(4)}",
        f"To: <{ruri}>",
        f"Call-ID: {secrets.token_hex(10)}@test",
        f"CSeq: 1 {method}",
        f"Contact: <sip:13900000000@127.0.0.1:{local_port}>",
        f"User-Agent: {user_agent}",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.received.put_nowait(data)


async def exchange(port: int, build: object, wait: float = 2.0) -> list[bytes]:
    """Send one datagram to 127.0.0.1:port (bytes, or a callable of our local port) and collect replies."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Collect, remote_addr=("127.0.0.1", port))
    try:
        local_port = transport.get_extra_info("sockname")[1]
        data = build(local_port) if callable(build) else build
        assert isinstance(data, bytes)
        transport.sendto(data)
        replies: list[bytes] = []
        deadline = loop.time() + wait
        while (remaining := deadline - loop.time()) > 0:
            try:
                replies.append(await asyncio.wait_for(proto.received.get(), remaining))
            except TimeoutError:
                break
            if replies[-1].startswith(b"SIP/2.0 ") and status(replies[-1]) >= 200:
                break
        return replies
    finally:
        transport.close()


def status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])
