"""The translation desk over the app: the translator's link opens the desk page, the desk
arrives on the WebSocket in the link's languages, a translation reaches the moderator and
the live page in the reader's language with the original beside it, and a translation the
link may not make is refused with a keyed error."""

from __future__ import annotations

import html

from tests.conftest import Running

POLISH = "Jak testujecie szkoły w Weifangu?"
CHINESE = "潍坊如何检测学校？"


async def test_the_translator_link_opens_the_desk_in_the_pages_language(running: Running) -> None:
    link = running.link("translator", languages=("zh", "pl"), name="Desk")
    async with running.client.session.get(link, params={"lang": "zh"}) as resp:
        assert resp.status == 200
        page = await resp.text()
    assert "<h1>翻译台</h1>" in page
    assert '"languages": ["zh", "pl"]' in html.unescape(page)  # the boot data


async def test_a_translation_reaches_the_desk_the_moderator_and_the_live_page(
    running: Running,
) -> None:
    host = await running.ws("host")
    asker = await running.ws("participant")
    mod = await running.ws("moderator")
    token = running.token("translator", languages=("zh", "pl"))
    desk = await running.ws(None, token=token)
    english = await running.ws(None, token=running.token("translator", languages=("en",)))
    await host.command("ros.start")
    assert (await asker.command("q.ask", text=POLISH, language="pl"))["type"] == "ack"
    item = (await desk.expect("q.desk"))["item"]
    assert (item["id"], item["needs"], item["translations"]) == ("q-1", ["zh", "en"], {})
    await mod.command("q.approve", id="q-1")
    await mod.command("q.on_air", id="q-1", site="weifang")

    ack = await desk.command("q.translate", id="q-1", language="zh", text=CHINESE)
    assert ack["events"] == ["q.translated"]
    while (item := (await mod.expect("q.item"))["item"])["translations"] != {"zh": CHINESE}:
        pass
    assert item["needs"] == ["en"]
    async with running.client.session.get(
        f"{running.base_url}/c/{running.conference}/live", params={"lang": "zh"}
    ) as resp:
        page = await resp.text()
    assert f'<blockquote class="q-text" data-onair-text lang="zh">{CHINESE}</blockquote>' in page
    original = (
        f'<p class="q-original muted" data-onair-original lang="pl">原文 (波兰语): {POLISH}</p>'
    )
    assert original in page

    refused = await desk.command("q.translate", id="q-1", language="en", text="How?")
    assert (refused["type"], refused["code"], refused["key"]) == (
        "error",
        "forbidden",
        "tr.not_yours",
    )
    # A translator who reads no Polish is not given the Polish question at all.
    assert english.welcome["views"]["questions"]["desk"] == []
