"""A page whose WebSocket's outgoing commands are recorded, for the re-send tests."""

from __future__ import annotations

import json
from typing import Any


async def page_recording_commands(ctx: Any, url: str) -> tuple[Any, list[dict[str, Any]]]:
    """Open ``url`` in ``ctx``; return the page once connected and the list that every
    ``command`` frame the page sends is appended to (re-sends included)."""
    page = await ctx.new_page()
    sent: list[dict[str, Any]] = []

    def record(frame: Any) -> None:
        msg = json.loads(frame if isinstance(frame, str) else frame.decode())
        if msg.get("type") == "command":
            sent.append(msg)

    page.on("websocket", lambda ws: ws.on("framesent", record))
    await page.goto(url)
    await page.wait_for_function("() => window.confsvc.conn.connected === true")
    return page, sent
