"""Browser: a participant asks; a moderator approves and puts it on air; the participant's
page, the host console and the public page show it on air; the moderator marks it answered.
HTML in the question stays text on every page."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Running, artifact

pytestmark = pytest.mark.browser

QUESTION = 'How did Weifang trace contacts? <img src=x onerror="window.__xss=1"><b>bold</b>'


async def connected(page: Any) -> None:
    try:
        await page.wait_for_selector('[data-conn][data-state="connected"]', timeout=15_000)
    except Exception as exc:
        state = await page.evaluate("document.querySelector('[data-conn]')?.dataset.state")
        raise AssertionError(f"{page.url.split('?')[0][-40:]} not connected: {state}") from exc


async def test_question_from_ask_to_on_air_to_answered(running: Running, browser: Any) -> None:
    host_ws = await running.ws("host")
    await host_ws.command("ros.start")
    ctx = await browser.new_context()
    participant = await ctx.new_page()
    moderator = await ctx.new_page()
    host = await ctx.new_page()
    public = await ctx.new_page()
    await participant.goto(running.link("participant") + "?lang=en", wait_until="domcontentloaded")
    await moderator.goto(running.link("moderator") + "?lang=en", wait_until="domcontentloaded")
    await host.goto(running.link("host") + "?lang=en", wait_until="domcontentloaded")
    await public.goto(
        f"{running.base_url}/c/{running.conference}/live?lang=en", wait_until="domcontentloaded"
    )
    for page in (participant, moderator, host, public):
        await connected(page)

    # The participant asks; the language is guessed as they type.
    await participant.fill("[data-q-text]", QUESTION)
    assert await participant.input_value("[data-q-language]") == "en"
    await participant.fill("[data-q-name]", "Anna")
    await participant.click("[data-q-send]")
    await participant.wait_for_selector('[data-q-mine] [data-q="q-1"][data-status="pending"]')
    assert await participant.text_content('[data-q-mine] [data-q="q-1"] [data-q-status]') == (
        "Waiting for a moderator"
    )

    # The moderator sees it pending, approves with the keyboard, puts it on air.
    await moderator.wait_for_selector('[data-mod-list] [data-q="q-1"]')
    assert await moderator.text_content('[data-count="pending"]') == "1"
    assert await moderator.text_content('[data-q="q-1"] .q-text') == QUESTION
    await moderator.click("h1")  # focus the page, not a field
    await moderator.keyboard.press("a")
    await moderator.wait_for_function(
        "() => document.querySelector('[data-count=\"approved\"]').textContent === '1'"
    )
    await participant.wait_for_selector('[data-q-mine] [data-q="q-1"][data-status="approved"]')
    await moderator.keyboard.press("2")  # the approved tab
    await moderator.wait_for_selector('[data-tab="approved"][aria-selected="true"]')
    await moderator.keyboard.press("o")  # on air: asks for the answering site
    await moderator.select_option('[data-q="q-1"] .inline-form select', "weifang")
    await moderator.press('[data-q="q-1"] .inline-form select', "Enter")

    # Everyone sees it on air.
    await participant.wait_for_selector("[data-q-onair]:not([hidden])")
    assert await participant.text_content("[data-q-onair-text]") == QUESTION
    meta = await participant.text_content("[data-q-onair-meta]") or ""
    assert meta.endswith(" · answering: Weifang")  # the audience sees which site answers
    await participant.wait_for_selector('[data-q-mine] [data-q="q-1"][data-status="on_air"]')
    await host.wait_for_function(
        "() => document.querySelector('[data-onair-panel]').dataset.q === 'q-1'"
    )
    assert await host.text_content("[data-onair-panel] [data-onair-text]") == QUESTION
    assert "answering: Weifang" in (await host.text_content("[data-onair-meta]") or "")
    await participant.screenshot(path=str(artifact("questions-room.png")), full_page=True)
    await host.screenshot(path=str(artifact("questions-host.png")), full_page=True)
    await public.wait_for_selector('[data-live-onair] [data-onair-text][data-q="q-1"]')
    assert await public.text_content("[data-live-onair] [data-onair-text]") == QUESTION
    await public.wait_for_function(
        "() => document.querySelector('[data-ros-floor]').textContent.includes('Weifang')"
    )
    await moderator.wait_for_function(
        "() => document.querySelector('[data-count=\"on_air\"]').textContent === '1'"
    )

    # The moderator marks it answered live by the Weifang site.
    await moderator.click('[data-tab="on_air"]')
    await moderator.click('[data-q="q-1"] [data-act="answer"]')
    await moderator.select_option('[data-q="q-1"] .inline-form select', "site:weifang")
    await moderator.click('[data-q="q-1"] .inline-form button[type="submit"]')
    await public.wait_for_selector('[data-live-answered] [data-q="q-1"]')
    assert await public.text_content("[data-live-onair] [data-onair-text]") == (
        "No question is on air."
    )
    await participant.wait_for_selector('[data-q-mine] [data-q="q-1"][data-status="answered"]')
    await host.wait_for_function(
        "() => document.querySelector('[data-onair-panel]').dataset.q === ''"
    )

    # The host writes to the live text broadcast from the console; the public page shows it.
    await host.fill("[data-onair-panel] [data-post-form] textarea", "Weifang answers <b>now</b>")
    await host.click("[data-onair-panel] [data-post-form] button[type=submit]")
    await public.wait_for_selector('[data-live-posts] [data-post="p-1"]')
    assert await public.text_content('[data-post="p-1"] .post-text') == "Weifang answers <b>now</b>"

    # The markup in the question never became markup anywhere.
    for page in (participant, moderator, host, public):
        assert await page.evaluate("window.__xss") is None
        assert await page.locator("img[src='x']").count() == 0
    await public.screenshot(path=str(artifact("questions-public.png")), full_page=True)
    await moderator.screenshot(path=str(artifact("questions-moderator.png")), full_page=True)
    hub = await running.hub()
    assert hub.state.parts["questions"].items["q-1"].answered_by == {
        "site": "weifang",
        "expert": None,
    }
    await ctx.close()


async def test_moderator_loser_sees_why_and_reject_reason_reaches_asker(
    running: Running, browser: Any
) -> None:
    token = running.token("participant")
    ctx = await browser.new_context()
    participant = await ctx.new_page()
    await participant.goto(f"{running.base_url}/j/{token}?lang=pl", wait_until="domcontentloaded")
    await connected(participant)
    # The page asks: on a shared audience link the asker is this browser, and only the
    # asker sees the rejection's reason (confsvc.core.audience).
    await participant.evaluate(
        "() => window.confsvc.conn.command('q.ask', {text: 'Is this a duplicate?'})"
    )
    moderator = await ctx.new_page()
    await moderator.goto(running.link("moderator") + "?lang=en", wait_until="domcontentloaded")
    await connected(moderator)
    await moderator.wait_for_selector('[data-q="q-1"] [data-act="approve"]')
    # Another moderator approves first; this console's click then loses with a reason.
    other = await running.ws("moderator")
    await other.command("q.approve", id="q-1")
    await moderator.evaluate(
        "window.confsvc.conn.command('q.approve', {id: 'q-1'}).catch(e => { window.lost = e.message; })"
    )
    await moderator.wait_for_function("() => window.lost")
    assert await moderator.evaluate("window.lost") == (
        "q.approve: q-1 is approved; this needs a question that is pending"
    )
    await moderator.click('[data-tab="approved"]')
    await moderator.click('[data-q="q-1"] [data-act="reject"]')
    await moderator.fill('[data-q="q-1"] .inline-form input', "Answered in the talk <i>already</i>")
    await moderator.press('[data-q="q-1"] .inline-form input', "Enter")
    await participant.wait_for_selector('[data-q-mine] [data-q="q-1"][data-status="rejected"]')
    assert await participant.text_content('[data-q-mine] [data-q="q-1"] .q-reason') == (
        " Powód: Answered in the talk <i>already</i>"
    )
    await ctx.close()
