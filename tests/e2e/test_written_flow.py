"""Browser: a moderator assigns a question, the expert replies by SMTP, the moderator
publishes, and the public live page shows the answer (live, without reloading)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import aiosmtplib
import pytest

from confsvc.core import written as W
from confsvc.core.events import NewEvent
from confsvc.mail.addresses import reply_address
from tests.conftest import SECRET, artifact
from tests.fixtures.mail.clients import CLIENTS
from tests.fixtures.mail.smtp import free_port, start_sink, stop_sink, until

pytestmark = pytest.mark.browser

EPI = "weifang-health-epidemiology"
EPI_MAIL = "epidemiology@weifang-health.example.org"


async def test_assign_reply_by_smtp_publish_shows_on_public_page(
    confsvc_app: Callable[..., Any], browser: Any
) -> None:
    sink = await start_sink()
    port = free_port()
    try:
        running = await confsvc_app(
            smtp_out=f"smtp+plain://127.0.0.1:{sink.port}", smtp_in=f"127.0.0.1:{port}"
        )
        hub = await running.hub()
        await hub.append_system(
            [
                NewEvent(
                    type="q.asked",
                    data={
                        "id": "q-1",
                        "text": "How long must close contacts stay in quarantine?",
                        "language": "en",
                        "name": "Anna",
                        "site": "olsztyn",
                        "source": "pre_session",
                        "email": None,
                        "invite": None,
                    },
                )
            ]
        )
        ctx = await browser.new_context()
        mod = await ctx.new_page()
        public = await ctx.new_page()
        token = running.token("moderator")
        await mod.goto(f"{running.base_url}/c/{running.conference}/written?t={token}&lang=en")
        await mod.wait_for_selector('[data-conn][data-state="connected"]', timeout=15_000)
        await mod.wait_for_selector('tr[data-q="q-1"] [data-assign="q-1"]', timeout=10_000)
        # the suggestion (topic "quarantine", language en) is preselected
        assert await mod.input_value('[data-expert-select="q-1"]') == EPI
        assert await mod.text_content('[data-count="open"]') == "1"
        await mod.click('[data-assign="q-1"]')
        [out] = await sink.wait_for(1)
        await mod.wait_for_selector('tr[data-q="q-1"] .badge[data-status="sent"]', timeout=10_000)
        # A day a month ahead: a due date more than 366 days away is refused (f.set_due).
        new_due = dt.date.today() + dt.timedelta(days=30)
        await mod.fill('[data-due-edit="q-1"]', new_due.isoformat())
        await until(
            lambda: (
                W.by_id(hub.state)["q-1"].due
                == dt.datetime.combine(new_due, dt.time(18, 0)).timestamp()
            ),
            what="the new due date",
        )

        await public.goto(f"{running.base_url}/c/{running.conference}/live?lang=en")
        await public.wait_for_selector("[data-written-empty]:not([hidden])", timeout=10_000)

        build, answer = CLIENTS["gmail"]
        rto = reply_address(SECRET, running.conference, "q-1", "confsvc.localhost")
        raw = build(to=rto, sender=EPI_MAIL, in_reply_to=str(out.msg["Message-ID"]), answer=answer)
        await aiosmtplib.send(
            raw, sender=EPI_MAIL, recipients=[rto], hostname="127.0.0.1", port=port
        )

        await mod.wait_for_selector('[data-publish="q-1"]', timeout=10_000)
        assert await mod.input_value('[data-answer-edit="q-1"]') == answer
        await mod.fill('[data-answer-edit="q-1"]', answer + "\nReviewed by the moderator.")
        await mod.click('[data-publish="q-1"]')
        await mod.wait_for_selector(
            'tr[data-q="q-1"] .badge[data-status="published"]', timeout=10_000
        )
        await public.wait_for_selector('[data-written-list] li[data-q="q-1"]', timeout=10_000)
        shown = await public.text_content('[data-written-list] li[data-q="q-1"] .written-a')
        assert shown == answer + "\nReviewed by the moderator."
        await mod.screenshot(path=str(artifact("written-dashboard.png")), full_page=True)
        await public.screenshot(path=str(artifact("written-public.png")), full_page=True)
        # a fresh load of the public page renders it server-side too
        await public.reload()
        assert "Reviewed by the moderator." in (
            await public.text_content('[data-written-list] li[data-q="q-1"]') or ""
        )
        await ctx.close()
    finally:
        await stop_sink(sink)


async def test_expert_answers_in_the_browser(confsvc_app: Callable[..., Any], browser: Any) -> None:
    running = await confsvc_app()
    hub = await running.hub()
    await hub.append_system(
        [
            NewEvent(
                type="q.asked",
                data={
                    "id": "q-1",
                    "text": "Which masks for hospital staff?",
                    "language": "en",
                    "name": None,
                    "site": "olsztyn",
                    "source": "pre_session",
                    "email": None,
                    "invite": None,
                },
            )
        ]
    )
    mod = await running.ws("moderator")
    import time

    ack = await mod.command("written.assign", question="q-1", expert=EPI, due=time.time() + 86400)
    assert ack["type"] == "ack"
    page = await browser.new_page()
    await page.goto(running.link("expert", expert=EPI, name="Epidemiology") + "?lang=pl")
    await page.wait_for_selector('[data-answer="q-1"]', timeout=15_000)
    assert await page.text_content('[data-send="q-1"]') == "Wyślij odpowiedź"
    await page.fill('[data-answer="q-1"]', "FFP2 w strefach izolacji.")
    await page.click('[data-send="q-1"]')
    await page.wait_for_selector('[data-thanks="q-1"]', timeout=10_000)
    q = W.by_id(hub.state)["q-1"]
    assert (q.status, q.replies[0].text, q.replies[0].via) == (
        "answered",
        "FFP2 w strefach izolacji.",
        "web",
    )
    other = await browser.new_page()
    await other.goto(running.link("expert", expert="weifang-health-hospitals") + "?lang=en")
    await other.wait_for_selector("[data-empty]:not([hidden])", timeout=15_000)
    await page.close()
    await other.close()
    await mod.close()
