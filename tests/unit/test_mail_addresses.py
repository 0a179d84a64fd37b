"""Signed reply addresses and Message-IDs; header safety in composed mail."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from confsvc.core.conference import created_event
from confsvc.core.events import Event, NewEvent
from confsvc.core.registry import RULES
from confsvc.http.i18n import I18n
from confsvc.mail.addresses import (
    HeaderInjection,
    message_id,
    parse_message_id,
    parse_reply_address,
    reply_address,
    safe_header,
)
from confsvc.mail.compose import Composer, MailSettings

K = b"k" * 32
C = "weifang-olsztyn-2020"
D = "confsvc.localhost"


def test_reply_address_round_trip_and_case_insensitive() -> None:
    addr = reply_address(K, C, "q-12", D)
    assert addr.startswith("answers+q-12.") and addr.endswith("@confsvc.localhost")
    assert parse_reply_address(K, C, addr, D) == ("q-12", "address")
    assert parse_reply_address(K, C, addr.upper(), D) == ("q-12", "address")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda a: a.replace("q-12.", "q-13."), "bad signature on the reply address"),
        (lambda a: a[:-20] + ("b" if a[-20] != "b" else "c") + a[-19:], "bad signature"),
        (lambda a: a.replace("@confsvc.localhost", "@evil.example"), "another domain"),
        (lambda a: "someone@confsvc.localhost", "not a reply address"),
    ],
)
def test_tampered_reply_addresses_are_not_matched(mutate: Any, reason: str) -> None:
    _q, why = parse_reply_address(K, C, mutate(reply_address(K, C, "q-12", D)), D)
    assert why != "address" and reason in why


def test_signature_depends_on_secret_and_conference() -> None:
    addr = reply_address(K, C, "q-1", D)
    assert parse_reply_address(b"other" * 8, C, addr, D)[1] != "address"
    assert parse_reply_address(K, "other-conf", addr, D)[1] != "address"


def test_message_id_round_trip_and_forgery() -> None:
    mid = message_id(K, C, "q-7", "12-assignment", D)
    assert parse_message_id(K, C, mid) == "q-7"
    assert parse_message_id(K, C, mid.replace("q-7", "q-8")) is None
    assert parse_message_id(K, "x", mid) is None
    assert parse_message_id(K, C, "<random@gmail.com>") is None


@given(st.text(max_size=200))
def test_any_text_is_safe_or_refused(text: str) -> None:
    try:
        out = safe_header(text, "name")
    except HeaderInjection as exc:
        assert any(c in text for c in "\r\n\0")
        assert "name" in str(exc)
    else:
        assert out == text and not any(c in text for c in "\r\n\0")


def _state(sample_agenda: Any, expert_name: str | None = None) -> Any:
    state = RULES.new_state(sample_agenda.conference.id)
    agenda = sample_agenda
    if expert_name is not None:
        experts = [e.model_copy(update={"name": expert_name}) for e in agenda.experts]
        agenda = agenda.model_copy(update={"experts": experts})
    events = [
        created_event(agenda),
        NewEvent(
            type="q.asked",
            data={
                "id": "q-1",
                "text": "Pytanie?",
                "language": "pl",
                "name": None,
                "site": "olsztyn",
                "source": "pre_session",
                "email": None,
                "invite": None,
            },
        ),
    ]
    for e in events:
        RULES.fold(state, Event(seq=state.seq + 1, type=e.type, at=1.0, actor="t", data=e.data))
    return state


def _composer() -> Composer:
    return Composer(
        MailSettings(
            secret=K, domain=D, base_url="http://127.0.0.1:8080", mail_from=f"confsvc@{D}"
        ),
        I18n(),
    )


def test_assignment_is_composed_in_the_experts_language(sample_agenda: Any) -> None:
    state = _state(sample_agenda)
    expert = sample_agenda.experts[0]
    ev = NewEvent(
        type="written.assigned",
        data={"question": "q-1", "expert": expert.id, "due": time.time() + 99},
    )
    [row] = _composer().outbox_hook(state, [ev], time.time())
    p = row.payload
    assert p["to"] == [expert.email]
    assert p["kind"] == "assignment"
    assert row.key == f"{state.id}:{state.seq + 1}:assignment:q-1"
    assert "Auto-Submitted: auto-generated" in p["message"]
    assert f"Content-Language: {expert.languages[0]}" in p["message"]


def test_a_line_break_in_the_experts_name_never_reaches_a_header(sample_agenda: Any) -> None:
    state = _state(sample_agenda, expert_name="Dr Li\r\nBcc: victim@example.org")
    ev = NewEvent(
        type="written.assigned",
        data={"question": "q-1", "expert": sample_agenda.experts[0].id, "due": time.time() + 99},
    )
    [row] = _composer().outbox_hook(state, [ev], time.time())
    assert "message" not in row.payload
    assert "expert name" in row.payload["error"]
