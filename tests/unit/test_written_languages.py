"""Written answers across languages (confsvc.core.written with the translation desk): the
assignment waits for the question's translation unless sent untranslated, the answer is
translated before publication unless published untranslated, and what each view shows."""

from __future__ import annotations

from typing import Any

import pytest

from confsvc.core import written as W
from confsvc.core.agenda import Translator
from confsvc.core.errors import DomainError, Forbidden, InvalidState
from confsvc.core.events import Principal
from confsvc.core.registry import RULES
from confsvc.core.roles import Role
from tests.unit.test_written import DAY, EPI, MOD, T0, World

DESK = Principal(role=Role.TRANSLATOR, invite="desk-1", languages=("zh", "pl"))
EXPERT = Principal(role=Role.EXPERT, invite="x-1", expert=EPI)
POLISH = "Jak długo trwa kwarantanna osób z kontaktu?"
CHINESE_Q = "密切接触者需要隔离多久？"
CHINESE_A = "密切接触者需要集中隔离十四天，并进行两次核酸检测。"
POLISH_A = "Osoby z kontaktu przechodzą czternastodniową kwarantannę i dwa testy."


@pytest.fixture
def w(sample_agenda: Any) -> World:
    desk = Translator(id="desk", name="Desk", languages=["zh", "pl"])
    world = World(sample_agenda.model_copy(update={"translators": [desk]}))
    world.ask("q-1", text=POLISH, source="pre_session", email="anna@example.pl")
    return world


def _assign(w: World, **extra: Any) -> list[Any]:
    return w.run(MOD, "written.assign", question="q-1", expert=EPI, due=T0 + 3 * DAY, **extra)


def _answered(w: World) -> None:
    _assign(w, untranslated=True)
    w.run(EXPERT, "written.answer", question="q-1", text=CHINESE_A)


def test_with_a_desk_the_assignment_waits_for_the_experts_language(w: World) -> None:
    (ev,) = _assign(w)
    assert ev.data == {"question": "q-1", "expert": EPI, "due": T0 + 3 * DAY, "waits_for": "zh"}
    q = w.q("q-1")
    assert (q.status, q.waiting) == ("assigned", True)
    view = RULES.snapshot(w.state, MOD, w.now)["written"]["questions"][0]
    assert (view["waits_for"], view["translation_state"]) == ("zh", "waiting")
    # Not the expert's yet: their page does not list it, no reminder goes.
    assert RULES.snapshot(w.state, EXPERT, w.now)["written"]["questions"] == []
    w.now = T0 + 2.5 * DAY
    assert W.due_reminders(w.state, w.now) == []


def test_the_translation_lets_the_assignment_go(w: World) -> None:
    _assign(w)
    w.run(DESK, "q.translate", id="q-1", language="zh", text=CHINESE_Q)
    q = w.q("q-1")
    assert q.waiting is False
    (mine,) = RULES.snapshot(w.state, EXPERT, w.now)["written"]["questions"]
    assert (mine["text"], mine["translation"]) == (POLISH, CHINESE_Q)


def test_the_moderator_may_send_it_untranslated(w: World) -> None:
    _assign(w)
    (ev,) = _assign(w, untranslated=True)
    assert ev.data["untranslated"] is True
    assert "waits_for" not in ev.data
    assert w.q("q-1").waiting is False


def test_an_expert_who_reads_the_original_is_not_kept_waiting(w: World) -> None:
    (ev,) = w.run(MOD, "written.assign", question="q-1", expert="olsztyn-sanepid", due=T0 + 3 * DAY)
    assert "waits_for" not in ev.data


def test_without_a_desk_nothing_waits(sample_agenda: Any) -> None:
    w = World(sample_agenda)
    w.ask("q-1", text=POLISH, source="pre_session")
    (ev,) = _assign(w)
    assert "waits_for" not in ev.data
    w.run(EXPERT, "written.answer", question="q-1", text=CHINESE_A)
    events = w.run(MOD, "written.publish", question="q-1")
    assert [e.type for e in events] == ["written.reviewed", "written.published"]


def test_the_answer_needs_the_askers_language_first(w: World) -> None:
    _answered(w)
    q = w.q("q-1")
    assert W.answer_language(w.state, q) == "zh"
    assert W.answer_needs(w.state, q) == ["pl", "en"]
    assert W.translation_state(w.state, q) == "none"


def test_publication_waits_for_the_askers_language(w: World) -> None:
    _answered(w)
    with pytest.raises(InvalidState) as refused:
        w.run(MOD, "written.publish", question="q-1")
    assert refused.value.message == (
        "written.publish: the answer to q-1 is not translated into pl yet; "
        "wait for the desk, or publish it untranslated"
    )
    assert refused.value.as_dict()["key"] == "written.untranslated"
    assert w.q("q-1").status == "answered"  # nothing was recorded
    w.run(DESK, "written.translate", question="q-1", language="pl", text=POLISH_A)
    assert W.translation_state(w.state, w.q("q-1")) == "partial"  # English is missing
    events = w.run(MOD, "written.publish", question="q-1")
    assert [e.type for e in events] == ["written.reviewed", "written.published"]
    (published,) = W.public_view(w.state)["published"]
    assert published["answer"] == CHINESE_A
    assert (published["answer_language"], published["answer_translations"]) == (
        "zh",
        {"pl": POLISH_A},
    )


def test_the_moderator_may_publish_untranslated(w: World) -> None:
    _answered(w)
    events = w.run(MOD, "written.publish", question="q-1", untranslated=True)
    assert events[-1].data == {"question": "q-1", "untranslated": True}


def test_an_edited_answer_makes_its_translation_stale(w: World) -> None:
    _answered(w)
    w.run(DESK, "written.translate", question="q-1", language="pl", text=POLISH_A)
    w.run(MOD, "written.review", question="q-1", text=CHINESE_A + "谢谢。")
    q = w.q("q-1")
    assert W.translation_state(w.state, q) == "stale"
    with pytest.raises(InvalidState):
        w.run(MOD, "written.publish", question="q-1")


def test_answer_translations_keep_every_version_and_who_made_them(w: World) -> None:
    _answered(w)
    w.run(DESK, "written.translate", question="q-1", language="pl", text="Czternaście dni.")
    w.run(DESK, "written.translate", question="q-1", language="pl", text=POLISH_A)
    versions = w.q("q-1").answer_translations["pl"]
    assert [(v["text"], v["actor"]) for v in versions] == [
        ("Czternaście dni.", "translator/desk-1"),
        (POLISH_A, "translator/desk-1"),
    ]


def test_a_translator_translates_answers_only_between_their_languages(w: World) -> None:
    _answered(w)
    with pytest.raises(Forbidden) as refused:
        w.run(DESK, "written.translate", question="q-1", language="en", text="Fourteen days.")
    assert refused.value.message == "written.translate: you do not translate from zh into en"
    with pytest.raises(DomainError) as no_answer:
        w.ask("q-2", source="pre_session")
        w.run(DESK, "written.translate", question="q-2", language="zh", text="十四天")
    assert no_answer.value.message == "written.translate: question 'q-2' is open"
    participant = Principal(role=Role.PARTICIPANT, invite="p-1")
    with pytest.raises(Forbidden):
        w.run(participant, "written.translate", question="q-1", language="pl", text=POLISH_A)


def test_translators_see_the_answers_of_their_languages_at_the_desk(w: World) -> None:
    _answered(w)
    (item,) = RULES.snapshot(w.state, DESK, w.now)["written"]["desk"]
    assert item == {
        "question": "q-1",
        "status": "answered",
        "text": CHINESE_A,
        "language": "zh",
        "question_text": POLISH,
        "question_language": "pl",
        "needs": ["pl", "en"],
        "translations": {},
        "versions": {},
    }
    english = Principal(role=Role.TRANSLATOR, invite="desk-2", languages=("en",))
    assert RULES.snapshot(w.state, english, w.now)["written"]["desk"] == []
