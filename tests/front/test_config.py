"""The rendered Kamailio config: Kamailio accepts it, and bad settings fail with a named error."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.front.kamailio import CellAddress, FrontConfigError, FrontParams, render_config, render_dispatcher_list
from hotline.front.process import KamailioError, KamailioProcess

pytestmark = pytest.mark.sip

DB = "postgresql://hotline:hotline@127.0.0.1:5432/hotline"


def params(tmp: Path, **kw: object) -> FrontParams:
    fields: dict[str, object] = {
        "db_url": DB,
        "runtime_dir": tmp,
        "cells": (CellAddress.parse("127.0.0.1:5070"), CellAddress.parse("10.1.2.3:5080")),
        **kw,
    }
    return FrontParams(**fields)  # type: ignore[arg-type]


async def test_rendered_config_passes_kamailio_check(workdir: Path) -> None:
    front = KamailioProcess(params(workdir, sip_port=25060, http_port=25065))
    await front.check_config()
    text = front.params.config_file.read_text()
    assert "listen=udp:127.0.0.1:25060" in text
    assert 'ds_select_dst("1", "10")' in text
    assert "postgres://hotline:hotline@127.0.0.1:5432/hotline" in text
    assert "{{" not in text


def test_dispatcher_list_has_one_line_per_cell_with_a_unique_id(tmp_path: Path) -> None:
    lines = render_dispatcher_list(params(tmp_path, cell_maxload=2)).splitlines()[1:]
    assert lines == [
        "1 sip:127.0.0.1:5070 0 0 duid=cell1;maxload=2",
        "1 sip:10.1.2.3:5080 0 0 duid=cell2;maxload=2",
    ]


def test_service_number_and_trusted_networks_reach_the_config(tmp_path: Path) -> None:
    text = render_config(params(tmp_path, service_number="+8612348", trusted_networks=("127.0.0.0/8", "10.0.0.0/8")))
    assert '#!define SERVICE_NUMBER "+8612348"' in text
    assert '#!define TRUSTED_NETS "127.0.0.0/8,10.0.0.0/8"' in text


def test_the_front_defences_come_from_the_settings(tmp_path: Path) -> None:
    from hotline.config import load_settings
    from hotline.supervisor.front import front_params

    settings = load_settings(
        None,
        {
            "HOTLINE_SIP_TRUSTED_NETWORKS": "10.8.0.0/16",
            "HOTLINE_SIP_PIKE_DENSITY": "12",
            "HOTLINE_SIP_AUTH_ACCOUNT_FAILURES": "4",
            "HOTLINE_SIP_AUTH_LOCK_S": "60",
            "HOTLINE_SIP_AUTH_EXEMPT_NETWORKS": "192.0.2.0/24",
            "HOTLINE_STATE_DIR": str(tmp_path),
        },
    )
    text = render_config(front_params(settings, []))

    assert '#!define TRUSTED_NETS "10.8.0.0/16"' in text
    assert 'modparam("pike", "reqs_density_per_unit", 12)' in text
    assert "#!define AUTH_ACCOUNT_FAILURES 4" in text
    assert "authlock=>size=10;autoexpire=60;" in text
    assert '#!define AUTH_EXEMPT_NETS "192.0.2.0/24"' in text


def test_by_default_no_source_is_exempt_from_the_failure_limits(tmp_path: Path) -> None:
    text = render_config(params(tmp_path))
    assert "#!define AUTH_EXEMPT_NETS" not in text
    assert "#!define AUTH_SOURCE_FAILURES 10" in text


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("db_url", 'mysql://x"y@h/db', "db_url"),
        ("service_number", "12348; drop", "service_number"),
        ("sip_host", "localhost", "sip_host"),
        ("trusted_networks", ("not-a-net",), "trusted network"),
        ("auth_exempt_networks", ("10.0.0.0/33",), "auth_exempt_networks"),
        ("auth_lock_s", 0, "auth_lock_s"),
        ("auth_account_failures", 0, "auth_account_failures"),
        ("realm", 'a"b', "realm"),
        ("scanners", ("Bad(",), "scanner"),
        ("runtime_dir", Path("/tmp/" + "x" * 100), "runtime_dir"),
    ],
)
def test_bad_setting_is_refused_with_its_name(tmp_path: Path, field: str, value: object, named: str) -> None:
    with pytest.raises(FrontConfigError, match=named):
        params(tmp_path, **{field: value})


def test_bad_cell_address_is_refused() -> None:
    with pytest.raises(FrontConfigError, match="host:port"):
        CellAddress.parse("127.0.0.1")


async def test_config_error_quotes_kamailios_message(workdir: Path) -> None:
    front = KamailioProcess(params(workdir, sip_port=25060, http_port=25065))
    front.render()
    broken = front.params.config_file.read_text().replace("request_route {", "request_route {\n\tno_such_function();")
    front.params.config_file.write_text(broken)
    front.render = lambda: front.params.config_file  # type: ignore[method-assign]
    with pytest.raises(KamailioError, match="no_such_function"):
        await front.check_config()
