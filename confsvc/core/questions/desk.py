"""The translation desk's side of the queue: which questions need translating into which
languages, the ``q.translate`` command, and what a translator sees.

A question needs a translation into each of the conference's languages and into the
language of the site that answers it (``Site.language``: the site it is on air for, or
that answered it), except its own language; a translation made from an older text of the
question (before a ``q.edit``) is stale and needed again. Only questions still in play
need one (pending, approved, on air, deferred); answered ones may still be translated,
for the report. Every version is kept (``Question.translations``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from confsvc.core.conference import ConferenceState
from confsvc.core.events import Event
from confsvc.core.questions.life import ANSWERED, APPROVED, DEFERRED, ON_AIR, PENDING
from confsvc.core.questions.queue import Act, IdArgs, fields_of, question_command
from confsvc.core.questions.state import Question
from confsvc.core.questions.text import MAX_TEXT, clean_text
from confsvc.core.roles import STAFF, Role
from confsvc.core.translation import add_version, check_version, current, desk_languages, missing

TRANSLATORS = STAFF | {Role.TRANSLATOR}
NEEDING = frozenset({PENDING, APPROVED, ON_AIR, DEFERRED})  # statuses the desk works on
TRANSLATABLE = NEEDING | {ANSWERED}


class TranslateArgs(IdArgs):
    language: str = Field(min_length=2, max_length=16)
    text: str = Field(max_length=4 * MAX_TEXT)


def wanted_languages(state: ConferenceState, q: Question) -> list[str]:
    """The languages ``q`` should be readable in: the conference's, then its answering
    site's (in that order, without repeats)."""
    agenda = state.require_agenda()
    out = list(agenda.conference.languages)
    answering = q.answering or (q.answered_by or {}).get("site")
    site = agenda.site(answering) if answering else None
    if site is not None and site.language is not None and site.language not in out:
        out.append(site.language)
    return out


def needs(state: ConferenceState, q: Question) -> list[str]:
    """The languages ``q`` still needs a translation into ([] once it is out of play)."""
    if q.status not in NEEDING:
        return []
    return missing(q.translations, q.text, q.language, wanted_languages(state, q))


def translations_view(q: Question) -> dict[str, str]:
    """``{language: text}``: the current translations (none made from an older text)."""
    return current(q.translations, q.text)


@question_command(
    "q.translate",
    TranslateArgs,
    event="q.translated",
    roles=TRANSLATORS,
    doc="Enter or correct a question's translation into one language (every version kept).",
)
def _translate(act: Act, args: TranslateArgs) -> dict[str, Any]:
    text = clean_text(args.text, "the translation", "args.text", 2 * MAX_TEXT)
    check_version(
        command=act.command,
        subject=act.q.id,
        who=act.who,
        agenda=act.state.require_agenda(),
        source_language=act.q.language,
        language=args.language,
        text=text,
        source=act.q.text,
        translations=act.q.translations,
    )
    return {"language": args.language, "text": text, "source": act.q.text}


@fields_of("q.translated")
def _translated(state: ConferenceState, q: Question, event: Event) -> None:
    add_version(
        q.translations,
        language=event.data["language"],
        at=event.at,
        actor=event.actor,
        text=event.data["text"],
        source=event.data.get("source", q.text),
    )


def desk_item(state: ConferenceState, q: Question) -> dict[str, Any]:
    """What a translator sees of a question: its text, language and status, what it
    needs, its current translations and every version (no name, e-mail or notes)."""
    return {
        "id": q.id,
        "status": q.status,
        "text": q.text,
        "language": q.language,
        "site": q.site,
        "needs": needs(state, q),
        "translations": translations_view(q),
        "versions": q.translations,
    }


def desk_view(state: ConferenceState, items: dict[str, Question]) -> list[dict[str, Any]]:
    """The desk's list: every question still in play or answered, oldest first."""
    return [desk_item(state, q) for q in items.values() if q.status in TRANSLATABLE]


def desk_targets(state: ConferenceState) -> list[str]:
    return desk_languages(state.require_agenda())
