"""``hotline backup``, ``hotline restore`` and ``hotline retention run``.

A backup is a folder ``hotline-backup-<UTC stamp>/`` holding ``database.dump`` (pg_dump's custom format of the
configured database), ``recordings.tar`` (the recordings folder, paths relative to it) and ``manifest.json``
(what was backed up, from where, when, the schema's migrations, and each file's size and SHA-256). ``restore``
checks every checksum before it touches anything, then restores the dump into the configured database (which
must be empty, or ``--replace`` it) and unpacks the recordings into the configured folder.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from hotline import __version__
from hotline.config import Settings
from hotline.errors import HotlineError

MANIFEST = "manifest.json"
DUMP = "database.dump"
RECORDINGS = "recordings.tar"
FORMAT = "hotline-backup/1"


def register(sub: Any) -> None:
    """Add ``backup``, ``restore`` and ``retention`` to the ``hotline`` parser's subcommands."""
    b = sub.add_parser(
        "backup",
        help="back up the database (pg_dump) and the recordings, with a manifest and checksums",
        description="Writes hotline-backup-<UTC time>/ under --out (default: <state_dir>/backups): database.dump "
        "(pg_dump -Fc), recordings.tar and manifest.json with each file's SHA-256.",
    )
    b.add_argument("--out", type=Path, metavar="DIR", help="where the backup folder goes")
    b.set_defaults(run=_backup)
    r = sub.add_parser(
        "restore",
        help="restore a backup made by `hotline backup` (checksums checked first)",
        description="Checks the manifest's checksums, then restores the database dump into the configured "
        "database and the recordings into sip.recordings_dir. The database must have no tables unless "
        "--replace is given (its objects are then dropped and recreated from the dump).",
    )
    r.add_argument("folder", type=Path, help="a hotline-backup-* folder")
    r.add_argument("--replace", action="store_true", help="replace a database that already has tables")
    r.set_defaults(run=_restore)
    ret = sub.add_parser("retention", help="retention of recordings, transcripts, call records and the audit log")
    ret_sub = ret.add_subparsers(dest="retention_command", metavar="ACTION", required=True)
    run = ret_sub.add_parser(
        "run",
        help="delete now what the retention.* periods have expired (what `hotline up` does daily); audited",
    )
    run.set_defaults(run=_retention)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pg_env(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """libpq connection options for pg_dump / pg_restore: the password goes in the environment, never argv."""
    from urllib.parse import unquote, urlsplit

    from db.pool import describe

    url = settings.database.url.get_secret_value() if settings.database.url is not None else None
    target = describe(url)
    env = dict(os.environ)
    if url is not None:
        password = urlsplit(url).password
        if password:
            env["PGPASSWORD"] = unquote(password)
    args = ["--host", target.host, "--port", str(target.port), "--username", target.user, "--dbname", target.database]
    return args, env


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    tool = shutil.which(cmd[0])
    if tool is None:
        raise HotlineError(f"{what}: {cmd[0]} is not installed (scripts/setup-system.sh installs postgresql-client)")
    done = subprocess.run([tool, *cmd[1:]], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()][-5:]
        raise HotlineError(f"{what} failed ({cmd[0]} exit {done.returncode}): " + " | ".join(lines))


async def _backup(args: argparse.Namespace, settings: Settings) -> int:
    from db import migrate
    from db.pool import connect
    from hotline.clock import from_environment

    now = from_environment().now().astimezone(dt.UTC)
    conn = await connect(settings)
    try:
        plan = await migrate.plan(conn)
    finally:
        await conn.close()
    if plan.pending:
        raise HotlineError("backup: the schema has pending migrations; run `hotline migrate` first")
    applied = [m.filename for m in plan.applied]
    out_dir, size, count = await asyncio.to_thread(_write_backup, settings, args.out, applied, now)
    print(f"backup written: {out_dir} ({size} bytes; {count} recording file(s); {len(applied)} migrations)")
    return 0


def _write_backup(settings: Settings, out: Path | None, applied: list[str], now: dt.datetime) -> tuple[Path, int, int]:
    """The backup folder, written under a .part name and renamed once complete: (folder, bytes, recordings)."""
    from db.pool import database_name

    out_dir = (out or Path(settings.state_dir) / "backups") / f"hotline-backup-{now:%Y%m%dT%H%M%SZ}"
    part = out_dir.with_name(out_dir.name + ".part")
    if out_dir.exists():
        raise HotlineError(f"backup: {out_dir} already exists")
    part.mkdir(parents=True)
    try:
        conn_args, env = _pg_env(settings)
        _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(part / DUMP), *conn_args], env, "pg_dump")
        recordings = Path(settings.sip.recordings_dir)
        count = _pack(recordings, part / RECORDINGS)
        files: dict[str, dict[str, Any]] = {
            name: {"bytes": (part / name).stat().st_size, "sha256": _sha256(part / name)} for name in (DUMP, RECORDINGS)
        }
        manifest = {
            "format": FORMAT,
            "hotline": __version__,
            "created_at": now.isoformat(),
            "database": database_name(settings),
            "migrations": applied,
            "recordings_dir": str(recordings.resolve()),
            "recordings": count,
            "files": files,
        }
        (part / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        part.rename(out_dir)
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    return out_dir, sum(int(f["bytes"]) for f in files.values()), count


def _pack(recordings: Path, tar_path: Path) -> int:
    """The recordings folder into a tar (paths relative to it); how many files."""
    count = 0
    with tarfile.open(tar_path, "w") as tar:
        if recordings.is_dir():
            for path in sorted(recordings.rglob("*")):
                if path.is_file() and not path.name.endswith(".part.wav"):
                    tar.add(path, arcname=str(path.relative_to(recordings)))
                    count += 1
    return count


def _verified(folder: Path) -> dict[str, Any]:
    """The manifest, once every file it lists has its size and checksum; HotlineError naming the first that
    does not."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HotlineError(f"restore: {folder} has no {MANIFEST}: expected a folder made by `hotline backup`") from None
    except ValueError as exc:
        raise HotlineError(f"restore: {folder / MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise HotlineError(f"restore: {folder / MANIFEST}: expected format {FORMAT!r}")
    for name, facts in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise HotlineError(f"restore: {path} is missing")
        if path.stat().st_size != facts["bytes"] or _sha256(path) != facts["sha256"]:
            raise HotlineError(f"restore: {path} does not match its checksum in the manifest (damaged or changed)")
    if set(manifest.get("files", {})) != {DUMP, RECORDINGS}:
        raise HotlineError(f"restore: {folder / MANIFEST} must list {DUMP} and {RECORDINGS}")
    return manifest


async def _restore(args: argparse.Namespace, settings: Settings) -> int:
    from db import migrate
    from db.pool import connect

    folder: Path = args.folder
    manifest = await asyncio.to_thread(_verified, folder)
    conn = await connect(settings)
    try:
        tables = await migrate.table_count(conn)
    finally:
        await conn.close()
    if tables and not args.replace:
        raise HotlineError(
            f"restore: the configured database already has {tables} table(s); restore into an empty database, or "
            "give --replace to drop its objects and recreate them from the backup"
        )
    conn_args, env = _pg_env(settings)
    cmd = ["pg_restore", "--no-owner", "--exit-on-error", "--single-transaction", *conn_args]
    if tables:
        cmd += ["--clean", "--if-exists"]
    await asyncio.to_thread(_run, [*cmd, str(folder / DUMP)], env, "pg_restore")
    recordings = Path(settings.sip.recordings_dir)
    count = await asyncio.to_thread(_unpack, folder / RECORDINGS, recordings)
    print(
        f"restored {folder.name}: database from {manifest['created_at']} ({len(manifest['migrations'])} migrations), "
        f"{count} recording file(s) into {recordings}"
    )
    if manifest["recordings_dir"] != await asyncio.to_thread(lambda: str(recordings.resolve())):
        print(
            f"note: the recordings were in {manifest['recordings_dir']} when backed up; the database's recording "
            "paths still name that folder"
        )
    return 0


def _unpack(tar_path: Path, recordings: Path) -> int:
    recordings.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar_path, "r") as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        tar.extractall(recordings, members=members, filter="data")  # no absolute paths, no links out
    return len(members)


async def _retention(_args: argparse.Namespace, settings: Settings) -> int:
    from db.pool import connect_current
    from hotline.clock import from_environment
    from hotline.retention import run_once

    conn = await connect_current(settings)
    try:
        deleted = await run_once(conn, settings, from_environment().now())
    finally:
        await conn.close()
    print(f"retention: deleted {deleted.summary()}")
    for path in deleted.missing_files[:10]:
        print(f"note: {path} was already gone")
    return 0
