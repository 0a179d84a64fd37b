"""The backup recipes of docs/operations.md, run as written: SQLite's ``VACUUM INTO`` (and
``.backup``) while ``confsvc serve`` runs, PostgreSQL's pg_dump/pg_restore; the copies,
with the signing secret, open and serve the same conference and invite links."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from confsvc.core.roles import Role, issue_invite
from tests.conftest import SAMPLE

CID = "weifang-olsztyn-2020"
SECRET = b"backup-test-secret-backup-test-secret-0123456789"


def serve(db: str, secret: Path, cwd: Path) -> tuple[subprocess.Popen[str], int]:
    argv = ["serve", "--agenda", str(SAMPLE), "--db", db, "--secret-file", str(secret)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFSVC_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "confsvc", *argv, "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )
    assert proc.stderr is not None
    seen = []
    for _ in range(200):
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(r"listening on 127\.0\.0\.1 port (\d+)", line)
        if found:
            return proc, int(found.group(1))
    proc.kill()
    proc.wait()
    pytest.fail("confsvc serve did not start:\n" + "".join(seen))


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def state(port: int) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/api/v1/conferences/{CID}/state"
    with urllib.request.urlopen(url, timeout=10) as resp:
        body: dict[str, Any] = json.load(resp)
    return body


def stable(body: dict[str, Any]) -> dict[str, Any]:
    """The state without the run of show's clock-derived figures (now, predictions)."""
    views = dict(body["views"])
    views["ros"] = {"status": views["ros"]["status"], "items": len(views["ros"]["items"])}
    return {"seq": body["seq"], "views": views}


def join_status(port: int, token: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/j/{token}", timeout=10) as resp:
        return int(resp.status)


def issue(role: Role) -> str:
    return issue_invite(SECRET, conference=CID, role=role, now=time.time())[1]


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "confsvc.secret"
    path.write_bytes(SECRET + b"\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def running(tmp_path: Path, secret: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    db = tmp_path / "live" / "confsvc.db"
    db.parent.mkdir()
    proc, port = serve(str(db), secret, tmp_path)
    try:
        yield proc, port, db
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="Debian's sqlite3 is not installed")
def test_sqlite_copies_taken_while_serving_open_and_serve(
    running: tuple[subprocess.Popen[str], int, Path], secret: Path, tmp_path: Path
) -> None:
    proc, port, db = running
    live = state(port)
    assert live["seq"] >= 1
    token = issue(Role.MODERATOR)
    assert join_status(port, token) == 200
    copies = tmp_path / "backup"
    copies.mkdir()
    # The two recipes of docs/operations.md, while the server runs and holds the file.
    vacuumed = copies / "vacuum.db"
    subprocess.run(["sqlite3", str(db), f"VACUUM INTO '{vacuumed}'"], check=True, timeout=60)
    backed = copies / "backup.db"
    subprocess.run(["sqlite3", str(db), f".backup '{backed}'"], check=True, timeout=60)
    assert stop(proc) == 0

    for copy in (vacuumed, backed):
        check = subprocess.run(
            ["sqlite3", str(copy), "PRAGMA integrity_check"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert check.stdout.strip() == "ok"
        restored, restored_port = serve(str(copy), secret, tmp_path)
        try:
            again = state(restored_port)
            assert again["seq"] == live["seq"]
            assert stable(again) == stable(live)
            assert join_status(restored_port, token) == 200  # the same secret: links work
        finally:
            assert stop(restored) == 0


def test_postgres_pg_dump_and_pg_restore_round_trip(secret: Path, tmp_path: Path) -> None:
    base = os.environ.get("CONFSVC_TEST_POSTGRES")
    if not base:
        pytest.skip("CONFSVC_TEST_POSTGRES is not set (no PostgreSQL for this run)")
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump/pg_restore are not installed (Debian's postgresql-client)")
    import asyncio

    import asyncpg

    name = secrets.token_hex(4)
    source, target = f"bk_src_{name}", f"bk_dst_{name}"

    async def admin(sql: str) -> None:
        con = await asyncpg.connect(base)
        try:
            await con.execute(sql)
        finally:
            await con.close()

    def dsn(db: str) -> str:
        return urlsplit(base)._replace(path=f"/{db}").geturl()

    asyncio.run(admin(f"CREATE DATABASE {source}"))
    asyncio.run(admin(f"CREATE DATABASE {target}"))
    try:
        proc, port = serve(dsn(source), secret, tmp_path)
        try:
            live = state(port)
            dump = tmp_path / "confsvc.dump"
            # docs/operations.md: pg_dump while serving (one consistent snapshot).
            subprocess.run(
                ["pg_dump", "--format=custom", f"--file={dump}", dsn(source)],
                check=True,
                timeout=120,
            )
        finally:
            assert stop(proc) == 0
        subprocess.run(
            ["pg_restore", "--no-owner", f"--dbname={dsn(target)}", str(dump)],
            check=True,
            timeout=120,
        )
        restored, restored_port = serve(dsn(target), secret, tmp_path)
        try:
            again = state(restored_port)
            assert again["seq"] == live["seq"]
            assert stable(again) == stable(live)
        finally:
            assert stop(restored) == 0
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {source} WITH (FORCE)"))
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {target} WITH (FORCE)"))
