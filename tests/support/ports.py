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


# Ports handed to servers come from below the kernel's ephemeral range (32768-60999 on Linux) and below the
# RTP blocks: a client polling a server that has not bound yet can otherwise be given the very same port as
# its own source and connect to itself (TCP simultaneous open), reading back its own request.
SERVER_PORTS = range(10000, 20000)
_given: set[int] = set()  # a port is handed out once per test process, as two servers started together need two


def free_port(*, udp: bool = True, tcp: bool = True) -> int:
    """A port outside the ephemeral range that is free for UDP and TCP (by default: SIP listens on both)."""
    for _ in range(1000):
        port = random.randrange(SERVER_PORTS.start, SERVER_PORTS.stop)
        if port not in _given and port_free(port, udp=udp, tcp=tcp):
            _given.add(port)
            return port
    raise RuntimeError(f"no free port in {SERVER_PORTS.start}..{SERVER_PORTS.stop}")


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
