"""Kamailio configuration for the SIP front: typed parameters in, config text and dispatcher list out.

Pure code, no IO except reading the template shipped next to this module. Every value that ends up inside
the config is validated here, so a bad setting fails with a message naming it instead of as a Kamailio
parse error (or worse, as a config that parses but means something else).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from hotline.errors import HotlineError

TEMPLATE = Path(__file__).with_name("kamailio.cfg.tmpl")
DEFAULT_MODULES_DIR = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")

#: User-Agent substrings of SIP scanners and war-dialers; matched case-insensitively.
DEFAULT_SCANNERS: tuple[str, ...] = (
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "vaxsipuseragent",
    "sip-scan",
    "sipscan",
    "iwar",
    "sundayddr",
    "sipsak",
    "smap",
    "pplsip",
    "polycom_ip_scanner",
    "sip auditor",
)

_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9._~+-]+$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+$")
_SCANNER = re.compile(r"^[a-z0-9 ._/-]+$")


class FrontConfigError(HotlineError):
    """A front setting is invalid; the message names the setting and what was expected."""


@dataclass(frozen=True)
class CellAddress:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> CellAddress:
        host, sep, port = text.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise FrontConfigError(f"cell address {text!r} is not host:port")
        address = cls(host, int(port))
        address.validate()
        return address

    def validate(self) -> None:
        if not _HOST.match(self.host):
            raise FrontConfigError(f"cell host {self.host!r} is not an IP address or host name")
        if not 1 <= self.port <= 65535:
            raise FrontConfigError(f"cell port {self.port} is outside 1..65535")

    @property
    def uri(self) -> str:
        return f"sip:{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class FrontParams:
    """Everything that varies between deployments of the front. Defaults suit a single machine."""

    db_url: str
    runtime_dir: Path
    cells: tuple[CellAddress, ...] = ()
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    advertise: str | None = None  # "host[:port]" put in Via/Record-Route when behind NAT
    outbound_gateway: str | None = None  # host:port where calls the service places (callbacks) go
    aliases: tuple[str, ...] = ()  # extra host[:port] names the front answers to
    service_number: str = "12348"  # exact match on the Request-URI user
    realm: str = "12348"  # digest realm, must equal agents.sip_realm
    http_host: str = "127.0.0.1"
    http_port: int = 5065
    trusted_networks: tuple[str, ...] = ("127.0.0.0/8",)  # never rate-limited by pike
    scanners: tuple[str, ...] = DEFAULT_SCANNERS
    pike_window_s: int = 2
    pike_density: int = 30  # requests per source per window before the source is blocked
    # Digest failures (wrong password, unknown user) before the account is locked from that source, and before the
    # source is banned from every account; counted while failures come less than auth_window_s apart.
    auth_account_failures: int = 10
    auth_source_failures: int = 10
    auth_window_s: int = 600
    auth_lock_s: int = 900  # how long a lock or ban lasts
    auth_exempt_networks: tuple[str, ...] = ()  # sources never locked (none by default: loopback is not exempt)
    ping_interval_s: int = 2
    # in-dialog OPTIONS to the cell of each call; no answer ends the call (BYE both ways); Kamailio's minimum is 30
    dialog_keepalive_s: int = 30
    retry_after_s: int = 5  # in the 503 a caller gets when no cell takes the call
    probing_threshold: int = 1  # failed probes before a cell is marked inactive
    cell_timeout_ms: int = 2000  # no reply at all from a cell -> next cell
    cell_ring_timeout_ms: int = 30000
    agent_ring_timeout_ms: int = 30000
    transaction_timeout_ms: int = 4000
    cell_maxload: int = 0  # calls per cell before it is skipped; 0 = no limit
    children: int = 4
    log_level: int = 2  # Kamailio debug level: -1 error .. 3 debug
    modules_dir: Path = DEFAULT_MODULES_DIR

    def __post_init__(self) -> None:
        self.validate()

    @property
    def config_file(self) -> Path:
        return self.runtime_dir / "kamailio.cfg"

    @property
    def dispatcher_list(self) -> Path:
        return self.runtime_dir / "dispatcher.list"

    @property
    def rpc_socket(self) -> Path:
        return self.runtime_dir / "kamailio_rpc.sock"

    @property
    def rpc_fifo(self) -> Path:
        return self.runtime_dir / "kamailio_rpc.fifo"

    @property
    def ctl_socket(self) -> Path:
        return self.runtime_dir / "kamailio_ctl"

    @property
    def pid_file(self) -> Path:
        return self.runtime_dir / "kamailio.pid"

    @property
    def log_file(self) -> Path:
        return self.runtime_dir / "kamailio.log"

    def validate(self) -> None:
        _check_ip("sip_host", self.sip_host)
        _check_ip("http_host", self.http_host)
        for name in ("sip_port", "http_port"):
            value = getattr(self, name)
            if not 1 <= value <= 65535:
                raise FrontConfigError(f"{name} {value} is outside 1..65535")
        if self.sip_port == self.http_port and self.sip_host == self.http_host:
            raise FrontConfigError("sip_port and http_port must differ")
        if not re.fullmatch(r"\+?[0-9]{3,20}", self.service_number):
            raise FrontConfigError(f"service_number {self.service_number!r} must be 3-20 digits")
        if not _SAFE_TOKEN.match(self.realm):
            raise FrontConfigError(f"realm {self.realm!r} may contain only letters, digits and ._~+-")
        _check_db_url(self.db_url)
        for cell in self.cells:
            cell.validate()
        if len(set(self.cells)) != len(self.cells):
            raise FrontConfigError("cells contain a duplicate address")
        if not self.trusted_networks:
            raise FrontConfigError("trusted_networks must name at least one network (e.g. 127.0.0.0/8)")
        for what, nets in (
            ("trusted network", self.trusted_networks),
            ("auth_exempt_networks", self.auth_exempt_networks),
        ):
            for net in nets:
                try:
                    ipaddress.ip_network(net, strict=False)
                except ValueError as exc:
                    raise FrontConfigError(f"{what} {net!r} is not an IP network: {exc}") from None
        for scanner in self.scanners:
            if not _SCANNER.match(scanner):
                raise FrontConfigError(f"scanner {scanner!r} must be lower-case letters, digits, space or ._/-")
        if self.outbound_gateway is not None and not re.fullmatch(r"[A-Za-z0-9.-]+:[0-9]{1,5}", self.outbound_gateway):
            raise FrontConfigError(f"outbound_gateway {self.outbound_gateway!r} must be host:port")
        for address in (self.advertise, *self.aliases):
            if address is not None and not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?", address):
                raise FrontConfigError(f"address {address!r} must be host or host:port")
        positive = (
            "pike_window_s",
            "pike_density",
            "auth_account_failures",
            "auth_source_failures",
            "auth_window_s",
            "auth_lock_s",
            "ping_interval_s",
            "dialog_keepalive_s",
            "retry_after_s",
            "probing_threshold",
            "cell_timeout_ms",
            "cell_ring_timeout_ms",
            "agent_ring_timeout_ms",
            "transaction_timeout_ms",
            "children",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise FrontConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.dialog_keepalive_s < 30:
            raise FrontConfigError(
                f"dialog_keepalive_s must be 30 or more (Kamailio's minimum), got {self.dialog_keepalive_s}"
            )
        if self.cell_maxload < 0:
            raise FrontConfigError(f"cell_maxload must be 0 or more, got {self.cell_maxload}")
        if not -5 <= self.log_level <= 4:
            raise FrontConfigError(f"log_level {self.log_level} is outside -5..4")
        if len(str(self.rpc_socket).encode()) > 100:  # sun_path holds 108 bytes
            raise FrontConfigError(f"runtime_dir {self.runtime_dir} is too long for a unix socket path")
        for path in (self.runtime_dir, self.modules_dir):
            if '"' in str(path) or "\n" in str(path):
                raise FrontConfigError(f"path {path} must not contain quotes or newlines")


def _check_ip(name: str, value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise FrontConfigError(f"{name} {value!r} must be an IP address") from None


def _check_db_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname or not parts.path.strip("/"):
        raise FrontConfigError(f"db_url {url!r} must look like postgres://user:pass@host:port/db")
    if any(c in url for c in '"\n\\ '):
        raise FrontConfigError("db_url must not contain quotes, backslashes, spaces or newlines")


def kamailio_db_url(url: str) -> str:
    """Kamailio's db_postgres wants the postgres:// scheme; asyncpg accepts both."""
    parts = urlsplit(url)
    return "postgres" + url[len(parts.scheme) :]


def render_dispatcher_list(params: FrontParams) -> str:
    """Dispatcher set 1: one line per cell, with the unique id (duid) that call-load balancing needs."""
    lines = ["# setid destination flags priority attributes; rendered by hotline.front"]
    for index, cell in enumerate(params.cells, start=1):
        attrs = f"duid=cell{index}"
        if params.cell_maxload:
            attrs += f";maxload={params.cell_maxload}"
        lines.append(f"1 {cell.uri} 0 0 {attrs}")
    return "\n".join(lines) + "\n"


def _scanner_regex(scanners: tuple[str, ...]) -> str:
    # POSIX extended regex; the user agent is lower-cased before matching.
    return "|".join(re.sub(r"([.+/])", r"[\1]", s) for s in scanners) or "^hotline-front-no-scanners$"


@cache
def _template() -> str:
    return TEMPLATE.read_text(encoding="utf-8")


def render_config(params: FrontParams) -> str:
    """The complete kamailio.cfg for these parameters."""
    advertise = f" advertise {params.advertise}" if params.advertise else ""
    aliases = "\n".join(f"alias={a}" for a in params.aliases)
    values = {
        "SERVICE_NUMBER": params.service_number,
        "REALM": params.realm,
        "DB_URL": kamailio_db_url(params.db_url),
        "HTTP_HOST": params.http_host,
        "HTTP_PORT": str(params.http_port),
        "SIP_HOST": params.sip_host,
        "SIP_PORT": str(params.sip_port),
        "ADVERTISE": advertise,
        "ALIASES": aliases,
        "TRUSTED_NETS": ",".join(params.trusted_networks),
        "SCANNER_REGEX": _scanner_regex(params.scanners),
        "CELL_TIMEOUT_MS": str(params.cell_timeout_ms),
        "CELL_RING_TIMEOUT_MS": str(params.cell_ring_timeout_ms),
        "AGENT_RING_TIMEOUT_MS": str(params.agent_ring_timeout_ms),
        "FR_TIMEOUT_MS": str(params.transaction_timeout_ms),
        "LOG_LEVEL": str(params.log_level),
        "CHILDREN": str(params.children),
        "MODULES_DIR": str(params.modules_dir),
        "RUNTIME_DIR": str(params.runtime_dir),
        "DISPATCHER_LIST": str(params.dispatcher_list),
        "PIKE_WINDOW_S": str(params.pike_window_s),
        "PIKE_DENSITY": str(params.pike_density),
        "AUTH_ACCOUNT_FAILURES": str(params.auth_account_failures),
        "AUTH_SOURCE_FAILURES": str(params.auth_source_failures),
        "AUTH_WINDOW_S": str(params.auth_window_s),
        "AUTH_LOCK_S": str(params.auth_lock_s),
        "AUTH_EXEMPT": (
            f'#!define AUTH_EXEMPT_NETS "{",".join(params.auth_exempt_networks)}"'
            if params.auth_exempt_networks
            else ""
        ),
        "PING_INTERVAL_S": str(params.ping_interval_s),
        "DLG_KA_INTERVAL_S": str(params.dialog_keepalive_s),
        "RETRY_AFTER_S": str(params.retry_after_s),
        "PROBING_THRESHOLD": str(params.probing_threshold),
        "OUTBOUND_GATEWAY": f'#!define OUTBOUND_GW "sip:{params.outbound_gateway}"' if params.outbound_gateway else "",
    }

    def substitute(match: re.Match[str]) -> str:
        return values[match.group(1)]

    try:
        return _PLACEHOLDER.sub(substitute, _template())
    except KeyError as exc:  # a placeholder in the template without a value: a bug here, not bad input
        raise FrontConfigError(f"template {TEMPLATE} uses unknown placeholder {exc}") from None
