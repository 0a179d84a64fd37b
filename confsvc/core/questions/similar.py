"""Likely duplicates of a question, for the moderator's merge form (its default target).

Text similarity with RapidFuzz's ``token_sort_ratio`` (0–100) on NFKC-normalised,
lower-cased text without punctuation: word order does not count in Polish or English
("Czy szpitale mają maseczki?" / "Maseczki: czy szpitale je mają?"), and Chinese, which
has no spaces, is compared character by character. RapidFuzz, not difflib: it is a
maintained C++ library, and among 500 questions one against the rest takes 1.9 ms where
``difflib.SequenceMatcher`` takes 114 ms. A snapshot with 500 open questions computes 500
lists (0.8 s); only pending and approved questions get one, so a real session's snapshot
pays for its open questions only. Translations do not exist yet; once they do, compare
them too.

A question's list is computed when the moderator's view of it is (the snapshot, and each
change to it), so an older question's list does not grow when a newer duplicate arrives:
the newer one lists the older, which is the direction a moderator merges in.

Not for: deciding a merge (the moderator does) or the merge rules (life.py, queue.py).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping

from rapidfuzz import fuzz, process, utils

from confsvc.core.questions.life import APPROVED, ON_AIR, PENDING
from confsvc.core.questions.state import Question

# Where a question can be merged into (queue.py refuses the others).
TARGETS = (PENDING, APPROVED, ON_AIR)
# Below this score two questions are rarely the same one: in the Polish and Chinese
# near-duplicates of tests/unit/test_similar.py the pairs score 70–80, unrelated ones < 45.
MIN_SCORE = 60
LIMIT = 3


@functools.lru_cache(maxsize=4096)
def _key(text: str) -> str:
    """What ``token_sort_ratio`` compares: NFKC, lower case, no punctuation, the words
    sorted and joined by one space. Kept per text, so a snapshot of n questions prepares
    each text once (not n times) and compares with the plain ``ratio``: the same scores,
    without RapidFuzz preparing both sides again for every pair (a staff welcome with 400
    questions took ~200 ms of the event loop before, bench/staff_welcome.py)."""
    return " ".join(sorted(str(utils.default_process(unicodedata.normalize("NFKC", text))).split()))


def similar(q: Question, items: Mapping[str, Question]) -> list[dict[str, object]]:
    """Up to three questions ``q`` could be merged into, the most similar first:
    ``[{"id": "q-3", "score": 82}, …]``."""
    if q.status not in (PENDING, APPROVED):
        return []
    choices = {o.id: _key(o.text) for o in items.values() if o.id != q.id and o.status in TARGETS}
    found = process.extract(
        _key(q.text),
        choices,
        scorer=fuzz.ratio,
        processor=None,
        score_cutoff=MIN_SCORE,
        limit=LIMIT,
    )
    return [{"id": key, "score": round(score)} for _text, score, key in found]
