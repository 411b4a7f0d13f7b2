"""The embedded Prometheus of `hotline up` (prometheus.enabled): Debian's `prometheus` with the project's rules,
scraping this node's /metrics and Kamailio's, data under state_dir/prometheus. A site with its own Prometheus
turns it off (`hotline up --no-prometheus`, or prometheus.enabled: false) and uses monitoring/prometheus/."""

from __future__ import annotations

import asyncio
import logging
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from hotline.config import Settings
from hotline.errors import HotlineError
from hotline.supervisor.children import Child, ChildSpec

log = logging.getLogger(__name__)

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"


def rules_dir(settings: Settings) -> Path:
    return settings.prometheus.rules_dir or MONITORING / "prometheus" / "rules"


def config(settings: Settings) -> dict[str, Any]:
    """The embedded Prometheus's configuration: the same jobs and rules as monitoring/prometheus/prometheus.yml,
    at this node's ports."""
    interval = f"{settings.prometheus.scrape_interval_s}s"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(p) for p in sorted(rules_dir(settings).glob("*.yml"))],
        "scrape_configs": [
            {
                "job_name": "hotline",
                "static_configs": [{"targets": [f"{settings.metrics.host}:{settings.metrics.port}"]}],
            },
            {
                "job_name": "kamailio",
                "static_configs": [{"targets": [f"127.0.0.1:{settings.sip.kamailio_http_port}"]}],
            },
        ],
    }


class PrometheusChild:
    """Writes the configuration and runs Prometheus as a supervised child; ready when /-/ready answers."""

    def __init__(self, settings: Settings) -> None:
        p = settings.prometheus
        binary = shutil.which(p.binary)
        if binary is None:
            raise HotlineError(
                f"prometheus.binary {p.binary!r} not found (install Debian's prometheus: `make setup`, "
                "or start with --no-prometheus)"
            )
        self.home = Path(settings.state_dir).resolve() / "prometheus"
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file = self.home / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(config(settings), sort_keys=False), encoding="utf-8")
        self.url = f"http://{p.host}:{p.port}"
        self.child = Child(
            ChildSpec(
                name="prometheus",
                argv=[
                    binary,
                    f"--config.file={self.config_file}",
                    f"--storage.tsdb.path={self.home / 'data'}",
                    f"--storage.tsdb.retention.time={p.retention}",
                    f"--web.listen-address={p.host}:{p.port}",
                    "--web.enable-lifecycle",
                    "--log.level=warn",
                ],
                cwd=str(self.home),
                ready=self._ready,
                ready_timeout=30,
                stop_timeout=15,
            )
        )

    async def _ready(self) -> bool:
        return await asyncio.to_thread(self._get_ready)

    def _get_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    async def start(self) -> None:
        await self.child.start()
        log.info("prometheus on %s (rules from %s)", self.url, self.config_file)

    async def stop(self) -> None:
        await self.child.stop()

    def health(self) -> dict[str, Any]:
        return {**self.child.health(), "url": self.url}
