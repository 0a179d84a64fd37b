"""Every number and date a command takes has a range; a report never fails on stored data
(issue 11, item 5)."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest

from confsvc.core.events import NewEvent

EXPERT = "weifang-health-epidemiology"


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"the JSON holds {name}")

    return json.loads(text, parse_constant=refuse)


async def _assigned_question(running: Any) -> Any:
    hub = await running.hub()
    await hub.append_system(
        [
            NewEvent(
                type="q.asked",
                data={
                    "id": "q-1",
                    "text": "How do you trace contacts?",
                    "language": "en",
                    "name": "Anna",
                    "site": "olsztyn",
                    "source": "pre_session",
                    "email": None,
                    "invite": None,
                },
            ),
            NewEvent(
                type="written.assigned",
                data={"question": "q-1", "expert": EXPERT, "due": time.time() + 86400},
            ),
        ]
    )
    return hub


@pytest.mark.parametrize(
    ("due", "message"),
    [
        (1e15, "less than or equal to 4102444800"),
        (time.time() + 400 * 86400, "written.set_due: the due date is more than 366 days away"),
        (-5, "greater than 0"),
    ],
)
async def test_set_due_outside_its_window_is_refused(
    running: Any, due: float, message: str
) -> None:
    await _assigned_question(running)
    mod = await running.ws("moderator")
    reply = await mod.command("written.set_due", question="q-1", due=due)
    assert reply["type"] == "error"
    assert reply["code"] == "bad_request"
    assert message in reply["message"]
    await mod.close()


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN"])
async def test_infinity_and_nan_never_reach_a_command(running: Any, literal: str) -> None:
    hub = await _assigned_question(running)
    seq = hub.state.seq
    mod = await running.ws("moderator")
    await mod.sock.send_str(
        '{"type":"command","id":1,"name":"written.set_due","args":{"question":"q-1","due":'
        + literal
        + "}}"
    )
    reply = await mod.expect("error")
    assert reply["code"] == "bad_request"
    assert literal.lstrip("-") in reply["message"]
    assert hub.state.seq == seq
    await mod.close()


async def test_reports_render_from_a_log_with_old_unbounded_values(running: Any) -> None:
    hub = await _assigned_question(running)
    # Events as an older confsvc stored them: no range on the due date, Infinity allowed.
    await hub.append_system(
        [
            NewEvent(type="written.due_changed", data={"question": "q-1", "due": 1e15}),
            NewEvent(type="written.due_changed", data={"question": "q-1", "due": math.inf}),
            NewEvent(type="written.due_changed", data={"question": "q-1", "due": math.nan}),
        ]
    )
    token = running.token("host")
    for path in (f"/c/{running.conference}/report", f"/j/{token}/report"):
        for fmt in ("html", "json", "csv", "md"):
            async with running.client.get(f"{path}?format={fmt}") as resp:
                text = await resp.text()
                assert resp.status == 200, (path, fmt, text[:300])
                assert "Infinity" not in text and "NaN" not in text
            if fmt == "json":
                _strict_json(text)
    async with running.client.get(f"/api/v1/conferences/{running.conference}/state") as resp:
        assert resp.status == 200
        _strict_json(await resp.text())
    mod = await running.ws("moderator")
    assert "Infinity" not in json.dumps(mod.welcome)
    await mod.close()
