"""The erasure rules (confsvc.core.privacy), without a store: who a person is, what names
them, how each event and stored mail is rewritten, and that the rewritten log folds."""

from __future__ import annotations

import base64
import dataclasses
import json
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confsvc.core import privacy as P
from confsvc.core import written as W
from confsvc.core.agenda import parse_agenda
from confsvc.core.conference import created_event
from confsvc.core.events import Event
from confsvc.core.questions import questions
from confsvc.core.registry import RULES

NAME = "Zofia Wiśniewska"
EMAIL = "zofia.wisniewska@example.pl"
SAMPLE = Path(__file__).resolve().parents[2] / "agenda" / "weifang-olsztyn-2020.yaml"
sample_agenda = parse_agenda(SAMPLE.read_bytes())
PERSON = P.Person(emails=frozenset({EMAIL}), names=frozenset({NAME}))


def ev(seq: int, type_: str, **data: Any) -> Event:
    return Event(seq=seq, type=type_, at=1000.0 + seq, actor="system/system", data=data)


def asked(seq: int, qid: str, **kw: Any) -> Event:
    data = {"id": qid, "text": "Jak długo?", "language": "pl", "name": None, "site": None}
    data |= {"source": "live", "email": None, "invite": None}
    return ev(seq, "q.asked", **(data | kw))


# Text around the name: anything that does not itself run into the name as one word.
filler = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
)
separator = st.sampled_from([" ", ", ", ".\n", " (", ": ", "\t"])
casing = st.sampled_from([str, str.upper, str.lower, str.title])


@given(st.lists(st.tuples(filler, separator, casing), min_size=1, max_size=5), filler)
def test_scrub_leaves_no_verbatim_name_or_address_whatever_the_case(
    pieces: list[tuple[str, str, Any]], tail: str
) -> None:
    text = "".join(f"{f}{sep}{case(NAME)}{sep}{case(EMAIL)}" for f, sep, case in pieces) + tail
    out, n = P.scrub({"text": text, "nested": [text, {"x": text}]}, PERSON)
    assert n >= 2 * len(pieces) * 3
    assert not P.mentions(out, PERSON)
    assert NAME.casefold() not in json.dumps(out, ensure_ascii=False).casefold()


@given(filler)
def test_scrub_changes_nothing_that_does_not_name_them(text: str) -> None:
    if P.mentions(text, PERSON):
        return  # Hypothesis wrote the name itself
    assert P.scrub(text, PERSON) == (text, 0)


def test_a_name_inside_a_longer_word_is_not_a_mention() -> None:
    person = P.Person(names=frozenset({"Anna"}))
    assert P.scrub("Annapurna, Hanna and anna", person) == ("Annapurna, Hanna and [erased]", 1)


def test_identify_grows_from_an_address_to_the_names_invites_and_expert_ids() -> None:
    log = [
        ev(1, "invite.issued", id="inv-1", role="participant", site=None, expires=9, name=NAME),
        asked(2, "q-1", name=NAME, email=EMAIL.upper()),
        ev(3, "written.expert_added", id="zw", name="Dr Z. Wiśniewska", email=EMAIL, languages=[]),
        ev(
            4,
            "written.mail_received",
            message_id="<m@x>",
            **{"from": EMAIL, "from_name": "Zosia W."},
        ),
    ]
    person = P.identify([log], email=EMAIL)
    assert person == P.Person(
        emails=frozenset({EMAIL}),
        names=frozenset({NAME, "Dr Z. Wiśniewska", "Zosia W."}),
        invites=frozenset({"inv-1"}),
        experts=frozenset({"zw"}),
    )


def test_identify_refuses_a_term_too_short_and_an_empty_request() -> None:
    with pytest.raises(P.PrivacyError, match="shorter than 3 characters"):
        P.identify([], name="Al")
    with pytest.raises(P.PrivacyError, match="give an e-mail address or a name"):
        P.identify([])


def test_a_question_loses_its_attribution_and_keeps_its_text() -> None:
    person = P.Person(emails=frozenset({EMAIL}), names=frozenset({NAME}))
    r = P.redact("q.asked", asked(1, "q-1", name=NAME, invite="inv-1").data, person)
    assert r is not None
    assert (r.data["name"], r.data["email"], r.data["invite"]) == (None, None, None)
    assert r.data["text"] == "Jak długo?"
    assert r.counts.questions == 1
    assert P.redact("q.asked", asked(1, "q-1", name="Piotr").data, person) is None


def test_the_record_of_an_erasure_holds_no_erased_string() -> None:
    event = P.erased_event(PERSON, P.Counts(questions=2), salt="s")
    text = json.dumps(event.data, ensure_ascii=False).casefold()
    assert NAME.casefold() not in text and EMAIL not in text
    stored = Event(seq=9, type=event.type, at=1.0, actor="cli/privacy", data=event.data)
    assert P.was_erased(stored, EMAIL.upper()) and P.was_erased(stored, f" {NAME} ")
    assert not P.was_erased(stored, "piotr@example.pl")
    assert event.data["counts"]["questions"] == 2


def _mail() -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(NAME, "zofia.wisniewska", "example.pl")
    msg["To"] = "answers@confsvc.localhost"
    msg["Subject"] = f"Pytanie od {NAME}"
    msg.set_content(f"Dzień dobry,\n{NAME}\n{EMAIL}\n" * 3, cte="quoted-printable")
    msg.add_attachment(f"signed: {NAME}".encode(), maintype="application", subtype="pdf")
    return msg.as_bytes()


def test_a_stored_mail_is_rewritten_part_by_part() -> None:
    raw = _mail()
    assert NAME.encode() not in raw  # encoded words, quoted-printable, base64: not verbatim
    assert P.mime_mentions(raw, PERSON)
    out = P.scrub_mime(raw, PERSON)
    assert out is not None
    assert not P.mime_mentions(out, PERSON)
    text = P.mime_text(out)
    assert "Dzień dobry" in text and "Subject: Pytanie od [erased]" in text
    assert "[attachment erased]" in text


def test_a_received_mail_event_is_scrubbed_raw_included() -> None:
    data = {"message_id": "<m@x>", "from": EMAIL, "from_name": NAME, "subject": "x"}
    data |= {"text": f"Tu {NAME}", "raw": base64.b64encode(_mail()).decode()}
    r = P.redact("written.mail_received", data, PERSON)
    assert r is not None
    assert (r.data["from"], r.data["from_name"], r.data["text"]) == ("[erased]", "", "Tu [erased]")
    assert not P.mime_mentions(base64.b64decode(r.data["raw"]), PERSON)
    assert (r.counts.mails, r.counts.raw_rewritten) == (1, 1)


def test_an_unreadable_raw_mail_that_names_them_is_dropped() -> None:
    raw = b"From: " + EMAIL.encode() + b"\r\nContent-Type: multipart/mixed\r\n\r\n\xff\xfe"
    data = {"message_id": "<m@x>", "from": "a@b.cd", "raw": base64.b64encode(raw).decode()}
    r = P.redact("written.mail_received", data, PERSON)
    assert r is not None
    assert not P.mime_mentions(base64.b64decode(r.data["raw"]), PERSON)


def test_a_queued_mail_to_them_is_failed_and_one_naming_them_is_rewritten() -> None:
    to_her = {"to": [EMAIL], "message": _mail().decode("ascii"), "kind": "answer"}
    r = P.redact_outbox(to_her, "queued", PERSON)
    assert r is not None and r.status == "failed"
    assert (r.payload["to"], r.payload["message"]) == (["[erased]"], "")
    to_expert = {"to": ["x@weifang.example.org"], "message": _mail().decode("ascii")}
    r = P.redact_outbox(to_expert, "queued", PERSON)
    assert r is not None and r.status is None
    assert not P.mime_mentions(r.payload["message"].encode(), PERSON)
    assert (
        P.redact_outbox({"to": ["x@y.org"], "message": "Subject: hi\n\nhi"}, "sent", PERSON) is None
    )


# -- the rewritten log still folds ------------------------------------------------

askers = st.sampled_from([(NAME, EMAIL), (NAME, None), (None, EMAIL), ("Piotr Zieliński", None)])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(askers, st.booleans()), min_size=1, max_size=12))
def test_the_log_folds_after_erasure_with_the_same_questions_and_answers(
    rows: list[tuple[tuple[str | None, str | None], bool]],
) -> None:
    created = created_event(sample_agenda)
    log = [ev(1, created.type, **created.data)]
    for i, ((name, email), defer) in enumerate(rows, start=1):
        text = f"Pytanie {i} od {name or 'kogoś'}"
        log.append(asked(len(log) + 1, f"q-{i}", name=name, email=email, text=text))
        if defer:
            log.append(ev(len(log) + 1, "q.deferred", id=f"q-{i}"))
            reply = {"question": f"q-{i}", "via": "web", "from": EMAIL, "text": f"Pani {NAME}"}
            log.append(ev(len(log) + 1, "written.replied", **reply))
    person = P.identify([log], email=EMAIL)
    rewritten = []
    for e in log:
        r = P.redact(e.type, e.data, person)
        rewritten.append(e if r is None else dataclasses.replace(e, data=r.data))

    def fold(events: list[Event]) -> Any:
        state = RULES.new_state(sample_agenda.conference.id)
        for e in events:
            RULES.fold(state, e)
        return state

    before, after = fold(log), fold(rewritten)
    qs_before, qs_after = questions(before).items, questions(after).items
    assert {k: q.status for k, q in qs_after.items()} == {k: q.status for k, q in qs_before.items()}
    replies = {k: len(q.replies) for k, q in W.by_id(after).items()}
    assert replies == {k: len(q.replies) for k, q in W.by_id(before).items()}
    assert not any(P.mentions(e.data, person) for e in rewritten)
    assert not any(person.has_name(q.name) or person.has_email(q.email) for q in qs_after.values())
    # Her name is hers only once the log ties it to her address.
    assert (NAME in person.names) == any(a == (NAME, EMAIL) for a, _ in rows)
    others = [q for q in qs_before.values() if q.name == "Piotr Zieliński"]
    assert [qs_after[q.id].name for q in others] == ["Piotr Zieliński"] * len(others)
