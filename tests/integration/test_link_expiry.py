"""A link's powers end at once when it expires or is revoked, on sockets already open
(issue 11, item 2). Time is the test's own clock: nothing sleeps until a link expires."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp import WSMsgType

from tests.conftest import Running, WsClient


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def _closed_with(client: WsClient) -> tuple[int | None, str]:
    while True:
        msg = await client.sock.receive(timeout=10)
        if msg.type is WSMsgType.CLOSE:
            return client.sock.close_code, str(msg.extra)
        assert msg.type is WSMsgType.TEXT, msg


async def test_a_command_after_expiry_is_refused_and_the_socket_closes(
    confsvc_app: Any,
) -> None:
    clock = Clock()
    running: Running = await confsvc_app(clock=clock)
    host = await running.ws(None, token=running.token("host", ttl_s=60))
    assert (await host.command("ros.start"))["type"] == "ack"
    hub = await running.hub()
    seq = hub.state.seq
    clock.now = time.time() + 3600  # well past the 60 s the link was issued for
    reply = await host.command("ros.next")
    assert (reply["type"], reply["code"], reply["message"]) == (
        "error",
        "expired",
        "this link has expired",
    )
    assert await _closed_with(host) == (4001, "this link has expired")
    assert hub.state.seq == seq  # nothing was done with the expired link


async def test_an_idle_socket_is_closed_when_its_link_expires(confsvc_app: Any) -> None:
    clock = Clock()
    running: Running = await confsvc_app(clock=clock)
    mod = await running.ws(None, token=running.token("moderator", ttl_s=60))
    keeps = await running.ws(None, token=running.token("moderator", ttl_s=86400))
    clock.now = time.time() + 3600  # past the first link, not the second (a day)
    error = await mod.expect("error")  # sent by the sweep, without a message from us
    assert (error["code"], error["message"]) == ("expired", "this link has expired")
    assert await _closed_with(mod) == (4001, "this link has expired")
    await keeps.sock.send_json({"type": "ping", "id": 1})
    assert (await keeps.expect("pong"))["id"] == 1  # a link still valid keeps working
    await keeps.close()


async def test_revocation_closes_the_links_sockets_at_once(running: Running) -> None:
    host = await running.ws("host")
    mod = await running.ws("moderator")
    invite = mod.welcome["you"]["invite"]
    assert (await host.command("invite.revoke", invite=invite))["type"] == "ack"
    error = await mod.expect("error")
    assert (error["code"], error["message"]) == ("revoked", "this link has been revoked")
    assert await _closed_with(mod) == (4003, "this link has been revoked")
    await host.sock.send_json({"type": "ping", "id": 1})
    assert (await host.expect("pong"))["id"] == 1


async def test_an_expired_link_cannot_open_a_socket(confsvc_app: Any) -> None:
    clock = Clock()
    running: Running = await confsvc_app(clock=clock)
    token = running.token("host", ttl_s=60)
    clock.now = time.time() + 3600  # well past the 60 s the link was issued for
    sock = await running.client.ws_connect(f"/c/{running.conference}/ws")
    await sock.send_json({"type": "hello", "token": token})
    reply = await sock.receive_json(timeout=10)
    assert (reply["code"], reply["message"]) == ("bad_invite", "this link has expired")
    await sock.close()


@pytest.mark.browser
async def test_the_page_says_the_link_expired(confsvc_app: Any, browser: Any) -> None:
    clock = Clock()
    running: Running = await confsvc_app(clock=clock)
    page = await browser.new_page()
    await page.goto(running.link("host", ttl_s=60) + "?lang=pl", wait_until="domcontentloaded")
    await page.wait_for_selector('[data-conn][data-state="connected"]', timeout=15_000)
    clock.now = time.time() + 3600  # well past the 60 s the link was issued for
    try:
        await page.wait_for_selector('[data-conn][data-state="expired"]', timeout=15_000)
    except Exception as exc:
        state = await page.evaluate("document.querySelector('[data-conn]').dataset.state")
        raise AssertionError(f"the page shows {state!r}") from exc
    assert await page.text_content("[data-conn]") == "Ten link wygasł: poproś gospodarza o nowy"
    await page.close()
