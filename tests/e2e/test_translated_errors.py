"""Browser: the server's errors read in the page's language (confsvc/core/error_codes.py).

A command the conference refuses, sent from a zh and a pl host console, comes back in
Chinese or Polish (conn.js translates the error's key and params); an expired link's
error page says why in the page's language (pages.py translates on the server).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from confsvc.core.errors import InvalidState
from confsvc.core.roles import Role, issue_invite
from confsvc.http.keys import I18N
from tests.conftest import SECRET, Running

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["zh", "pl"])
async def test_a_refused_command_reads_in_the_pages_language(
    running: Running, browser: Any, lang: str
) -> None:
    english = "cannot previous when the conference is planned"
    expected = running.app[I18N].error_text(lang, InvalidState(english))
    assert expected != english and "planned" not in expected
    page = await browser.new_page()
    await page.goto(running.link("host") + f"?lang={lang}")
    await page.wait_for_selector('[data-conn][data-state="connected"]', timeout=15_000)
    said = await page.evaluate(
        "() => window.confsvc.conn.command('ros.previous').then(() => 'ack', (e) => e.message)"
    )
    assert said == expected
    await page.close()


@pytest.mark.parametrize(("lang", "why"), [("zh", "此链接已过期"), ("pl", "Ten link wygasł")])
async def test_an_expired_link_says_so_in_the_pages_language(
    running: Running, browser: Any, lang: str, why: str
) -> None:
    _, token = issue_invite(
        SECRET,
        conference=running.conference,
        role=Role.PARTICIPANT,
        now=time.time() - 10_000,
        ttl_s=60,
    )
    page = await browser.new_page()
    resp = await page.goto(f"{running.base_url}/j/{token}?lang={lang}")
    assert resp is not None and resp.status == 403
    assert why in (await page.text_content("main") or "")
    assert "expired" not in (await page.text_content("main") or "")
    await page.close()


async def test_a_refused_upload_reads_in_the_pages_language(
    running: Running, browser: Any, tmp_path: Any
) -> None:
    fake = tmp_path / "photo.png"
    fake.write_bytes(b"this is not a picture at all")
    page = await browser.new_page()
    await page.goto(running.link("moderator") + "?lang=zh")
    await page.wait_for_selector('[data-conn][data-state="connected"]', timeout=15_000)
    await page.fill("#post-text", "照片")
    await page.set_input_files("#post-photo", str(fake))
    assert await page.text_content("[data-post-form] [data-file-name]") == "photo.png"
    await page.click("[data-post-form] button[type=submit]")
    error = page.locator("[data-post-error]:not([hidden])")
    await error.wait_for(timeout=10_000)
    assert await error.text_content() in ("照片不是 JPEG、PNG、GIF 或 WebP 图片", "无法解码照片")
    await page.close()
