from pathlib import Path

import pytest
from pydantic import BaseModel

from hotline.config import load_settings
from hotline.errors import ConfigError


def test_defaults_need_no_file() -> None:
    s = load_settings(environ={})
    assert s.http.port == 8080
    assert s.sip.service_number == "12348"
    url = s.database.url  # the database `make run` creates, so that the CLI works in any shell
    assert url is not None and url.get_secret_value() == "postgresql://hotline:hotline@127.0.0.1:5432/hotline"


def test_a_null_database_url_leaves_it_to_libpq(tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.yaml"
    cfg.write_text("database:\n  url: null\n")
    assert load_settings(cfg, environ={}).database.url is None  # asyncpg then reads the PG* variables


def test_layers_apply_in_order_file_then_env_then_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.yaml"
    cfg.write_text("http:\n  port: 9001\n  host: 0.0.0.0\nlog_level: DEBUG\n")
    s = load_settings(cfg, environ={})
    assert (s.http.port, s.http.host, s.log_level) == (9001, "0.0.0.0", "DEBUG")
    s = load_settings(cfg, environ={"HOTLINE_HTTP_PORT": "9002"})
    assert (s.http.port, s.http.host) == (9002, "0.0.0.0")
    s = load_settings(cfg, environ={"HOTLINE_HTTP_PORT": "9002"}, overrides={"http.port": "9003"})
    assert s.http.port == 9003


def test_database_url_from_environment_is_secret() -> None:
    s = load_settings(environ={"HOTLINE_DATABASE_URL": "postgresql://u:topsecret@db:5432/h"})
    assert s.database.url is not None
    assert s.database.url.get_secret_value().endswith("/h")
    assert "topsecret" not in repr(s)


def test_bad_value_error_names_key_value_source_and_type(tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.yaml"
    cfg.write_text("sip:\n  listen_port: lots\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    message = str(err.value)
    assert "'sip.listen_port'" in message
    assert "'lots'" in message
    assert str(cfg) in message
    assert "an integer" in message


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="HOTLINE_HTTP_PORT"):
        load_settings(environ={"HOTLINE_HTTP_PORT": "eighty"})


def test_unknown_key_is_refused_with_its_name(tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.yaml"
    cfg.write_text("http:\n  prot: 80\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'http.prot'"):
        load_settings(cfg, environ={})


def test_secret_value_is_never_echoed_in_errors() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ={}, overrides={"database.url": "x", "database.max_pool": "0"})
    assert "database.max_pool" in str(err.value)


def test_not_yaml_mapping_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.yaml"
    cfg.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_settings(cfg, environ={})


def test_example_config_is_valid_and_lists_every_key() -> None:
    root = Path(__file__).resolve().parents[2]
    example = root / "hotline.example.yaml"
    s = load_settings(example, environ={})
    text = example.read_text()
    for section, model in s:
        if isinstance(model, BaseModel):
            for key in type(model).model_fields:
                assert f"{key}:" in text, f"{section}.{key} missing from hotline.example.yaml"
        else:
            assert f"{section}:" in text
