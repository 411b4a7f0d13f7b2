"""Typed settings, layered: defaults, then a YAML file, then HOTLINE_* environment variables, then flags.

Environment names follow the shape of the settings: ``HOTLINE_<SECTION>_<KEY>`` for a key inside a section
(``HOTLINE_DATABASE_URL``, ``HOTLINE_HTTP_PORT``) and ``HOTLINE_<KEY>`` for a top-level key. When no database
URL is set anywhere, asyncpg reads the standard ``PG*`` variables itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from hotline.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: The database `make run` creates (scripts/setup-system.sh): the default, so that `hotline agent add` works in any
#: shell on the machine. `url: null` leaves it to libpq (the PG* variables, the local socket).
DEFAULT_DATABASE_URL = "postgresql://hotline:hotline@127.0.0.1:5432/hotline"


class DatabaseSettings(_Section):
    url: SecretStr | None = SecretStr(DEFAULT_DATABASE_URL)
    min_pool: int = Field(default=1, ge=0)
    max_pool: int = Field(default=10, ge=1)
    connect_timeout: float = Field(default=5.0, gt=0)


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class PrivacySettings(_Section):
    secret: SecretStr | None = None
    secret_file: Path = Path("var/secret.key")


class SipSettings(_Section):
    service_number: str = "12348"
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=5060, ge=1, le=65535)
    cell_host: str = "127.0.0.1"
    cell_base_port: int = Field(default=5070, ge=1, le=65535)
    cells: int | None = Field(default=None, ge=1, le=200)
    target_concurrency: int = Field(default=8, ge=1)
    kamailio_bin: Path = Path("/usr/sbin/kamailio")
    kamailio_modules: Path = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
    kamailio_http_port: int = Field(default=5065, ge=1, le=65535)
    recordings_dir: Path = Path("var/recordings")
    rtp_port_base: int = Field(default=20000, ge=1024, le=65000)
    drain_timeout: float = Field(default=30.0, ge=0)
    outbound_gateway: str = ""  # host:port of the trunk that carries callbacks to callers; empty: no callbacks
    # The front's defences (hotline/front/kamailio.cfg.tmpl): pike flood limits for sources outside
    # trusted_networks, and digest-failure limits for every source outside auth_exempt_networks (none by default).
    trusted_networks: list[str] = Field(default_factory=lambda: ["127.0.0.0/8"], min_length=1)
    pike_window_s: int = Field(default=2, ge=1)
    pike_density: int = Field(default=30, ge=1)
    auth_account_failures: int = Field(default=10, ge=1)
    auth_source_failures: int = Field(default=10, ge=1)
    auth_window_s: int = Field(default=600, ge=1)
    auth_lock_s: int = Field(default=900, ge=1)
    auth_exempt_networks: list[str] = Field(default_factory=list)
    # When PostgreSQL cannot be reached at the queue: transfer to this duty number (through the front), else a
    # message of at most outage_voicemail_s that becomes a callback work order when the journal is replayed.
    outage_fallback_number: str = Field(default="", pattern=r"^(\+?[0-9]{3,20})?$")
    outage_voicemail_s: int = Field(default=120, ge=10, le=600)
    pj_log_level: int = Field(default=2, ge=0, le=6)  # pjlib's own log: 1 error, 2 warning, 3 info, 4+ debug

    @field_validator("trusted_networks", "auth_exempt_networks", mode="before")
    @classmethod
    def _networks_from_text(cls, value: object) -> object:
        """A list in YAML, or comma-separated text (from an environment variable: 10.0.0.0/8,192.0.2.0/24)."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class PromptSettings(_Section):
    locale: str = "zh-CN"
    source_dir: Path = Path("ivr_flows/prompts")
    build_dir: Path = Path("var/prompts")

    @property
    def sources(self) -> Path:
        return self.source_dir / self.locale

    @property
    def built(self) -> Path:
        return self.build_dir / self.locale


class FlowSettings(_Section):
    dir: Path = Path("ivr_flows")
    service_flow: str = "yunnan_12348"  # the flow id that answers calls to sip.service_number

    @property
    def files(self) -> list[Path]:
        return sorted(self.dir.glob("*.yaml"))


class TranscribeSettings(_Section):
    model_path: Path = Path("var/models/vosk-model-small-cn-0.22")
    live_streams: int = Field(default=2, ge=0)
    workers: int = Field(default=1, ge=1)
    host: str = "127.0.0.1"
    port: int = Field(default=2700, ge=0, le=65535)
    backlog_interval: float = Field(default=10.0, gt=0)
    live: bool = True  # cells stream both legs of each call to ws://host:port/asr; false: calls go to the backlog
    taxonomy: Path | None = None  # tagger taxonomy for risk flags on live speech; None: hotline/tag/taxonomy.yaml


class QaSettings(_Section):
    rules_path: Path | None = None  # quality-check rules; None: the packaged hotline/qa/rules.yaml
    poll_interval: float = Field(default=30.0, gt=0)  # seconds between the analysis worker's polls


class ConsoleSettings(_Section):
    idle_minutes: int = Field(default=30, ge=1, le=24 * 60)  # a session unused this long is over
    absolute_hours: int = Field(default=12, ge=1, le=7 * 24)  # a session this old is over, used or not
    login_failures: int = Field(default=10, ge=1)  # per account and per address within login_window_minutes
    login_window_minutes: int = Field(default=15, ge=1)
    secure_cookies: bool = False  # set true when the console is served over HTTPS (a proxy in front)
    require_registration: bool = True  # an agent may go available only while their phone is registered
    ticket_deadline_hours: int = Field(default=72, ge=1)  # a work order's deadline from its creation
    max_body_kb: int = Field(default=256, ge=1)  # larger request bodies are refused (413)
    # the admin page's registry upload (a CSV of numbers, streamed, checked whole): larger files are refused (413)
    registry_max_kb: int = Field(default=8192, ge=1, le=65536)


class MetricsSettings(_Section):
    host: str = "127.0.0.1"  # the node's one /metrics endpoint (docs/metrics.md)
    port: int = Field(default=9348, ge=0, le=65535)
    enabled: bool = True
    refresh_s: float = Field(default=5.0, gt=0, le=300)  # the event-log collector and the state gauges
    kpi_refresh_s: float = Field(default=60.0, gt=0, le=3600)  # today's KPIs (hotline_kpi_today)


class PrometheusSettings(_Section):
    """The embedded Prometheus `hotline up` starts (Debian's prometheus, data under state_dir/prometheus)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9090, ge=0, le=65535)
    binary: str = "prometheus"
    retention: str = Field(default="15d", pattern=r"^[0-9]+[smhdwy]$")
    scrape_interval_s: int = Field(default=15, ge=1, le=300)
    rules_dir: Path | None = None  # None: monitoring/prometheus/rules of this checkout


class KpiSettings(_Section):
    """KPI parameters (docs/kpi.md, hotline.kpi.KpiParams) and the targets the alerts compare with."""

    short_abandon_s: float = Field(default=5.0, ge=0)
    exclude_short_abandons: bool = True
    service_level_s: float | None = Field(default=15.0, gt=0)  # None: each queue's service_level_seconds
    targets: dict[str, float] = Field(
        default_factory=lambda: {
            "answer_rate": 0.95,
            "service_level": 0.80,
            "abandon_rate": 0.05,
            "satisfaction": 0.90,
            "response_rate": 1.0,
        }
    )


ReportFormat = Literal["xlsx", "csv", "html"]


def _report_formats() -> list[ReportFormat]:
    return ["xlsx", "csv"]


class ReportSettings(_Section):
    """The monthly report `hotline up` makes by itself (hotline/report/scheduled.py)."""

    enabled: bool = True
    day: int = Field(default=20, ge=1, le=28)  # made from this day of the month on, for the month before
    formats: list[ReportFormat] = Field(default_factory=_report_formats)
    dir: Path | None = None  # None: reports/ under state_dir
    check_every_s: float = Field(default=3600.0, ge=1)


class JournalSettings(_Section):
    """The durable write path (hotline/cell/journal.py): where a process keeps what the database could not take."""

    dir: Path | None = None  # one <process>.jsonl per process; None: <state_dir>/journal
    max_mb: float = Field(default=256.0, gt=0)  # past this, writes are refused (and counted); alarm well before
    write_timeout_s: float = Field(default=2.0, gt=0)  # a write the database does not take in this time is journaled
    retry_s: float = Field(default=1.0, gt=0)  # how often the replay tries the database again


class RetentionSettings(_Section):
    """How long each data class is kept (hotline/retention.py); a daily job deletes the rest and audits it."""

    enabled: bool = True
    recordings_days: int = Field(default=730, ge=1)
    transcripts_days: int = Field(default=730, ge=1)
    call_records_days: int = Field(default=1825, ge=1)  # a call with its events; work orders are kept
    audit_days: int = Field(default=1825, ge=1)
    hour: int = Field(default=3, ge=0, le=23)  # local hour from which the day's run is made

    @model_validator(mode="after")
    def _calls_outlive_their_parts(self) -> RetentionSettings:
        longest = max(self.recordings_days, self.transcripts_days)
        if self.call_records_days < longest:
            raise ValueError(
                f"retention.call_records_days ({self.call_records_days}) must be at least recordings_days and "
                f"transcripts_days ({longest}): deleting a call deletes its recordings and transcripts"
            )
        return self


class Settings(_Section):
    log_level: str = "INFO"
    timezone: str = "Asia/Shanghai"
    ticket_prefix: str = Field(default="YN", pattern=r"^[A-Z]{2,4}$")
    state_dir: Path = Path("var")
    database: DatabaseSettings = DatabaseSettings()
    http: HttpSettings = HttpSettings()
    privacy: PrivacySettings = PrivacySettings()
    sip: SipSettings = SipSettings()
    prompts: PromptSettings = PromptSettings()
    flows: FlowSettings = FlowSettings()
    transcribe: TranscribeSettings = TranscribeSettings()
    qa: QaSettings = QaSettings()
    console: ConsoleSettings = ConsoleSettings()
    metrics: MetricsSettings = MetricsSettings()
    prometheus: PrometheusSettings = PrometheusSettings()
    kpi: KpiSettings = KpiSettings()
    reports: ReportSettings = ReportSettings()
    journal: JournalSettings = JournalSettings()
    retention: RetentionSettings = RetentionSettings()

    @property
    def journal_dir(self) -> Path:
        return self.journal.dir if self.journal.dir is not None else Path(self.state_dir) / "journal"


def _env_names() -> dict[str, tuple[str, ...]]:
    names: dict[str, tuple[str, ...]] = {}
    for name, field in Settings.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, _Section):
            for key in sub.model_fields:
                names[f"HOTLINE_{name}_{key}".upper()] = (name, key)
        else:
            names[f"HOTLINE_{name}".upper()] = (name,)
    return names


def _put(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config key {'.'.join(path[:-1])!r} must be a mapping, got {child!r}")
        node = child
    node[path[-1]] = value


def _flatten(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, (*prefix, str(key))))
        else:
            out[(*prefix, str(key))] = value
    return out


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Settings:
    """Build settings from every layer; raise ConfigError naming the key, value, source and expected type."""
    environ = os.environ if environ is None else environ
    tree: dict[str, Any] = {}
    sources: dict[tuple[str, ...], str] = {}

    if config_file is not None:
        try:
            text = config_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc.strerror}") from None
        try:
            loaded = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {config_file} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {config_file} must hold a mapping of keys, got {type(loaded).__name__}")
        for path, value in _flatten(loaded).items():
            _put(tree, path, value)
            sources[path] = str(config_file)

    for env_name, path in _env_names().items():
        if env_name in environ:
            _put(tree, path, environ[env_name])
            sources[path] = f"environment variable {env_name}"

    for dotted, value in (overrides or {}).items():
        path = tuple(dotted.split("."))
        _put(tree, path, value)
        sources[path] = f"flag --set {dotted}"

    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = tuple(str(p) for p in err["loc"])
            key = ".".join(path)
            source = sources.get(path, "defaults")
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown config key {key!r} (from {source})")
                continue
            shown = "<secret>" if path[-1] in {"url", "secret"} else repr(err.get("input"))
            problems.append(f"config key {key!r} = {shown} (from {source}): expected {_expected(err)}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None


def _expected(err: Mapping[str, Any]) -> str:
    kind = str(err["type"])
    words = {
        "int_parsing": "an integer",
        "int_type": "an integer",
        "float_parsing": "a number",
        "float_type": "a number",
        "bool_parsing": "true or false",
        "string_type": "a string",
        "path_type": "a file path",
        "model_type": "a mapping of keys",
        "dict_type": "a mapping of keys",
    }
    if kind in words:
        return words[kind]
    return str(err["msg"]).replace("Input should be", "a value that is").lower()
