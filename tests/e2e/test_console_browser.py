"""The console in a real Chromium against the whole stack (Kamailio, engine cells, PostgreSQL, sipp phones):
an admin puts the agent in the queues, the agent cannot go available until the phone registers, a real call
pops up masked with its prefecture and IVR path, the work order survives a reload, the supervisor's wallboard
follows in a second browser, and the completed work order ends the wrap-up.

Set HOTLINE_SCREENSHOTS to a directory to keep the pages as PNG (the README's screenshots come from there)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.support.cli import hotline
from tests.support.stack import CALLER, WORKDAY_MORNING, Stack, agent_states, registered_poor_caller, select, wait_ended

pytestmark = [pytest.mark.sip, pytest.mark.timeout(240)]

CHROMIUM = "/usr/bin/chromium"  # Debian's, installed by scripts/setup-system.sh (Playwright drives it)
WAIT_MS = 15_000


@pytest.fixture
def stack_env() -> dict[str, str]:
    return {"HOTLINE_CONSOLE_REQUIRE_REGISTRATION": "true"}  # the console's default: no Available without a phone


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            await chromium.close()


def _add(stack: Stack, username: str, name: str, role: str, password: str) -> None:
    added = hotline(
        stack.db, "agent", "add", username, "--name", name, "--role", role, input_text=password + "\n", **stack.env
    )
    assert added.returncode == 0, added.stderr


async def _login(
    browser: Browser, stack: Stack, path: str, username: str, password: str, errors: list[str]
) -> tuple[BrowserContext, Page]:
    """A browser of its own, logged in through the form, on ``path``; script errors go to ``errors``."""
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{path}: {exc}"))
    await page.goto(f"http://127.0.0.1:{stack.http_port}{path}")
    await expect(page).to_have_url(f"http://127.0.0.1:{stack.http_port}/account/login?next={path}")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login")
    await expect(page).to_have_url(f"http://127.0.0.1:{stack.http_port}{path}")
    if path != "/admin/":  # the pages with a live feed say when it is up
        await expect(page.locator("#link")).to_have_attribute("data-state", "up", timeout=WAIT_MS)
    return context, page


async def _shot(page: Page, name: str) -> None:
    folder = os.environ.get("HOTLINE_SCREENSHOTS")
    if folder:
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


async def test_agent_takes_a_real_call_in_the_console_and_the_wallboard_follows(stack: Stack, browser: Browser) -> None:
    errors: list[str] = []
    _add(stack, "root", "管理员", "admin", "admin-password-1")
    _add(stack, "boss", "王主任", "supervisor", "boss-password-1")
    _add(stack, "lawyer01", "张律师", "lawyer", "agent-password-1")
    await registered_poor_caller(stack)  # the menu's legal-aid branch queues callers on the registry
    conn = await asyncpg.connect(stack.db)
    try:  # a long wrap-up: the agent leaves it by completing the work order
        await conn.execute("UPDATE queues SET wrapup_seconds = 600, ring_timeout_seconds = 10")
    finally:
        await conn.close()

    # The admin puts the agent in both queues the menu leads to, from the admin page.
    _, admin = await _login(browser, stack, "/admin/", "root", "admin-password-1", errors)
    for queue in ("legal_aid", "duty_lawyer"):
        await admin.select_option("#m-queue", queue)
        await admin.select_option("#m-username", "lawyer01")
        async with admin.expect_navigation():  # the page reloads with the change as stored
            await admin.click("#m-add")
        await expect(admin.locator("#member-error")).to_have_text("")
    members = await select(
        stack.db,
        "SELECT q.name FROM queue_members m JOIN queues q ON q.id = m.queue_id JOIN agents a ON a.id = m.agent_id "
        "WHERE a.username = 'lawyer01' ORDER BY q.name",
    )
    assert [m["name"] for m in members] == ["duty_lawyer", "legal_aid"]
    await _shot(admin, "admin")

    _, desk = await _login(browser, stack, "/agent/", "lawyer01", "agent-password-1", errors)
    _, board = await _login(browser, stack, "/supervisor/", "boss", "boss-password-1", errors)
    await expect(desk.locator("#state")).to_have_text("签出")

    # No phone registered: the console refuses Available, says why, and the state stays.
    await desk.click("#go-available")
    await expect(desk.locator("#state-error")).to_contain_text("注册", timeout=WAIT_MS)
    await expect(desk.locator("#state")).to_have_text("签出")

    phone = stack.phone("agent_phone", "lawyer01", "agent-password-1")
    try:
        await desk.click("#go-available")
        await expect(desk.locator("#state")).to_have_text("空闲", timeout=WAIT_MS)
        await expect(board.locator("#agents")).to_contain_text("空闲", timeout=WAIT_MS)

        caller = asyncio.create_task(asyncio.to_thread(stack.sipp, "caller_menu", 1, "-d", "40000", timeout=150))
        await expect(desk.locator("#state")).to_have_text("通话中", timeout=60_000)
        await expect(desk.locator("#pop")).to_be_visible()
        (call,) = await select(
            stack.db,
            "SELECT c.caller_masked, p.name AS prefecture, c.node_path FROM calls c "
            "LEFT JOIN prefectures p ON p.code = c.prefecture_code",
        )
        assert "****" in call["caller_masked"]
        await expect(desk.locator("#pop-number")).to_have_text(call["caller_masked"])
        await expect(desk.locator("#pop-prefecture")).to_contain_text(call["prefecture"] or "未知地区")
        await expect(desk.locator("#pop-path")).to_have_text(" → ".join(call["node_path"]))
        await expect(desk.locator("#pop-flags")).to_contain_text("低保")
        assert CALLER not in await desk.content(), "the full number is shown only on request"
        await expect(board.locator("#agents")).to_contain_text("通话中", timeout=WAIT_MS)
        await _shot(desk, "agent-desk")
        await _shot(board, "wallboard")

        # The work order, autosaved while the caller talks.
        await expect(desk.locator("#ticket")).to_be_visible(timeout=WAIT_MS)
        number = (await desk.locator("#ticket-number").text_content() or "").strip()
        await desk.select_option("#f-legal_area", "劳动争议")
        await desk.fill("#f-facts", "来电人反映工地拖欠三个月工资，约两万元。")
        await expect(desk.locator("#saved")).to_contain_text("已保存", timeout=WAIT_MS)

        done = await caller
        assert done.returncode == 0, done.stdout[-2000:]
    finally:
        stack.done(phone, "an agent phone")
    await wait_ended(stack.db, 1)
    await expect(desk.locator("#state")).to_have_text("话后整理", timeout=WAIT_MS)

    # A reload loses nothing; an incomplete work order is refused field by field and nothing changes.
    await desk.reload()
    await expect(desk.locator("#f-facts")).to_have_value("来电人反映工地拖欠三个月工资，约两万元。")
    await expect(desk.locator("#f-legal_area")).to_have_value("劳动争议")
    await desk.click("#complete")
    await expect(desk.locator('.field-error[data-for="answer"]')).to_have_text("请填写答复内容", timeout=WAIT_MS)
    (order,) = await select(stack.db, "SELECT status, facts FROM tickets WHERE number = $1", number)
    assert (order["status"], order["facts"]) == ("new", "来电人反映工地拖欠三个月工资，约两万元。")

    # A callback for the day after tomorrow (the stack's clock), visible on the work order.
    day = dt.date.fromisoformat(WORKDAY_MORNING[:10]) + dt.timedelta(days=2)
    await desk.fill("#cb-at", f"{day.isoformat()}T09:30")
    await desk.fill("#cb-reason", "来电人补充工资条后再答复")
    await desk.click("#cb-schedule")
    await expect(desk.locator("#cb-reason")).to_have_value("", timeout=WAIT_MS)  # cleared once stored
    await expect(desk.locator("#callback-error")).to_have_text("")
    await expect(desk.locator("#callbacks")).to_contain_text("来电人补充工资条后再答复", timeout=WAIT_MS)
    await expect(desk.locator("#callbacks")).to_contain_text(f"{day.isoformat()} 09:30")
    await expect(desk.locator("#callbacks")).to_contain_text("待回拨")
    # The stack's clock is pinned and PostgreSQL's is not: keep the dispatcher from offering the callback to
    # lawyer01 during this test whatever PostgreSQL's date (dispatching callbacks is tests/e2e/test_callback.py's).
    await select(
        stack.db, "UPDATE queue_entries SET not_before = now() + interval '1 day' WHERE callback_id IS NOT NULL"
    )

    await desk.select_option("#f-service", "法律咨询")
    await desk.fill("#f-answer", "告知可向劳动监察大队投诉，或申请劳动仲裁；符合条件可申请法律援助。")
    await desk.select_option("#f-disposition", "已解答")
    await desk.click("#complete")
    await expect(desk.locator("#saved")).to_have_text("工单已办结", timeout=WAIT_MS)
    await expect(desk.locator("#state")).to_have_text("空闲", timeout=WAIT_MS)
    (order,) = await select(stack.db, "SELECT status, legal_area, service FROM tickets WHERE number = $1", number)
    assert (order["status"], order["legal_area"], order["service"]) == ("answered", "劳动争议", "法律咨询")
    states = await agent_states(stack, "lawyer01")
    assert states == ["available", "reserved", "on_call", "wrap_up", "available"], states
    legal_aid = board.locator("#queues tr").filter(has_text="法律援助")
    await expect(legal_aid.locator("td").nth(4)).to_have_text("1", timeout=WAIT_MS)  # 接通: the call, counted once
    await expect(legal_aid.locator("td").nth(5)).to_have_text("0")  # 放弃
    assert errors == [], errors
