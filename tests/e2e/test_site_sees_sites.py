"""Browser: two site pages with Chromium's fake camera publish and, on the same connection,
receive each other through the relay; neither receives itself, and each hears the other
only while that other site holds the floor."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from tests.conftest import Running, artifact
from tests.e2e.media import audio, frames, until

pytestmark = pytest.mark.browser


async def join(ctx: Any, running: Running, site: str, lang: str) -> Any:
    page = await ctx.new_page()
    await page.goto(running.link("site", site) + f"?lang={lang}")
    await page.wait_for_function("() => document.querySelector('[data-preview]').videoWidth > 0")
    await page.click("[data-join]")
    return page


async def tile_video_width(page: Any, site: str) -> int:
    return int(
        await page.evaluate(
            f"document.querySelector('[data-video-grid] [data-site={site}] video').videoWidth"
        )
    )


async def test_two_sites_see_each_other_and_never_themselves(
    running: Running, browser: Any
) -> None:
    ctx = await browser.new_context(permissions=["camera", "microphone"])
    warsaw = await join(ctx, running, "warsaw", "pl")
    weifang = await join(ctx, running, "weifang", "zh")
    for page in (warsaw, weifang):
        await page.wait_for_function(
            "() => window.confsvc.media.state === 'connected'", timeout=15_000
        )
        assert await page.get_attribute("[data-on-air]", "data-live") == "muted"

    # What each asked the relay for, as the relay answered it: every other site, not itself.
    assert await warsaw.evaluate("window.confsvc.media.subscribed()") == ["olsztyn", "weifang"]
    assert await weifang.evaluate("window.confsvc.media.subscribed()") == ["warsaw", "olsztyn"]
    assert await warsaw.locator("[data-video-grid] .city").all_text_contents() == [
        "Olsztyn",
        "Weifang",
    ]
    assert await weifang.locator("[data-video-grid] .city").all_text_contents() == [
        "华沙",
        "奥尔什丁",
    ]

    at_warsaw = await until(warsaw, lambda s: frames(s, "weifang") > 5, "Weifang's video in Warsaw")
    at_weifang = await until(
        weifang, lambda s: frames(s, "warsaw") > 5, "Warsaw's video in Weifang"
    )
    assert await tile_video_width(warsaw, "weifang") > 0
    assert await tile_video_width(weifang, "warsaw") > 0
    assert "warsaw" not in at_warsaw and "weifang" not in at_weifang
    assert frames(at_warsaw, "olsztyn") == 0  # Olsztyn is not connected: nothing to decode
    assert audio(at_warsaw, "weifang") == 0 and audio(at_weifang, "warsaw") == 0  # no floor yet

    host = await running.ws("host")
    assert (await host.command("ros.start"))["type"] == "ack"  # floor: warsaw
    await warsaw.wait_for_function("() => window.confsvc.media.live === 'live'")
    await until(weifang, lambda s: audio(s, "warsaw") > 2000, "Warsaw's audio in Weifang")
    floor_tiles = await weifang.locator("[data-video-grid] .tile.floor").evaluate_all(
        "tiles => tiles.map(t => [t.dataset.site, t.querySelector('video').muted])"
    )
    assert floor_tiles == [["warsaw", False]]
    # Warsaw holds the floor and hears nobody: not itself (no slot), not muted Weifang.
    later = await until(
        warsaw, lambda s: frames(s, "weifang") > frames(at_warsaw, "weifang") + 20, "more video"
    )
    assert "warsaw" not in later
    assert audio(later, "weifang") == 0
    assert await warsaw.locator("[data-video-grid] .tile.floor").count() == 0

    await weifang.screenshot(path=str(artifact("site-sees-sites.png")), full_page=True)
    await host.close()
    await ctx.close()
    gc.collect()


async def test_a_site_page_before_joining_shows_which_sites_are_live(
    running: Running, browser: Any
) -> None:
    from playwright.async_api import expect

    ctx = await browser.new_context(permissions=["camera", "microphone"])
    weifang = await ctx.new_page()
    await weifang.goto(running.link("site", "weifang") + "?lang=en")
    await expect(weifang.locator("[data-conn]")).to_have_attribute("data-state", "connected")
    await weifang.click("[data-join]")
    await expect(weifang.locator("[data-media-status]")).to_have_attribute(
        "data-state", "connected", timeout=15_000
    )
    warsaw = await ctx.new_page()  # opened after Weifang went live, and not joined
    await warsaw.goto(running.link("site", "warsaw") + "?lang=en")
    tile = warsaw.locator('[data-video-grid] [data-site="weifang"]')
    await expect(tile.locator("[data-tile-state]")).to_have_text("Live: join to watch")
    await expect(tile).not_to_have_class("tile offline")
    olsztyn = warsaw.locator('[data-video-grid] [data-site="olsztyn"] [data-tile-state]')
    await expect(olsztyn).to_have_text("Offline")  # not connected at all
    await warsaw.evaluate("window.confsvc.media.stats = null")
    for _ in range(100):  # the next round of quality sampling (every 2 s)
        if await warsaw.evaluate("window.confsvc.media.stats !== null"):
            break
        await asyncio.sleep(0.1)
    assert await warsaw.locator("[data-video-grid] .quality").all_text_contents() == ["", ""]
    await weifang.click("[data-leave]")
    await expect(tile.locator("[data-tile-state]")).to_have_text("Offline")
    await ctx.close()
