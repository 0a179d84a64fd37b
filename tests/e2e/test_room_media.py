"""Browser: three site pages with Chromium's fake camera publish through the relay; a
participant page decodes all three, and audio follows the host's "next"."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from tests.conftest import Running, artifact
from tests.e2e.media import audio, until

pytestmark = pytest.mark.browser

SITES = ["warsaw", "olsztyn", "weifang"]


async def test_participant_sees_three_sites_and_hears_the_floor_site(
    running: Running, browser: Any
) -> None:
    ctx = await browser.new_context(permissions=["camera", "microphone"])
    sites = []
    for site in SITES:
        page = await ctx.new_page()
        await page.goto(running.link("site", site) + "?lang=en")
        await page.wait_for_selector("[data-join]")
        await page.wait_for_function(
            "() => document.querySelector('[data-preview]').videoWidth > 0"
        )
        await page.click("[data-join]")
        sites.append(page)
    for page in sites:
        await page.wait_for_function(
            "() => window.confsvc.media.state === 'connected'", timeout=15_000
        )
        assert await page.get_attribute("[data-on-air]", "data-live") == "muted"
        # The site's browser caps its video bitrate (RTCRtpSender.setParameters).
        assert await page.evaluate("window.confsvc.media.bitrateCapKbps") == 1200
    viewer = await ctx.new_page()
    await viewer.goto(running.link("participant") + "?lang=pl")
    await viewer.wait_for_function(
        "() => window.confsvc.media.state === 'connected'", timeout=15_000
    )
    stats = await until(
        viewer,
        lambda s: all(s.get(x, {}).get("framesDecoded", 0) > 5 for x in SITES),
        "decoded video from every site",
    )
    assert all(audio(stats, x) == 0 for x in SITES)  # nobody holds the floor yet
    labels = await viewer.locator("[data-video-grid] .city").all_text_contents()
    assert labels == ["Warszawa", "Olsztyn", "Weifang"]

    host = await running.ws("host")
    assert (await host.command("ros.start"))["type"] == "ack"  # floor: warsaw
    await until(viewer, lambda s: audio(s, "warsaw") > 2000, "audio from Warsaw")
    await sites[0].wait_for_function("() => window.confsvc.media.live === 'live'")
    assert (await host.command("ros.next"))["type"] == "ack"  # floor: olsztyn
    first = await until(viewer, lambda s: audio(s, "olsztyn") > 2000, "audio from Olsztyn")
    # Let Olsztyn's audio keep flowing for a while: Warsaw's byte count must not move.
    later = await until(
        viewer, lambda s: audio(s, "olsztyn") > audio(first, "olsztyn") + 8000, "more Olsztyn"
    )
    assert audio(later, "warsaw") == audio(first, "warsaw")
    assert audio(later, "weifang") == 0
    await sites[1].wait_for_function("() => window.confsvc.media.live === 'live'")
    assert await sites[0].get_attribute("[data-on-air]", "data-live") == "muted"
    floor_tiles = await viewer.locator("[data-video-grid] .tile.floor").evaluate_all(
        "tiles => tiles.map(t => t.dataset.site)"
    )
    assert floor_tiles == ["olsztyn"]
    await viewer.screenshot(path=str(artifact("room-participant.png")), full_page=True)
    await sites[1].screenshot(path=str(artifact("room-site.png")), full_page=True)
    await host.close()
    await ctx.close()
    gc.collect()
