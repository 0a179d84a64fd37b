"""The IMAP poller against aioimaplib's own IMAP test server (a real IMAP conversation over
TCP on 127.0.0.1, in this process; not Dovecot): replies in a mailbox become answers,
each message is stored once, and the keyword keeps a second poll from fetching again."""

from __future__ import annotations

import datetime as dt
import email
import sys
import time
import types
from collections.abc import Callable
from email import policy
from typing import Any

import pytest

from confsvc.core import written as W
from confsvc.mail.addresses import reply_address
from confsvc.mail.imap import ImapPoller
from confsvc.mail.setup import MAIL
from tests.conftest import SECRET
from tests.fixtures.mail.clients import CLIENTS
from tests.fixtures.mail.smtp import free_port
from tests.fixtures.questions import pre_session

EPI = "weifang-health-epidemiology"
EPI_MAIL = "epidemiology@weifang-health.example.org"


@pytest.fixture
def imap_testing_server() -> Any:
    # The test server imports pytz only for its UTC constant.
    if "pytz" not in sys.modules:
        sys.modules["pytz"] = types.SimpleNamespace(utc=dt.UTC)  # type: ignore[assignment]
    from aioimaplib import imap_testing_server

    return imap_testing_server


async def test_poller_stores_replies_once(
    confsvc_app: Callable[..., Any], imap_testing_server: Any
) -> None:
    running = await confsvc_app()
    hub = await running.hub()
    await hub.append_system(pre_session((1, 2), "Quarantine?", language="en"))
    mod = await running.ws("moderator")
    for qid in ("q-1", "q-2"):
        ack = await mod.command("written.assign", question=qid, expert=EPI, due=time.time() + 86400)
        assert ack["type"] == "ack"
    await mod.close()

    server = imap_testing_server.MockImapServer()
    port = free_port()
    srv = await server.run_server(host="127.0.0.1", port=port)
    try:
        mailbox = "answers@confsvc.localhost"
        for qid, client in (("q-1", "thunderbird_pl"), ("q-2", "chinese_gbk")):
            build, answer = CLIENTS[client]
            raw = build(
                to=reply_address(SECRET, running.conference, qid, "confsvc.localhost"),
                sender=EPI_MAIL,
                in_reply_to="<x@y>",
                answer=answer,
                mid=f"<imap-{qid}@example.org>",
            )
            msg = email.message_from_bytes(raw, policy=policy.compat32)
            server.receive(imap_testing_server.Mail(msg), imap_user=mailbox)
        poller = ImapPoller(  # aioimaplib's test server has no CREATE: nothing is moved
            f"imap://{mailbox}:secret@127.0.0.1:{port}/INBOX",
            running.app[MAIL].ingest,
            processed=None,
            quarantine=None,
        )
        assert await poller.poll_once() == 2
        assert await poller.poll_once() == 0  # marked: not fetched again
        state = hub.state
        got = {q.id: [r.text for r in q.replies] for q in W.written(state)}
        assert got == {
            "q-1": [CLIENTS["thunderbird_pl"][1]],
            "q-2": [CLIENTS["chinese_gbk"][1]],
        }
    finally:
        srv.close()
        await srv.wait_closed()
