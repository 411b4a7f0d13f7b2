"""Digest guessing against the front: failures are counted per account and source and per source; at the limits
the account is locked from that source and the source is banned (the right password is refused then, audited and
counted), until the lock expires or a supervisor lifts it with `hotline agent unlock`."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from hotline.front.process import AuthLock, KamailioProcess
from tests.support import cli
from tests.support.front import StartFront
from tests.support.ports import free_port
from tests.support.sipp import register_keys, run_uac

pytestmark = [pytest.mark.sip, pytest.mark.timeout(90)]


async def register(front: KamailioProcess, workdir: Path, user: str, password: str, expect: int, name: str) -> None:
    result = await run_uac(
        workdir,
        name,
        "register",
        front.params.sip_port,
        "x",
        keys=register_keys(user, f"127.0.0.1:{free_port()}", expect),
        auth=(user, password),
    )
    assert result.ok, f"{name}: REGISTER {user} did not get {expect}: {result.errors[-600:]}"


async def audit_rows(db_url: str, since_id: int) -> list[dict[str, object]]:
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT actor, action, object_id, detail FROM audit_log WHERE object_type = 'sip_account' AND id > $1 "
            "ORDER BY id",
            since_id,
        )
    finally:
        await conn.close()
    return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]


async def last_audit_id(db_url: str) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        return int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM audit_log"))
    finally:
        await conn.close()


async def front_metric(front: KamailioProcess, name: str) -> float:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{front.params.http_port}/metrics") as resp,
    ):
        for line in (await resp.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not in the front's /metrics")


async def eventually_audited(db_url: str, since: int, count: int) -> list[dict[str, object]]:
    """The audit rows after `since` once there are `count` (Kamailio writes them asynchronously)."""
    import asyncio

    rows: list[dict[str, object]] = []
    for _ in range(50):
        rows = await audit_rows(db_url, since)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.1)
    return rows


async def test_wrong_passwords_lock_the_account_and_the_right_one_is_refused_until_unlocked(
    start_front: StartFront, front_db: str, workdir: Path
) -> None:
    front = await start_front(auth_account_failures=3, auth_source_failures=50)
    since = await last_audit_id(front_db)
    for attempt in range(3):
        await register(front, workdir, "lawyer01", f"guess{attempt}", 403, f"guess{attempt}")

    await register(front, workdir, "lawyer01", "secret", 403, "right-but-locked")

    assert await front.contacts("lawyer01") == [], "a locked account must not leave a binding"
    assert await front.auth_locks() == [AuthLock("account", "127.0.0.1", "lawyer01")]
    rows = await eventually_audited(front_db, since, 2)
    assert [(r["object_id"], r["detail"]["result"]) for r in rows] == [  # type: ignore[index]
        ("lawyer01", "account_locked"),
        ("lawyer01", "refused_locked"),
    ]
    assert rows[1]["detail"] == {"source": "127.0.0.1", "result": "refused_locked", "lock": "account"}
    assert await front_metric(front, "kamailio_script_auth_refused_locked") == 1
    assert await front_metric(front, "kamailio_script_auth_lockouts") == 1
    assert await front_metric(front, "kamailio_script_auth_failures") == 3

    # Another account from the same source is not locked by these three failures.
    await register(front, workdir, "lawyer02", "secret2", 200, "other-account")

    assert await front.unlock("lawyer01") == [AuthLock("account", "127.0.0.1", "lawyer01")]
    assert await front.auth_locks() == []
    await register(front, workdir, "lawyer01", "secret", 200, "after-unlock")
    assert len(await front.contacts("lawyer01")) == 1


async def test_failures_across_accounts_ban_the_source_from_every_account(
    start_front: StartFront, workdir: Path
) -> None:
    front = await start_front(auth_account_failures=50, auth_source_failures=2)
    await register(front, workdir, "lawyer01", "guess", 403, "guess-lawyer01")
    await register(front, workdir, "nobody", "guess", 403, "guess-nobody")

    await register(front, workdir, "lawyer02", "secret2", 403, "banned-source")

    assert await front.auth_locks() == [AuthLock("source", "127.0.0.1")]
    assert await front.contacts("lawyer02") == []


async def test_a_configured_exempt_network_is_never_locked(start_front: StartFront, workdir: Path) -> None:
    front = await start_front(auth_account_failures=2, auth_source_failures=2, auth_exempt_networks=("127.0.0.0/8",))
    for attempt in range(3):
        await register(front, workdir, "lawyer01", f"guess{attempt}", 403, f"guess{attempt}")

    await register(front, workdir, "lawyer01", "secret", 200, "right")

    assert await front.auth_locks() == []


async def test_hotline_agent_unlock_lifts_the_lock_in_the_running_front_and_audits_it(
    start_front: StartFront, front_db: str, workdir: Path
) -> None:
    state = workdir / "state"
    front = await start_front(runtime_dir=state / "front", auth_account_failures=1, auth_source_failures=50)
    await register(front, workdir, "lawyer01", "guess", 403, "guess")
    since = await last_audit_id(front_db)
    env = {"HOTLINE_STATE_DIR": str(state)}

    listed = cli.hotline(front_db, "agent", "locks", **env)
    missing = cli.hotline(front_db, "agent", "unlock", "lawyer02", **env)
    bad = cli.hotline(front_db, "agent", "unlock", "--source", "not-an-ip", **env)
    lifted = cli.hotline(front_db, "agent", "unlock", "lawyer01", "--actor", "supervisor01", **env)

    assert listed.returncode == 0 and "account lawyer01 locked from 127.0.0.1" in listed.stdout, listed.stderr
    assert missing.returncode == 1 and "lawyer02 has no lock" in missing.stderr
    assert bad.returncode != 0 and "--source 'not-an-ip': expected an IP address" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert lifted.returncode == 0 and "lifted: account lawyer01 locked from 127.0.0.1" in lifted.stdout, lifted.stderr
    assert await front.auth_locks() == []
    rows = await audit_rows(front_db, since)
    assert [(r["actor"], r["action"], r["object_id"], r["detail"]) for r in rows] == [
        ("supervisor01", "update", "lawyer01", {"result": "unlocked", "lock": "account", "source": "127.0.0.1"})
    ]
    await register(front, workdir, "lawyer01", "secret", 200, "after-unlock")


async def test_agent_unlock_without_a_running_front_says_so(front_db: str, workdir: Path) -> None:
    result = cli.hotline(front_db, "agent", "unlock", "lawyer01", HOTLINE_STATE_DIR=str(workdir / "none"))

    assert result.returncode != 0
    assert "the SIP front cannot be reached" in result.stderr and "Traceback" not in result.stderr
