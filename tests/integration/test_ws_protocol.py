"""The conference WebSocket: hello, commands, live updates, bad input, roles, Origin."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import Running


class StepClock:
    """The app's clock, moved by the test (rate limits, link expiry) instead of sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_host_commands_reach_every_console(running: Running) -> None:
    host_a = await running.ws("host")
    host_b = await running.ws("host")
    assert host_a.welcome["views"]["ros"]["status"] == "planned"
    ack = await host_a.command("ros.start")
    assert ack["type"] == "ack"
    view = (await host_b.expect("ros"))["ros"]
    assert (view["status"], view["current"]) == ("running", 0)
    assert view["floor"] == ["warsaw"]
    await host_a.command("ros.next")
    view = (await host_b.expect("ros"))["ros"]
    assert view["current"] == 1
    assert view["floor"] == ["olsztyn"]


async def test_public_viewer_gets_updates_but_cannot_command(running: Running) -> None:
    public = await running.ws(None)
    assert public.welcome["you"]["role"] == "public"
    reply = await public.command("ros.start")
    assert reply["type"] == "error"
    assert reply["code"] == "forbidden"
    assert "public" in reply["message"]
    host = await running.ws("host")
    await host.command("ros.start")
    assert (await public.expect("ros"))["ros"]["status"] == "running"


@pytest.mark.parametrize("role", ["moderator", "participant", "expert"])
async def test_run_of_show_is_host_only(running: Running, role: str) -> None:
    client = await running.ws(role)
    for name in ("ros.start", "ros.next", "ros.end", "floor.give"):
        reply = await client.command(name)
        assert reply["type"] == "error", name
        assert reply["code"] == "forbidden", name


async def test_site_cannot_give_itself_the_floor(running: Running) -> None:
    site = await running.ws("site", "warsaw")
    reply = await site.command("floor.give", sites=["warsaw"])
    assert reply["code"] == "forbidden"


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"id": 1}', "missing field type"),
        ('{"type": "frobnicate", "id": 2}', "unknown message type 'frobnicate'"),
        ('{"type": "command", "id": 3}', "missing field name"),
        ('{"type": "command", "id": 4, "name": "ros.nope"}', "unknown command 'ros.nope'"),
        (
            '{"type": "command", "id": 5, "name": "ros.extend", "args": {"minutes": "x"}}',
            "args.minutes",
        ),
        (
            '{"type": "command", "id": 6, "name": "ros.extend", "args": {"minutes": 1, "x": 2}}',
            "args.x",
        ),
        ('{"type": "command", "id": 7, "name": "ros.start", "args": []}', "args must be an object"),
    ],
)
async def test_bad_messages_get_an_error_that_names_the_problem(
    running: Running, raw: str, needle: str
) -> None:
    host = await running.ws("host")
    await host.sock.send_str(raw)
    msg = await host.expect("error")
    assert needle in msg["message"]
    # The socket stays usable.
    assert (await host.command("ros.start"))["type"] == "ack"


async def test_command_in_wrong_state_names_the_state(running: Running) -> None:
    host = await running.ws("host")
    reply = await host.command("ros.next")
    assert reply["code"] == "invalid_state"
    assert "planned" in reply["message"]


async def test_forged_token_is_refused_with_a_reason(running: Running) -> None:
    token = running.token("host")
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    sock = await running.client.ws_connect(f"/c/{running.conference}/ws")
    await sock.send_json({"type": "hello", "token": forged})
    msg = await sock.receive_json()
    assert msg["type"] == "error"
    assert msg["code"] == "bad_invite"
    assert "signature" in msg["message"]
    closing = await sock.receive()
    assert closing.extra and "signature" in closing.extra


async def test_expired_token_is_refused(running: Running) -> None:
    from confsvc.core.roles import Role, issue_invite
    from tests.conftest import SECRET

    _, token = issue_invite(SECRET, conference=running.conference, role=Role.HOST, now=1000.0)
    sock = await running.client.ws_connect(f"/c/{running.conference}/ws")
    await sock.send_json({"type": "hello", "token": token})
    msg = await sock.receive_json()
    assert msg["message"] == "this link has expired"


async def test_revoked_invite_stops_working(running: Running) -> None:
    host = await running.ws("host")
    mod_token = running.token("moderator")
    mod = await running.ws(None, token=mod_token)
    invite_id = mod.welcome["you"]["invite"]
    assert (await host.command("invite.revoke", invite=invite_id))["type"] == "ack"
    # The open socket is told and closed at once (tests/integration/test_link_expiry.py).
    reply = await mod.expect("error")
    assert (reply["code"], reply["message"]) == ("revoked", "this link has been revoked")
    sock = await running.client.ws_connect(f"/c/{running.conference}/ws")
    await sock.send_json({"type": "hello", "token": mod_token})
    assert "revoked" in (await sock.receive_json())["message"]


async def test_websocket_from_another_origin_is_refused(running: Running) -> None:
    resp = await running.client.get(
        f"/c/{running.conference}/ws",
        headers={
            "Origin": "http://evil.example",
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert resp.status == 403
    same = await running.client.ws_connect(
        f"/c/{running.conference}/ws", headers={"Origin": running.base_url}
    )
    await same.send_json({"type": "hello"})
    assert (await same.receive_json())["type"] == "welcome"


async def test_oversize_message_closes_with_reason(running: Running) -> None:
    host = await running.ws("host")
    await host.sock.send_str(json.dumps({"type": "ping", "pad": "x" * 70_000}))
    msg = await host.sock.receive()
    assert msg.type.name in ("CLOSE", "CLOSED", "ERROR")


async def test_restart_changes_nothing_the_host_sees(confsvc_app) -> None:  # type: ignore[no-untyped-def]
    first = await confsvc_app()
    host = await first.ws("host")
    await host.command("ros.start")
    await host.command("ros.next")
    await host.command("ros.extend", minutes=3)
    before = (await first.hub()).snapshot
    await host.close()
    await first.client.close()
    second = await confsvc_app()
    host2 = await second.ws("host")
    ros = host2.welcome["views"]["ros"]
    assert (ros["status"], ros["current"]) == ("running", 1)
    assert ros["items"][1]["extended_s"] == 180.0
    assert before is not None


async def test_pages_render_for_invite_and_refuse_forgery(running: Running) -> None:
    resp = await running.client.get(f"/j/{running.token('host')}")
    html = await resp.text()
    assert resp.status == 200
    assert 'data-cmd="ros.next"' in html
    resp = await running.client.get("/j/abc.def")
    assert resp.status == 403
    assert "signature" in await resp.text()
    resp = await running.client.get(f"/c/{running.conference}/live?lang=pl")
    assert resp.status == 200
    assert "Pytania i odpowiedzi na żywo" in await resp.text()
    resp = await running.client.get("/c/nope/live")
    assert resp.status == 404


async def test_host_creates_an_invite_that_works_and_can_be_revoked(running: Running) -> None:
    host = await running.ws("host")
    await host.sock.send_json(
        {
            "type": "invite.create",
            "id": "a",
            "role": "site",
            "site": "olsztyn",
            "name": "Olsztyn room",
        }
    )
    listed = (await host.expect("invites"))["invites"]  # broadcast to hosts first
    created = await host.expect("invite")  # then the token, to this connection only
    assert created["invite"]["site"] == "olsztyn"
    assert [(i["role"], i["site"], i["name"], i["revoked"]) for i in listed] == [
        ("site", "olsztyn", "Olsztyn room", False)
    ]
    token = created["path"].removeprefix("/j/")
    assert token not in json.dumps(listed)  # the log keeps the id, never the token
    site = await running.ws(None, token=token)
    assert site.welcome["you"] == {
        "role": "site",
        "site": "olsztyn",
        "invite": listed[0]["id"],
        "name": "Olsztyn room",
        "person": None,  # a personal link: one person already
        "person_token": None,
    }
    await host.command("invite.revoke", invite=listed[0]["id"])
    assert (await host.expect("invites"))["invites"][0]["revoked"] is True
    resp = await running.client.get(created["path"])
    assert resp.status == 403
    assert "revoked" in await resp.text()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"role": "king"}, "unknown role 'king'"),
        ({"role": "site"}, "a site invite needs a site"),
        ({"role": "participant", "ttl_hours": -1}, "ttl_hours"),
    ],
)
async def test_bad_invite_requests_are_refused(running: Running, body: dict, needle: str) -> None:  # type: ignore[type-arg]
    host = await running.ws("host")
    await host.sock.send_json({"type": "invite.create", "id": "x", **body})
    assert needle in (await host.expect("error"))["message"]


async def test_only_the_host_creates_invites(running: Running) -> None:
    mod = await running.ws("moderator")
    await mod.sock.send_json({"type": "invite.create", "id": "x", "role": "host"})
    err = await mod.expect("error")
    assert err["code"] == "forbidden"
    assert "invites" not in mod.welcome["views"]


async def test_random_garbage_never_closes_the_socket_or_crashes(confsvc_app: Any) -> None:
    import random

    clock = StepClock()
    running: Running = await confsvc_app(clock=clock)

    rng = random.Random(20200526)
    pieces: list[object] = [
        None,
        1,
        -1,
        1e300,
        "x",
        "",
        [],
        {},
        True,
        "q.ask",
        "ros.next",
        "command",
    ]

    def junk(depth: int = 0) -> object:
        if depth > 2 or rng.random() < 0.4:
            return rng.choice(pieces)
        if rng.random() < 0.5:
            return [junk(depth + 1) for _ in range(rng.randint(0, 3))]
        return {
            rng.choice(["type", "id", "name", "args", "token", "x"]): junk(depth + 1)
            for _ in range(rng.randint(0, 4))
        }

    host = await running.ws("host")
    errors = 0
    for n in range(150):
        msg = junk()
        if isinstance(msg, dict) and msg.get("type") == "ping":
            continue
        await host.sock.send_str(json.dumps(msg) if n % 5 else "{" + json.dumps(msg))
        reply = await host.recv()
        if reply["type"] == "error":
            errors += 1
            assert reply["message"]
        if n % 30 == 29:
            clock.now += 1.6  # the rate limit's bucket refills: the app's clock, not a sleep
    assert errors >= 100
    started = await host.command("ros.start")
    assert started["type"] == "ack", started  # the junk changed nothing: the host still starts it
    assert not host.sock.closed


async def test_site_page_lets_the_room_ask_questions(running: Running) -> None:
    resp = await running.client.get(f"/j/{running.token('site', 'olsztyn')}")
    html = await resp.text()
    assert resp.status == 200
    assert "data-q-form" in html
    site = await running.ws("site", "olsztyn")
    ack = await site.command("q.ask", text="A question from the Olsztyn room", language="en")
    assert ack["type"] == "ack"
    assert (await site.expect("q.mine"))["item"]["site"] == "olsztyn"


async def test_room_page_names_role_and_item_kinds_in_the_viewers_language(
    running: Running,
) -> None:
    resp = await running.client.get(f"/j/{running.token('participant')}?lang=zh")
    html = await resp.text()
    assert "<strong>参会者" in html
    assert '<span class="kind">致辞</span>' in html
    assert '<span class="kind">remarks</span>' not in html


async def test_messages_past_the_burst_are_refused_until_the_clock_moves(
    confsvc_app: Any,
) -> None:
    clock = StepClock()
    running: Running = await confsvc_app(clock=clock, ws_burst=3, ws_rate_per_s=1.0)
    host = await running.ws("host")
    for n in range(3):
        await host.sock.send_json({"type": "ping", "id": n})
        assert (await host.expect("pong"))["id"] == n
    await host.sock.send_json({"type": "ping", "id": 3})
    refused = await host.expect("error")
    assert (refused["code"], refused["message"]) == ("rate_limited", "too many messages: slow down")
    clock.now += 1.0  # one message's worth at 1 a second
    await host.sock.send_json({"type": "ping", "id": 4})
    assert (await host.expect("pong"))["id"] == 4
