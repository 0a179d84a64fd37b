"""Faults in confsvc's own SMTP settings hold the outbox; only a recipient's refusal marks
the recipient. Against aiosmtpd with AUTH and with STARTTLS under a test CA."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from confsvc.config import Config
from confsvc.core import written as W
from confsvc.core.events import Command, Principal
from confsvc.core.roles import Role
from confsvc.http.i18n import I18n
from confsvc.mail.outbox import Outbox
from confsvc.mail.sender import HOLD_MAX_S, Sender, SmtpSettings
from confsvc.mail.service import MailService
from confsvc.service import Hubs
from confsvc.store import open_store
from tests.conftest import SECRET
from tests.fixtures.mail.smtp import free_port, start_sink, stop_sink, until
from tests.fixtures.mail.tls import make_certs
from tests.fixtures.questions import pre_session

MOD = Principal(role=Role.MODERATOR, invite="mod")
EPI_MAIL = "epidemiology@weifang-health.example.org"
EXPERT = "weifang-health-epidemiology"


async def _world(tmp_path: Path, sample_agenda: Any, n: int = 3) -> tuple[Any, MailService]:
    store = await open_store(str(tmp_path / "confsvc.db"))
    hubs = Hubs(store)
    service = MailService(hubs, Config(db=str(tmp_path / "c.db")), secret=SECRET, i18n=I18n())
    hub, _ = await hubs.create_or_resume(sample_agenda)
    await hub.append_system(pre_session(range(1, n + 1)))
    items = [
        {"question": f"q-{i}", "expert": "weifang-health-epidemiology", "due": time.time() + 9e4}
        for i in range(1, n + 1)
    ]
    await hub.execute(MOD, Command(name="written.assign_batch", args={"items": items}))
    return hub, service


def _bounced(hub: Any) -> dict[str, str | None]:
    return {q.id: q.bounced for q in W.by_id(hub.state).values()}


async def test_wrong_smtp_password_holds_the_outbox_and_marks_nobody(
    tmp_path: Path, sample_agenda: Any
) -> None:
    sink = await start_sink(login=("confsvc", "right"))
    hub, service = await _world(tmp_path, sample_agenda)
    try:
        wrong = SmtpSettings.from_url(f"smtp+plain://confsvc:wrong@127.0.0.1:{sink.port}")
        sender = Sender(service.outbox, wrong, on_result=service.record)
        assert await sender.drain() == 0
        health = sender.health()
        assert health["state"] == "held"
        assert health["error"].startswith("535")
        rows = await service.outbox.rows()
        assert [(r["status"], r["attempts"]) for r in rows] == [("queued", 0)] * 3
        await hub.catch_up()
        assert _bounced(hub) == {"q-1": None, "q-2": None, "q-3": None}
        assert not [e for e in await hub.store.read(hub.id) if e.type == "written.mail_failed"]
        assert sink.messages == []

        right = SmtpSettings.from_url(f"smtp+plain://confsvc:right@127.0.0.1:{sink.port}")
        fixed = Sender(service.outbox, right, on_result=service.record)
        assert await fixed.drain() == 3
        assert fixed.health()["state"] == "ok"
        assert len(sink.messages) == 3
    finally:
        await service.close()
        await hub.store.close()
        await stop_sink(sink)


async def test_no_smtp_server_holds_the_outbox(tmp_path: Path, sample_agenda: Any) -> None:
    hub, service = await _world(tmp_path, sample_agenda, n=2)
    try:
        nowhere = SmtpSettings.from_url(f"smtp+plain://127.0.0.1:{free_port()}")
        now = [time.time()]
        sender = Sender(service.outbox, nowhere, on_result=service.record, clock=lambda: now[0])
        for _ in range(MAX_TRIES):  # however often it fails, nobody is marked
            assert await sender.drain() == 0
            assert await sender.drain() == 0  # held: not even tried
            now[0] += HOLD_MAX_S
        assert sender.health()["state"] == "held"
        rows = await service.outbox.rows()
        assert [(r["status"], r["attempts"]) for r in rows] == [("queued", 0)] * 2
        await hub.catch_up()
        assert _bounced(hub) == {"q-1": None, "q-2": None}
    finally:
        await service.close()
        await hub.store.close()


MAX_TRIES = 10


async def test_recipient_refusal_still_marks_only_that_recipient(
    tmp_path: Path, sample_agenda: Any
) -> None:
    sink = await start_sink(refuse={EPI_MAIL: "550 5.1.1 no such user"})
    hub, service = await _world(tmp_path, sample_agenda, n=1)
    try:
        settings = SmtpSettings.from_url(f"smtp+plain://127.0.0.1:{sink.port}")
        sender = Sender(service.outbox, settings, on_result=service.record)
        assert await sender.drain() == 1
        await hub.catch_up()
        assert (_bounced(hub)["q-1"] or "").startswith("550")
        assert sender.health()["state"] != "held"
    finally:
        await service.close()
        await hub.store.close()
        await stop_sink(sink)


async def test_starttls_trusts_the_configured_ca_file(tmp_path: Path, sample_agenda: Any) -> None:
    certs = make_certs(tmp_path)
    sink = await start_sink(tls_context=certs.server_context())
    hub, service = await _world(tmp_path, sample_agenda, n=1)
    url = f"smtp+starttls://127.0.0.1:{sink.port}"
    try:
        untrusted = Sender(service.outbox, SmtpSettings.from_url(url), on_result=service.record)
        assert await untrusted.drain() == 0
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.health()["error"]
        settings = SmtpSettings.from_url(url, ca_file=str(certs.ca_file))
        sender = Sender(service.outbox, settings, on_result=service.record)
        assert await sender.drain() == 1
        assert len(sink.messages) == 1
        assert (await Outbox(hub.store).counts()) == {"sent": 1}
    finally:
        await service.close()
        await hub.store.close()
        await stop_sink(sink)


async def test_held_outbox_shows_in_readiness_and_metrics(confsvc_app: Any) -> None:
    from confsvc.mail.setup import MAIL

    running = await confsvc_app(smtp_out=f"smtp+plain://127.0.0.1:{free_port()}")
    resp = await running.client.get("/readyz")
    assert resp.status == 200
    hub = await running.hub()
    await hub.append_system(pre_session([1], "Question?"))
    mod = await running.ws("moderator")
    await mod.command("written.assign", question="q-1", expert=EXPERT, due=time.time() + 9e4)
    await mod.close()
    sender = running.app[MAIL].sender
    await until(lambda: sender.held, what="the outbox held")
    resp = await running.client.get("/readyz")
    body = await resp.json()
    assert resp.status == 503
    assert body["down"]["smtp"].startswith("held: SMTPConnectError")
    text = await (await running.client.get("/metrics")).text()
    assert 'confsvc_mail_connection_up{part="smtp"} 0.0' in text
    assert W.by_id(hub.state)["q-1"].bounced is None
    # The written-answers dashboard polls the same state for its banner (staff only).
    where = f"/c/{hub.id}/written/mail"
    resp = await running.client.get(where, params={"t": running.token("moderator")})
    assert resp.status == 200
    mail = await resp.json()
    assert mail["smtp"]["state"] == "held"
    assert mail["smtp"]["error"].startswith("SMTPConnectError")
    resp = await running.client.get(where, params={"t": running.token("participant")})
    assert resp.status == 403
    assert (await resp.json())["code"] == "forbidden"
