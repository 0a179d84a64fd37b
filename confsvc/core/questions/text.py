"""Text rules shared by questions, notes, posts and the CSV import: length, control
characters, e-mail addresses, and the guess of a question's language."""

from __future__ import annotations

import re

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


def guess_language(text: str) -> str:
    """zh, pl, en or other, from the letters of ``text`` (the asker can change it)."""
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
        raise BadRequest(f"{what} is empty", field=field_name)
    if len(text) > limit:
        raise BadRequest(
            f"{what} is {len(text)} characters long; at most {limit} are allowed",
            field=field_name,
        )
    if CONTROL.search(text):
        raise BadRequest(f"{what} contains control characters", field=field_name)
    return text


def clean_optional(text: str | None, what: str, field_name: str, limit: int) -> str | None:
    if text is None or not text.strip():
        return None
    return clean_text(text, what, field_name, limit)
