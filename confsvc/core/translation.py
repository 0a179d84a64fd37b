"""Translations of one text (a question, a written answer): every version, per language.

The translation desk attaches translations to texts that other parts own: the queue's
questions (``q.translate``) and the written answers. This module is what both share: the
record of versions (``Translations``: ``{language: [{at, actor, text, source}, ...]}``,
oldest first, so edits keep their history), which of them still fit the text they were
made from (``current``: a version made from an older text of the original is stale), the
languages still missing, and the checks a new version must pass. Who may translate is
``confsvc.core.permissions.may_translate``; this module knows no roles and no parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from confsvc.core.agenda import Agenda
from confsvc.core.errors import BadRequest, Forbidden, InvalidState
from confsvc.core.events import Principal
from confsvc.core.permissions import may_translate

Version = dict[str, Any]  # {at, actor, text, source}: source is the original it translates
Translations = dict[str, list[Version]]

UNTRANSLATED = "other"  # a text whose language is unknown is never "missing" a translation


def desk_languages(agenda: Agenda) -> list[str]:
    """Every language the desk may translate into: the conference's, then the sites'."""
    out = list(agenda.conference.languages)
    for site in agenda.sites:
        if site.language is not None and site.language not in out:
            out.append(site.language)
    return out


def latest(translations: Mapping[str, list[Version]], language: str) -> Version | None:
    versions = translations.get(language)
    return versions[-1] if versions else None


def current(translations: Mapping[str, list[Version]], source: str) -> dict[str, str]:
    """``{language: text}``: the newest version in each language made from ``source``."""
    out: dict[str, str] = {}
    for language, versions in translations.items():
        if versions and versions[-1]["source"] == source:
            out[language] = versions[-1]["text"]
    return out


def missing(
    translations: Mapping[str, list[Version]],
    source: str,
    source_language: str,
    wanted: Iterable[str],
) -> list[str]:
    """The languages of ``wanted`` (in order) that still lack a current translation."""
    if source_language == UNTRANSLATED:
        return []
    have = current(translations, source)
    out: list[str] = []
    for language in wanted:
        if language != source_language and language not in have and language not in out:
            out.append(language)
    return out


def state_of(
    translations: Mapping[str, list[Version]],
    source: str,
    source_language: str,
    wanted: Iterable[str],
) -> str:
    """``done`` (every wanted language has a current translation), ``stale`` (one was
    made from an older text), ``partial`` or ``none``: what the dashboards show."""
    wanted = list(dict.fromkeys(w for w in wanted if w != source_language))
    gaps = missing(translations, source, source_language, wanted)
    if not gaps:
        return "done"
    if any(latest(translations, lang) is not None for lang in gaps):
        return "stale"
    return "partial" if len(gaps) < len(wanted) else "none"


def check_version(
    *,
    command: str,
    subject: str,
    who: Principal,
    agenda: Agenda,
    source_language: str,
    language: str,
    text: str,
    source: str,
    translations: Mapping[str, list[Version]],
) -> None:
    """Refuse a translation of ``subject`` that cannot be recorded; else return."""
    if language not in desk_languages(agenda):
        raise BadRequest.keyed(
            "tr.not_a_language", command=command, language=language, field="args.language"
        )
    if language == source_language:
        raise BadRequest.keyed(
            "tr.same_language",
            command=command,
            subject=subject,
            language=language,
            field="args.language",
        )
    if not may_translate(who, source_language, language):
        raise Forbidden.keyed(
            "tr.not_yours",
            command=command,
            source=source_language,
            target=language,
            field="args.language",
        )
    last = latest(translations, language)
    if last is not None and last["text"] == text and last["source"] == source:
        raise InvalidState.keyed(
            "tr.unchanged", command=command, language=language, subject=subject
        )


def add_version(
    translations: Translations, *, language: str, at: float, actor: str, text: str, source: str
) -> None:
    """Fold one version (never replaces: every version stays, in order)."""
    translations.setdefault(language, []).append(
        {"at": at, "actor": actor, "text": text, "source": source}
    )
