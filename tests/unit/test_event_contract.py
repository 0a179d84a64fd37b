"""The typed payloads between parts (confsvc.core.events): what the emitting part builds
is what the reading part parses, through the stored JSON, and through the real fold."""

from __future__ import annotations

import json
from typing import Any

import pytest

from confsvc.core import written as W
from confsvc.core.agenda import parse_agenda
from confsvc.core.conference import ConferenceState, created_event
from confsvc.core.events import (
    SYSTEM,
    Event,
    NewEvent,
    OnAir,
    QuestionAsked,
    Step,
    WrittenAssigned,
    WrittenDigestSent,
    WrittenPublished,
    WrittenReminded,
    WrittenReviewed,
)
from confsvc.core.floor import floor_state, on_air_event
from confsvc.core.questions import question
from confsvc.core.questions.queue import asked_event
from confsvc.core.registry import RULES
from confsvc.core.report import build
from tests.conftest import SAMPLE

AGENDA = parse_agenda(SAMPLE.read_bytes())
T0 = 1_700_000_000.0


def _stored(new: NewEvent, seq: int = 1) -> Event:
    """The event as a store gives it back: its payload through JSON."""
    data = json.loads(json.dumps(new.data))
    return Event(seq=seq, type=new.type, at=T0, actor=SYSTEM.actor, data=data)


def _state(*new: NewEvent) -> ConferenceState:
    state = RULES.new_state(AGENDA.conference.id)
    for e in (created_event(AGENDA), *new):
        RULES.fold(state, _stored(e, state.seq + 1))
    return state


ASKED = QuestionAsked(
    id="q-1",
    text="Czy szkoły będą otwarte?",
    language="pl",
    name="Anna",
    site="olsztyn",
    source="pre_session",
    email="anna@example.org",
    invite="inv-1",
)


def test_question_asked_round_trips_through_the_stored_json() -> None:
    assert QuestionAsked.parse(_stored(ASKED.event()).data) == ASKED


def test_the_question_part_builds_q_asked_from_the_type() -> None:
    built = asked_event(
        qid="q-1",
        text=ASKED.text,
        language="pl",
        name="Anna",
        site="olsztyn",
        source="pre_session",
        email="anna@example.org",
        invite="inv-1",
    )
    assert (built.type, built.data) == (QuestionAsked.TYPE, ASKED.event().data)


def test_an_erased_q_asked_still_parses_without_its_asker() -> None:
    data: dict[str, Any] = {**ASKED.event().data, "name": None, "email": None, "invite": None}
    parsed = QuestionAsked.parse(data)
    assert (parsed.name, parsed.email, parsed.invite, parsed.text) == (
        None,
        None,
        None,
        ASKED.text,
    )


def test_a_q_asked_without_its_text_is_refused_by_name() -> None:
    data = {k: v for k, v in ASKED.event().data.items() if k != "text"}
    with pytest.raises(KeyError, match="text"):
        QuestionAsked.parse(data)


def test_the_fold_reads_q_asked_through_the_type() -> None:
    q = question(_state(ASKED.event()), "q-1")
    assert q is not None
    assert (q.text, q.language, q.name, q.site, q.source, q.email, q.invite) == (
        ASKED.text,
        "pl",
        "Anna",
        "olsztyn",
        "pre_session",
        "anna@example.org",
        "inv-1",
    )


def test_steps_round_trip_through_the_views_dict_and_json() -> None:
    state = _state(
        ASKED.event(),
        NewEvent(type="q.edited", data={"id": "q-1", "text": "Czy szkoły są otwarte?"}),
        NewEvent(type="q.deferred", data={"id": "q-1"}),
    )
    q = question(state, "q-1")
    assert q is not None
    assert [(h.seq, h.type) for h in q.history] == [
        (2, "q.asked"),
        (3, "q.edited"),
        (4, "q.deferred"),
    ]
    assert q.history[1].data == {"text": "Czy szkoły są otwarte?"}  # the id is the question's
    for h in q.history:
        assert Step.parse(json.loads(json.dumps(h.as_dict()))) == h


def test_the_report_and_written_answers_read_the_steps() -> None:
    state = _state(ASKED.event(), NewEvent(type="q.deferred", data={"id": "q-1"}))
    [row] = build(state, T0)["questions"]
    assert [s["event"] for s in row["path"]] == ["q.asked", "q.deferred"]
    life = W.entry(state, "q-1")
    assert life is not None
    assert life.opened_at == T0  # pre-session: open since it was asked, deferred or not


def test_on_air_round_trips_through_the_stored_json() -> None:
    on_air = OnAir(sites=("olsztyn", "weifang"))
    assert OnAir.parse(_stored(on_air.event()).data) == on_air
    assert on_air_event(["olsztyn", "weifang"]) == on_air.event()


def test_on_air_with_sites_not_a_list_is_refused() -> None:
    with pytest.raises(ValueError, match="sites is str"):
        OnAir.parse({"sites": "olsztyn"})


def test_the_floor_folds_on_air_through_the_type() -> None:
    site = AGENDA.site_ids[0]
    state = _state(on_air_event([site]))
    assert floor_state(state).on_air == [site]
    RULES.fold(state, _stored(on_air_event([]), state.seq + 1))
    assert floor_state(state).on_air == []


WRITTEN = [
    WrittenAssigned(question="q-1", expert="epi", due=T0 + 86400),
    WrittenAssigned(question="q-1", expert="epi", due=T0, waits_for="zh"),
    WrittenAssigned(question="q-1", expert="epi", due=T0, untranslated=True),
    WrittenReviewed(question="q-1", text="Odpowiedź"),
    WrittenPublished(question="q-1"),
    WrittenPublished(question="q-1", untranslated=True),
    WrittenReminded(question="q-1", kind="overdue", now=T0),
    WrittenDigestSent(counts={"open": 2, "total": 3}, now=T0),
]


@pytest.mark.parametrize("payload", WRITTEN, ids=lambda p: type(p).__name__)
def test_written_payloads_round_trip_through_the_stored_json(payload: Any) -> None:
    stored = _stored(payload.event())
    assert stored.type == payload.TYPE
    assert type(payload).parse(stored.data) == payload


def test_unset_optional_written_fields_stay_out_of_the_stored_payload() -> None:
    # The stored JSON is what it was before the types: nothing new in old-shaped events.
    assert WRITTEN[0].event().data == {"question": "q-1", "expert": "epi", "due": T0 + 86400}
    assert WRITTEN[4].event().data == {"question": "q-1"}


def test_the_written_part_folds_assignments_reviews_and_reminders_through_the_types() -> None:
    expert = AGENDA.experts[0].id
    state = _state(
        QuestionAsked(id="q-1", text="Czy?", language="pl", source="pre_session").event(),
        WrittenAssigned(question="q-1", expert=expert, due=T0 + 86400, waits_for="zh").event(),
        WrittenReminded(question="q-1", kind="before", now=T0 + 100).event(),
    )
    q = W.entry(state, "q-1")
    assert q is not None
    assert (q.status, q.expert, q.due, q.waits_for) == ("assigned", expert, T0 + 86400, "zh")
    assert q.reminders == [("before", T0 + 100)]


def test_a_stored_assignment_with_a_broken_due_reads_as_no_due_and_one_without_expert_fails() -> (
    None
):
    broken = WrittenAssigned.parse({"question": "q-2", "expert": "x", "due": "soon"})
    assert (broken.due, broken.waits_for, broken.untranslated) == (None, None, False)
    with pytest.raises(KeyError):
        WrittenAssigned.parse({"question": "q-2"})


def _decoded(seq: int, type_: str, data: dict[str, Any]) -> Event:
    """An event as another node or the store hands it over: every string decoded anew."""
    raw = {"seq": seq, "type": type_, "at": T0 + seq, "actor": "participant/inv-7", "data": data}
    return Event(**json.loads(json.dumps(raw)))


def test_steps_of_decoded_events_keep_one_copy_of_their_short_strings() -> None:
    voter = "inv-7.p-1234"
    one = Step.of(_decoded(5, "q.voted", {"id": "q-1", "voter": voter}))
    two = Step.of(_decoded(6, "q.voted", {"id": "q-2", "voter": voter}))
    assert (one.type, one.actor, one.data) == ("q.voted", "participant/inv-7", {"voter": voter})
    assert one.type is two.type and one.actor is two.actor
    [(k1, v1)] = one.data.items()
    [(k2, v2)] = two.data.items()
    assert k1 is k2 and v1 is v2


def test_a_long_text_in_a_step_is_not_interned_but_kept_whole() -> None:
    text = "Czy szpitale mają maseczki i rękawiczki dla wszystkich lekarzy oraz pielęgniarek?"
    assert len(text) > 64
    one = Step.of(_decoded(5, "q.edited", {"id": "q-1", "text": text}))
    two = Step.of(_decoded(6, "q.edited", {"id": "q-2", "text": text}))
    assert one.data["text"] == two.data["text"] == text
    assert one.data["text"] is not two.data["text"]


def test_decoded_asks_share_their_language_source_and_site() -> None:
    data = ASKED.event().data
    a = QuestionAsked.parse(json.loads(json.dumps(data)))
    b = QuestionAsked.parse(json.loads(json.dumps(data)))
    assert a == b
    assert a.language is b.language and a.source is b.source and a.site is b.site
    assert a.invite is b.invite
