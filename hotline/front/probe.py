"""A minimal SIP OPTIONS ping over UDP, used to tell when the front answers SIP."""

from __future__ import annotations

import asyncio
import secrets


def options_request(host: str, port: int, local_host: str, local_port: int, call_id: str) -> bytes:
    branch = "z9hG4bK" + secrets.token_hex(8)
    tag = secrets.token_hex(4)
    lines = [
        f"OPTIONS sip:{host}:{port} SIP/2.0",
        f"Via: SIP/2.0/UDP {local_host}:{local_port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:probe@{local_host}:{local_port}>;tag={tag}",
        f"To: <sip:{host}:{port}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        "User-Agent: hotline-front-probe",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


class _Reply(asyncio.DatagramProtocol):
    def __init__(self, call_id: str) -> None:
        self.call_id = call_id.encode()
        self.status: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.status.done() or self.call_id not in data or not data.startswith(b"SIP/2.0 "):
            return
        try:
            code = int(data[8:11])
        except ValueError:
            return
        if code >= 200:
            self.status.set_result(code)


async def sip_options(host: str, port: int, wait: float = 1.0) -> int | None:
    """Send one OPTIONS to host:port; the final status code, or None if nothing came back within `wait` seconds."""
    loop = asyncio.get_running_loop()
    call_id = secrets.token_hex(12) + "@hotline-probe"
    transport, protocol = await loop.create_datagram_endpoint(lambda: _Reply(call_id), remote_addr=(host, port))
    try:
        local_host, local_port = transport.get_extra_info("sockname")[:2]
        request = options_request(host, port, local_host, local_port, call_id)
        deadline = loop.time() + wait
        while True:
            transport.sendto(request)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                return await asyncio.wait_for(asyncio.shield(protocol.status), min(0.25, remaining))
            except TimeoutError:
                continue
    finally:
        transport.close()
