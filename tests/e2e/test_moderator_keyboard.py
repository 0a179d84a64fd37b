"""Browser: a long queue is one stop in the Tab order, and the selection is announced.

Only the selected question's buttons can be reached with Tab (the others have tabindex
-1: a roving tabindex); j/k and the arrow keys move the selection and the focus with it;
a polite live region says the selected question's id, status and text.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Running

pytestmark = pytest.mark.browser

TABBABLE = """() => [...document.querySelectorAll('[data-mod-list] button, [data-mod-list] li')]
  .filter(e => e.tabIndex >= 0).map(e => e.closest('[data-q]').dataset.q)"""


async def test_the_queue_is_one_tab_stop_and_the_selection_is_announced(
    running: Running, browser: Any
) -> None:
    askers = [await running.ws("participant"), await running.ws("participant")]
    for i in range(8):
        ack = await askers[i % 2].command("q.ask", text=f"Question number {i + 1}?", language="en")
        assert ack["type"] == "ack", ack
    page = await browser.new_page()
    await page.goto(running.link("moderator") + "?lang=en")
    await page.wait_for_selector('[data-mod-list] [data-q="q-8"]')
    all_buttons = await page.locator("[data-mod-list] button").count()
    reachable = await page.evaluate(TABBABLE)
    assert set(reachable) == {"q-1"}
    assert all_buttons > 5 * len(reachable)  # the other questions' buttons are out of it
    announce = page.locator("[data-mod-announce]")
    assert await announce.text_content() == "q-1 · Pending · Question number 1?"

    await page.focus('.mod-item[data-q="q-1"]')
    await page.keyboard.press("ArrowDown")
    await page.wait_for_function(
        "() => document.activeElement.dataset && document.activeElement.dataset.q === 'q-2'"
    )
    assert set(await page.evaluate(TABBABLE)) == {"q-2"}
    assert await announce.text_content() == "q-2 · Pending · Question number 2?"
    await page.keyboard.press("Tab")  # into the selected question's own buttons
    assert (
        await page.evaluate("() => document.activeElement.closest('[data-q]').dataset.q") == "q-2"
    )
    await page.close()
