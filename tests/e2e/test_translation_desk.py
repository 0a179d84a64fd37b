"""Browser: the translation desk and the whole flow of a Polish question answered in
Chinese. The translator's page translates the question (the moderator console shows the
original and the translation side by side, and the assignment mail, which waited for it,
goes in Chinese); the expert replies in Chinese by SMTP; the desk translates the answer
into Polish; the dashboard shows each step's translation state; the moderator publishes;
the public page in Polish shows the Polish answer with the Chinese original one click away."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from confsvc.core import written as W
from tests.conftest import artifact
from tests.fixtures.mail.clients import CLIENTS
from tests.fixtures.mail.smtp import free_port, start_sink, stop_sink, until
from tests.integration.test_mail_flow import EPI, EPI_MAIL, MailWorld
from tests.integration.test_mail_languages import (
    CHINESE_A,
    CHINESE_Q,
    POLISH_A,
    POLISH_Q,
    desk_agenda,
)

pytestmark = pytest.mark.browser


async def test_the_desk_translates_a_polish_question_and_its_chinese_answer(
    confsvc_app: Callable[..., Any], browser: Any, tmp_path: Path
) -> None:
    sink = await start_sink()
    port = free_port()
    try:
        running = await confsvc_app(
            agenda_path=desk_agenda(tmp_path),
            smtp_out=f"smtp+plain://127.0.0.1:{sink.port}",
            smtp_in=f"127.0.0.1:{port}",
        )
        world = MailWorld(running, sink, port)
        hub = await running.hub()
        mod_ws = await running.ws("moderator")
        row = {"line": 2, "text": POLISH_Q, "language": "pl", "asker": "Anna", "email": "a@x.pl"}
        assert (await mod_ws.command("q.import", rows=[row]))["type"] == "ack"
        due = time.time() + 86400
        await mod_ws.command("written.assign", question="q-1", expert=EPI, due=due)

        ctx = await browser.new_context()
        desk, console, board, public = [await ctx.new_page() for _ in range(4)]
        token = running.token("moderator")
        base, cid = running.base_url, running.conference
        await board.goto(f"{base}/c/{cid}/written?t={token}&lang=en")
        await board.wait_for_selector(
            'tr[data-q="q-1"] [data-translation-state="waiting"]', timeout=15_000
        )
        assert sink.messages == []  # the mail waits for the desk
        await console.goto(f"{base}/j/{token}?lang=en")
        await console.wait_for_selector('[data-conn][data-state="connected"]', timeout=15_000)
        await console.wait_for_selector('[data-q="q-1"] [data-needs="zh en"]', timeout=10_000)

        # The translator's page: the question, a box for Chinese; saving sends the mail.
        link = running.link("translator", languages=("zh", "pl"), name="Desk")
        await desk.goto(f"{link}?lang=zh")
        await desk.wait_for_selector('[data-conn][data-state="connected"]', timeout=15_000)
        await desk.fill('[data-translate="q-1:zh"]', CHINESE_Q)
        await desk.click('li[data-q="q-1"] form[data-language="zh"] button[type="submit"]')
        side = console.locator('[data-q="q-1"] [data-translation="zh"] .q-text')
        await side.wait_for(timeout=10_000)
        assert await side.text_content() == CHINESE_Q
        [assignment] = await sink.wait_for(1)
        assert assignment.msg["Content-Language"] == "zh"
        await board.wait_for_selector('tr[data-q="q-1"] .badge[data-status="sent"]', timeout=10_000)

        # The expert answers in Chinese by e-mail: the desk gets the answer to translate.
        build, _ = CLIENTS["gmail"]
        raw = build(
            to=world.reply_to("q-1"),
            sender=EPI_MAIL,
            in_reply_to=str(assignment.msg["Message-ID"]),
            answer=CHINESE_A,
        )
        await world.send(raw, world.reply_to("q-1"))
        await board.wait_for_selector(
            'tr[data-q="q-1"] [data-translation-state="none"]', timeout=15_000
        )
        await desk.wait_for_selector('[data-translate="answer:q-1:pl"]', timeout=10_000)
        await desk.fill('[data-translate="answer:q-1:pl"]', POLISH_A)
        await desk.click('li[data-q="answer:q-1"] form[data-language="pl"] button[type="submit"]')
        shown = board.locator('[data-answer-translations="q-1"] [data-answer-translation="pl"] p')
        await shown.wait_for(timeout=10_000)
        assert await shown.text_content() == POLISH_A
        await desk.screenshot(path=str(artifact("desk-translator-zh.png")), full_page=True)

        # Published: the public page reads Polish, the Chinese original one click away.
        await board.click('[data-publish="q-1"]')
        await until(lambda: W.by_id(hub.state)["q-1"].status == "published", what="published")
        await public.goto(f"{base}/c/{cid}/live?lang=pl")
        answer = public.locator('[data-written-list] li[data-q="q-1"] > .written-a')
        assert await answer.text_content() == POLISH_A
        original = public.locator('li[data-q="q-1"] details[data-original] .written-a')
        assert await original.is_visible() is False
        await public.click('li[data-q="q-1"] details[data-original] summary')
        assert await original.is_visible() is True
        assert await original.text_content() == CHINESE_A
        await public.screenshot(path=str(artifact("desk-public-pl.png")), full_page=True)
        [_, to_asker] = await sink.wait_for(2)
        assert to_asker.msg["Content-Language"] == "pl"
        await ctx.close()
    finally:
        await stop_sink(sink)
