"""The question queue over the WebSocket, SSE and HTTP: live status, races, roles, rate
limits, escaping, the public page, CSV import (web and CLI), exports, posts."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from confsvc.cli.main import main
from tests.conftest import Running, WsClient

XSS = '<script>alert(1)</script><img src=x onerror=alert(2)> & "quotes"'


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (1, 1), (255, 255, 255, 255)).save(buf, format="PNG")
    return buf.getvalue()


PNG = _png()


_claimed: set[int] = set()


async def expect(client: WsClient, kind: str) -> dict[str, Any]:
    """The oldest unclaimed ``kind`` message, including those that came before an ack."""
    for msg in client.seen:
        if msg.get("type") == kind and id(msg) not in _claimed:
            _claimed.add(id(msg))
            return msg
    while True:
        msg = await client.expect(kind)
        if id(msg) not in _claimed:
            _claimed.add(id(msg))
            return msg


async def command(client: WsClient, command: str, args: dict[str, Any]) -> dict[str, Any]:
    """Like ``WsClient.command``, for args with a key named ``name``."""
    client._id += 1
    my = client._id
    await client.sock.send_json({"type": "command", "id": my, "name": command, "args": args})
    while True:
        msg = await client.recv()
        if msg.get("id") == my and msg.get("type") in ("ack", "error"):
            return msg


async def test_participant_sees_own_status_live_and_room_sees_approved(running: Running) -> None:
    alice = await running.ws("participant")
    bob = await running.ws("participant")
    mod = await running.ws("moderator")
    assert alice.welcome["views"]["questions"]["can_ask"] is True
    reply = await command(alice, "q.ask", {"text": "How do you trace contacts?", "name": "Alice"})
    assert reply == {
        "type": "ack",
        "id": 1,
        "seq": reply["seq"],
        "events": ["q.asked"],
        "ids": ["q-1"],
    }
    mine = await expect(alice, "q.mine")
    assert (mine["item"]["id"], mine["item"]["status"]) == ("q-1", "pending")
    item = (await expect(mod, "q.item"))["item"]
    assert (item["text"], item["name"], item["source"]) == (
        "How do you trace contacts?",
        "Alice",
        "live",
    )
    assert (await mod.command("q.approve", id="q-1"))["type"] == "ack"
    mine = await expect(alice, "q.mine")
    assert mine["item"]["status"] == "approved"
    shown = await expect(bob, "q.shown")
    assert (shown["item"]["id"], shown["item"]["votes"]) == ("q-1", 0)
    assert (await bob.command("q.vote", id="q-1"))["type"] == "ack"
    assert (await expect(bob, "q.voted"))["id"] == "q-1"
    assert (await expect(alice, "q.mine"))["item"]["votes"] == 1
    await mod.command("q.reject", id="q-1", reason="Answered already in the talk")
    mine = (await expect(alice, "q.mine"))["item"]
    assert (mine["status"], mine["reason"]) == ("rejected", "Answered already in the talk")
    assert (await expect(bob, "q.hidden"))["id"] == "q-1"


async def test_on_air_reaches_host_room_and_floor(running: Running) -> None:
    host = await running.ws("host")
    site = await running.ws("site", "olsztyn")
    mod = await running.ws("moderator")
    await host.command("ros.start")
    await site.command("q.ask", text="Jak działają szpitale?")
    await mod.command("q.approve", id="q-1")
    reply = await mod.command("q.on_air", id="q-1", site="weifang")
    assert reply["events"] == ["q.on_air", "floor.on_air"]
    live = await expect(host, "q.live")
    assert live["on_air"]["id"] == "q-1"
    assert live["on_air"]["site"] == "olsztyn"
    assert live["on_air"]["language"] == "pl"
    ros = None
    while ros is None or ros["ros"]["floor"] != ["warsaw", "olsztyn", "weifang"]:
        ros = await expect(host, "ros")
    assert (await expect(site, "q.live"))["on_air"]["text"] == "Jak działają szpitale?"
    await mod.command("q.answer", id="q-1", site="weifang")
    live = await expect(host, "q.live")
    assert live["on_air"] is None
    assert [q["id"] for q in live["answered"]] == ["q-1"]
    assert live["answered"][0]["answered_by"] == {"site": "weifang", "expert": None}


async def test_two_moderators_racing_exactly_one_wins(running: Running) -> None:
    alice = await running.ws("participant")
    await alice.command("q.ask", text="race?")
    first = await running.ws("moderator")
    second = await running.ws("moderator")
    for action, args in (
        ("q.approve", {"id": "q-1"}),
        ("q.on_air", {"id": "q-1"}),
        ("q.answer", {"id": "q-1"}),
    ):
        replies = await asyncio.gather(
            first.command(action, **args), second.command(action, **args)
        )
        kinds = sorted(r["type"] for r in replies)
        assert kinds == ["ack", "error"], replies
        loser = next(r for r in replies if r["type"] == "error")
        assert loser["code"] == "invalid_state"
        assert loser["message"].startswith(f"{action}: q-1 is ")
    hub = await running.hub()
    types = [e.type for e in await hub.store.read(hub.id)]
    assert types.count("q.approved") == 1
    assert types.count("q.on_air") == 1
    assert types.count("q.answered") == 1


async def test_two_moderators_racing_on_air_with_different_questions(running: Running) -> None:
    alice = await running.ws("participant")
    await alice.command("q.ask", text="one?")
    await alice.command("q.ask", text="two?")
    first = await running.ws("moderator")
    second = await running.ws("moderator")
    await first.command("q.approve", id="q-1")
    await first.command("q.approve", id="q-2")
    a, b = await asyncio.gather(
        first.command("q.on_air", id="q-1"), second.command("q.on_air", id="q-2")
    )
    assert sorted([a["type"], b["type"]]) == ["ack", "error"]
    loser = a if a["type"] == "error" else b
    assert "is on air; mark it answered or take it off air first" in loser["message"]


MOD_ACTIONS = [
    ("q.approve", {"id": "q-1"}),
    ("q.reject", {"id": "q-1"}),
    ("q.restore", {"id": "q-1"}),
    ("q.edit", {"id": "q-1", "text": "x"}),
    ("q.merge", {"id": "q-1", "into": "q-2"}),
    ("q.tag", {"id": "q-1", "tags": ["x"]}),
    ("q.pin", {"id": "q-1"}),
    ("q.note", {"id": "q-1", "text": "x"}),
    ("q.on_air", {"id": "q-1"}),
    ("q.off_air", {"id": "q-1"}),
    ("q.answer", {"id": "q-1"}),
    ("q.defer", {"id": "q-1"}),
    ("q.import", {"rows": [{"line": 2, "text": "x"}]}),
    ("post.publish", {"text": "x"}),
]


@pytest.mark.parametrize("role", ["participant", "site", "expert", None])
async def test_room_and_public_cannot_call_moderator_actions(
    running: Running, role: str | None
) -> None:
    client = await running.ws(role, "warsaw" if role == "site" else None)
    for name, args in MOD_ACTIONS:
        reply = await client.command(name, **args)
        assert reply["type"] == "error", name
        assert reply["code"] == "forbidden", name
        assert name in reply["message"]
    hub = await running.hub()
    assert hub.state.parts["questions"].items == {}


async def test_rate_limit_has_a_clear_message(running: Running) -> None:
    alice = await running.ws("participant")
    for i in range(5):
        assert (await alice.command("q.ask", text=f"question {i}?"))["type"] == "ack"
    reply = await alice.command("q.ask", text="one too many")
    assert reply["code"] == "rate_limited"
    assert reply["message"] == (
        "q.ask: at most 5 questions a minute from one person; wait a little and ask again"
    )


async def test_oversize_and_malformed_questions_name_the_problem(running: Running) -> None:
    alice = await running.ws("participant")
    reply = await alice.command("q.ask", text="x" * 1001)
    assert reply["message"] == "the question is 1001 characters long; at most 1000 are allowed"
    assert reply["field"] == "args.text"
    reply = await alice.command("q.ask", text=["not", "text"])
    assert reply["field"] == "args.text"
    reply = await alice.command("q.vote", id="q-404")
    assert reply["message"] == "q.vote: no question 'q-404'"


async def read_sse(
    resp: aiohttp.ClientResponse, until: Any, limit: int = 50
) -> list[dict[str, Any]]:
    """Messages from an event stream until ``until(msg)`` is true."""
    out: list[dict[str, Any]] = []
    while len(out) < limit:
        line = await asyncio.wait_for(resp.content.readline(), 10)
        if not line:
            break
        if line.startswith(b"data: "):
            msg = json.loads(line[6:])
            out.append(msg)
            if until(msg):
                return out
    raise AssertionError(f"stream ended; saw {[m.get('type') for m in out]}")


async def test_public_page_and_sse_show_on_air_and_nothing_private(running: Running) -> None:
    host = await running.ws("host")
    alice = await running.ws("participant")
    mod = await running.ws("moderator")
    await host.command("ros.start")
    await alice.command("q.ask", text="SECRET-PENDING-TEXT")
    await alice.command("q.ask", text="SECRET-REJECTED-TEXT")
    await command(alice, "q.ask", {"text": XSS, "name": "SECRET-NAME"})
    await mod.command("q.reject", id="q-2", reason="SECRET-REASON")
    await mod.command(
        "q.import",
        rows=[
            {"line": 2, "text": "pre-session one", "email": "secret@example.org", "asker": "Ann"}
        ],
    )
    await mod.command("q.note", id="q-3", text="SECRET-NOTE")
    resp = await running.client.get(f"/c/{running.conference}/live/events")
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    welcome = (await read_sse(resp, lambda m: m["type"] == "welcome"))[-1]
    assert welcome["views"]["questions"]["on_air"] is None
    await mod.command("q.approve", id="q-3")
    await mod.command("q.on_air", id="q-3")
    stream = await read_sse(resp, lambda m: m["type"] == "q.live")
    assert stream[-1]["on_air"]["text"] == XSS
    await mod.command("post.publish", text="Weifang answers: <b>contact tracing</b>")
    stream += await read_sse(resp, lambda m: m["type"] == "post")
    page = await (await running.client.get(f"/c/{running.conference}/live?lang=en")).text()
    everything = json.dumps([welcome, *stream]) + page
    for secret in ("SECRET", "secret@example.org", "Ann"):
        assert secret not in everything
    # HTML in a question is text on the page, never markup.
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "Weifang answers: &lt;b&gt;contact tracing&lt;/b&gt;" in page
    resp.close()


async def test_sse_carries_the_run_of_show(running: Running) -> None:
    host = await running.ws("host")
    resp = await running.client.get(f"/c/{running.conference}/live/events")
    await read_sse(resp, lambda m: m["type"] == "welcome")
    await host.command("ros.start")
    msgs = await read_sse(resp, lambda m: m["type"] == "ros")
    assert msgs[-1]["ros"]["status"] == "running"
    resp.close()


async def test_live_page_renders_without_javascript(running: Running) -> None:
    host = await running.ws("host")
    alice = await running.ws("participant")
    mod = await running.ws("moderator")
    await host.command("ros.start")
    await alice.command("q.ask", text="How many tests a day?")
    await mod.command("q.approve", id="q-1")
    await mod.command("q.on_air", id="q-1")
    page = await (await running.client.get(f"/c/{running.conference}/live?lang=pl")).text()
    assert '<blockquote class="q-text" data-onair-text' in page
    assert "How many tests a day?" in page
    assert "Przemówienie ambasadora Chin w Polsce" in page
    await mod.command("q.answer", id="q-1", expert="weifang-health-epidemiology")
    page = await (await running.client.get(f"/c/{running.conference}/live?lang=en")).text()
    assert "No question is on air." in page
    assert "answered by Weifang Health Commission — epidemiology" in page


async def test_moderator_link_opens_the_console(running: Running) -> None:
    resp = await running.client.get(f"/j/{running.token('moderator')}?lang=en")
    text = await resp.text()
    assert resp.status == 200
    assert '<h1 id="mod-queue-title">Question queue</h1>' in text
    assert "/static/js/moderator.js" in text
    resp = await running.client.get(f"/j/{running.token('participant')}?lang=en")
    text = await resp.text()
    assert "data-q-form" in text
    assert "/static/js/questions.js" in text
    resp = await running.client.get(f"/j/{running.token('host')}?lang=en")
    assert "data-onair-panel" in await resp.text()


def _form(token: str, **files: tuple[str, bytes, str]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("token", token)
    for name, (filename, data, ctype) in files.items():
        form.add_field(name, data, filename=filename, content_type=ctype)
    return form


GOOD_CSV = (
    "text,language,asker,site,email\n"
    "How did Weifang test schools?,en,Anna K.,olsztyn,anna@example.org\n"
    "Jak organizowano kwarantannę?,,,,\n"
).encode()


async def test_csv_upload_imports_all_rows_or_none(running: Running) -> None:
    token = running.token("moderator")
    url = f"/c/{running.conference}/questions/import"
    bad = GOOD_CSV + b"x,de,,paris,\n"
    resp = await running.client.post(url, data=_form(token, file=("q.csv", bad, "text/csv")))
    assert resp.status == 400
    body = await resp.json()
    assert body["problems"] == [
        "line 4: language 'de' is not one of zh, pl, en, other",
        "line 4: site 'paris' is not in the agenda (sites: warsaw, olsztyn, weifang)",
    ]
    hub = await running.hub()
    assert hub.state.parts["questions"].items == {}
    mod = await running.ws("moderator")
    resp = await running.client.post(url, data=_form(token, file=("q.csv", GOOD_CSV, "text/csv")))
    assert resp.status == 200
    assert await resp.json() == {"imported": 2, "ids": ["q-1", "q-2"]}
    batch = await expect(mod, "q.batch")
    assert [q["id"] for q in batch["items"]] == ["q-1", "q-2"]
    assert [m["type"] for m in mod.seen].count("q.batch") == 1
    q2 = hub.state.parts["questions"].items["q-2"]
    assert (q2.source, q2.language, q2.status) == ("pre_session", "pl", "pending")
    participant = running.token("participant")
    resp = await running.client.post(
        url, data=_form(participant, file=("q.csv", GOOD_CSV, "text/csv"))
    )
    assert resp.status == 403


async def test_exports_carry_the_whole_history(running: Running) -> None:
    token = running.token("moderator")
    await running.client.post(
        f"/c/{running.conference}/questions/import",
        data=_form(token, file=("q.csv", GOOD_CSV, "text/csv")),
    )
    mod = await running.ws("moderator")
    await mod.command("q.edit", id="q-1", text='=HYPERLINK("x") How did Weifang test schools?')
    await mod.command("q.approve", id="q-1")
    await mod.command("q.note", id="q-1", text="ask the epidemiologist")
    resp = await running.client.get(
        f"/c/{running.conference}/questions/export.json", params={"token": token}
    )
    data = await resp.json()
    q1 = data["questions"][0]
    assert [h["type"] for h in q1["history"]] == ["q.asked", "q.edited", "q.approved", "q.noted"]
    assert q1["original"] == "How did Weifang test schools?"
    assert q1["email"] == "anna@example.org"
    resp = await running.client.get(
        f"/c/{running.conference}/questions/export.csv", params={"token": token}
    )
    assert resp.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [r["id"] for r in rows] == ["q-1", "q-2"]
    assert rows[0]["text"].startswith("'=HYPERLINK")  # no formula in a spreadsheet
    assert [h["type"] for h in json.loads(rows[0]["history"])][-1] == "q.noted"
    resp = await running.client.get(
        f"/c/{running.conference}/questions/export.csv",
        params={"token": running.token("participant")},
    )
    assert resp.status == 403


async def test_post_with_photo_is_served_and_checked(running: Running) -> None:
    token = running.token("host")
    form = _form(token, photo=("p.png", PNG, "image/png"))
    form.add_field("text", "The Weifang site is answering now")
    resp = await running.client.post(f"/c/{running.conference}/posts", data=form)
    assert await resp.json() == {"id": "p-1"}
    photo = await running.client.get(f"/c/{running.conference}/live/photos/p-1")
    assert (photo.status, photo.headers["Content-Type"]) == (200, "image/png")
    served = Image.open(io.BytesIO(await photo.read()))  # re-encoded, same picture
    assert (served.format, served.size, served.getpixel((0, 0))) == (
        "PNG",
        (1, 1),
        (255, 255, 255, 255),
    )
    page = await (await running.client.get(f"/c/{running.conference}/live")).text()
    assert f'src="/c/{running.conference}/live/photos/p-1"' in page
    form = _form(token, photo=("p.png", b"<svg onload=alert(1)>", "image/png"))
    form.add_field("text", "fake photo")
    resp = await running.client.post(f"/c/{running.conference}/posts", data=form)
    assert resp.status == 400
    assert (await resp.json())["message"] == "the photo is not a JPEG, PNG, GIF or WebP image"
    resp = await running.client.get(f"/c/{running.conference}/live/photos/p-9")
    assert resp.status == 404


def test_cli_import_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import SAMPLE

    db = str(tmp_path / "c.db")
    asyncio.run(_create(db))
    good = tmp_path / "good.csv"
    good.write_bytes(GOOD_CSV)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(GOOD_CSV + b",en,,,\nok,en,,gdansk,\n")
    assert (
        main(["questions", "import", "--conference", "weifang-olsztyn-2020", "--db", db, str(bad)])
        == 1
    )
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{bad}:4: text is empty",
        f"{bad}:5: site 'gdansk' is not in the agenda (sites: warsaw, olsztyn, weifang)",
        f"{bad}: nothing imported",
    ]
    assert (
        main(["questions", "import", "--conference", "weifang-olsztyn-2020", "--db", db, str(good)])
        == 0
    )
    assert capsys.readouterr().out.strip() == "imported 2 questions: q-1 … q-2"
    out = tmp_path / "q.json"
    assert main(["questions", "export", "--conference", "weifang-olsztyn-2020", "--db", db,
                 "--format", "json", "-o", str(out)]) == 0  # fmt: skip
    data = json.loads(out.read_text("utf-8"))
    assert [(q["id"], q["source"]) for q in data["questions"]] == [
        ("q-1", "pre_session"),
        ("q-2", "pre_session"),
    ]
    assert SAMPLE.exists()


async def _create(db: str) -> None:
    from confsvc.core.agenda import parse_agenda
    from confsvc.service import Hubs
    from confsvc.store import open_store
    from tests.conftest import SAMPLE

    store = await open_store(db)
    try:
        await Hubs(store).create_or_resume(parse_agenda(SAMPLE.read_bytes()))
    finally:
        await store.close()


async def test_photo_post_over_websocket_is_size_checked(running: Running) -> None:
    mod = await running.ws("moderator")
    data = base64.b64encode(PNG).decode()
    reply = await mod.command(
        "post.publish", text="small photo", photo={"type": "image/png", "data": data}
    )
    assert reply["type"] == "ack"
    reply = await mod.command("post.publish", text="x", photo={"type": "image/png", "data": "!!!"})
    assert reply["message"] == "post.publish: photo data is not base64"


async def test_sse_for_an_unknown_conference_is_404(running: Running) -> None:
    resp = await running.client.get("/c/no-such-conference/live/events")
    assert resp.status == 404
    assert (await resp.json())["message"] == "no conference 'no-such-conference'"


async def test_sse_sends_keepalives_and_forgets_readers_that_leave(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    from confsvc.questions import sse

    monkeypatch.setattr(sse, "KEEPALIVE_S", 0.05)
    hub = await running.hub()
    before = len(hub.listeners)
    resp = await running.client.get(f"/c/{running.conference}/live/events")
    await read_sse(resp, lambda m: m["type"] == "welcome")
    assert len(hub.listeners) == before + 1
    while (await asyncio.wait_for(resp.content.readline(), 5)) != b": keepalive\n":
        pass
    resp.close()
    for _ in range(200):  # the next keepalive finds the socket closed
        if len(hub.listeners) == before:
            break
        await asyncio.sleep(0.02)
    assert len(hub.listeners) == before


async def test_sse_reader_that_stops_reading_is_dropped(running: Running) -> None:
    from confsvc.questions import sse

    class Stuck:
        """A socket whose peer stopped reading: its buffer only grows."""

        written = 0

        def is_closing(self) -> bool:
            return False

        def get_write_buffer_size(self) -> int:
            return sse.MAX_BUFFER + 1

        def write(self, data: bytes) -> None:
            self.written += len(data)

    hub = await running.hub()
    resp = await running.client.get(f"/c/{running.conference}/live/events")
    await read_sse(resp, lambda m: m["type"] == "welcome")
    (reader,) = [r for r in hub.listeners if isinstance(r, sse.SseReader)]
    real, reader.transport = reader.transport, Stuck()
    mod = await running.ws("moderator")
    await mod.command("post.publish", text="nobody reads this")
    for _ in range(100):
        if reader not in hub.listeners:
            break
        await asyncio.sleep(0.02)
    assert reader.closed
    assert reader not in hub.listeners
    assert reader.transport.written == 0
    reader.transport = real
    resp.close()
