"""``confsvc admin list | show | archive | delete`` on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from confsvc.cli.main import main
from confsvc.core.agenda import parse_agenda
from confsvc.core.errors import InvalidState
from confsvc.core.events import SYSTEM, Command, Principal
from confsvc.core.roles import Role
from confsvc.service import Hubs
from confsvc.store import NewRecord, OutboxRow, open_store
from tests.conftest import SAMPLE

CID = "weifang-olsztyn-2020"
OTHER = "other-conference"
HOST = Principal(role=Role.HOST, invite="inv-host")


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: Any, tmp_path: Path) -> Iterator[str]:
    """A store with the sample conference (started, one outbox row) and another one."""
    if request.param == "sqlite":
        dsn = str(tmp_path / "admin.db")
        asyncio.run(_seed(dsn))
        yield dsn
        return
    base = os.environ.get("CONFSVC_TEST_POSTGRES")
    if not base:
        pytest.skip("CONFSVC_TEST_POSTGRES is not set (no PostgreSQL for this run)")
    schema = f"admintest_{secrets.token_hex(4)}"
    asyncio.run(_pg(base, f"CREATE SCHEMA {schema}"))
    try:
        dsn = f"{base}{'&' if '?' in base else '?'}search_path={schema}"
        asyncio.run(_seed(dsn))
        yield dsn
    finally:
        asyncio.run(_pg(base, f"DROP SCHEMA {schema} CASCADE"))


async def _pg(dsn: str, sql: str) -> None:
    import asyncpg

    con = await asyncpg.connect(dsn)
    try:
        await con.execute(sql)
    finally:
        await con.close()


async def _seed(dsn: str) -> None:
    store = await open_store(dsn)
    try:
        hubs = Hubs(store)
        hub, _ = await hubs.create_or_resume(parse_agenda(SAMPLE.read_bytes()))
        await hub.execute(HOST, Command(name="ros.start", args={}))
        seq = await store.last_seq(CID)
        record = NewRecord(type="t.mail_queued", at=2000.0, actor="system", data={})
        await store.append(CID, seq, [record], outbox=[OutboxRow(key="k1", payload={"to": []})])
        await store.append(OTHER, 0, [NewRecord(type="t.other", at=1000.0, actor="x", data={})])
    finally:
        await store.close()


def admin(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["admin", *args])
    out, err = capsys.readouterr()
    return code, out, err


def counts(dsn: str, cid: str) -> tuple[int, int]:
    async def run() -> tuple[int, int]:
        store = await open_store(dsn)
        try:
            events = len(await store.read(cid))
            rows = await store.outbox_sql(  # type: ignore[attr-defined]
                "SELECT count(*) FROM outbox WHERE conference = ?", (cid,), write=False
            )
            return events, int(rows[0][0])
        finally:
            await store.close()

    return asyncio.run(run())


def test_list_prints_id_title_status_events_and_last_activity(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = admin(capsys, "list", "--db", db, "--json")
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)}
    assert set(rows) == {CID, OTHER}
    assert rows[CID]["status"] == "running"
    assert rows[CID]["title"].startswith("Weifang–Olsztyn")
    assert rows[CID]["events"] == counts(db, CID)[0]
    assert rows[CID]["last_activity"] == 2000.0
    assert rows[OTHER]["status"] == "no agenda"

    code, out, _ = admin(capsys, "list", "--db", db)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "TITLE", "STATUS", "EVENTS", "LAST", "ACTIVITY"]
    mine = next(line for line in lines if line.startswith(CID))
    assert " running " in mine and mine.endswith("1970-01-01 00:33 UTC")


def test_show_names_sites_items_and_mail(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = admin(capsys, "show", "--conference", CID, "--db", db, "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["sites"] == ["warsaw", "olsztyn", "weifang"]
    assert shown["items"] == 8
    assert shown["outbox"] == {"queued": 1}
    assert shown["event_types"]["t.mail_queued"] == 1


def test_unknown_conference_is_named_with_those_the_store_has(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = admin(capsys, "show", "--conference", "nope", "--db", db)
    assert code == 1
    assert out == ""
    assert err == f"confsvc admin show: no conference 'nope' in {db} (it has: {OTHER}, {CID})\n"


def test_delete_without_yes_says_what_it_would_delete_and_keeps_it(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = counts(db, CID)
    code, out, err = admin(capsys, "delete", "--conference", CID, "--db", db)
    assert code == 1
    assert out == ""
    assert (
        f"would delete conference {CID} from {db}: {before[0]} events, 1 outbox rows; "
        "run again with --yes" in err
    )
    assert counts(db, CID) == before


def test_delete_with_yes_removes_events_and_outbox_of_that_conference_only(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    events, outbox = counts(db, CID)
    assert (events, outbox) != (0, 0)
    code, out, _ = admin(capsys, "delete", "--conference", CID, "--db", db, "--yes", "--json")
    assert code == 0
    assert json.loads(out) == {
        "id": CID,
        "deleted": True,
        "removed": {"events": events, "outbox": outbox},
    }
    assert counts(db, CID) == (0, 0)
    assert counts(db, OTHER) == (1, 0)
    code, out, _ = admin(capsys, "list", "--db", db, "--json")
    assert [r["id"] for r in json.loads(out)] == [OTHER]


def test_archive_refuses_commands_but_report_and_export_still_work(
    db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = admin(capsys, "archive", "--conference", CID, "--db", db)
    assert code == 0
    assert out.startswith(f"{CID}: archived")
    code, out, _ = admin(capsys, "archive", "--conference", CID, "--db", db, "--json")
    assert code == 0
    assert json.loads(out)["changed"] is False
    code, out, _ = admin(capsys, "show", "--conference", CID, "--db", db, "--json")
    assert json.loads(out)["status"] == "archived"
    assert json.loads(out)["event_types"]["conference.archived"] == 1

    async def resume_and_command() -> tuple[str, str]:
        store = await open_store(db)
        try:
            hub, what = await Hubs(store).create_or_resume(parse_agenda(SAMPLE.read_bytes()))
            with pytest.raises(InvalidState) as refused:
                await hub.execute(HOST, Command(name="ros.next", args={}))
            with pytest.raises(InvalidState):
                await hub.execute(SYSTEM, Command(name="ros.end", args={}))
            return what, refused.value.message
        finally:
            await store.close()

    what, message = asyncio.run(resume_and_command())
    assert what.startswith("archived")
    assert message == f"conference {CID!r} is archived: it takes no more commands"

    argv = ["report", "--conference", CID, "--db", db, "--format", "json"]
    report = subprocess.run(
        [sys.executable, "-m", "confsvc", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["conference"]["id"] == CID
    export = tmp_path / "export.json"
    assert main(["export", "--conference", CID, "--db", db, "-o", str(export)]) == 0
    assert "conference.archived" in export.read_text("utf-8")
