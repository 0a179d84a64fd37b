"""Text rules shared by questions, notes, posts and the CSV import: length, control
characters, e-mail addresses, and the guess of a question's language."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

from confsvc.core.errors import BadRequest

MAX_TEXT = 1000
LANGUAGES = ("zh", "pl", "en", "other")

EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

_POLISH_CHARS = set("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ")
_POLISH_WORDS = {
    "jak", "czy", "nie", "się", "jest", "są", "na", "dla", "co", "przez", "jakie", "ile",
    "w", "z", "do", "i", "oraz", "kiedy", "gdzie", "dlaczego", "pan", "pani", "szpital",
}  # fmt: skip


# The languages a question may be guessed as, with the detector's name for each.
_LINGUA = {"zh": Language.CHINESE, "pl": Language.POLISH, "en": Language.ENGLISH}


@functools.cache
def _detector(codes: frozenset[str]) -> LanguageDetector:
    # Lingua (lingua-language-detector) ships its models in the wheel and loads them on
    # first use (about 0.7 s and 100 MB for three languages): warm() does that at start.
    return LanguageDetectorBuilder.from_languages(*(_LINGUA[c] for c in sorted(codes))).build()


def warm(languages: Iterable[str] = LANGUAGES) -> None:
    """Load the detector's models now, so the first question does not wait for them."""
    guess_language("Czy szpitale mają maseczki? 医院 hospitals", languages)


def guess_language(text: str, languages: Iterable[str] = LANGUAGES) -> str:
    """zh, pl, en or other: the most likely of the conference's ``languages`` for ``text``.

    Lingua, restricted to those languages (fewer candidates, fewer wrong guesses on short
    text); ``other`` for text without letters or when the conference has none of the
    three. The asker sees the guess and can change it.
    """
    codes = frozenset(c for c in languages if c in _LINGUA)
    if not codes or not any(ch.isalpha() for ch in text):
        return "other"
    if len(codes) == 1:
        return next(iter(codes))
    found = _detector(codes).detect_language_of(text)
    for code, language in _LINGUA.items():
        if found == language:
            return code
    return _guess_by_letters(text)


def _guess_by_letters(text: str) -> str:
    """The guess from letters alone, for text the detector cannot place."""
    cjk = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff")
    letters = sum(1 for ch in text if ch.isalpha())
    if cjk and cjk * 5 >= letters:
        return "zh"
    if any(ch in _POLISH_CHARS for ch in text):
        return "pl"
    words = re.findall(r"[a-ząćęłńóśźż]+", text.lower())
    if words and sum(1 for w in words if w in _POLISH_WORDS) >= max(2, len(words) // 4):
        return "pl"
    if any("a" <= ch.lower() <= "z" for ch in text):
        return "en"
    return "other"


def clean_text(text: str, what: str, field_name: str, limit: int = MAX_TEXT) -> str:
    text = text.strip()
    if not text:
        raise BadRequest.keyed("text.empty", what=what, field=field_name)
    if len(text) > limit:
        raise BadRequest.keyed(
            "text.long", what=what, length=len(text), max=limit, field=field_name
        )
    if CONTROL.search(text):
        raise BadRequest.keyed("text.control", what=what, field=field_name)
    return text


def clean_optional(text: str | None, what: str, field_name: str, limit: int) -> str | None:
    if text is None or not text.strip():
        return None
    return clean_text(text, what, field_name, limit)
