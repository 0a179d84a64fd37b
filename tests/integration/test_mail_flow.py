"""Written answers over real SMTP: confsvc sends to an aiosmtpd sink, replies come back to
confsvc's receiver with aiosmtplib, and every kind of bad mail lands where it should."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiosmtplib
import pytest

from confsvc.core import written as W
from confsvc.core.events import NewEvent
from confsvc.mail.addresses import reply_address
from confsvc.mail.outbox import Outbox
from confsvc.mail.setup import MAIL
from tests.conftest import SECRET, Running
from tests.fixtures.mail.clients import CLIENTS, with_attachment
from tests.fixtures.mail.smtp import Sink, free_port, start_sink, stop_sink, until

EPI = "weifang-health-epidemiology"
EPI_MAIL = "epidemiology@weifang-health.example.org"
DOMAIN = "confsvc.localhost"


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await start_sink()
    yield s
    await stop_sink(s)


class MailWorld:
    def __init__(self, running: Running, sink: Sink, smtp_in_port: int) -> None:
        self.running = running
        self.sink = sink
        self.port = smtp_in_port

    async def hub(self) -> Any:
        return await self.running.hub()

    async def ask(self, qid: str, **kw: Any) -> None:
        hub = await self.hub()
        data = {
            "id": qid,
            "text": kw.pop("text", "How long must close contacts stay in quarantine?"),
            "language": kw.pop("language", "pl"),
            "name": kw.pop("name", "Anna Nowak"),
            "site": "olsztyn",
            "source": "pre_session",
            "email": kw.pop("email", None),
            "invite": None,
        }
        await hub.append_system([NewEvent(type="q.asked", data=data)])

    async def assign(self, qid: str, expert: str = EPI, *, sent: bool = True) -> dict[str, Any]:
        """Assign; with ``sent``, wait until the sender has recorded the mail as sent."""
        mod = await self.running.ws("moderator")
        ack = await mod.command(
            "written.assign", question=qid, expert=expert, due=time.time() + 86400
        )
        await mod.close()
        if sent:
            hub = await self.hub()
            await until(lambda: W.by_id(hub.state)[qid].status == "sent", what="sent")
        return ack

    async def q(self, qid: str) -> W.WrittenQuestion:
        return W.by_id((await self.hub()).state)[qid]

    def reply_to(self, qid: str) -> str:
        return reply_address(SECRET, self.running.conference, qid, DOMAIN)

    async def send(self, raw: bytes, rcpt: str, sender: str = EPI_MAIL) -> Any:
        return await aiosmtplib.send(
            raw, sender=sender, recipients=[rcpt], hostname="127.0.0.1", port=self.port
        )


@pytest.fixture
async def world(confsvc_app: Callable[..., Any], sink: Sink) -> MailWorld:
    port = free_port()
    running = await confsvc_app(
        smtp_out=f"smtp+plain://127.0.0.1:{sink.port}",
        smtp_in=f"127.0.0.1:{port}",
        organiser_email="organiser@weifang-fao.example.org",
    )
    return MailWorld(running, sink, port)


async def test_assignment_mail_goes_out_in_the_experts_language_and_marks_sent(
    world: MailWorld,
) -> None:
    await world.ask("q-1", email="anna@example.pl")
    ack = await world.assign("q-1")
    assert ack["events"] == ["written.assigned"]
    [mail] = await world.sink.wait_for(1)
    msg = mail.msg
    assert mail.rcpt_tos == [EPI_MAIL]
    assert str(msg["Reply-To"]) == world.reply_to("q-1")
    assert mail.mail_from == world.reply_to("q-1")  # bounces come back to the question
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"].strip().startswith("<cs.weifang-olsztyn-2020.q-1.")
    assert msg["Content-Language"] == "zh"
    assert "[q-1]" in msg["Subject"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "您好" in text and "How long must close contacts stay in quarantine?" in text
    assert "/j/" in text and "<a href=" in html
    await until(lambda: W.by_id(_state(world))["q-1"].status == "sent")


def _state(world: MailWorld) -> Any:
    from confsvc.http.keys import HUBS

    return world.running.app[HUBS]._hubs[world.running.conference].state


@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_replies_in_each_clients_style_yield_the_answer(
    world: MailWorld, client: str
) -> None:
    build, answer = CLIENTS[client]
    await world.ask("q-1")
    await world.assign("q-1")
    [out] = await world.sink.wait_for(1)
    raw = build(
        to=f"Konferencja <{world.reply_to('q-1')}>",
        sender=EPI_MAIL,
        in_reply_to=str(out.msg["Message-ID"]),
        answer=answer,
    )
    await world.send(raw, world.reply_to("q-1"))
    q = await world.q("q-1")
    assert q.status == "answered"
    assert [r.text for r in q.replies] == [answer]


async def test_reply_matched_by_in_reply_to_alone(world: MailWorld) -> None:
    await world.ask("q-1")
    await world.assign("q-1")
    [out] = await world.sink.wait_for(1)
    build, answer = CLIENTS["gmail"]
    raw = build(
        to="someone@confsvc.localhost",
        sender=EPI_MAIL,
        in_reply_to=str(out.msg["Message-ID"]),
        answer=answer,
    )
    await world.send(raw, f"organiser@{DOMAIN}")
    assert [r.text for r in (await world.q("q-1")).replies] == [answer]


async def test_publish_reaches_the_public_view_and_the_asker(world: MailWorld) -> None:
    await world.ask("q-1", email="anna@example.pl", name="Anna Nowak")
    await world.assign("q-1")
    await world.sink.wait_for(1)
    build, answer = CLIENTS["thunderbird_pl"]
    await world.send(
        build(to=world.reply_to("q-1"), sender=EPI_MAIL, in_reply_to="<x@y>", answer=answer),
        world.reply_to("q-1"),
    )
    public = await world.running.ws(None)
    mod = await world.running.ws("moderator")
    ack = await mod.command("written.publish", question="q-1", text=answer + " (edited)")
    assert ack["type"] == "ack", ack
    msg = await public.expect("written")
    assert [p["answer"] for p in msg["written"]["published"]] == [answer + " (edited)"]
    q = await world.q("q-1")
    assert [r.text for r in q.replies] == [answer]  # the original is kept
    mails = await world.sink.wait_for(2)
    to_asker = mails[1]
    assert to_asker.rcpt_tos == ["anna@example.pl"]
    assert to_asker.msg["Content-Language"] == "pl"
    assert answer + " (edited)" in to_asker.msg.get_body(("plain",)).get_content()
    state = await world.running.client.get(f"/api/v1/conferences/{world.running.conference}/state")
    body = await state.json()
    assert body["views"]["written"]["published"][0]["id"] == "q-1"
    assert "anna@example.pl" not in str(body)
    await public.close()
    await mod.close()


async def test_several_replies_are_all_kept(world: MailWorld) -> None:
    await world.ask("q-1")
    await world.assign("q-1")
    await world.sink.wait_for(1)
    for i in range(3):
        raw = with_attachment(
            to=world.reply_to("q-1"),
            sender=EPI_MAIL,
            in_reply_to="<x@y>",
            answer=f"Part {i}",
            mid=f"<part-{i}@example.org>",
        )
        await world.send(raw, world.reply_to("q-1"))
    q = await world.q("q-1")
    assert [r.text for r in q.replies] == ["Part 0", "Part 1", "Part 2"]
    assert q.replies[0].attachments[0]["filename"] == "guidelines.pdf"
    assert q.replies[0].attachments[0]["size"] == 400


async def test_same_message_twice_is_stored_once(world: MailWorld) -> None:
    await world.ask("q-1")
    await world.assign("q-1")
    await world.sink.wait_for(1)
    build, answer = CLIENTS["outlook"]
    raw = build(to=world.reply_to("q-1"), sender=EPI_MAIL, in_reply_to="<x@y>", answer=answer)
    await world.send(raw, world.reply_to("q-1"))
    hub = await world.hub()
    seq = hub.state.seq
    await world.send(raw, world.reply_to("q-1"))
    assert hub.state.seq == seq  # nothing appended the second time
    assert len((await world.q("q-1")).replies) == 1


async def test_forged_signature_goes_to_quarantine(world: MailWorld) -> None:
    await world.ask("q-1")
    await world.ask("q-2")
    await world.assign("q-1")
    await world.sink.wait_for(1)
    good = world.reply_to("q-1")
    forged = good.replace("q-1.", "q-2.")  # q-1's signature on q-2's address
    build, answer = CLIENTS["gmail"]
    await world.send(build(to=forged, sender=EPI_MAIL, in_reply_to="<x@y>", answer=answer), forged)
    hub = await world.hub()
    [item] = W.written_state(hub.state).quarantine
    assert item.reason == "bad signature on the reply address"
    assert item.question == "q-2"
    assert (await world.q("q-2")).replies == []


async def test_reply_from_another_address_is_quarantined_and_can_be_filed(
    world: MailWorld,
) -> None:
    await world.ask("q-1")
    await world.assign("q-1")
    await world.sink.wait_for(1)
    build, answer = CLIENTS["html_only"]
    raw = build(
        to=world.reply_to("q-1"), sender="intruder@evil.example", in_reply_to="<x@y>", answer=answer
    )
    await world.send(raw, world.reply_to("q-1"), sender="intruder@evil.example")
    hub = await world.hub()
    [item] = W.written_state(hub.state).quarantine
    assert "intruder@evil.example" in item.reason
    assert (await world.q("q-1")).status == "sent"
    mod = await world.running.ws("moderator")
    assert mod.welcome["views"]["written"]["counts"]["quarantine"] == 1
    ack = await mod.command("written.file", key=item.key, question="q-1")
    assert ack["type"] == "ack", ack
    assert [r.text for r in (await world.q("q-1")).replies] == [answer]
    await mod.close()


async def test_auto_reply_is_kept_but_not_an_answer(world: MailWorld) -> None:
    await world.ask("q-1")
    await world.assign("q-1")
    await world.sink.wait_for(1)
    raw = (
        f"From: {EPI_MAIL}\r\nTo: {world.reply_to('q-1')}\r\nSubject: Out of office\r\n"
        "Auto-Submitted: auto-replied\r\nMessage-ID: <ooo-1@example.org>\r\n\r\n"
        "I am away until June.\r\n"
    ).encode()
    await world.send(raw, world.reply_to("q-1"))
    hub = await world.hub()
    [item] = W.written_state(hub.state).quarantine
    assert (item.auto, item.reason) == (True, "auto-reply or bounce")
    assert (await world.q("q-1")).status == "sent"


async def test_bounce_report_flags_the_question(world: MailWorld) -> None:
    await world.ask("q-1")
    await world.assign("q-1")
    [out] = await world.sink.wait_for(1)
    mid = str(out.msg["Message-ID"])
    raw = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        f"To: {world.reply_to('q-1')}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.example.org>\r\nAuto-Submitted: auto-replied\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        "Final-Recipient: rfc822; epidemiology@weifang-health.example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {mid}\r\nSubject: x\r\n\r\n--b--\r\n"
    ).encode()
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=world.port) as smtp:
        await smtp.sendmail("", [world.reply_to("q-1")], raw)  # MAIL FROM:<>, as bounces are
    q = await world.q("q-1")
    assert q.bounced == "bounce report received"
    assert q.replies == []
    assert W.view_counts((await world.hub()).state, time.time())["bounced"] == 1


async def test_malformed_mime_is_kept_in_quarantine(world: MailWorld) -> None:
    raw = (
        b"From: \xff\xfe broken <<<@@>\r\nTo: nobody\r\nContent-Type: multipart/mixed; boundary=\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n--\r\n\x00\x01 not base64 !!!\r\n--x--\r\n"
    )
    await world.send(raw, f"answers+q-9.aaaaaaaaaaaaaaaa@{DOMAIN}", sender="x@example.org")
    hub = await world.hub()
    [item] = W.written_state(hub.state).quarantine
    assert item.reason == "bad signature on the reply address"
    stored = [e for e in await hub.store.read(hub.id) if e.type == "written.mail_received"]
    assert len(stored) == 1 and stored[0].data["raw"]  # the raw bytes are kept


async def test_huge_mail_is_refused_with_552(confsvc_app: Callable[..., Any], sink: Sink) -> None:
    port = free_port()
    running = await confsvc_app(smtp_in=f"127.0.0.1:{port}", mail_max_bytes=50_000)
    raw = b"From: a@example.org\r\nSubject: big\r\n\r\n" + b"x" * 60 + b"\r\n" * 1
    raw += (b"y" * 998 + b"\r\n") * 80
    with pytest.raises(aiosmtplib.SMTPResponseException) as info:
        await aiosmtplib.send(
            raw,
            sender="a@example.org",
            recipients=[f"answers+q-1.aaaaaaaaaaaaaaaa@{DOMAIN}"],
            hostname="127.0.0.1",
            port=port,
        )
    assert info.value.code == 552
    assert "at most 50000 bytes" in info.value.message
    hub = await running.hub()
    assert W.written_state(hub.state).quarantine == []


async def test_outlook_html_with_long_lines_is_accepted(world: MailWorld) -> None:
    await world.ask("q-1")
    await world.assign("q-1")
    cell = "<td style='padding:0cm 5.4pt 0cm 5.4pt'>14 dni</td>"
    html = "<html><body><p>Kwarantanna trwa 14 dni.</p><table><tr>" + cell * 4000
    raw = (
        f"From: {EPI_MAIL}\r\nTo: {world.reply_to('q-1')}\r\nSubject: RE: q-1\r\n"
        "Message-ID: <outlook-long@example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + html
        + "</tr></table></body></html>\r\n"
    ).encode()
    assert max(len(line) for line in raw.split(b"\r\n")) > 200_000  # one HTML line
    await world.send(raw, world.reply_to("q-1"))
    q = await world.q("q-1")
    assert q.status == "answered"
    assert q.replies[0].text.startswith("Kwarantanna trwa 14 dni.")


async def test_receiver_is_no_relay(world: MailWorld) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as info:
        await world.send(b"Subject: x\r\n\r\nx\r\n", "someone@gmail.example")
    assert info.value.recipients[0].code == 550


async def test_header_injection_in_the_askers_name_never_reaches_a_header(
    world: MailWorld,
) -> None:
    await world.ask("q-1", email="anna@example.pl", name="Anna\r\nBcc: victim@example.org")
    await world.assign("q-1")
    await world.sink.wait_for(1)
    await world.send(
        CLIENTS["gmail"][0](
            to=world.reply_to("q-1"), sender=EPI_MAIL, in_reply_to="<x@y>", answer="Fine."
        ),
        world.reply_to("q-1"),
    )
    mod = await world.running.ws("moderator")
    assert (await mod.command("written.publish", question="q-1"))["type"] == "ack"
    await mod.close()
    await until(lambda: W.by_id(_state(world))["q-1"].bounced is not None)
    q = await world.q("q-1")
    assert q.bounced is not None and "asker name" in q.bounced
    assert len(world.sink.messages) == 1  # only the expert's mail; nothing to the victim
    rows = await Outbox(world.running.app[MAIL].hubs.store).rows()
    assert [r["status"] for r in rows] == ["sent", "failed"]


async def test_permanent_smtp_failure_is_recorded_on_the_question(
    confsvc_app: Callable[..., Any],
) -> None:
    sink = await start_sink(refuse={EPI_MAIL: "550 5.1.1 no such user"})
    try:
        running = await confsvc_app(smtp_out=f"smtp+plain://127.0.0.1:{sink.port}")
        world = MailWorld(running, sink, 0)
        await world.ask("q-1")
        await world.assign("q-1", sent=False)
        await until(lambda: W.by_id(_state(world))["q-1"].bounced is not None)
        q = await world.q("q-1")
        assert q.bounced is not None and q.bounced.startswith("550")
        assert q.status == "assigned"
    finally:
        await stop_sink(sink)


async def test_temporary_smtp_failure_is_retried_later(confsvc_app: Callable[..., Any]) -> None:
    sink = await start_sink(refuse={EPI_MAIL: "451 4.7.1 greylisted, try again"})
    try:
        running = await confsvc_app(smtp_out=f"smtp+plain://127.0.0.1:{sink.port}")
        world = MailWorld(running, sink, 0)
        await world.ask("q-1")
        await world.assign("q-1", sent=False)
        outbox = Outbox(running.app[MAIL].hubs.store)
        r: dict[str, Any] = {}
        for _ in range(500):
            r = (await outbox.rows())[0]
            if r["attempts"] == 1 and r["status"] == "queued":
                break
            await asyncio.sleep(0.02)
        assert (r["status"], r["attempts"]) == ("queued", 1)
        assert r["last_error"].startswith("451")
        q = await world.q("q-1")
        assert q.bounced is None
    finally:
        await stop_sink(sink)


async def test_overdue_reminder_and_digest_go_out(world: MailWorld) -> None:
    await world.ask("q-1")
    await world.assign("q-1")
    service = world.running.app[MAIL]
    events = await service.tick(now=time.time() + 2 * 86400)
    assert [(e.type, e.data.get("kind")) for e in events] == [
        ("written.reminded", "overdue"),
        ("written.digest_sent", None),
    ]
    mails = await world.sink.wait_for(3)
    by_rcpt = {tuple(m.rcpt_tos): m.msg for m in mails[1:]}
    reminder = by_rcpt[(EPI_MAIL,)]
    assert str(reminder["Reply-To"]) == world.reply_to("q-1")
    assert "此问题的答复期限已过" in reminder.get_body(("plain",)).get_content()
    digest = by_rcpt[("organiser@weifang-fao.example.org",)]
    text = digest.get_body(("plain",)).get_content()
    assert "q-1" in text and "/written?t=" in text
    assert await service.tick(now=time.time() + 2 * 86400 + 60) == []  # not again so soon
