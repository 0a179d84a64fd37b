"""Browser: a command sent as the page's socket drops is re-sent once, with its key,
after the page reconnects, and stored once (web/static/js/conn.js)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Running
from tests.e2e.frames import page_recording_commands

pytestmark = pytest.mark.browser


async def test_a_command_sent_while_the_socket_drops_is_resent_once_and_stored_once(
    running: Running, browser: Any
) -> None:
    ctx = await browser.new_context()
    try:
        page, sent = await page_recording_commands(ctx, running.link("participant") + "?lang=en")
        ack = await page.evaluate(
            """async () => {
                const conn = window.confsvc.conn;
                const acked = conn.command("q.ask", {text: "Sent as the socket drops"});
                conn.ws.close();  // the ack of this socket never arrives
                return await acked;
            }"""
        )
        assert (ack["type"], ack["ids"]) == ("ack", ["q-1"])
        assert [m["name"] for m in sent] == ["q.ask", "q.ask"]
        assert sent[0]["key"] == sent[1]["key"] and len(sent[0]["key"]) == 24
        hub = await running.hub()
        asked = [e for e in await hub.store.read(hub.id) if e.type == "q.asked"]
        assert [e.data["text"] for e in asked] == ["Sent as the socket drops"]
    finally:
        await ctx.close()
