"""Kamailio as a child process: render the config, check it, start it, wait for SIP, query it, stop it.

A `KamailioProcess` is owned by one asyncio event loop and is not thread-safe. It renders everything
into `params.runtime_dir` (config, dispatcher list, pid file, log file, JSON-RPC socket and FIFO).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from hotline.errors import HotlineError
from hotline.front.kamailio import FrontParams, render_config, render_dispatcher_list
from hotline.front.probe import sip_options

DEFAULT_KAMAILIO = Path("/usr/sbin/kamailio")
log = logging.getLogger(__name__)


class KamailioError(HotlineError):
    """Kamailio refused the config, did not start, or did not answer."""


@dataclass(frozen=True)
class AuthLock:
    """One item of the front's `authlock` table: an account locked from a source (`acct::USER::IP`) or a source
    banned from every account (`src::IP`)."""

    kind: str  # "account" or "source"
    source: str
    username: str | None = None

    @property
    def key(self) -> str:
        return f"acct::{self.username}::{self.source}" if self.kind == "account" else f"src::{self.source}"

    @classmethod
    def from_key(cls, key: str) -> AuthLock | None:
        if key.startswith("src::"):
            return cls("source", key[len("src::") :])
        if key.startswith("acct::"):
            username, sep, source = key[len("acct::") :].partition("::")
            return cls("account", source, username) if sep else None
        return None


class KamailioRpcError(KamailioError):
    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"kamailio rpc {method}: {code} {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CellStatus:
    uri: str
    flags: str  # Kamailio's: A active, I inactive, D disabled, T trying; P probing, X none
    duid: str | None
    load: int  # calls in progress through this cell (call-load algorithm)

    @property
    def active(self) -> bool:
        return self.flags.startswith("A") or self.flags.startswith("T")


def _open_append(path: Path) -> BinaryIO:
    return open(path, "ab")  # the caller closes it once the child holds its own descriptor


def _error_lines(output: str, limit: int = 12) -> str:
    lines = [ln.strip() for ln in output.splitlines() if "ERROR" in ln or "CRITICAL" in ln or "error" in ln]
    return "\n".join((lines or output.strip().splitlines())[-limit:])


class KamailioProcess:
    """One Kamailio front. `start()` returns once it answers SIP OPTIONS; `stop()` ends it."""

    def __init__(
        self,
        params: FrontParams,
        kamailio_bin: Path = DEFAULT_KAMAILIO,
        start_timeout: float = 15.0,
        rpc_timeout: float = 3.0,
    ) -> None:
        self.params = params
        self.kamailio_bin = kamailio_bin
        self.start_timeout = start_timeout
        self.rpc_timeout = rpc_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        """None while running (or never started), else the exit status (negative: killed by that signal)."""
        return self._proc.returncode if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def render(self) -> Path:
        """Write the config and the dispatcher list into the runtime dir; the config path."""
        p = self.params
        p.runtime_dir.mkdir(parents=True, exist_ok=True)
        p.dispatcher_list.write_text(render_dispatcher_list(p), encoding="utf-8")
        p.config_file.write_text(render_config(p), encoding="utf-8")
        return p.config_file

    async def check_config(self) -> None:
        """`kamailio -c`; raises KamailioError quoting Kamailio's complaint if the config is refused."""
        config = self.render()
        proc = await asyncio.create_subprocess_exec(
            str(self.kamailio_bin),
            "-c",
            "-f",
            str(config),
            "-Y",
            str(self.params.runtime_dir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        text = out.decode(errors="replace")
        if proc.returncode != 0:
            raise KamailioError(f"kamailio rejected {config} (exit {proc.returncode}):\n{_error_lines(text)}")

    async def start(self) -> None:
        if self.running:
            raise KamailioError("kamailio is already running")
        await self.check_config()
        p = self.params
        with contextlib.suppress(FileNotFoundError):
            p.pid_file.unlink()
        with _open_append(p.log_file) as log:
            self._proc = await asyncio.create_subprocess_exec(
                str(self.kamailio_bin),
                "-DD",
                "-E",
                "-f",
                str(p.config_file),
                "-Y",
                str(p.runtime_dir),
                "-P",
                str(p.pid_file),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group, so stop() can reap every worker
            )
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        assert self._proc is not None
        while loop.time() < deadline:
            if self._proc.returncode is not None:
                raise KamailioError(f"kamailio exited with {self._proc.returncode} while starting:\n{self.log_tail()}")
            status = await sip_options(self.params.sip_host, self.params.sip_port, wait=0.5)
            if status is not None and self.params.rpc_socket.exists():
                return
            await asyncio.sleep(0.1)
        raise KamailioError(
            f"kamailio did not answer OPTIONS on {self.params.sip_host}:{self.params.sip_port} "
            f"within {self.start_timeout:.0f} s:\n{self.log_tail()}"
        )

    async def wait(self) -> int:
        """Wait until the Kamailio main process exits; its exit status."""
        if self._proc is None:
            raise KamailioError("kamailio was never started")
        return await self._proc.wait()

    async def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL to the whole process group after `grace` seconds. The exit status."""
        proc = self._proc
        if proc is None:
            return None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        # Workers left behind by a crashed main process share its process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.returncode

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.params.log_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    async def rpc(self, method: str, *params: Any) -> Any:
        """Call a Kamailio RPC command over the JSON-RPC datagram socket; its `result`."""
        request = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": next(self._ids)}
        reply = await asyncio.to_thread(self._rpc_blocking, json.dumps(request).encode())
        if "error" in reply:
            error = reply["error"]
            raise KamailioRpcError(method, int(error.get("code", 0)), str(error.get("message", "")))
        return reply.get("result")

    def _rpc_blocking(self, payload: bytes) -> dict[str, Any]:
        with (
            tempfile.TemporaryDirectory(prefix="kamrpc-") as tmp,
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s,
        ):
            s.bind(os.path.join(tmp, "reply.sock"))
            s.settimeout(self.rpc_timeout)
            try:
                s.sendto(payload, str(self.params.rpc_socket))
                data = s.recv(1 << 20)
            except OSError as exc:
                raise KamailioError(f"kamailio rpc socket {self.params.rpc_socket}: {exc}") from exc
        result: dict[str, Any] = json.loads(data)
        return result

    async def dispatcher_status(self) -> list[CellStatus]:
        """State of every cell in dispatcher set 1, in Kamailio's order."""
        try:
            result = await self.rpc("dispatcher.list")
        except KamailioRpcError as exc:
            if "no destination sets" in exc.message.lower():  # started without cells
                return []
            raise
        cells: list[CellStatus] = []
        for record in (result or {}).get("RECORDS", []):
            dset = record.get("SET", {})
            if dset.get("ID") != 1:
                continue
            for target in dset.get("TARGETS", []):
                dest = target["DEST"]
                attrs = dest.get("ATTRS") or {}
                runtime = dest.get("RUNTIME") or {}
                cells.append(
                    CellStatus(
                        uri=dest["URI"],
                        flags=dest["FLAGS"],
                        duid=attrs.get("DUID"),
                        load=int(runtime.get("DLGLOAD", 0)),
                    )
                )
        return cells

    async def auth_locks(self) -> list[AuthLock]:
        """The authentication locks in force: accounts locked from a source, and banned sources."""
        locks: list[AuthLock] = []
        for entry in await self.rpc("htable.dump", "authlock") or []:
            for item in entry.get("slot", []):
                lock = AuthLock.from_key(str(item.get("name", "")))
                if lock is not None:
                    locks.append(lock)
        return sorted(locks, key=lambda lock: (lock.kind, lock.username or "", lock.source))

    async def unlock(self, username: str | None = None, source: str | None = None) -> list[AuthLock]:
        """Lift the locks of an account (from every source, or from `source`) or the ban of a source, and forget
        their failure counts; the locks lifted."""
        lifted = [
            lock
            for lock in await self.auth_locks()
            if (username is not None and lock.username == username and source in (None, lock.source))
            or (username is None and lock.kind == "source" and lock.source == source)
        ]
        for lock in lifted:
            await self._forget("authlock", lock.key)
        for entry in await self.rpc("htable.dump", "authfail") or []:
            for item in entry.get("slot", []):
                found = AuthLock.from_key(str(item.get("name", "")))
                if found is not None and any(found.key == lock.key for lock in lifted):
                    await self._forget("authfail", found.key)
        return lifted

    async def _forget(self, table: str, key: str) -> None:
        with contextlib.suppress(KamailioRpcError):  # expired meanwhile
            await self.rpc("htable.delete", table, key)

    async def end_dialogs(self, cell: str) -> int:
        """End every call the front holds with `cell` (host:port, the dialog profile set when it answered): a BYE
        to the caller and to the cell. For a cell that died, so its callers do not sit in dead air."""
        try:
            found = await self.rpc("dlg.profile_list", "cell", cell) or []
        except KamailioRpcError as exc:
            if "not found" in exc.message.lower() or exc.code == 404:
                return 0
            raise
        ended = 0
        for dialog in found:
            try:
                await self.rpc("dlg.end_dlg", int(dialog["h_entry"]), int(dialog["h_id"]))
                ended += 1
            except KamailioRpcError as exc:  # it ended by itself meanwhile
                log.info("dialog %s of %s not ended: %s", dialog.get("call-id"), cell, exc.message)
        return ended

    async def contacts(self, username: str) -> list[str]:
        """Contact URIs registered for an agent username; empty if it is not registered."""
        try:
            result = await self.rpc("ul.lookup", "location", username)
        except KamailioRpcError as exc:
            if exc.code == 404 or "not found" in exc.message.lower():  # 5.6 answers 500 "AOR not found"
                return []
            raise
        return [c["Contact"]["Address"] for c in (result or {}).get("Contacts", [])]
