"""Browser: the host console warns before an item runs over, and says when it has.

The app runs on a clock the test moves (``confsvc_app(clock=…)``); the first item of the
agenda lasts two minutes. 10 s into it there is no warning; 70 s in, the console says
less than a minute is left; 130 s in, that the item runs over; +5 min takes it back; the page learns the time from the server's view (reloaded
after each move), not by waiting. The big clock, the next item and the predicted end in
each site's time zone are checked on the way. The moderator console counts a question's
age on the same server clock.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLE, artifact

pytestmark = pytest.mark.browser


async def test_the_host_console_warns_at_one_minute_left_and_on_overrun(
    confsvc_app: Any, browser: Any, tmp_path: Path
) -> None:
    agenda = tmp_path / "short.yaml"
    text = SAMPLE.read_text("utf-8")
    agenda.write_text(text.replace("minutes: 8", "minutes: 2", 1), "utf-8")
    now = [time.time()]
    running = await confsvc_app(agenda_path=agenda, clock=lambda: now[0])
    host = await running.ws("host")
    assert (await host.command("ros.start"))["type"] == "ack"
    page = await browser.new_page(viewport={"width": 1366, "height": 900})
    url = running.link("host") + "?lang=en"

    async def at(seconds: float) -> None:
        now[0] += seconds
        await page.goto(url)
        await page.wait_for_selector('[data-conn][data-state="connected"]', timeout=15_000)

    await at(10)  # 110 s left: no warning yet
    assert await page.is_hidden("[data-ros-warning]")
    assert await page.text_content("[data-ros-next]") == (
        "Opening remarks by the deputy director, Shandong provincial foreign affairs office"
    )
    zones = await page.text_content("[data-ros-end-zones]") or ""
    groups = [g.rsplit(" ", 1) for g in zones.split(" · ")]  # the two Polish sites share one
    assert sorted(name for name, _ in groups) == ["Olsztyn, Warsaw", "Weifang"], zones
    assert len(await page.text_content("[data-ros-clock]") or "") == 8  # hh:mm:ss
    # The timers tick twice a second: no live region reads them out each time.
    assert (
        await page.evaluate(
            "() => document.querySelector('[data-ros-elapsed]').closest('[aria-live]')"
        )
        is None
    )

    await at(60)  # 50 s left
    warning = page.locator('[data-ros-warning][data-state="soon"]')
    await warning.wait_for(timeout=5_000)
    assert await warning.text_content() == "Less than a minute left: wrap up or extend"
    assert await page.get_attribute("[data-ros-warning]", "role") == "alert"
    await page.screenshot(path=str(artifact("host-warning-soon.png")))

    await at(60)  # 10 s over
    over = page.locator('[data-ros-warning][data-state="over"]')
    await over.wait_for(timeout=5_000)
    assert await over.text_content() == "This item is running over its planned time"
    assert await page.text_content("[data-ros-remaining]") == "0:00"
    assert await page.get_attribute(".overrun-box", "class") == "timer overrun-box overrun"
    await page.screenshot(path=str(artifact("host-warning-over.png")))

    # +5 min gives the item time again: the warning goes.
    await page.click('button[data-cmd="ros.extend"][data-minutes="5"]')
    await page.wait_for_function(
        "() => document.querySelector('[data-ros-warning]').hidden === true"
    )
    await page.close()


async def test_the_moderator_sees_a_questions_age_on_the_servers_clock(
    confsvc_app: Any, browser: Any
) -> None:
    now = [time.time()]
    running = await confsvc_app(clock=lambda: now[0])
    asker = await running.ws("participant")
    assert (await asker.command("q.ask", text="Czy szkoły są otwarte?", language="pl"))[
        "type"
    ] == "ack"
    now[0] += 5 * 60 + 10  # the server is five minutes on; this browser's clock is not
    page = await browser.new_page()
    await page.goto(running.link("moderator") + "?lang=en")
    await page.wait_for_selector('[data-q="q-1"] .glance .age')
    expected = await page.evaluate(
        "() => new Intl.RelativeTimeFormat('en', {numeric: 'auto', style: 'short'})"
        ".format(-5, 'minute')"
    )
    assert await page.text_content('[data-q="q-1"] .glance .age') == expected
    assert await page.text_content('[data-q="q-1"] .glance .lang') == "Polish"
    await page.close()
