"""KamailioProcess: starts when SIP answers, logs to its runtime dir, stops every worker it forked."""

from __future__ import annotations

import os
import socket

import pytest

from hotline.front.probe import sip_options
from hotline.front.process import KamailioError
from tests.support.front import StartFront
from tests.support.ports import free_port

pytestmark = [pytest.mark.sip, pytest.mark.timeout(60)]


async def test_start_answers_sip_and_stop_leaves_no_worker_behind(start_front: StartFront) -> None:
    front = await start_front()
    pid = front.pid
    assert pid is not None

    assert await sip_options("127.0.0.1", front.params.sip_port) == 200
    assert await front.dispatcher_status() == []
    assert "kamailio" in front.params.log_file.read_text().lower()

    code = await front.stop()

    assert code == 0
    assert front.returncode == 0
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert await sip_options("127.0.0.1", front.params.sip_port, wait=0.5) is None


async def test_start_fails_with_kamailios_reason_when_the_sip_port_is_taken(start_front: StartFront) -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        with pytest.raises(KamailioError, match=r"(?i)bind|address already in use|exited"):
            await start_front(sip_port=port)
