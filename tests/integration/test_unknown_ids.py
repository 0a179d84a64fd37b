"""Anonymous requests for conferences that do not exist leave nothing behind (issue 11.1)."""

from __future__ import annotations

from typing import Any

from confsvc.http.keys import HUBS, STORE

# Every route that takes a conference id in its path, as an anonymous client asks for it.
GET_ROUTES = [
    "/api/v1/conferences/{id}/state",
    "/c/{id}/live",
    "/c/{id}/ws",
    "/c/{id}/report",
    "/c/{id}/report?format=json",
    "/c/{id}/live/events",
    "/c/{id}/live/photos/p-1",
    "/c/{id}/questions/export.csv",
    "/c/{id}/written?t=x",
]
POST_ROUTES = ["/c/{id}/questions/import", "/c/{id}/posts"]


async def _ask_everything(running: Any, cid: str) -> list[int]:
    statuses = []
    for route in GET_ROUTES:
        async with running.client.get(route.format(id=cid)) as resp:
            statuses.append(resp.status)
    for route in POST_ROUTES:
        async with running.client.post(route.format(id=cid), data={"text": "x"}) as resp:
            statuses.append(resp.status)
    return statuses


async def test_unknown_conference_ids_leave_no_state(running: Any) -> None:
    hubs = running.app[HUBS]
    before = hubs.tracked_ids()
    assert before == {running.conference}
    for n in range(30):
        cid = f"no-such-conference-{n:03d}-" + "x" * 40
        statuses = await _ask_everything(running, cid)
        assert all(s in (400, 403, 404) for s in statuses), (cid, statuses)
    assert hubs.tracked_ids() == before


async def test_ids_no_agenda_can_hold_are_refused_before_any_store_read(
    running: Any, monkeypatch: Any
) -> None:
    store = running.app[STORE]
    reads: list[str] = []
    real_read = store.read

    async def counting_read(conference: str, after: int = 0) -> Any:
        reads.append(conference)
        return await real_read(conference, after)

    monkeypatch.setattr(store, "read", counting_read)
    for cid in ["A" * 5000, "Upper", "with%20space", "a.b", "x" * 65]:
        statuses = await _ask_everything(running, cid)
        assert all(s in (400, 403, 404) for s in statuses), (cid, statuses)
    assert reads == []
    async with running.client.get("/api/v1/conferences/" + "y" * 300 + "/state") as resp:
        assert resp.status == 404
        body = await resp.json()
    assert body["code"] == "not_found"
    assert body["message"].endswith("an id is at most 64 characters; this one has 300")
    async with running.client.get("/c/Weifang/live") as resp:
        assert resp.status == 404
        assert "only lower-case letters a-z, digits 0-9 and &#39;-&#39;" in await resp.text()


async def test_a_real_conference_still_loads(running: Any) -> None:
    async with running.client.get(f"/api/v1/conferences/{running.conference}/state") as resp:
        assert resp.status == 200
        assert (await resp.json())["conference"] == running.conference
