"""The IMAP poller against Debian's Dovecot 2.3 (tests/fixtures/mail/dovecot.py): stored
replies are moved to the processed folder and strangers' mail to the quarantine folder,
IDLE wakes the poller, a session kicked mid-poll (``doveadm kick``) is logged and
survived, and ``imap+starttls://`` trusts the CA given as ``ca_file``."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from confsvc.core import written as W
from confsvc.mail.addresses import reply_address
from confsvc.mail.imap import ImapPoller
from confsvc.mail.setup import MAIL
from tests.conftest import SECRET
from tests.fixtures.mail.clients import CLIENTS
from tests.fixtures.mail.dovecot import Dovecot, start_dovecot
from tests.fixtures.mail.smtp import until
from tests.fixtures.mail.tls import make_certs
from tests.fixtures.questions import pre_session

EPI = "weifang-health-epidemiology"
EPI_MAIL = "epidemiology@weifang-health.example.org"


@pytest.fixture
def dovecot() -> Any:
    server = start_dovecot()
    yield server
    server.stop()


async def _world(confsvc_app: Callable[..., Any], n: int) -> tuple[Any, Any]:
    running = await confsvc_app()
    hub = await running.hub()
    await hub.append_system(pre_session(range(1, n + 1), "Quarantine?", language="en"))
    mod = await running.ws("moderator")
    for i in range(1, n + 1):
        ack = await mod.command(
            "written.assign", question=f"q-{i}", expert=EPI, due=time.time() + 9e4
        )
        assert ack["type"] == "ack"
    await mod.close()
    return running, hub


def _reply(running: Any, qid: str, *, sender: str = EPI_MAIL) -> bytes:
    build, answer = CLIENTS["thunderbird_pl"]
    return build(
        to=reply_address(SECRET, running.conference, qid, "confsvc.localhost"),
        sender=sender,
        in_reply_to="<x@y>",
        answer=answer,
        mid=f"<dovecot-{qid}-{sender}@example.org>",
    )


def _url(d: Dovecot, scheme: str = "imap") -> str:
    return f"{scheme}://{d.user}:{d.password}@127.0.0.1:{d.port}/INBOX"


async def test_stored_mail_is_moved_to_processed_and_strangers_to_quarantine(
    confsvc_app: Callable[..., Any], dovecot: Dovecot
) -> None:
    running, hub = await _world(confsvc_app, 1)
    dovecot.deliver(_reply(running, "q-1"))
    dovecot.deliver(_reply(running, "q-1", sender="stranger@example.org"))
    poller = ImapPoller(_url(dovecot), running.app[MAIL].ingest)
    assert await poller.poll_once() == 2
    assert (dovecot.count("INBOX"), dovecot.count("confsvc/processed")) == (0, 1)
    assert dovecot.count("confsvc/quarantine") == 1
    q = W.by_id(hub.state)["q-1"]
    assert [r.text for r in q.replies] == [CLIENTS["thunderbird_pl"][1]]
    assert await poller.poll_once() == 0


async def test_poller_uses_idle_and_survives_a_kick(
    confsvc_app: Callable[..., Any], dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    running, hub = await _world(confsvc_app, 2)
    questions = W.by_id(hub.state)
    # A poll interval far beyond the waits below: only IDLE can bring the mail in.
    poller = ImapPoller(_url(dovecot), running.app[MAIL].ingest, every_s=600)
    await poller.start()
    try:
        await until(lambda: poller.health()["idle"], timeout=30, what="IDLE")
        assert poller.health()["state"] == "ok"
        dovecot.deliver(_reply(running, "q-1"))
        await until(lambda: bool(questions["q-1"].replies), timeout=30, what="q-1 via IDLE")

        with caplog.at_level(logging.WARNING, logger="confsvc.mail.imap"):
            dovecot.doveadm("kick", dovecot.user)
            await until(lambda: poller.health()["failures"] >= 1, timeout=30, what="the kick")
            await until(lambda: poller.health()["idle"], timeout=30, what="IDLE again")
        assert "IMAP session failed" in caplog.text
        assert poller.health()["state"] == "ok"
        dovecot.deliver(_reply(running, "q-2"))
        await until(lambda: bool(questions["q-2"].replies), timeout=30, what="q-2 after kick")
        # q-1 may have been stored but not yet moved when the kick came: moved now.
        await until(lambda: dovecot.count("confsvc/processed") == 2, timeout=30, what="moves")
        assert dovecot.count("INBOX") == 0
    finally:
        await poller.close()


@pytest.fixture
def tls_dovecot(tmp_path: Path) -> AsyncIterator[tuple[Dovecot, Path]]:
    certs = make_certs(tmp_path)
    server = start_dovecot(cert=certs.cert_file, key=certs.key_file)
    yield server, certs.ca_file
    server.stop()


async def test_starttls_with_the_configured_ca_file(
    confsvc_app: Callable[..., Any], tls_dovecot: tuple[Dovecot, Path]
) -> None:
    dovecot, ca_file = tls_dovecot
    running, _hub = await _world(confsvc_app, 1)
    dovecot.deliver(_reply(running, "q-1"))
    ingest = running.app[MAIL].ingest
    untrusted = ImapPoller(_url(dovecot, "imap+starttls"), ingest)
    with pytest.raises(ssl.SSLCertVerificationError, match="CERTIFICATE_VERIFY_FAILED"):
        await untrusted.poll_once()
    poller = ImapPoller(_url(dovecot, "imap+starttls"), ingest, ca_file=str(ca_file))
    assert await poller.poll_once() == 1
    assert dovecot.count("confsvc/processed") == 1
