"""Reply extraction on real clients' replies (tests/fixtures/replies/, README there)."""

from __future__ import annotations

import pytest

from tests.fixtures.replies.corpus import Case, confsvc_extract, load, normalise, score

PUBLISHED = load("published")
OWN = load("own")
# Exact extractions on the published fixtures of mailgun/talon, zapier/ and
# crisp-oss/email-reply-parser: 75 of 75 when this was written (40 before).
PUBLISHED_FLOOR = 72


def test_published_replies_are_extracted_exactly_above_the_floor() -> None:
    right = score(PUBLISHED)
    missed = sorted({c.id for c in PUBLISHED} - set(right))
    assert len(PUBLISHED) == 75
    assert len(right) >= PUBLISHED_FLOOR, missed


@pytest.mark.parametrize(
    "case",
    [c for c in OWN + PUBLISHED if {"zh", "pl"} & set(c.tags)],
    ids=lambda c: c.id,
)
def test_every_chinese_and_polish_reply_is_extracted_exactly(case: Case) -> None:
    assert normalise(confsvc_extract(case)) == normalise(case.expected)


@pytest.mark.parametrize("case", OWN, ids=lambda c: c.id)
def test_each_own_case_is_extracted_exactly(case: Case) -> None:
    assert normalise(confsvc_extract(case)) == normalise(case.expected)
