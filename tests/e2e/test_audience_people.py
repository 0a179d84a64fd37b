"""Browser: two Chromium contexts open one shared audience link and are two people (their
own "Your questions", the rejection reason shown to its asker only, their own votes);
the "continue on another device" link makes a third context the first person again; a
tampered device link is refused on the page, saying why."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Running, artifact
from tests.e2e.test_questions import connected

pytestmark = pytest.mark.browser


async def _open(browser: Any, url: str) -> tuple[Any, Any]:
    ctx = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await ctx.new_page()
    await page.goto(url, wait_until="domcontentloaded")
    await connected(page)
    return ctx, page


async def _ask(page: Any, text: str, qid: str) -> None:
    await page.fill("[data-q-text]", text)
    await page.click("[data-q-send]")
    await page.wait_for_selector(f'[data-q-mine] [data-q="{qid}"]')


async def _mine(page: Any) -> list[str]:
    return list(
        await page.eval_on_selector_all(
            "[data-q-mine] [data-q]", "(els) => els.map((e) => e.dataset.q)"
        )
    )


async def test_two_browsers_on_one_link_are_two_people(running: Running, browser: Any) -> None:
    mod = await running.ws("moderator")
    link = running.link("participant") + "?lang=en"
    ctx_a, alice = await _open(browser, link)
    ctx_b, bob = await _open(browser, link)
    await _ask(alice, "Do the hospitals in Weifang have enough masks?", "q-1")
    await _ask(bob, "How long does the quarantine last?", "q-2")
    assert await _mine(alice) == ["q-1"]
    assert await _mine(bob) == ["q-2"]

    reason = "answered in the opening remarks"
    assert (await mod.command("q.reject", id="q-1", reason=reason))["type"] == "ack"
    assert (await mod.command("q.approve", id="q-2"))["type"] == "ack"
    await alice.wait_for_selector('[data-q-mine] [data-q="q-1"][data-status="rejected"]')
    assert reason in (await alice.text_content('[data-q-mine] [data-q="q-1"]') or "")
    await bob.wait_for_selector('[data-q-list] [data-q="q-2"]')
    assert reason not in (await bob.text_content("[data-q-panel]") or "")

    # Bob's approved question: Alice may vote for it, Bob may not (it is his own).
    await alice.wait_for_selector('[data-q-list] [data-q="q-2"] button.vote')
    assert await bob.query_selector('[data-q-list] [data-q="q-2"] button.vote') is None
    await alice.click('[data-q-list] [data-q="q-2"] button.vote')
    await alice.wait_for_selector('[data-q-list] [data-q="q-2"] button.vote[aria-pressed="true"]')
    await bob.wait_for_function(
        "() => document.querySelector('[data-q-list] [data-q=\"q-2\"] .q-votes')"
        "?.textContent === '1'"
    )

    # Alice carries her person to a third browser with the link on her page.
    await alice.wait_for_selector("[data-person-panel]:not([hidden])")
    carried = await alice.input_value("[data-person-link]")
    assert "#person=" in carried
    ctx_c, phone = await _open(browser, carried)
    assert "#" not in phone.url  # the token left the address bar for the browser's store
    await phone.wait_for_selector('[data-q-mine] [data-q="q-1"][data-status="rejected"]')
    assert await _mine(phone) == ["q-1"]
    assert reason in (await phone.text_content("[data-q-mine]") or "")
    await phone.wait_for_selector('[data-q-list] [data-q="q-2"] button.vote[aria-pressed="true"]')
    await phone.reload(wait_until="domcontentloaded")  # kept by the browser, not the URL
    await connected(phone)
    await phone.wait_for_selector('[data-q-mine] [data-q="q-1"]')
    await phone.screenshot(path=str(artifact("audience-person-phone.png")), full_page=True)
    for ctx in (ctx_a, ctx_b, ctx_c):
        await ctx.close()


async def test_a_tampered_device_link_is_refused_on_the_page(
    running: Running, browser: Any
) -> None:
    link = running.link("participant") + "?lang=pl"
    ctx_a, alice = await _open(browser, link)
    await alice.wait_for_selector("[data-person-panel]:not([hidden])")
    carried = await alice.input_value("[data-person-link]")
    ctx = await browser.new_context()
    page = await ctx.new_page()
    await page.goto(carried[:-1] + ("0" if carried[-1] != "0" else "1"))
    await page.wait_for_selector("[data-person-refused]:not([hidden])")
    assert await page.text_content("[data-person-error]") == (
        "Podpis tego tokenu osoby jest nieprawidłowy"
    )
    # The refused token is forgotten: "join as a new person" gives a person of its own.
    await page.click("[data-person-again]")
    await connected(page)
    await page.wait_for_selector("[data-person-panel]:not([hidden])")
    mine = await page.input_value("[data-person-link]")
    assert mine.split("#person=")[1].split(".")[1] != carried.split("#person=")[1].split(".")[1]
    for c in (ctx_a, ctx):
        await c.close()
