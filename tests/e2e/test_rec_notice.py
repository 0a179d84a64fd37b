"""Browser: the REC notice. A page opened before the recording starts shows it as soon as
the host starts it, in the page's language, says "paused" while paused and goes away
when the recording stops: on a participant's room (WebSocket) and on the public live
page (event stream), the two ways pages hear the conference."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Running

pytestmark = pytest.mark.browser

NOTICE = "() => document.getElementById('rec-notice')"
SHOWN = "() => { const n = document.getElementById('rec-notice'); return n && !n.hidden; }"
HIDDEN = "() => { const n = document.getElementById('rec-notice'); return n && n.hidden; }"
PAUSED = "() => document.getElementById('rec-notice').dataset.state === 'paused'"


async def test_every_page_shows_rec_while_recorded_in_its_language(
    running: Running, browser: Any
) -> None:
    host = await running.ws("host")
    ctx = await browser.new_context()
    try:
        room = await ctx.new_page()
        await room.goto(running.link("participant") + "?lang=zh")
        live = await ctx.new_page()
        await live.goto(f"{running.base_url}/c/{running.conference}/live?lang=pl")
        for page in (room, live):
            await page.wait_for_function(NOTICE, timeout=15_000)
            assert await page.evaluate(HIDDEN)
        assert (await host.command("ros.start"))["type"] == "ack"
        assert (await host.command("rec.start"))["type"] == "ack"
        for page in (room, live):
            await page.wait_for_function(SHOWN, timeout=15_000)
        assert await room.text_content("#rec-notice") == "录制中 · 本会议正在录制"
        assert (
            await live.text_content("#rec-notice") == "NAGRYWANIE · ta konferencja jest nagrywana"
        )

        assert (await host.command("rec.pause"))["type"] == "ack"
        await live.wait_for_function(PAUSED, timeout=15_000)
        assert (
            await live.text_content("#rec-notice") == "NAGRYWANIE wstrzymane · zostanie wznowione"
        )

        assert (await host.command("rec.stop"))["type"] == "ack"
        for page in (room, live):
            await page.wait_for_function(HIDDEN, timeout=15_000)

        late = await ctx.new_page()  # opened while nothing is recorded: no notice
        await late.goto(running.link("moderator"))
        await late.wait_for_function(NOTICE, timeout=15_000)
        assert await late.evaluate(HIDDEN)
    finally:
        await ctx.close()
        await host.close()
