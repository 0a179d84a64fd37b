"""The translation desk on the queue: what needs translating, who may translate what,
the history of versions, and what each audience sees (confsvc/core/questions/desk.py)."""

from __future__ import annotations

import pytest

from confsvc.core import questions as qmod
from confsvc.core.events import Principal
from confsvc.core.registry import RULES
from confsvc.core.report import build
from confsvc.core.roles import Role
from confsvc.core.translation import state_of
from confsvc.i18n import I18n
from confsvc.report import render
from tests.unit.test_questions import ALICE, MOD, PUBLIC, World

ZH_PL = Principal(role=Role.TRANSLATOR, invite="tr-zhpl", languages=("zh", "pl"))
EN_ONLY = Principal(role=Role.TRANSLATOR, invite="tr-en", languages=("en", "zh"))
POLISH = "Jak testujecie szkoły w Weifangu?"
CHINESE = "潍坊如何检测学校？"


@pytest.fixture
def w() -> World:
    world = World()
    world.do(ALICE, "q.ask", text=POLISH, language="pl", site="olsztyn")
    return world


def _desk(w: World, who: Principal) -> list[dict[str, object]]:
    return list(RULES.snapshot(w.state, who, w.now)["questions"]["desk"])


def test_a_question_needs_every_conference_language_but_its_own(w: World) -> None:
    assert qmod.desk.needs(w.state, w.qs.items["q-1"]) == ["zh", "en"]


def test_a_translation_is_recorded_with_its_source_and_needed_no_more(w: World) -> None:
    (ev,) = w.do(ZH_PL, "q.translate", id="q-1", language="zh", text=CHINESE)
    assert (ev.type, ev.data) == (
        "q.translated",
        {"id": "q-1", "language": "zh", "text": CHINESE, "source": POLISH},
    )
    q = w.qs.items["q-1"]
    assert qmod.desk.needs(w.state, q) == ["en"]
    assert qmod.desk.translations_view(q) == {"zh": CHINESE}


def test_a_corrected_translation_keeps_every_version(w: World) -> None:
    w.do(ZH_PL, "q.translate", id="q-1", language="zh", text="潍坊怎样检测学校？")
    w.now += 30
    w.do(MOD, "q.translate", id="q-1", language="zh", text=CHINESE)
    versions = w.qs.items["q-1"].translations["zh"]
    assert [(v["text"], v["actor"]) for v in versions] == [
        ("潍坊怎样检测学校？", "translator/tr-zhpl"),
        (CHINESE, "moderator/mod1"),
    ]
    assert qmod.desk.translations_view(w.qs.items["q-1"]) == {"zh": CHINESE}


def test_an_edit_of_the_question_makes_its_translations_stale(w: World) -> None:
    w.do(ZH_PL, "q.translate", id="q-1", language="zh", text=CHINESE)
    w.do(MOD, "q.edit", id="q-1", text="Jak testujecie szkoły?")
    q = w.qs.items["q-1"]
    assert qmod.desk.translations_view(q) == {}
    assert qmod.desk.needs(w.state, q) == ["zh", "en"]
    assert state_of(q.translations, q.text, q.language, ["zh", "pl", "en"]) == "stale"


def test_the_answering_sites_language_is_needed_too() -> None:
    w = World()
    # An agenda whose conference speaks only Polish, with a Chinese-answering site.
    agenda = w.state.require_agenda()
    sites = [
        s.model_copy(update={"language": "zh"}) if s.id == "weifang" else s for s in agenda.sites
    ]
    conference = agenda.conference.model_copy(update={"languages": ["pl"]})
    w.state.agenda = agenda.model_copy(update={"sites": sites, "conference": conference})
    w.do(ALICE, "q.ask", text=POLISH, language="pl")
    w.do(MOD, "q.approve", id="q-1")
    assert qmod.desk.needs(w.state, w.qs.items["q-1"]) == []
    w.start()
    w.do(MOD, "q.on_air", id="q-1", site="weifang")
    assert qmod.desk.needs(w.state, w.qs.items["q-1"]) == ["zh"]


def test_a_translator_may_not_translate_into_a_language_they_do_not_write(w: World) -> None:
    err = w.fails(ZH_PL, "q.translate", id="q-1", language="en", text="How do you test schools?")
    assert (err.code, err.message) == (
        "forbidden",
        "q.translate: you do not translate from pl into en",
    )


def test_a_translator_may_not_translate_from_a_language_they_do_not_read(w: World) -> None:
    err = w.fails(EN_ONLY, "q.translate", id="q-1", language="zh", text=CHINESE)
    assert err.message == "q.translate: you do not translate from pl into zh"


def test_a_translation_into_the_questions_own_language_is_refused(w: World) -> None:
    err = w.fails(ZH_PL, "q.translate", id="q-1", language="pl", text=POLISH)
    assert (err.code, err.message, err.field) == (
        "bad_request",
        "q.translate: q-1 is in pl already",
        "args.language",
    )


def test_a_language_the_conference_lacks_is_refused(w: World) -> None:
    err = w.fails(MOD, "q.translate", id="q-1", language="de", text="Wie testen Sie Schulen?")
    assert err.message == "q.translate: de is not a language of this conference"


def test_the_same_translation_again_is_refused(w: World) -> None:
    w.do(ZH_PL, "q.translate", id="q-1", language="zh", text=CHINESE)
    err = w.fails(ZH_PL, "q.translate", id="q-1", language="zh", text=f"  {CHINESE} ")
    assert err.message == "q.translate: the zh translation of q-1 is unchanged"


def test_an_empty_translation_is_refused(w: World) -> None:
    err = w.fails(ZH_PL, "q.translate", id="q-1", language="zh", text="   ")
    assert (err.message, err.field) == ("the translation is empty", "args.text")


def test_participants_and_the_public_may_not_translate(w: World) -> None:
    for who in (ALICE, PUBLIC):
        err = w.fails(who, "q.translate", id="q-1", language="zh", text=CHINESE)
        assert err.code == "forbidden"
    assert w.qs.items["q-1"].translations == {}


def test_a_rejected_question_is_not_translated(w: World) -> None:
    w.do(MOD, "q.reject", id="q-1")
    err = w.fails(ZH_PL, "q.translate", id="q-1", language="zh", text=CHINESE)
    assert err.message.startswith("q.translate: q-1 is rejected; this needs a question that is")


def test_translators_see_the_desk_in_the_languages_they_read(w: World) -> None:
    w.do(ALICE, "q.ask", text="How do you test schools?", language="en")
    assert [i["id"] for i in _desk(w, ZH_PL)] == ["q-1"]  # the English one is not theirs
    assert [i["id"] for i in _desk(w, EN_ONLY)] == ["q-2"]
    (item,) = _desk(w, ZH_PL)
    assert item == {
        "id": "q-1",
        "status": "pending",
        "text": POLISH,
        "language": "pl",
        "site": "olsztyn",
        "needs": ["zh", "en"],
        "translations": {},
        "versions": {},
    }
    view = RULES.snapshot(w.state, ZH_PL, w.now)["questions"]
    assert view["desk_languages"] == ["zh", "pl"]
    assert "items" not in view  # no names, e-mail or notes: the desk only


def test_the_desk_hears_of_each_change_and_staff_see_what_is_missing(w: World) -> None:
    (ev,) = w.do(ZH_PL, "q.translate", id="q-1", language="zh", text=CHINESE)
    msgs = {m.payload["type"]: m for m in RULES.messages(w.state, ev)}
    assert msgs["q.desk"].audience == qmod.DESK_AUDIENCE
    assert msgs["q.desk"].payload["item"]["translations"] == {"zh": CHINESE}
    staff = msgs["q.item"].payload["item"]
    assert (staff["needs"], staff["translations"]) == (["en"], {"zh": CHINESE})
    assert [v["text"] for v in staff["versions"]["zh"]] == [CHINESE]


def test_the_public_sees_the_on_air_question_with_its_translations(w: World) -> None:
    w.start()
    w.do(MOD, "q.approve", id="q-1")
    w.do(MOD, "q.on_air", id="q-1")
    (ev,) = w.do(ZH_PL, "q.translate", id="q-1", language="zh", text=CHINESE)
    (live,) = [m for m in RULES.messages(w.state, ev) if m.payload["type"] == "q.live"]
    assert live.payload["on_air"]["text"] == POLISH  # the original stays beside it
    assert live.payload["on_air"]["translations"] == {"zh": CHINESE}
    assert "versions" not in live.payload["on_air"]  # who translated is the staff's business


def test_the_report_keeps_the_original_and_its_translations(w: World) -> None:
    w.start()
    w.do(MOD, "q.approve", id="q-1")
    w.do(MOD, "q.on_air", id="q-1")
    w.do(ZH_PL, "q.translate", id="q-1", language="zh", text=CHINESE)
    (public,) = build(w.state, w.now, public=True)["questions"]
    assert (public["text"], public["translations"]) == (POLISH, {"zh": CHINESE})
    (organiser,) = build(w.state, w.now)["questions"]
    assert [v["actor"] for v in organiser["translation_versions"]["zh"]] == ["translator/tr-zhpl"]
    page = render(I18n(), build(w.state, w.now, public=True), "html", "pl")
    assert f'<blockquote lang="pl">{POLISH}</blockquote>' in page
    assert (
        f'data-translation="zh"><span class="meta">Tłumaczenie · chiński:</span> {CHINESE}' in page
    )
    markdown = render(I18n(), build(w.state, w.now, public=True), "md", "pl")
    assert f"> {POLISH}\n>\n> *Tłumaczenie (zh):* {CHINESE}" in markdown
    csv_text = render(I18n(), build(w.state, w.now), "csv", "en")
    assert f"zh: {CHINESE}" in csv_text
