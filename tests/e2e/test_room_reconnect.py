"""Browser: a participant page whose connection drops reconnects by itself.

A site bot publishes; the participant page decodes it. The server then cuts the page's
TCP connection (what a network drop looks like from the server: the WebSocket and with
it the media peer go away). The page must say so, open a new WebSocket, negotiate a new
media connection and decode again, with nobody touching it.
"""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import pytest

from confsvc.core.roles import Role
from confsvc.media.bot import SiteBot, parse_link
from confsvc.media.setup import RELAY
from tests.conftest import Running, artifact
from tests.e2e.media import frames, until

pytestmark = pytest.mark.browser


async def test_a_participant_page_reconnects_after_its_connection_drops(
    running: Running, browser: Any
) -> None:
    site = SiteBot(parse_link(running.link("site", "weifang")), ice_addresses=["127.0.0.1"])
    await site.start()
    ctx = await browser.new_context()
    try:
        viewer = await ctx.new_page()
        await viewer.goto(running.link("participant") + "?lang=zh")
        await viewer.wait_for_function(
            "() => window.confsvc.media.state === 'connected'", timeout=15_000
        )
        await until(viewer, lambda s: frames(s, "weifang") > 10, "decoded video")
        relay = running.app[RELAY]
        hub = await running.hub()
        (conn,) = [c for c in hub.listeners if c.principal.role is Role.PARTICIPANT]
        assert conn in relay.peers  # the relay keys a media peer by its WebSocket
        # Every state the page's media session passes through, recorded in the page.
        await viewer.evaluate(
            """() => {
                const m = window.confsvc.media;
                window.seenStates = [];
                let last = m.state;
                setInterval(() => {
                    if (m.state !== last) { last = m.state; window.seenStates.push(last); }
                }, 10);
            }"""
        )

        sent: list[str] = []
        viewer.on("websocket", lambda ws: ws.on("framesent", lambda f: sent.append(str(f))))

        conn.transport.abort()  # the network drops: no close frame, no goodbye

        deadline = asyncio.get_running_loop().time() + 20

        def new_peer() -> Any:
            for c in hub.listeners:
                if c.principal.role is Role.PARTICIPANT and c is not conn and c in relay.peers:
                    return c
            return None

        # A new WebSocket, and on it a new media connection the page negotiated itself.
        while new_peer() is None:
            assert asyncio.get_running_loop().time() < deadline, "the page did not come back"
            await asyncio.sleep(0.1)
        await viewer.wait_for_function(
            "() => window.confsvc.media.state === 'connected'", timeout=20_000
        )
        # Decoding again, on the new connection (its counters start from zero).
        await until(viewer, lambda s: frames(s, "weifang") > 10, "decoded video again")
        states = await viewer.evaluate("window.seenStates")
        assert "negotiating" in states and states[-1] == "connected", states
        # It asked for fresh ICE servers (minted TURN credentials) rather than reusing the
        # page's boot data, then offered.
        kinds = [json.loads(f).get("type") for f in sent if f.startswith("{")]
        assert kinds.index("rtc.config") < kinds.index("rtc.offer"), kinds
        # The site and the new viewer connection: the dropped one left no peer behind.
        assert conn not in relay.peers
        assert relay.stats()["peers"] == 2
        await viewer.screenshot(path=str(artifact("room-reconnected.png")), full_page=True)
    finally:
        await ctx.close()
        await site.close()
        gc.collect()
