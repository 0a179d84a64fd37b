"""Likely duplicates for the merge form: near-duplicate Polish and Chinese questions find
each other first; unrelated ones, and questions that cannot be merged into, are left out."""

from __future__ import annotations

from typing import Any

import pytest

from confsvc.core.questions.similar import similar
from confsvc.core.questions.state import Question

PL_1 = "Czy szpitale w Olsztynie mają wystarczająco dużo maseczek dla personelu?"
PL_2 = "Czy szpitale w Olsztynie mają dość maseczek dla lekarzy i pielęgniarek?"
PL_OTHER = "Jak długo trwa kwarantanna po powrocie z zagranicy?"
ZH_1 = "潍坊的医院如何安排发热门诊和普通门诊的分流？"
ZH_2 = "潍坊医院是怎样安排发热门诊与普通门诊分流的？"
ZH_OTHER = "学校什么时候复课？"


def _q(qid: str, text: str, status: str = "pending") -> Question:
    fields: dict[str, Any] = {"name": None, "site": None, "source": "live", "email": None}
    return Question(
        id=qid, text=text, language="pl", invite=None, asked_at=0.0, status=status, **fields
    )


def _items(*qs: Question) -> dict[str, Question]:
    return {q.id: q for q in qs}


def test_a_polish_near_duplicate_comes_first_and_an_unrelated_question_not_at_all() -> None:
    items = _items(_q("q-1", PL_OTHER), _q("q-2", PL_1, "approved"), _q("q-3", PL_2))
    found = similar(items["q-3"], items)
    assert [f["id"] for f in found] == ["q-2"]
    assert 60 <= int(str(found[0]["score"])) < 100


def test_a_chinese_near_duplicate_is_found_character_by_character() -> None:
    items = _items(_q("q-1", ZH_1, "on_air"), _q("q-2", ZH_OTHER), _q("q-3", ZH_2), _q("q-4", PL_1))
    assert [f["id"] for f in similar(items["q-3"], items)] == ["q-1"]


def test_the_most_similar_is_first() -> None:
    items = _items(_q("q-1", PL_2), _q("q-2", PL_1 + " I rękawiczek?"), _q("q-3", PL_1))
    assert [f["id"] for f in similar(items["q-3"], items)] == ["q-2", "q-1"]


def test_questions_that_cannot_be_merged_into_are_not_suggested() -> None:
    items = _items(_q("q-1", PL_1, "rejected"), _q("q-2", PL_1, "answered"), _q("q-3", PL_2))
    assert similar(items["q-3"], items) == []
    # nor does a question that cannot be merged any more get suggestions
    assert similar(_q("q-4", PL_2, "answered"), items) == []


def test_scores_are_token_sort_ratio_of_the_normalised_texts() -> None:
    """The prepared key (words sorted once per text) compared with ``ratio`` scores as
    ``token_sort_ratio`` does on the normalised texts: the optimisation changes no list."""
    import unicodedata

    from rapidfuzz import fuzz, utils

    from confsvc.core.questions.similar import _key

    def norm(text: str) -> str:
        return str(utils.default_process(unicodedata.normalize("NFKC", text)))

    texts = [PL_1, PL_2, PL_OTHER, ZH_1, ZH_2, ZH_OTHER, "Maseczki: czy szpitale je mają?"]
    texts += [
        "Czy szpitale mają maseczki?",
        "ＭＡＳＥＣＺＫＩ — czy  szpitale?",
        "Do hospitals have masks?",
    ]
    for a in texts:
        for b in texts:
            assert fuzz.ratio(_key(a), _key(b)) == fuzz.token_sort_ratio(norm(a), norm(b)), (a, b)


def test_a_snapshots_lists_at_once_are_each_questions_own_list() -> None:
    """``similar_all`` (one score matrix) gives every question the list ``similar`` does,
    ties and statuses included, across more questions than one block of rows."""
    import random

    from confsvc.core.questions import similar as module
    from confsvc.core.questions.similar import similar_all

    rng = random.Random(7)
    words = (
        "czy szpitale maseczki lekarzy olsztyn kiedy szkoły 医院 门诊 学校 hospital masks".split()
    )
    statuses = ["pending", "approved", "on_air", "answered", "rejected", "merged"]
    items = {}
    for i in range(300):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(2, 6)))
        items[f"q-{i}"] = _q(f"q-{i}", text, rng.choice(statuses))
    items["q-dup"] = _q("q-dup", items["q-5"].text, "pending")  # an exact duplicate: 100
    original = module.BLOCK
    try:
        module.BLOCK = 64  # several blocks
        lists = similar_all(items)
    finally:
        module.BLOCK = original
    from rapidfuzz import fuzz, process

    def one_by_one(q: Question) -> list[dict[str, object]]:
        """The lists as they were found before the score matrix: RapidFuzz's extract."""
        if q.status not in ("pending", "approved"):
            return []
        choices = {
            o.id: module._key(o.text)
            for o in items.values()
            if o.id != q.id and o.status in module.TARGETS
        }
        found = process.extract(
            module._key(q.text), choices, scorer=fuzz.ratio, processor=None,
            score_cutoff=module.MIN_SCORE, limit=module.LIMIT,
        )  # fmt: skip
        return [{"id": key, "score": round(score)} for _text, score, key in found]

    assert set(lists) == set(items)
    for qid, q in items.items():
        assert lists[qid] == similar(q, items) == one_by_one(q), qid
    assert any(found for found in lists.values())  # the texts do overlap: lists are not empty
    if items["q-5"].status in ("pending", "approved", "on_air"):
        assert lists["q-dup"][0]["score"] == 100


def test_an_edited_text_is_compared_as_edited_not_as_it_was() -> None:
    a = _q("q-1", "Czy szkoły w Olsztynie są otwarte?")
    b = _q("q-2", "Jak działa kwarantanna domowa w Weifang?")
    c = _q("q-3", "Czy szkoły w Olsztynie są teraz otwarte?")
    items = _items(a, b, c)
    assert [s["id"] for s in similar(c, items)] == ["q-1"]  # the keys are now kept
    a.text = "Ile kosztuje bilet tramwajowy?"  # as the edit's reducer sets it
    b.text = "Czy szkoły w Olsztynie są otwarte teraz?"
    assert [s["id"] for s in similar(c, items)] == ["q-2"]


def test_a_snapshot_finds_the_lists_of_the_newest_open_questions_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past ``SNAPSHOT_LISTS`` open questions, the older ones' lists are left empty (found
    at their next change); the newest ones' are their own lists."""
    from confsvc.core.questions import similar as module
    from confsvc.core.questions.similar import similar_all

    monkeypatch.setattr(module, "SNAPSHOT_LISTS", 4)
    texts = [PL_1, PL_2, PL_1, ZH_1, ZH_2, PL_2, PL_1, ZH_1]
    items = _items(*(_q(f"q-{i}", t, "approved") for i, t in enumerate(texts)))
    items["q-x"] = _q("q-x", PL_1, "answered")  # not open: no list, but a target of none
    lists = similar_all(items)
    assert set(lists) == set(items)
    newest = ["q-4", "q-5", "q-6", "q-7"]
    for qid, q in items.items():
        assert lists[qid] == (similar(q, items) if qid in newest else []), qid
    assert all(lists[qid] for qid in newest)  # each newest one has a duplicate
    assert similar(items["q-0"], items)  # an older one has a list too: not in the snapshot
