"""The translation desk over the app: the translator's link opens the desk page, the desk
arrives on the WebSocket in the link's languages, a translation reaches the moderator and
the live page in the reader's language with the original beside it, and a translation the
link may not make is refused with a keyed error."""

from __future__ import annotations

import asyncio
import html
import json
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

from tests.conftest import SECRET, Running

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


async def _cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "confsvc", *args, cwd=cwd, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_confsvc_invite_makes_a_translator_link_for_its_languages(
    running: Running, tmp_path: Path
) -> None:
    secret = tmp_path / "cli.secret"  # the running app's own secret
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    store = ["--db", str(tmp_path / "confsvc.db"), "--secret-file", str(secret)]
    code, out, err = await _cli(
        "invite", "--role", "translator", "--languages", "zh,pl", "--json", *store, cwd=tmp_path
    )
    assert code == 0, err
    link = json.loads(out)
    assert link["role"] == "translator"
    path = link["url"].split("127.0.0.1:8080", 1)[1]
    async with running.client.get(path) as resp:
        page = html.unescape(await resp.text())
    assert '"role": "translator"' in page and '"languages": ["zh", "pl"]' in page
    code, out, err = await _cli(
        "invite", "--role", "expert", "--languages", "zh", *store, cwd=tmp_path
    )
    assert (code, out) == (1, "")
    assert "--languages goes only with --role translator" in err
    code, out, err = await _cli(
        "invite", "--role", "translator", "--languages", "de", *store, cwd=tmp_path
    )
    assert (code, out) == (1, "")
    assert "'de' is not a language of this conference (zh, pl, en)" in err
