"""`hotline simulate` against a real `hotline up`: simulated callers and agents through the real front and console,
everything marked simulated, nothing left stuck, and `--purge` removes it all."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml

from tests.support.cli import hotline
from tests.support.stack import Stack, select

pytestmark = pytest.mark.sip

# Short talks and wrap-ups so that a minute of arrivals is through in a few minutes; every path of the flow's
# menus that reaches a queue, one that does not (the guidance menu), givers-up and callback askers.
PROFILE = {
    "paths": {"1 1 1": 3, "1 1 3": 3, "1 2": 2, "1 3": 2, "1 5": 1, "1 0": 1},
    "abandon_share": 0.2,
    "patience": {"min": 5, "max": 15},
    "callback_share": 0.1,
    "survey_share": 0.8,
    "talk": {"min": 4, "max": 8},
    "wrap_up": {"min": 1, "max": 3},
    "pause_share": 0.2,
    "pause": {"min": 3, "max": 6},
}


@pytest.mark.timeout(600)
async def test_a_minute_of_simulated_traffic_moves_the_service_and_is_purged(stack: Stack, tmp_path: Path) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump(PROFILE, allow_unicode=True), encoding="utf-8")
    args = ["simulate", "--duration", "60s", "--callers-per-minute", "5", "--agents", "3", "--seed", "7"]
    run = hotline(stack.db, *args, "--profile", str(profile), "--drain", "4m", timeout=420, **stack.env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]

    calls = await select(
        stack.db,
        "SELECT id, simulated, outcome, sip_call_id, prefecture_code, province FROM calls WHERE direction = 'inbound'",
    )
    placed = int(run.stdout.split("placed ", 1)[1].split()[0])
    # A call the front refuses at once (every cell full: 2 cells of 4 legs) is reported, and leaves no record.
    refused = (
        int(run.stdout.split(" calls ended at once")[0].rsplit(None, 1)[-1]) if "ended at once" in run.stdout else 0
    )
    assert placed >= 4 and len(calls) == placed - refused and refused <= placed // 4, (placed, run.stdout)
    assert all(c["simulated"] and c["sip_call_id"].startswith("sim-") for c in calls)
    assert all(c["outcome"] is not None for c in calls), "a simulated call was left open"
    outcomes = [c["outcome"] for c in calls]
    assert outcomes.count("answered") >= 2, outcomes
    assert len({c["prefecture_code"] for c in calls if c["prefecture_code"]}) >= 2, "callers from one place only"

    answered = [c["id"] for c in calls if c["outcome"] == "answered"]
    surveys = await select(stack.db, "SELECT DISTINCT call_id FROM surveys")
    assert surveys and {s["call_id"] for s in surveys} <= set(answered)
    tickets = await select(
        stack.db, "SELECT t.status, t.legal_area, t.disposition FROM tickets t JOIN calls c ON c.id = t.call_id"
    )
    closed = [t for t in tickets if t["status"] in ("answered", "referred")]
    assert len(closed) >= 2 and all(t["legal_area"] and t["disposition"] for t in closed), tickets
    entries = await select(stack.db, "SELECT state FROM queue_entries")
    assert entries and all(e["state"] not in ("waiting", "offered") for e in entries), entries

    agents = await select(stack.db, "SELECT username, state, simulated FROM agents WHERE simulated")
    assert len(agents) == 3 and all(a["state"] == "logged_out" for a in agents), agents

    # No report counts any of it (the default reader leaves simulated calls out).
    report = tmp_path / "report.csv"
    month = (
        await select(
            stack.db, "SELECT to_char(min(started_at) AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS m FROM calls"
        )
    )[0]["m"]
    made = hotline(stack.db, "report", "--month", month, "--format", "csv", "--out", str(report), **stack.env)
    assert made.returncode == 0, made.stderr
    rows = {r[0]: r for r in csv.reader(io.StringIO(report.read_text(encoding="utf-8-sig"))) if r}
    assert rows["total"][:3] == ["total", "全省合计", "0"], rows["total"]  # 呼入电话: none of the simulated calls

    simulated = len(await select(stack.db, "SELECT 1 FROM calls WHERE simulated"))  # with callbacks placed
    purged = hotline(stack.db, "simulate", "--purge", **stack.env)
    assert purged.returncode == 0, purged.stderr
    assert f"removed {simulated} simulated calls" in purged.stdout, purged.stdout
    for table in ("calls", "tickets", "queue_entries", "surveys", "call_events"):
        assert await select(stack.db, f"SELECT 1 FROM {table}") == [], table
    assert await select(stack.db, "SELECT 1 FROM agents WHERE simulated") == []
