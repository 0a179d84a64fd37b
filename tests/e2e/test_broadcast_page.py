"""Browser: the public live page plays the broadcast, natively and with hls.js.

A site bot publishes (confsvc/media/bot.py), the host starts the run of show, the
server transcodes the program into HLS, and Chromium's <video> on the public page plays
it: its ``currentTime`` advances, and the page says live, then ended with the
conference. The page with its player fits a phone and passes axe-core in every language.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from confsvc.media.bot import SiteBot, parse_link
from tests.conftest import Running, artifact
from tests.e2e.test_pages_fit import AXE_RUN, VISIBLE_TEXT, WIDE, _english_texts, axe_source
from tests.integration.test_broadcast import LOOP, broadcast_agenda

pytestmark = pytest.mark.browser
__all__ = ["axe_source"]  # the fixture, used here by name


@pytest.fixture
async def broadcasting(confsvc_app: Any, tmp_path: Path) -> Any:
    running = await confsvc_app(broadcast_agenda(tmp_path), broadcast_dir=tmp_path / "hls")
    bot = SiteBot(parse_link(running.link("site", "warsaw")), ice_addresses=LOOP)
    await bot.start()
    yield running
    await bot.close()


async def state_of(page: Any) -> str:
    return str(await page.get_attribute("[data-broadcast]", "data-state"))


@pytest.mark.parametrize("player", ["native", "hlsjs"])
async def test_the_live_page_plays_the_broadcast(
    broadcasting: Running, browser: Any, player: str
) -> None:
    running = broadcasting
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    host = await running.ws("host")
    try:
        await page.goto(f"{running.base_url}/c/{running.conference}/live?player={player}")
        assert await state_of(page) == "off"
        assert "public" in (await page.text_content(".broadcast-notice") or "")

        assert (await host.command("ros.start"))["type"] == "ack"
        await page.wait_for_selector('[data-broadcast][data-state="live"]', timeout=30_000)
        assert await page.evaluate("() => window.confsvc.broadcast.mode") == player
        start = await page.evaluate("() => document.querySelector('video').currentTime")
        await page.wait_for_function(
            "(t) => document.querySelector('video').currentTime > t + 2",
            arg=start,
            timeout=20_000,
        )
        shown = await page.evaluate(
            "() => { const v = document.querySelector('video');"
            " return [v.videoWidth, v.videoHeight, v.paused]; }"
        )
        assert shown == [640, 480, False]
        await page.screenshot(path=str(artifact(f"broadcast-{player}.png")))

        assert (await host.command("ros.end"))["type"] == "ack"
        await page.wait_for_selector('[data-broadcast][data-state="ended"]', timeout=30_000)
        # 404s of the playlist before it existed are the browser's own console lines
        assert [e for e in errors if "404" not in e] == []
    finally:
        await host.close()
        await page.close()


@pytest.mark.parametrize("lang", ["en", "pl", "zh"])
async def test_the_live_page_with_its_player_fits_a_phone(
    broadcasting: Running, browser: Any, lang: str, axe_source: str
) -> None:
    ctx = await browser.new_context(viewport={"width": 360, "height": 740})
    page = await ctx.new_page()
    url = f"{broadcasting.base_url}/c/{broadcasting.conference}/live?lang={lang}"
    try:
        await page.goto(url, wait_until="load")
        await page.wait_for_selector("[data-broadcast]")
        scroll = await page.evaluate("() => document.scrollingElement.scrollWidth")
        assert scroll <= 360, await page.evaluate(WIDE)
        if lang != "en":
            texts = set(await page.evaluate(VISIBLE_TEXT))
            assert sorted(texts & _english_texts()) == []
        await page.evaluate(axe_source + "\n;0")
        assert json.dumps(await page.evaluate(AXE_RUN)) == "[]"
        await page.screenshot(path=str(artifact(f"broadcast-live-{lang}-phone.png")))
    finally:
        await ctx.close()
