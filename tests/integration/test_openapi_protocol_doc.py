"""docs/protocol.md names every WebSocket command and message type the code registers:
the core commands (``confsvc/core/registry.py``) and the adapters' message handlers
(``WS_HANDLERS``, filled by each feature's setup)."""

from __future__ import annotations

from pathlib import Path

from confsvc.core.registry import RULES
from confsvc.http.keys import WS_HANDLERS
from tests.conftest import Running

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _undocumented(names: list[str]) -> list[str]:
    text = PROTOCOL.read_text("utf-8")
    return sorted(n for n in names if f"`{n}`" not in text)


def test_every_core_command_is_in_protocol_md() -> None:
    assert len(RULES.commands) >= 30
    assert _undocumented(list(RULES.commands)) == []


async def test_every_websocket_message_handler_is_in_protocol_md(running: Running) -> None:
    handlers = list(running.app[WS_HANDLERS])
    assert "invite.create" in handlers
    assert _undocumented([*handlers, "hello", "command", "ping"]) == []
