"""Free ports on 127.0.0.1: the one place that looks for them (tests/unit/test_layout.py keeps it so)."""

from __future__ import annotations

import random
import socket

HOST = "127.0.0.1"


def port_free(port: int, *, udp: bool = True, tcp: bool = False) -> bool:
    """Whether ``port`` can be bound right now, for UDP and/or TCP."""
    kinds = [kind for kind, wanted in ((socket.SOCK_DGRAM, udp), (socket.SOCK_STREAM, tcp)) if wanted]
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                return False
    return True


def free_port(*, udp: bool = True, tcp: bool = True) -> int:
    """A port the kernel hands out that is free for UDP and TCP (by default: SIP listens on both)."""
    first = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    while True:
        with socket.socket(socket.AF_INET, first) as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
            if port_free(port, udp=False, tcp=udp and tcp):  # the first kind is held by ``s`` meanwhile
                return port


def free_block(count: int, low: int = 30000, high: int = 39000, *, step: int = 1, used: set[int] | None = None) -> int:
    """The first of ``count`` consecutive free UDP ports in [low, high) (every ``step``-th one checked), for
    programs that take a base port (sipp's -mp, the cells' RTP range). With ``used``, the block avoids those
    ports and is added to them."""
    taken = used if used is not None else set()
    for _ in range(300):
        base = random.randrange(low, high - count)
        span = range(base, base + count)
        if not taken.isdisjoint(span):
            continue
        if all(port_free(p) for p in span[::step]):
            taken.update(span)
            return base
    raise RuntimeError(f"no block of {count} free UDP ports in {low}..{high}")
