"""Browser: a command the store could not take (``unavailable``) makes the page say
"Saving…" and send it again with its key after ``retry_after``; it is stored once and the
page says "Connected" again (web/static/js/conn.js)."""

from __future__ import annotations

from typing import Any

import pytest

from confsvc.store.guarded import StoreUnavailable
from tests.conftest import Running
from tests.e2e.frames import page_recording_commands

pytestmark = pytest.mark.browser


class FailingFirst:
    """The hub's store, whose first ``append`` fails as an outage would."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.failed = 0

    async def append(self, *args: Any, **kwargs: Any) -> Any:
        if self.failed == 0:
            self.failed += 1
            raise StoreUnavailable("the store did not answer within 5 s")
        return await self.inner.append(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_an_unavailable_store_shows_saving_and_the_command_is_stored_once(
    running: Running, browser: Any
) -> None:
    hub = await running.hub()
    ctx = await browser.new_context()
    try:
        page, sent = await page_recording_commands(ctx, running.link("participant") + "?lang=en")
        hub.store = FailingFirst(hub.store)
        ack = await page.evaluate(
            """async () => {
                const conn = window.confsvc.conn;
                window.shown = [];
                conn.on("status", () => {
                    window.shown.push(document.querySelector("[data-conn]").textContent);
                });
                return await conn.command("q.ask", {text: "Asked while the store is away"});
            }"""
        )
        assert (ack["type"], ack["ids"]) == ("ack", ["q-1"])
        shown = await page.evaluate("() => window.shown")
        assert shown == ["Saving… (the server will store it once it can)", "Connected"]
        assert [m["key"] for m in sent] == [sent[0]["key"]] * 2
        asked = [e for e in await hub.store.read(hub.id) if e.type == "q.asked"]
        assert [e.data["text"] for e in asked] == ["Asked while the store is away"]
    finally:
        await ctx.close()
