"""Browser: a host opens the console from an invite link; a second console follows live."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Running, artifact

pytestmark = pytest.mark.browser


async def test_host_console_start_next_seen_live_in_second_console(
    running: Running, browser: Any
) -> None:
    link = running.link("host")
    ctx = await browser.new_context()
    first = await ctx.new_page()
    second = await ctx.new_page()
    await first.goto(link + "?lang=en")
    await second.goto(link + "?lang=en")
    for page in (first, second):
        await page.wait_for_selector('[data-conn][data-state="connected"]', timeout=15_000)
    await first.click('button[data-cmd="ros.start"]')
    await second.wait_for_function(
        "() => document.querySelector('[data-ros-status]').dataset.status === 'running'",
        timeout=10_000,
    )
    assert await second.text_content("[data-ros-title]") == (
        "Opening remarks by the Chinese ambassador to Poland"
    )
    await first.click('button[data-cmd="ros.next"]')
    await second.wait_for_function(
        "() => document.querySelector('[data-ros-title]').textContent.includes('deputy director')",
        timeout=10_000,
    )
    current_rows = await second.locator(
        "[data-ros-table] tbody tr.current td:nth-child(2) .ros-item-title"
    ).all_text_contents()
    assert current_rows == [
        "Opening remarks by the deputy director, Shandong provincial foreign affairs office"
    ]
    assert await second.text_content("[data-ros-floor]") == "Olsztyn"
    floor = "[data-ros-table] tbody tr.current td:nth-child(2) .ros-item-floor"
    assert await second.text_content(floor) == "Olsztyn"  # under the title, not a column
    await second.screenshot(path=str(artifact("host-console.png")), full_page=True)
    hub = await running.hub()
    assert hub.state.parts["ros"].current == 1
    await ctx.close()


async def test_forged_link_shows_a_clear_page(running: Running, browser: Any) -> None:
    page = await browser.new_page()
    resp = await page.goto(running.base_url + "/j/eyJmb28iOjF9.bad?lang=pl")
    assert resp.status == 403
    assert await page.text_content("h1") == "Ten link nie działa"
    await page.close()
