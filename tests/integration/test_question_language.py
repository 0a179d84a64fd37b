"""A question asked without a language gets the detector's guess, over the WebSocket."""

from __future__ import annotations

from tests.conftest import Running


async def test_a_polish_question_without_a_language_is_polish(running: Running) -> None:
    asker = await running.ws("participant")
    ack = await asker.command("q.ask", text="Czy szpitale mają maseczki?")
    assert ack["type"] == "ack"
    mine = await asker.expect("q.mine")
    assert mine["item"]["language"] == "pl"
