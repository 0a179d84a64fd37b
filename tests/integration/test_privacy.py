"""Erasing a person, end to end: the data is made through the real service (WebSocket
commands, an imported question, mail out to an aiosmtpd sink and back to confsvc's SMTP
receiver), then ``confsvc privacy erase`` runs against the same store while the server
runs. Afterwards neither the store's files (SQLite: the raw bytes of the .db, -wal and
-shm files; PostgreSQL: every row's text) nor any output (reports in every format, public
and staff; ``confsvc export``; the questions export; ``confsvc privacy export``; the
public state JSON; a staff console's snapshot) holds the person's name or address, and
the rewritten log folds to the same questions and answers."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
import pytest

from confsvc.cli.main import main
from confsvc.core import privacy as P
from confsvc.core import written as W
from confsvc.core.events import Event
from confsvc.core.questions import questions
from confsvc.core.registry import RULES
from confsvc.core.roles import Role, issue_invite
from confsvc.mail.addresses import reply_address
from confsvc.store import open_store
from tests.conftest import SECRET, Running, WsClient
from tests.fixtures.mail.clients import CLIENTS
from tests.fixtures.mail.smtp import Sink, free_port, start_sink, stop_sink, until

NAME = "Zofia Wiśniewska"
EMAIL = "zofia.wisniewska@example.pl"
OTHER = "Piotr Zieliński"  # asks too, and must still be there afterwards
EPI = "weifang-health-epidemiology"
EPI_MAIL = "epidemiology@weifang-health.example.org"
DOMAIN = "confsvc.localhost"
TERMS = (NAME, EMAIL)


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: Any, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "confsvc.db")
        return
    dsn = os.environ.get("CONFSVC_TEST_POSTGRES")
    if not dsn:
        pytest.skip("CONFSVC_TEST_POSTGRES is not set (no PostgreSQL for this run)")
    # PostgreSQL is shared between runs: a schema of our own holds this test's tables.
    schema = f"privacy_{secrets.token_hex(4)}"
    con = await asyncpg.connect(dsn)
    await con.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{dsn}{'&' if '?' in dsn else '?'}search_path={schema}"
    finally:
        await con.execute(f"DROP SCHEMA {schema} CASCADE")
        await con.close()


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await start_sink()
    # The asker's mail is refused for now: its row stays queued, with the reply as error.
    s.refuse[EMAIL] = f"450 4.2.0 <{EMAIL}> mailbox busy"
    yield s
    await stop_sink(s)


def _state(running: Running) -> Any:
    from confsvc.http.keys import HUBS

    return running.app[HUBS]._hubs[running.conference].state


async def _send(port: int, raw: bytes, sender: str, rcpt: str) -> None:
    await aiosmtplib.send(raw, sender=sender, recipients=[rcpt], hostname="127.0.0.1", port=port)


def _mail_from_her(to: str) -> bytes:
    """A mail from the person herself (Polish name: an encoded word in From)."""
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = Address(NAME, "zofia.wisniewska", "example.pl")
    msg["To"] = to
    msg["Subject"] = f"Pytanie od {NAME}"
    msg["Message-ID"] = "<zofia-1@example.pl>"
    msg.set_content(f"Dzień dobry, tu {NAME}. Czy mogę dopytać?\n-- \n{NAME}\n{EMAIL}\n")
    return msg.as_bytes()


async def _command(ws: WsClient, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """``ws.command`` for arguments called ``name`` (which ``command`` takes itself)."""
    ws._id += 1
    await ws.sock.send_json({"type": "command", "id": ws._id, "name": name, "args": args})
    while True:
        msg = await ws.recv()
        if msg.get("id") == ws._id and msg.get("type") in ("ack", "error"):
            return msg
        ws.inbox.append(msg)


async def _build(running: Running, sink: Sink, smtp_port: int) -> None:
    """Everything that names her, made the way the service makes it."""
    cid = running.conference
    host = await running.ws("host")
    invite, token = issue_invite(
        SECRET, conference=cid, role=Role.PARTICIPANT, name=NAME, now=time.time()
    )
    args = {"id": invite.id, "role": "participant", "expires": invite.expires, "name": NAME}
    assert (await _command(host, "invite.record", args))["type"] == "ack"
    mod = await running.ws("moderator")
    her = await running.ws(None, token=token)
    other = await running.ws("participant")
    # q-1: hers, live; q-2: someone else's, naming her in its text; q-3: hers, imported.
    ask = {"text": "Jak długo trwa kwarantanna?", "name": NAME}
    assert (await _command(her, "q.ask", ask))["type"] == "ack"
    text = f"Following up on {NAME}'s point: who pays for the tests?"
    assert (await _command(other, "q.ask", {"text": text, "name": OTHER}))["type"] == "ack"
    row = {"line": 2, "text": "Czy szkoły będą otwarte?", "language": "pl"}
    row |= {"asker": NAME, "site": "olsztyn", "email": EMAIL}
    assert (await mod.command("q.import", rows=[row]))["type"] == "ack"
    for qid in ("q-1", "q-2"):
        assert (await mod.command("q.approve", id=qid))["type"] == "ack"
    assert (await her.command("q.vote", id="q-2"))["type"] == "ack"
    note = f"Call {NAME} back at {EMAIL}"
    assert (await mod.command("q.note", id="q-1", text=note))["type"] == "ack"
    assert (await mod.command("q.answer", id="q-1", site="weifang"))["type"] == "ack"
    # q-3 goes to an expert by mail (the assignment shows "Asked by: <her name>") ...
    due = time.time() + 86400
    assert (await mod.command("written.assign", question="q-3", expert=EPI, due=due))[
        "type"
    ] == "ack"
    state = _state(running)
    await until(lambda: W.by_id(state)["q-3"].status == "sent", what="assignment sent")
    [out] = await sink.wait_for(1)
    assert NAME in out.msg.get_body(("plain",)).get_content()
    # ... the expert answers by mail, naming her (quoted-printable UTF-8) ...
    build, _ = CLIENTS["gmail"]
    answer = f"Szanowna Pani {NAME}, szkoły będą otwarte od września."
    rto = reply_address(SECRET, cid, "q-3", DOMAIN)
    raw = build(to=rto, sender=EPI_MAIL, in_reply_to=str(out.msg["Message-ID"]), answer=answer)
    await _send(smtp_port, raw, EPI_MAIL, rto)
    await until(lambda: W.by_id(state)["q-3"].status == "answered", what="the answer")
    # ... she writes too (not the expert: quarantined, raw mail kept) ...
    await _send(smtp_port, _mail_from_her(rto), EMAIL, rto)
    await until(lambda: len(W.written_state(state).quarantine) == 1, what="her mail quarantined")
    # ... and the published answer is mailed to her (refused for now: stays queued).
    assert (await mod.command("written.publish", question="q-3"))["type"] == "ack"
    await until(lambda: bool(W.written_state(state).failures), what="the refused mail recorded")
    for ws in (host, mod, her, other):
        await ws.close()


async def _cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def _outputs(running: Running, db: str, out: Path) -> dict[str, str]:
    """Every output confsvc makes of the conference, by name."""
    cid = running.conference
    texts: dict[str, str] = {}
    for fmt in ("html", "md", "json", "csv"):
        for public in (False, True):
            path = out / f"report-{fmt}-{public}"
            argv = ["report", "--conference", cid, "--db", db, "--format", fmt, "-o", str(path)]
            assert await _cli(*argv, *(["--public"] if public else [])) == 0
            texts[path.name] = path.read_text(encoding="utf-8")
    assert await _cli("export", "--conference", cid, "--db", db, "-o", str(out / "export")) == 0
    for fmt in ("csv", "json"):
        path = out / f"questions-{fmt}"
        argv = ["questions", "export", "--conference", cid, "--db", db, "--format", fmt]
        assert await _cli(*argv, "-o", str(path)) == 0
    argv = ["privacy", "export", "--email", EPI_MAIL, "--db", db, "-o", str(out / "px")]
    assert await _cli(*argv) == 0
    assert await _cli("privacy", "export", "--name", OTHER, "--db", db, "-o", str(out / "po")) == 0
    for path in out.iterdir():
        texts[path.name] = path.read_text(encoding="utf-8")
    resp = await running.client.get(f"/api/v1/conferences/{cid}/state")
    assert resp.status == 200
    texts["state"] = await resp.text()
    mod = await running.ws("moderator")
    texts["staff snapshot"] = json.dumps(mod.welcome, ensure_ascii=False)
    await mod.close()
    return texts


def _named(text: str) -> list[str]:
    low = text.casefold()
    return [t for t in TERMS if t.casefold() in low]


def _decoded_mails(events: list[Event]) -> str:
    """Every stored raw mail, decoded (headers and text parts), for searching."""
    raws = [e.data.get("raw") for e in events if e.type == "written.mail_received"]
    return "\n".join(P.mime_text(base64.b64decode(r)) for r in raws if r)


async def _store_text(db: str) -> str:
    """The store as it lies on disk (SQLite) or every row's text (PostgreSQL)."""
    if not db.startswith("postgresql://"):
        return b"".join(
            Path(db + suffix).read_bytes()
            for suffix in ("", "-wal", "-shm")
            if Path(db + suffix).exists()
        ).decode("utf-8", "replace")
    dsn, _, setting = db.partition("?search_path=")
    con = await asyncpg.connect(dsn, server_settings={"search_path": setting})
    try:
        rows = await con.fetch(
            "SELECT e::text FROM events e UNION ALL SELECT o::text FROM outbox o"
        )
    finally:
        await con.close()
    return "\n".join(r[0] for r in rows)


async def _read_log(db: str, cid: str) -> list[Event]:
    store = await open_store(db)
    try:
        return await store.read(cid)
    finally:
        await store.close()


def _figures(events: list[Event]) -> dict[str, Any]:
    state = RULES.new_state(events[0].data["agenda"]["conference"]["id"])
    for e in events:
        RULES.fold(state, e)
    qs = questions(state)
    written = W.by_id(state)
    return {
        "questions": {qid: q.status for qid, q in qs.items.items()},
        "votes": {qid: len(q.voters) for qid, q in qs.items.items()},
        "written": {qid: q.status for qid, q in written.items()},
        "replies": {qid: len(q.replies) for qid, q in written.items()},
        "answers": {qid: q.answer is not None for qid, q in written.items()},
        "quarantine": len(W.written_state(state).quarantine),
    }


async def test_erase_removes_her_from_the_store_files_and_every_output(
    confsvc_app: Callable[..., Any], sink: Sink, db: str, tmp_path: Path
) -> None:
    smtp_port = free_port()
    running = await confsvc_app(
        db=db,
        smtp_out=f"smtp+plain://127.0.0.1:{sink.port}",
        smtp_in=f"127.0.0.1:{smtp_port}",
        mail_domain=DOMAIN,
        organiser_email="organiser@weifang-fao.example.org",
    )
    cid = running.conference
    await _build(running, sink, smtp_port)

    # First make sure there is something that could leak.
    before_dir = tmp_path / "before"
    before_dir.mkdir()
    before = await _outputs(running, db, before_dir)
    assert _named(before["export"]) == list(TERMS)
    assert _named(before["report-html-False"]) != []
    assert _named(await _store_text(db)) == list(TERMS)
    log_before = await _read_log(db, cid)
    assert NAME in _decoded_mails(log_before)
    exported = tmp_path / "her.json"
    argv = ["privacy", "export", "--email", EMAIL, "--db", db, "-o", str(exported)]
    assert await _cli(*argv) == 0
    held = json.loads(exported.read_text(encoding="utf-8"))
    [conf] = held["conferences"]
    assert held["person"]["names"] == [NAME]
    assert [q["id"] for q in conf["questions"]] == ["q-1", "q-3"]
    assert [v["question"] for v in conf["votes"]] == ["q-2"]
    assert [i["name"] for i in conf["invites"]] == [NAME]
    assert [m["from"] for m in conf["mails_received"]] == [EPI_MAIL, EMAIL]
    assert [r["status"] for r in conf["outbox"] if r["to"] == [EMAIL]] == ["queued"]

    assert await _cli("privacy", "erase", "--email", EMAIL, "--db", db, "--yes") == 0

    hub = await running.hub()
    await hub.catch_up()  # the server folds the rewritten log again
    log_after = await _read_log(db, cid)
    assert [e.type for e in log_after] == [e.type for e in log_before] + [P.ERASED_EVENT]
    assert _figures(log_after[:-1]) == _figures(log_before)
    assert _figures(log_after) == _figures(log_before)
    assert _named(await _store_text(db)) == []
    assert _named(_decoded_mails(log_after)) == []
    after_dir = tmp_path / "after"
    after_dir.mkdir()
    after = await _outputs(running, db, after_dir)
    assert sorted(after) == sorted(before)
    assert {k: _named(v) for k, v in after.items() if _named(v)} == {}
    assert OTHER in after["export"] and OTHER in after["questions-csv"]  # only she went
    # The questions, their texts and answers stay; the attribution goes.
    qs = questions(hub.state)
    assert [qs.items[q].name for q in ("q-1", "q-2", "q-3")] == [None, OTHER, None]
    assert qs.items["q-3"].email is None
    assert qs.items["q-2"].text == f"Following up on {P.ERASED}'s point: who pays for the tests?"
    assert "szkoły będą otwarte" in W.by_id(hub.state)["q-3"].replies[0].text
    # The record of the erasure says how much, and lets one check an address, not read it.
    erased = log_after[-1]
    assert P.was_erased(erased, EMAIL) and P.was_erased(erased, NAME)
    assert not P.was_erased(erased, EPI_MAIL)
    assert erased.data["counts"]["questions"] == 2
    assert erased.data["counts"]["outbox"] >= 2  # the assignment and the mail to her
    # Her queued mail is never sent; asking again finds nothing.
    store = await open_store(db)
    try:
        rows = await store.outbox_sql(  # type: ignore[attr-defined]
            "SELECT status, last_error FROM outbox WHERE conference = ? ORDER BY id",
            (cid,),
            write=False,
        )
    finally:
        await store.close()
    assert [r[0] for r in rows] == ["sent", "failed"]
    assert rows[1][1] == P.ERASED_STATUS_NOTE
    argv = ["privacy", "export", "--email", EMAIL, "--db", db, "-o", str(tmp_path / "x.json")]
    assert await _cli(*argv) == 1
    assert await _cli("privacy", "erase", "--email", EMAIL, "--db", db, "--yes") == 1


async def _empty_store(path: Path) -> str:
    store = await open_store(str(path))
    await store.close()
    return str(path)


async def test_erase_without_yes_on_a_pipe_is_refused(tmp_path: Path, capsys: Any) -> None:
    db = await _empty_store(tmp_path / "c.db")
    assert await _cli("privacy", "erase", "--name", NAME, "--db", db) == 1
    assert capsys.readouterr().err == (
        "confsvc privacy erase: this rewrites the store and cannot be undone; "
        "add --yes to confirm\n"
    )


async def test_a_store_that_does_not_exist_is_refused_and_not_made(
    tmp_path: Path, capsys: Any
) -> None:
    db = tmp_path / "nowhere.db"
    assert await _cli("privacy", "export", "--email", EMAIL, "--db", str(db)) == 1
    assert await _cli("privacy", "erase", "--email", EMAIL, "--db", str(db), "--yes") == 1
    assert capsys.readouterr().err == (
        f"confsvc privacy export: no store at {db}; name it with --db\n"
        f"confsvc privacy erase: no store at {db}; name it with --db\n"
    )
    assert not db.exists()


async def test_a_name_too_short_is_refused_by_name(tmp_path: Path, capsys: Any) -> None:
    db = await _empty_store(tmp_path / "c.db")
    assert await _cli("privacy", "export", "--name", "Al", "--db", db) == 1
    assert capsys.readouterr().err == (
        "confsvc privacy export: the name 'Al' is shorter than 3 characters: it would match "
        "inside ordinary words; give the full name or address\n"
    )
