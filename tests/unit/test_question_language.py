"""A question's language: guessed from its text among the conference's languages."""

from __future__ import annotations

import pytest

from confsvc.core.questions.text import guess_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Czy szpitale mają maseczki?", "pl"),
        ("Czy szpitale maja maseczki", "pl"),  # typed without Polish letters
        ("Ile osób?", "pl"),
        ("How do you trace contacts?", "en"),
        ("潍坊的医院如何安排发热门诊？", "zh"),
        ("1234 ?!", "other"),  # no letters
    ],
)
def test_guess_among_the_three_languages(text: str, expected: str) -> None:
    assert guess_language(text, ["zh", "pl", "en"]) == expected


def test_guess_is_limited_to_the_conference_languages() -> None:
    assert guess_language("Czy szpitale mają maseczki?", ["zh", "en"]) == "en"
    assert guess_language("Czy szpitale mają maseczki?", ["pl"]) == "pl"
    assert guess_language("Bonjour", ["de", "fr"]) == "other"
