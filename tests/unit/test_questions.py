"""The question queue's rules: life, roles, merge, edits, rate limits, views, CSV import."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confsvc.core import questions as qmod
from confsvc.core.agenda import parse_agenda
from confsvc.core.conference import EVERYONE, Audience, ConferenceState, created_event
from confsvc.core.errors import DomainError
from confsvc.core.events import Command, Event, NewEvent, Principal
from confsvc.core.floor import floor_state
from confsvc.core.registry import RULES
from confsvc.core.roles import Role
from tests.conftest import SAMPLE

AGENDA = parse_agenda(SAMPLE.read_bytes())
MOD = Principal(role=Role.MODERATOR, invite="mod1")
ALICE = Principal(role=Role.PARTICIPANT, invite="alice", name="Alice")
BOB = Principal(role=Role.PARTICIPANT, invite="bob")
OLSZTYN = Principal(role=Role.SITE, invite="site-o", site="olsztyn")
PUBLIC = Principal(role=Role.PUBLIC, invite="public")


class World:
    def __init__(self) -> None:
        self.state: ConferenceState = RULES.new_state(AGENDA.conference.id)
        self.now = 1_000_000.0
        self.events: list[Event] = []
        self.fold([created_event(AGENDA)], "system/system")

    def fold(self, new: list[NewEvent], actor: str) -> list[Event]:
        out = []
        for e in new:
            ev = Event(seq=self.state.seq + 1, type=e.type, at=self.now, actor=actor, data=e.data)
            RULES.fold(self.state, ev)
            out.append(ev)
        self.events.extend(out)
        return out

    def do(self, who: Principal, command: str, /, **args: Any) -> list[Event]:
        new = RULES.decide(self.state, who, Command(name=command, args=args), self.now)
        return self.fold(new, who.actor)

    def fails(self, who: Principal, command: str, /, **args: Any) -> DomainError:
        with pytest.raises(DomainError) as info:
            self.do(who, command, **args)
        return info.value

    @property
    def qs(self) -> qmod.QuestionsState:
        return qmod.questions(self.state)

    def start(self) -> None:
        self.do(Principal(role=Role.HOST, invite="host"), "ros.start")


@pytest.fixture
def w() -> World:
    return World()


def test_ask_emits_the_contract_event(w: World) -> None:
    (ev,) = w.do(ALICE, "q.ask", text="  Jak testujecie szkoły?  ", site="weifang", name="Alice")
    assert ev.type == "q.asked"
    assert ev.data == {
        "id": "q-1",
        "text": "Jak testujecie szkoły?",
        "language": "pl",
        "name": "Alice",
        "site": "weifang",
        "source": "live",
        "email": None,
        "invite": "alice",
    }
    (ev2,) = w.do(OLSZTYN, "q.ask", text="How?", site="weifang", language="other")
    assert (ev2.data["id"], ev2.data["site"], ev2.data["language"]) == ("q-2", "olsztyn", "other")


def test_a_question_without_a_name_is_anonymous(w: World) -> None:
    (ev,) = w.do(ALICE, "q.ask", text="Anonymous, please", name="  ")
    assert ev.data["name"] is None  # even though Alice's invite has her name


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("你们如何追踪密切接触者？", "zh"),
        ("Ile testów robicie dziennie?", "pl"),
        ("Jak to jest w szpitalu", "pl"),
        ("How many tests a day do you run?", "en"),
        ("COVID-19 检测", "zh"),
        ("1234 ?", "other"),
    ],
)
def test_language_is_guessed_from_the_text(text: str, lang: str) -> None:
    assert qmod.guess_language(text) == lang


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({"text": ""}, "the question is empty"),
        ({"text": "   "}, "the question is empty"),
        ({"text": "x" * 1001}, "1001 characters long; at most 1000"),
        ({"text": "a\x00b"}, "control characters"),
        ({"text": "ok", "language": "de"}, "args.language"),
        ({"text": "ok", "site": "paris"}, "no site 'paris'"),
        ({"text": "ok", "colour": "red"}, "args.colour"),
    ],
)
def test_bad_questions_are_refused_naming_the_problem(
    w: World, args: dict[str, Any], needle: str
) -> None:
    err = w.fails(ALICE, "q.ask", **args)
    assert needle in err.message
    assert w.qs.items == {}


def test_a_link_may_ask_five_questions_a_minute(w: World) -> None:
    for i in range(5):
        w.do(ALICE, "q.ask", text=f"question {i}")
        w.now += 1
    err = w.fails(ALICE, "q.ask", text="sixth")
    assert err.code == "rate_limited"
    assert "at most 5 questions a minute" in err.message
    w.do(BOB, "q.ask", text="another link is not limited")
    w.now += 56  # the first question is now a minute old
    w.do(ALICE, "q.ask", text="sixth, later")
    assert len(w.qs.items) == 7


def test_life_of_a_question_and_the_floor(w: World) -> None:
    w.start()
    w.do(OLSZTYN, "q.ask", text="How do you trace contacts?")
    w.do(MOD, "q.approve", id="q-1")
    types = [e.type for e in w.do(MOD, "q.on_air", id="q-1", site="weifang")]
    assert types == ["q.on_air", "floor.on_air"]
    assert floor_state(w.state).on_air == ["olsztyn", "weifang"]
    assert w.qs.on_air == "q-1"
    types = [e.type for e in w.do(MOD, "q.answer", id="q-1", site="weifang")]
    assert types == ["floor.on_air", "q.answered"]
    assert floor_state(w.state).on_air == []
    q = w.qs.items["q-1"]
    assert (q.status, q.answered_by, w.qs.on_air) == (
        "answered",
        {"site": "weifang", "expert": None},
        None,
    )


def test_only_one_question_on_air(w: World) -> None:
    for text in ("first", "second"):
        w.do(ALICE, "q.ask", text=text)
    w.do(MOD, "q.approve", id="q-1")
    w.do(MOD, "q.approve", id="q-2")
    w.do(MOD, "q.on_air", id="q-1")
    err = w.fails(MOD, "q.on_air", id="q-2")
    assert err.message == "q.on_air: q-1 is on air; mark it answered or take it off air first"
    w.do(MOD, "q.off_air", id="q-1")
    w.do(MOD, "q.on_air", id="q-2")
    assert (w.qs.items["q-1"].status, w.qs.on_air) == ("approved", "q-2")


def test_wrong_state_names_command_question_and_state(w: World) -> None:
    w.do(ALICE, "q.ask", text="x?")
    err = w.fails(MOD, "q.on_air", id="q-1")
    assert err.code == "invalid_state"
    assert err.message == "q.on_air: q-1 is pending; this needs a question that is approved"
    err = w.fails(MOD, "q.approve", id="q-9")
    assert (err.code, err.message) == ("not_found", "q.approve: no question 'q-9'")


def test_reject_with_reason_then_restore(w: World) -> None:
    w.do(ALICE, "q.ask", text="spam?")
    (ev,) = w.do(MOD, "q.reject", id="q-1", reason="Off topic")
    assert ev.data == {"id": "q-1", "reason": "Off topic"}
    assert w.qs.items["q-1"].reason == "Off topic"
    (ev,) = w.do(MOD, "q.restore", id="q-1")
    assert ev.data == {"id": "q-1"}
    assert (w.qs.items["q-1"].status, w.qs.items["q-1"].reason) == ("pending", None)
    (ev,) = w.do(MOD, "q.reject", id="q-1")
    assert ev.data == {"id": "q-1", "reason": None}


def test_edits_keep_the_original_and_every_version(w: World) -> None:
    w.do(ALICE, "q.ask", text="how mny tests")
    w.now += 10
    (ev,) = w.do(MOD, "q.edit", id="q-1", text="How many tests?")
    assert ev.data == {"id": "q-1", "text": "How many tests?"}
    w.do(MOD, "q.edit", id="q-1", text="How many tests a day?")
    view = qmod.staff_view(w.qs.items["q-1"])
    assert view["text"] == "How many tests a day?"
    assert view["original"] == "how mny tests"
    assert [e["text"] for e in view["edits"]] == [
        "how mny tests",
        "How many tests?",
        "How many tests a day?",
    ]
    assert "unchanged" in w.fails(MOD, "q.edit", id="q-1", text="How many tests a day?").message


def test_merge_carries_votes_and_askers(w: World) -> None:
    w.do(ALICE, "q.ask", text="masks?")
    w.do(BOB, "q.ask", text="masks??")
    w.do(MOD, "q.approve", id="q-1")
    w.do(MOD, "q.approve", id="q-2")
    w.do(BOB, "q.vote", id="q-1")
    w.do(OLSZTYN, "q.vote", id="q-2")
    w.do(ALICE, "q.vote", id="q-2")
    (ev,) = w.do(MOD, "q.merge", id="q-2", into="q-1")
    assert ev.data == {"id": "q-2", "into": "q-1"}
    target = w.qs.items["q-1"]
    assert target.voters == {"bob", "site-o", "alice"}
    assert target.askers == ["alice", "bob"]
    assert target.merged_from == ("q-2",)
    assert w.qs.items["q-2"].status == "merged"
    assert "merged into q-1" in w.fails(MOD, "q.approve", id="q-2").message
    assert "into itself" in w.fails(MOD, "q.merge", id="q-1", into="q-1").message


def test_votes_once_each_not_own_not_pending(w: World) -> None:
    w.do(ALICE, "q.ask", text="a?")
    assert w.fails(BOB, "q.vote", id="q-1").code == "not_found"  # pending is invisible
    w.do(MOD, "q.approve", id="q-1")
    w.do(BOB, "q.vote", id="q-1")
    assert "already voted" in w.fails(BOB, "q.vote", id="q-1").message
    assert "your own question" in w.fails(ALICE, "q.vote", id="q-1").message


def test_votes_are_rate_limited(w: World) -> None:
    n = qmod.MAX_VOTES_PER_MIN + 1
    for i in range(n):
        w.do(Principal(role=Role.PARTICIPANT, invite=f"p{i}"), "q.ask", text=f"q{i}")
        w.do(MOD, "q.approve", id=f"q-{i + 1}")
    for i in range(n - 1):
        w.do(BOB, "q.vote", id=f"q-{i + 1}")
    err = w.fails(BOB, "q.vote", id=f"q-{n}")
    assert (err.code, err.message) == (
        "rate_limited",
        "q.vote: at most 30 votes a minute from one person",
    )
    w.now += 61
    w.do(BOB, "q.vote", id=f"q-{n}")


def test_defer_from_on_air_clears_the_floor(w: World) -> None:
    w.start()
    w.do(OLSZTYN, "q.ask", text="x?")
    w.do(MOD, "q.approve", id="q-1")
    w.do(MOD, "q.on_air", id="q-1")
    types = [e.type for e in w.do(MOD, "q.defer", id="q-1")]
    assert types == ["floor.on_air", "q.deferred"]
    assert w.events[-1].data == {"id": "q-1"}
    assert (w.qs.on_air, floor_state(w.state).on_air) == (None, [])


def test_tags_pin_and_notes(w: World) -> None:
    w.do(ALICE, "q.ask", text="x?")
    w.do(MOD, "q.tag", id="q-1", tags=["Testing", "schools", "testing"])
    w.do(MOD, "q.pin", id="q-1")
    w.do(MOD, "q.note", id="q-1", text="ask Weifang")
    q = w.qs.items["q-1"]
    assert (q.tags, q.pinned, [n["text"] for n in q.notes]) == (
        ("testing", "schools"),
        True,
        ["ask Weifang"],
    )
    assert "pinned already" in w.fails(MOD, "q.pin", id="q-1").message
    assert "tag '<b>'" in w.fails(MOD, "q.tag", id="q-1", tags=["<b>"]).message


def test_answered_by_expert_must_exist(w: World) -> None:
    w.do(ALICE, "q.ask", text="x?")
    w.do(MOD, "q.approve", id="q-1")
    assert "no expert 'nobody'" in w.fails(MOD, "q.answer", id="q-1", expert="nobody").message
    w.do(MOD, "q.answer", id="q-1", expert="olsztyn-sanepid")
    assert w.qs.items["q-1"].answered_by == {"site": None, "expert": "olsztyn-sanepid"}


# -- roles: every action with every role ----------------------------------------

ACTIONS: dict[str, dict[str, Any]] = {
    "q.approve": {"id": "q-1"},
    "q.reject": {"id": "q-1"},
    "q.restore": {"id": "q-1"},
    "q.edit": {"id": "q-1", "text": "new"},
    "q.merge": {"id": "q-1", "into": "q-2"},
    "q.tag": {"id": "q-1", "tags": ["a"]},
    "q.pin": {"id": "q-1"},
    "q.note": {"id": "q-1", "text": "n"},
    "q.on_air": {"id": "q-1"},
    "q.off_air": {"id": "q-1"},
    "q.answer": {"id": "q-1"},
    "q.defer": {"id": "q-1"},
    "q.import": {"rows": [{"line": 2, "text": "x"}]},
    "post.publish": {"text": "hello"},
    "q.ask": {"text": "hello?"},
    "q.vote": {"id": "q-1"},
}
ALLOWED = {
    **{key: {Role.HOST, Role.MODERATOR} for key in ACTIONS},
    "q.ask": {Role.PARTICIPANT, Role.SITE},
    "q.vote": {Role.PARTICIPANT, Role.SITE},
}


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.SYSTEM])
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_action_with_every_role(w: World, role: Role, action: str) -> None:
    who = Principal(
        role=role, invite=f"inv-{role.value}", site="warsaw" if role is Role.SITE else None
    )
    try:
        w.do(who, action, **ACTIONS[action])
    except DomainError as exc:
        if role in ALLOWED[action]:
            assert exc.code != "forbidden", exc.message
        else:
            assert exc.code == "forbidden"
            assert exc.message == f"role {role.value!r} may not use {action!r}"
    else:
        assert role in ALLOWED[action]


# -- views: nothing private leaks ------------------------------------------------


def _leaky_world() -> World:
    w = World()
    w.start()
    w.do(ALICE, "q.ask", text="SECRET-PENDING question")
    w.do(BOB, "q.ask", text="approved one", name="Bob Named")
    w.do(MOD, "q.import", rows=[
        {"line": 2, "text": "SECRET-REJECTED question", "email": "leak@example.org", "asker": "Ann"},
        {"line": 3, "text": "on air now", "email": "leak2@example.org", "asker": "Piotr Secret"},
    ])  # fmt: skip
    w.do(MOD, "q.approve", id="q-2")
    w.do(MOD, "q.reject", id="q-3", reason="SECRET-REASON")
    w.do(MOD, "q.approve", id="q-4")
    w.do(MOD, "q.note", id="q-4", text="SECRET-NOTE")
    w.do(MOD, "q.note", id="q-2", text="SECRET-NOTE")
    w.do(MOD, "q.on_air", id="q-4")
    return w


SECRETS = ("SECRET", "leak@", "leak2@", "Piotr Secret", "alice", "bob", "Bob Named")


def test_public_snapshot_and_everyone_messages_hold_nothing_private() -> None:
    w = _leaky_world()
    staff = json.dumps(RULES.snapshot(w.state, MOD, w.now))
    for secret in SECRETS:
        assert secret in staff  # the data that could leak is there
    public = json.dumps(RULES.snapshot(w.state, PUBLIC, w.now)["questions"])
    everyone = json.dumps(
        [
            m.payload
            for e in w.events
            for m in RULES.messages(w.state, e)
            if m.audience == EVERYONE or m.audience.includes(PUBLIC)
        ]
    )
    for secret in SECRETS:
        assert secret not in public
        assert secret not in everyone
    assert json.loads(public)["on_air"]["text"] == "on air now"


def test_room_sees_approved_and_own_questions_only() -> None:
    w = _leaky_world()
    alice = RULES.snapshot(w.state, ALICE, w.now)["questions"]
    assert [q["id"] for q in alice["items"]] == ["q-2", "q-4"]
    assert [(q["id"], q["status"]) for q in alice["mine"]] == [("q-1", "pending")]
    text = json.dumps(alice)
    for secret in ("SECRET-NOTE", "SECRET-REJECTED", "leak@", "SECRET-REASON"):
        assert secret not in text


def test_asker_sees_rejection_reason_live() -> None:
    w = _leaky_world()
    w.do(MOD, "q.reject", id="q-1", reason="Duplicate of q-2")
    assert qmod.PART.messages is not None
    msgs = qmod.PART.messages(w.state, w.events[-1])
    to_alice = [m.payload for m in msgs if m.audience == Audience(invite="alice")]
    assert to_alice == [{"type": "q.mine", "item": qmod.own_view(w.qs.items["q-1"])}]
    assert to_alice[0]["item"]["reason"] == "Duplicate of q-2"
    to_bob = [m for m in msgs if m.audience.includes(BOB)]
    assert to_bob == []  # nor does the room hear of a question it never saw


# -- CSV import -----------------------------------------------------------------


def test_csv_import_parses_rows_with_their_lines() -> None:
    raw = (
        "\ufefftext,language,asker,site,email\n"
        "How do you test?,en,Anna,olsztyn,anna@example.org\n"
        '"Multi\nline",,, ,\n'
        "Jak?,pl,,,\n"
    ).encode()
    rows, problems = qmod.parse_import_csv(raw)
    assert problems == []
    assert [(r.line, r.text) for r in rows] == [
        (2, "How do you test?"),
        (3, "Multi\nline"),
        (5, "Jak?"),
    ]


def test_csv_import_reports_bad_rows_by_line_and_imports_none(w: World) -> None:
    raw = (
        b"text,language,asker,site,email\n"
        b"fine,en,,,\n"
        b",en,,,\n"
        b"ok,de,,paris,not-an-email\n"
        b"too,many,fields,,,,\n"
    )
    rows, problems = qmod.parse_import_csv(raw)
    assert problems == ["line 5: 7 fields; the header has 5"]
    with pytest.raises(qmod.ImportProblems) as info:
        w.do(MOD, "q.import", rows=[r.model_dump() for r in rows])
    assert info.value.problems == [
        "line 3: text is empty",
        "line 4: language 'de' is not one of zh, pl, en, other",
        "line 4: site 'paris' is not in the agenda (sites: warsaw, olsztyn, weifang)",
        "line 4: email 'not-an-email' is not an e-mail address",
    ]
    assert w.qs.items == {}


def test_csv_import_enters_the_same_life(w: World) -> None:
    rows, _ = qmod.parse_import_csv(
        "text,email,asker\n潍坊如何做核酸检测？,a@example.org,Olsztyn sanepid\n".encode()
    )
    ev, _imported = w.do(MOD, "q.import", rows=[r.model_dump() for r in rows])
    assert ev.data == {
        "id": "q-1",
        "text": "潍坊如何做核酸检测？",
        "language": "zh",
        "name": "Olsztyn sanepid",
        "site": None,
        "source": "pre_session",
        "email": "a@example.org",
        "invite": None,
    }
    w.do(MOD, "q.defer", id="q-1")
    assert w.qs.items["q-1"].status == "deferred"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "line 1: the file is empty"),
        (b"text,colour\nx,y\n", "line 1: the header must name the columns"),
        (b"text\n", "line 2: there are no questions after the header"),
        (b"text\n\xff\xfe\n", "line 2: not UTF-8 text"),
    ],
)
def test_csv_structure_problems(raw: bytes, problem: str) -> None:
    rows, problems = qmod.parse_import_csv(raw)
    assert rows == []
    assert problems[0].startswith(problem)


def test_posts_check_the_photo(w: World) -> None:
    import base64

    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 20).decode()
    (ev,) = w.do(
        MOD, "post.publish", text="Weifang answers now", photo={"type": "image/png", "data": png}
    )
    assert ev.data["id"] == "p-1"
    assert qmod.live_view(w.state)["posts"] == [
        {"id": "p-1", "at": w.now, "text": "Weifang answers now", "photo": True}
    ]
    bad = w.fails(MOD, "post.publish", text="x", photo={"type": "image/jpeg", "data": png})
    assert bad.message == "post.publish: the photo is not a image/jpeg image"
    bad = w.fails(MOD, "post.publish", text="x", photo={"type": "text/html", "data": png})
    assert "photo type 'text/html'" in bad.message


def test_an_import_is_one_message_to_staff_and_one_to_the_desk(w: World) -> None:
    rows = [{"line": i + 2, "text": f"pre {i}"} for i in range(3)]
    events = w.do(MOD, "q.import", rows=rows)
    assert [e.type for e in events] == ["q.asked"] * 3 + ["q.imported"]
    assert events[-1].data == {"ids": ["q-1", "q-2", "q-3"]}
    assert qmod.PART.messages is not None
    msgs = [m for e in events for m in qmod.PART.messages(w.state, e)]
    assert [(m.payload["type"], m.audience) for m in msgs] == [
        ("q.batch", qmod.STAFF_AUDIENCE),
        ("q.desk_batch", qmod.DESK_AUDIENCE),
    ]
    assert [q["id"] for q in msgs[0].payload["items"]] == ["q-1", "q-2", "q-3"]
    assert [q["id"] for q in msgs[1].payload["items"]] == ["q-1", "q-2", "q-3"]


# -- garbage in, the documented error out ---------------------------------------


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=400) | st.text(max_size=400).map(lambda t: t.encode()))
def test_csv_parser_never_raises(raw: bytes) -> None:
    rows, problems = qmod.parse_import_csv(raw)
    assert all(p.startswith("line ") for p in problems)
    if not problems:  # a clean file has a header and 1 to MAX_IMPORT_ROWS questions
        assert 1 <= len(rows) <= qmod.MAX_IMPORT_ROWS
    lines = [row.line for row in rows]
    assert lines == sorted(set(lines)) and all(n >= 2 for n in lines)  # after the header


@settings(max_examples=300, deadline=None)
@given(
    command=st.sampled_from(sorted(qmod.PART.commands)),
    args=st.dictionaries(
        st.sampled_from(["id", "text", "into", "tags", "site", "expert", "rows", "reason", "x"]),
        json_values,
        max_size=4,
    ),
)
def test_any_args_give_a_domain_error_or_events(command: str, args: dict[str, Any]) -> None:
    w = World()
    w.do(ALICE, "q.ask", text="a question")
    who = ALICE if command in ("q.ask", "q.vote") else MOD
    try:
        events = w.do(who, command, **args)
    except DomainError as exc:
        assert exc.message
    else:
        assert events


def test_an_import_has_at_most_500_rows(w: World) -> None:
    raw = ("text\n" + "".join(f"q{i}\n" for i in range(501))).encode()
    rows, problems = qmod.parse_import_csv(raw)
    assert problems == ["line 502: at most 500 rows"]
    err = w.fails(MOD, "q.import", rows=[r.model_dump() for r in rows])
    assert err.field == "args.rows"
    assert w.qs.items == {}


# -- one table: decisions, the fold and the console's buttons -------------------------

BUTTONS = {  # what the moderator console draws, per status (it once kept this table itself)
    "pending": ["approve", "reject", "defer", "edit", "merge", "tag", "pin", "note", "translate"],
    "approved": [
        *("on_air", "answer", "reject", "defer", "edit", "merge", "tag", "pin", "note"),
        "translate",
    ],
    "on_air": ["answer", "off_air", "defer", "edit", "tag", "pin", "note", "translate"],
    "answered": ["edit", "tag", "pin", "note", "translate"],
    "deferred": ["edit", "tag", "pin", "note", "translate"],
    "rejected": ["restore", "tag", "note"],
    "merged": ["note"],
}


def test_the_moderator_view_carries_the_actions_of_the_table(w: World) -> None:
    w.start()
    for who in [ALICE, BOB] * 4:
        w.do(who, "q.ask", text="a question?")
        w.now += 13
    w.do(MOD, "q.approve", id="q-2")
    w.do(MOD, "q.approve", id="q-3")
    w.do(MOD, "q.on_air", id="q-3")
    w.do(MOD, "q.approve", id="q-4")
    w.do(MOD, "q.answer", id="q-4")
    w.do(MOD, "q.reject", id="q-5")
    w.do(MOD, "q.merge", id="q-6", into="q-1")
    w.do(MOD, "q.defer", id="q-2")
    w.do(MOD, "q.approve", id="q-7")
    items = {q["id"]: q for q in RULES.snapshot(w.state, MOD, w.now)["questions"]["items"]}
    shown = {items[qid]["status"]: items[qid]["actions"] for qid in items}
    assert shown == BUTTONS
    # The live message after an event carries the same field.
    (ev,) = w.do(MOD, "q.restore", id="q-5")
    (msg,) = [m for m in RULES.messages(w.state, ev) if m.payload["type"] == "q.item"]
    assert msg.payload["item"]["actions"] == BUTTONS["pending"]
    assert msg.audience == qmod.STAFF_AUDIENCE


def test_the_room_and_the_exports_get_no_actions(w: World) -> None:
    w.do(ALICE, "q.ask", text="a question?")
    w.do(MOD, "q.approve", id="q-1")
    room = RULES.snapshot(w.state, ALICE, w.now)["questions"]
    assert room["items"][0]["id"] == "q-1"
    assert "actions" not in room["items"][0]
    assert "actions" not in room["mine"][0]
    assert "actions" not in qmod.staff_view(w.qs.items["q-1"])


def test_every_command_of_the_table_is_registered_with_its_event() -> None:
    in_table = {c for row in qmod.TRANSITIONS.values() for c in row}
    assert in_table == set(qmod.EVENT_OF)
    assert {after for row in qmod.TRANSITIONS.values() for after in row.values()} <= set(
        qmod.STATUSES
    )
    assert set(qmod.TRANSITIONS) == set(qmod.STATUSES)
    for command, event in qmod.EVENT_OF.items():
        assert event in qmod.PART.reducers, command


def test_a_hand_written_log_still_folds_by_the_table(w: World) -> None:
    """A log the rules could not have written (deferred, then merged) still folds: the
    command's one destination in the table applies, and the on-air pointer follows."""
    w.do(ALICE, "q.ask", text="first?")
    w.now += 13
    w.do(ALICE, "q.ask", text="second?")
    w.fold([NewEvent(type="q.deferred", data={"id": "q-2"})], "system/system")
    w.fold([NewEvent(type="q.merged", data={"id": "q-2", "into": "q-1"})], "system/system")
    assert w.qs.items["q-2"].status == qmod.MERGED
    w.fold([NewEvent(type="q.on_air", data={"id": "q-1", "site": None})], "system/system")
    assert (w.qs.items["q-1"].status, w.qs.on_air) == (qmod.ON_AIR, "q-1")
    w.fold([NewEvent(type="q.rejected", data={"id": "q-1", "reason": None})], "system/system")
    assert (w.qs.items["q-1"].status, w.qs.on_air) == (qmod.REJECTED, None)
