"""Agent phones register with digest auth against PostgreSQL; cells reach them by username."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.front import StartFront
from tests.support.ports import free_port
from tests.support.sipp import SippUas, register_keys, run_uac

pytestmark = [pytest.mark.sip, pytest.mark.timeout(60)]


async def test_agent_registers_with_digest_auth_and_the_binding_shows(start_front: StartFront, workdir: Path) -> None:
    front = await start_front()
    contact = f"127.0.0.1:{free_port()}"

    result = await run_uac(
        workdir,
        "register",
        "register",
        front.params.sip_port,
        "x",
        keys=register_keys("lawyer01", contact),
        auth=("lawyer01", "secret"),
    )

    assert result.ok, result.errors
    assert await front.contacts("lawyer01") == [f"sip:lawyer01@{contact}"]


async def test_wrong_password_is_refused_and_leaves_no_binding(start_front: StartFront, workdir: Path) -> None:
    front = await start_front()

    result = await run_uac(
        workdir,
        "register",
        "register",
        front.params.sip_port,
        "x",
        keys=register_keys("lawyer01", f"127.0.0.1:{free_port()}", 403),
        auth=("lawyer01", "not-the-secret"),
    )

    assert result.ok, result.errors
    assert await front.contacts("lawyer01") == []


async def test_unknown_user_cannot_register(start_front: StartFront, workdir: Path) -> None:
    front = await start_front()

    result = await run_uac(
        workdir,
        "register",
        "register",
        front.params.sip_port,
        "x",
        keys=register_keys("intruder", f"127.0.0.1:{free_port()}", 403),
        auth=("intruder", "secret"),
    )

    assert result.ok, result.errors
    assert await front.contacts("intruder") == []


async def test_call_from_a_cell_reaches_the_registered_agent(start_front: StartFront, workdir: Path) -> None:
    cell_port = free_port()
    front = await start_front((f"127.0.0.1:{cell_port}",))
    phone = SippUas(workdir, "phone", free_port(), "uas_answer")
    await phone.start()
    try:
        registered = await run_uac(
            workdir,
            "register",
            "register",
            front.params.sip_port,
            "x",
            keys=register_keys("lawyer01", f"127.0.0.1:{phone.port}"),
            auth=("lawyer01", "secret"),
        )
        assert registered.ok, registered.errors

        call = await run_uac(
            workdir,
            "cell",
            "caller_silent",
            front.params.sip_port,
            "lawyer01",
            calls=2,
            pause_ms=500,
            local_port=cell_port,
            keys={"caller": "cell"},
        )

        assert call.ok, call.errors
        assert len(phone.invites()) == 2
    finally:
        await phone.stop()


@pytest.mark.parametrize(("username", "code"), [("lawyer02", 480), ("nobody", 404)])
async def test_cell_calling_an_agent_who_is_not_registered_gets_an_answer_at_once(
    start_front: StartFront, workdir: Path, username: str, code: int
) -> None:
    cell_port = free_port()
    front = await start_front((f"127.0.0.1:{cell_port}",))

    started = time.monotonic()
    call = await run_uac(
        workdir,
        "cell",
        "caller_rejected",
        front.params.sip_port,
        username,
        local_port=cell_port,
        keys={"expect": str(code)},
    )

    assert call.ok, call.errors
    assert time.monotonic() - started < 3


async def test_outside_caller_cannot_dial_an_agent_directly(start_front: StartFront, workdir: Path) -> None:
    front = await start_front((f"127.0.0.1:{free_port()}",))

    call = await run_uac(
        workdir, "outsider", "caller_rejected", front.params.sip_port, "lawyer01", keys={"expect": "404"}
    )

    assert call.ok, call.errors
