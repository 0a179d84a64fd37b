"""One path issues invites (``Hub.issue_invite``): decided by the core, recorded, and only
then returned; and one append-with-retry in the hub (``Hub.append``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from confsvc.core.agenda import parse_agenda
from confsvc.core.conference import created_event
from confsvc.core.errors import BadRequest, Forbidden
from confsvc.core.events import SYSTEM, NewEvent, Principal
from confsvc.core.invites import InviteRequest
from confsvc.core.roles import Role, verify_invite
from confsvc.service import Hub, Hubs
from confsvc.store import NewRecord, open_store
from tests.conftest import SAMPLE

SECRET = b"k" * 48
HOST = Principal(role=Role.HOST, invite="host-1")


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    store = await open_store(str(tmp_path / "c.db"))
    try:
        hub, _ = await Hubs(store).create_or_resume(parse_agenda(SAMPLE.read_bytes()))
        yield hub
    finally:
        await store.close()


async def test_an_issued_link_is_in_the_log_when_it_is_returned(hub: Hub) -> None:
    request = InviteRequest(role=Role.SITE, site="weifang", name="潍坊", ttl_s=3600)
    invite, token = await hub.issue_invite(HOST, SECRET, request)
    last = (await hub.store.read(hub.id))[-1]
    assert (last.type, last.actor) == ("invite.issued", "host/host-1")
    assert last.data == {
        "id": invite.id,
        "role": "site",
        "site": "weifang",
        "expires": invite.expires,
        "name": "潍坊",
    }
    assert verify_invite(SECRET, token, now=hub.clock()) == invite


@pytest.mark.parametrize(
    ("who", "request_", "error", "message"),
    [
        (
            Principal(role=Role.MODERATOR, invite="m-1"),
            InviteRequest(role=Role.PARTICIPANT),
            Forbidden,
            "role 'moderator' may not create invites",
        ),
        (
            HOST,
            InviteRequest(role=Role.SITE, site="paris"),
            BadRequest,
            "no site 'paris' in the agenda",
        ),
        (
            HOST,
            InviteRequest(role=Role.SITE),
            BadRequest,
            "a site invite needs a site, and only a site invite takes one",
        ),
        (HOST, InviteRequest(role=Role.PUBLIC), BadRequest, "no invites for role 'public'"),
        (
            HOST,
            InviteRequest(role=Role.HOST, ttl_s=0),
            BadRequest,
            "an invite must live for a positive number of seconds",
        ),
    ],
)
async def test_a_refused_link_is_neither_recorded_nor_returned(
    hub: Hub, who: Principal, request_: InviteRequest, error: type[Exception], message: str
) -> None:
    before = await hub.store.last_seq(hub.id)
    with pytest.raises(error) as caught:
        await hub.issue_invite(who, SECRET, request_)
    assert str(caught.value) == message
    assert await hub.store.last_seq(hub.id) == before


async def _foreign_write(hub: Hub) -> None:
    """Another process appends behind the hub's back (the hub's seq is now stale)."""
    seq = await hub.store.last_seq(hub.id)
    note = NewRecord(type="invite.revoked", at=1.0, actor="cli/other", data={"invite": "x-1"})
    await hub.store.append(hub.id, seq, [note])


async def test_a_command_after_another_writer_is_decided_again_and_appended(hub: Hub) -> None:
    await _foreign_write(hub)
    stale = hub.state.seq
    invite, _ = await hub.issue_invite(HOST, SECRET, InviteRequest(role=Role.PARTICIPANT))
    types = [e.type for e in await hub.store.read(hub.id, stale)]
    assert types == ["invite.revoked", "invite.issued"]
    assert hub.state.parts["invites"][invite.id].role == "participant"


async def test_a_system_append_after_another_writer_lands_after_it(hub: Hub) -> None:
    await _foreign_write(hub)
    stale = hub.state.seq
    await hub.append_system([NewEvent(type="invite.revoked", data={"invite": "y-1"})])
    events = await hub.store.read(hub.id, stale)
    assert [(e.seq, e.data["invite"]) for e in events] == [(stale + 1, "x-1"), (stale + 2, "y-1")]
    assert hub.state.seq == stale + 2


async def test_deciding_again_sees_what_the_other_writer_did(hub: Hub) -> None:
    # The decision is made on the folded state each attempt: a created event decided
    # only when the conference does not exist is not appended twice.
    await _foreign_write(hub)
    appended = await hub.append(
        SYSTEM,
        lambda s, _now: [] if s.exists else [created_event(parse_agenda(SAMPLE.read_bytes()))],
    )
    assert appended == []
