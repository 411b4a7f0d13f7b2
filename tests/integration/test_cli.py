import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import asyncpg

from hotline.privacy import NumberKeys
from tests.conftest import free_port
from tests.integration.cli import ROOT, SECRET, finish, hotline, popen


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def _wait_http(url: str, proc, timeout: float = 20) -> tuple[int, dict[str, object]]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"hotline up exited: {finish(proc)}")
        try:
            return _get(url)
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_help_lists_every_subcommand() -> None:
    out = hotline("postgresql://unused/none", "--help")
    assert out.returncode == 0
    for name in ("up", "migrate", "status", "registry"):
        assert name in out.stdout
    for sub in (["up"], ["migrate"], ["status"], ["registry", "import"]):
        assert hotline("postgresql://unused/none", *sub, "--help").returncode == 0


def test_migrate_twice_then_status(empty_db: str) -> None:
    first = hotline(empty_db, "migrate")
    assert first.returncode == 0, first.stderr
    assert "applied 0001_core.sql" in first.stdout
    second = hotline(empty_db, "migrate")
    assert second.returncode == 0 and "up to date" in second.stdout
    status = hotline(empty_db, "migrate", "--status")
    assert "applied  0001_core.sql" in status.stdout


def test_unreachable_database_names_host_and_port_not_password() -> None:
    port = free_port()
    out = hotline(f"postgresql://hotline:sup3rsecret@127.0.0.1:{port}/hotline", "migrate")
    assert out.returncode == 2
    assert f"127.0.0.1:{port}" in out.stderr
    assert "sup3rsecret" not in out.stderr + out.stdout
    assert "Traceback" not in out.stderr


def test_up_serves_healthz_and_stops_cleanly_on_sigterm(db: str) -> None:
    port = free_port()
    proc = popen(db, "up", "--no-engine", HOTLINE_HTTP_PORT=str(port))
    try:
        status, body = _wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        assert status == 200
        assert body["status"] == "ok"
        assert body["database"]["ok"] is True  # type: ignore[index]
        proc.send_signal(signal.SIGTERM)
        code, err = finish(proc)
        assert code == 0, err
        assert "Traceback" not in err
    finally:
        finish(proc, timeout=0)


def test_up_refuses_a_schema_that_is_behind_and_names_the_migration(empty_db: str) -> None:
    proc = popen(empty_db, "up", HOTLINE_HTTP_PORT=str(free_port()))
    code, err = finish(proc, timeout=20)
    assert code == 2
    assert "0001_core.sql" in err and "hotline migrate" in err and "Traceback" not in err


def test_up_with_bad_config_names_key_and_value(db: str, tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.yaml"
    cfg.write_text("http:\n  port: eighty\n")
    out = hotline(db, "--config", str(cfg), "up")
    assert out.returncode == 2
    assert "'http.port'" in out.stderr and "'eighty'" in out.stderr and "an integer" in out.stderr


async def test_registry_import_is_all_or_nothing_and_idempotent(db: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("姓名,电话\n甲,13908712345\n乙,1390871\n丙,\n丁,15887123456\n", encoding="utf-8")
    out = hotline(db, "registry", "import", str(bad), "--kind", "建档立卡")
    assert out.returncode == 2
    assert "line 3" in out.stderr and "line 4" in out.stderr and "nothing stored" in out.stderr
    assert "13908712345" not in out.stderr

    conn = await asyncpg.connect(db)
    try:
        assert await conn.fetchval("SELECT count(*) FROM vulnerable_registry") == 0
        good = tmp_path / "good.csv"
        good.write_text("姓名,电话\n甲,13908712345\n乙,0871-65551234\n丁,15887123456\n", encoding="utf-8")
        first = hotline(db, "registry", "import", str(good), "--kind", "建档立卡")
        assert first.returncode == 0, first.stderr
        assert "3 newly registered" in first.stdout
        again = hotline(db, "registry", "import", str(good), "--kind", "建档立卡")
        assert "0 newly registered" in again.stdout
        assert await conn.fetchval("SELECT count(*) FROM vulnerable_registry") == 3
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM vulnerable_registry WHERE number_hmac = $1",
                NumberKeys.from_master(SECRET.encode()).digest("+8613908712345"),
            )
            == 1
        )
        hit = hotline(db, "registry", "lookup", "+86 139 0871 2345")
        assert hit.returncode == 0 and "139****2345: 建档立卡" in hit.stdout
        miss = hotline(db, "registry", "lookup", "13908712399")
        assert "未登记" in miss.stdout
        audits = await conn.fetch("SELECT action, object_id FROM audit_log ORDER BY id")
        assert [a["action"] for a in audits] == ["import", "import", "read", "read"]
        assert all("13908712345" not in str(a["object_id"]) for a in audits)
    finally:
        await conn.close()


def test_check_flows_passes_on_shipped_flows_and_names_file_line_node_field_on_a_broken_copy(tmp_path: Path) -> None:
    ok = hotline("postgresql://unused/none", "check-flows")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yaml"
    text = (ROOT / "ivr_flows" / "yunnan_12348.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace("next: office_hours}", "next: office_hourz}", 1), encoding="utf-8")
    out = hotline(
        "postgresql://unused/none",
        "check-flows",
        str(broken),
        "--prompts",
        str(ROOT / "ivr_flows" / "prompts"),
        "--schedules",
        str(ROOT / "ivr_flows" / "schedules"),
    )
    assert out.returncode == 1
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "next: office_hours}" in s)
    assert f"{broken}:{line}: node language:" in out.stdout + out.stderr
    assert "office_hourz" in out.stdout + out.stderr
