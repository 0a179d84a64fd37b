"""Browser: the merge form defaults to the likeliest duplicate, not the first question.

Near-duplicate Polish and Chinese questions are asked with an unrelated one before each;
the moderator's merge form on the later duplicate selects the earlier one (the server's
``similar``, confsvc/core/questions/similar.py), and saving merges into it.
"""

from __future__ import annotations

from typing import Any

import pytest

from confsvc.core.questions.state import questions
from tests.conftest import Running

pytestmark = pytest.mark.browser

ASKED = [
    ("Jak długo trwa kwarantanna po powrocie z zagranicy?", "pl"),
    ("Czy szpitale w Olsztynie mają wystarczająco dużo maseczek dla personelu?", "pl"),
    ("学校什么时候复课？", "zh"),
    ("Czy szpitale w Olsztynie mają dość maseczek dla lekarzy i pielęgniarek?", "pl"),
    ("潍坊的医院如何安排发热门诊和普通门诊的分流？", "zh"),
    ("潍坊医院是怎样安排发热门诊与普通门诊分流的？", "zh"),
]


async def test_the_merge_form_selects_the_likeliest_duplicate(
    running: Running, browser: Any
) -> None:
    askers = [await running.ws("participant"), await running.ws("participant")]  # rate limit
    for i, (text, lang) in enumerate(ASKED):
        ack = await askers[i % 2].command("q.ask", text=text, language=lang)
        assert ack["type"] == "ack", ack
    page = await browser.new_page()
    await page.goto(running.link("moderator") + "?lang=zh")
    await page.wait_for_selector('[data-mod-list] [data-q="q-6"]')
    # Each question's language and age at a glance.
    assert await page.text_content('[data-q="q-2"] .glance .lang') == "波兰语"
    assert await page.text_content('[data-q="q-3"] .glance .lang') == "中文"
    assert await page.text_content('[data-q="q-3"] .glance .age') == "刚刚"
    for dup, original in (("q-4", "q-2"), ("q-6", "q-5")):
        await page.click(f'[data-q="{dup}"] [data-act="merge"]')
        select = f'[data-q="{dup}"] .inline-form select'
        assert await page.input_value(select) == original
        first = await page.text_content(f"{select} option")
        assert (first or "").startswith(f"可能重复 · {original}: ")
        await page.press(select, "Enter")
        await page.wait_for_selector(f'[data-mod-list] [data-q="{dup}"]', state="detached")
    # The history names its steps in the page's language, not as event types.
    await page.click('[data-q="q-2"] [data-act="history"]')
    steps = await page.locator('[data-q="q-2"] .events li').all_text_contents()
    assert steps and steps[0].endswith(" · 提问"), steps
    hub = await running.hub()
    assert {q.id: q.merged_into for q in questions(hub.state).items.values()} == {
        "q-1": None,
        "q-2": None,
        "q-3": None,
        "q-4": "q-2",
        "q-5": None,
        "q-6": "q-5",
    }
    await page.close()
