"""One shared audience link over the WebSocket: every browser its own person (separate
votes, "my questions", rejection reasons and rate limits), the person carried to a
second connection by its token, tampered and foreign tokens refused, personal links as
before, and the token kept out of the log."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from confsvc.core.questions.queue import MAX_ASKS_PER_MIN
from tests.conftest import Running, WsClient


async def _refused(running: Running, hello: dict[str, Any]) -> dict[str, Any]:
    sock = await running.client.ws_connect(f"/c/{running.conference}/ws")
    await sock.send_json({"type": "hello", **hello})
    refused = await sock.receive_json(timeout=10)
    await sock.receive(timeout=10)  # the close frame
    assert sock.close_code == 1008
    await sock.close()
    return dict(refused)


async def _people(running: Running, token: str, n: int) -> list[WsClient]:
    return [await running.ws(None, token=token) for _ in range(n)]


def _mine(client: WsClient) -> list[tuple[str, str]]:
    return [(q["id"], q["status"]) for q in client.welcome["views"]["questions"]["mine"]]


async def test_two_browsers_on_one_link_are_two_people(running: Running) -> None:
    token = running.token("participant")
    alice, bob = await _people(running, token, 2)
    a, b = alice.welcome["you"], bob.welcome["you"]
    assert a["invite"] == b["invite"] and a["role"] == b["role"] == "participant"
    assert a["person"] != b["person"] and len(a["person"]) == 16
    assert a["person_token"].split(".")[:2] == [a["invite"], a["person"]]
    mod = await running.ws("moderator")
    assert (await alice.command("q.ask", text="Do hospitals in Weifang have masks?"))["ids"] == [
        "q-1"
    ]
    assert (await bob.command("q.ask", text="How long is the quarantine?"))["ids"] == ["q-2"]

    reason = "answered in the opening remarks"
    assert (await mod.command("q.reject", id="q-1", reason=reason))["type"] == "ack"
    assert (await mod.command("q.approve", id="q-2"))["type"] == "ack"
    mine = await alice.expect("q.mine")
    while mine["item"]["status"] != "rejected":
        mine = await alice.expect("q.mine")
    assert (mine["item"]["id"], mine["item"]["reason"]) == ("q-1", reason)
    # Bob hears of his own q-2 being approved; nothing of Alice's q-1 came before it.
    shown = await bob.expect("q.shown")
    assert shown["item"]["id"] == "q-2"
    bobs = [m for m in bob.seen if m.get("type") == "q.mine"]
    assert {m["item"]["id"] for m in bobs} == {"q-2"}
    assert reason not in json.dumps(bob.seen)

    # Separate votes: Bob's question gets Alice's and a third person's vote, not Bob's.
    carol = await running.ws(None, token=token)
    assert (await alice.command("q.vote", id="q-2"))["type"] == "ack"
    assert (await carol.command("q.vote", id="q-2"))["type"] == "ack"
    again = await alice.command("q.vote", id="q-2")
    assert (again["code"], again["message"]) == (
        "invalid_state",
        "q.vote: you have already voted for q-2",
    )
    own = await bob.command("q.vote", id="q-2")
    assert own["message"] == "q.vote: q-2 is your own question"
    room = await running.ws("participant")
    [listed] = room.welcome["views"]["questions"]["items"]
    assert (listed["id"], listed["votes"]) == ("q-2", 2)


async def test_rate_limits_are_per_person_on_a_shared_link(running: Running) -> None:
    token = running.token("participant")
    alice, bob = await _people(running, token, 2)
    for n in range(MAX_ASKS_PER_MIN):
        assert (await alice.command("q.ask", text=f"Alice's question {n}"))["type"] == "ack"
    limited = await alice.command("q.ask", text="One too many")
    assert limited["code"] == "rate_limited"
    assert (await bob.command("q.ask", text="Bob's first question"))["type"] == "ack"


async def test_the_person_token_carries_the_person_to_a_second_device(running: Running) -> None:
    token = running.token("participant")
    alice, bob = await _people(running, token, 2)
    assert (await alice.command("q.ask", text="Is the border open?"))["type"] == "ack"
    carried = alice.welcome["you"]["person_token"]
    phone = await running.ws(None, token=token, person=carried)
    assert phone.welcome["you"]["person"] == alice.welcome["you"]["person"]
    assert phone.welcome["you"]["person_token"] == carried
    assert _mine(phone) == [("q-1", "pending")]
    assert (
        _mine(await running.ws(None, token=token, person=bob.welcome["you"]["person_token"])) == []
    )
    # Asked from the phone, it is Alice's question on her first device too.
    assert (await phone.command("q.ask", text="And the trains?"))["type"] == "ack"
    seen = await alice.expect("q.mine")
    while seen["item"]["id"] != "q-2":
        seen = await alice.expect("q.mine")
    assert seen["item"]["text"] == "And the trains?"


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (
            lambda t: t[:-1] + ("a" if t[-1] != "a" else "b"),
            "this person token's signature is not valid",
        ),
        (
            lambda t: t.rsplit(".", 2)[0] + ".0123456789abcdef." + t.rsplit(".", 1)[1],
            "this person token's signature is not valid",
        ),
        (lambda t: "not-a-token", "this is not a confsvc person token"),
    ],
)
async def test_a_tampered_person_token_is_refused(
    running: Running, tamper: Any, message: str
) -> None:
    token = running.token("participant")
    alice = await running.ws(None, token=token)
    bad = tamper(alice.welcome["you"]["person_token"])
    refused = await _refused(running, {"token": token, "person": bad})
    assert (refused["type"], refused["code"], refused["field"]) == ("error", "bad_person", "person")
    assert refused["message"] == message


async def test_a_person_token_of_another_link_or_on_a_personal_link_is_refused(
    running: Running,
) -> None:
    other = await running.ws("participant")
    foreign = other.welcome["you"]["person_token"]
    refused = await _refused(running, {"token": running.token("participant"), "person": foreign})
    assert (refused["code"], refused["message"]) == (
        "bad_person",
        "this person token belongs to another link",
    )
    personal = running.token("participant", name="Dr Wang")
    refused = await _refused(running, {"token": personal, "person": foreign})
    assert refused["message"] == "this link is personal: it has no people of its own"


async def test_a_personal_link_is_one_person_on_every_connection(running: Running) -> None:
    token = running.token("participant", name="Dr Wang")
    first, second = await _people(running, token, 2)
    for c in (first, second):
        assert (c.welcome["you"]["person"], c.welcome["you"]["person_token"]) == (None, None)
    assert (await first.command("q.ask", text="Asked from the laptop"))["type"] == "ack"
    assert _mine(await running.ws(None, token=token)) == [("q-1", "pending")]


async def test_the_person_token_is_in_no_log_and_no_event(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = running.token("participant")
    alice = await running.ws(None, token=token)
    person_token = alice.welcome["you"]["person_token"]
    signature = person_token.rsplit(".", 1)[1]
    await running.ws(None, token=token, person=person_token)
    assert (await alice.command("q.ask", text="Who pays for the tests?"))["type"] == "ack"
    await _refused(running, {"token": token, "person": person_token + "0"})
    hub = await running.hub()
    stored = json.dumps([(e.actor, e.data) for e in await hub.store.read(hub.id)])
    assert (
        f"participant/{alice.welcome['you']['invite']}.{alice.welcome['you']['person']}" in stored
    )
    assert signature not in stored
    assert caplog.records  # there is a log to leak into
    assert not [r for r in caplog.records if signature in r.getMessage()]


async def test_a_bot_on_a_shared_link_stays_one_person_across_reconnects(running: Running) -> None:
    from confsvc.media.bot import ViewerBot, parse_link

    bot = ViewerBot(link=parse_link(running.link("participant")))
    people = []
    try:
        for _ in range(2):  # a connection, then a reconnect (the supervisor's _open again)
            await bot._open()
            welcome = next(m for m in reversed(bot.messages) if m.get("type") == "welcome")
            people.append(welcome["you"]["person"])
            await bot._teardown()
    finally:
        await bot.close()
    assert people[0] is not None and people == [people[0], people[0]]
    assert bot.person_token is not None
