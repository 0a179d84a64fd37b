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
change to it); a snapshot finds every list at once (``similar_all``: one score matrix in
C++, no Python per pair), so an older question's list does not grow when a newer duplicate arrives:
the newer one lists the older, which is the direction a moderator merges in.

Not for: deciding a merge (the moderator does) or the merge rules (life.py, queue.py).
"""

from __future__ import annotations

import functools
import itertools
import unicodedata
from collections.abc import Mapping, Sequence

import numpy as np
from rapidfuzz import fuzz, process, utils

from confsvc.core.questions.life import APPROVED, MERGE_TARGETS, PENDING
from confsvc.core.questions.state import Question, QuestionsState

# Where a question can be merged into (queue.py refuses the others).
TARGETS = MERGE_TARGETS
# Below this score two questions are rarely the same one: in the Polish and Chinese
# near-duplicates of tests/unit/test_similar.py the pairs score 70–80, unrelated ones < 45.
MIN_SCORE = 60
LIMIT = 3
BLOCK = 256  # rows of the score matrix at once: 256 x 6,000 questions is 12 MB
# A staff snapshot finds the lists of this many open questions at most, the newest: the
# work is rows x targets, so a queue of thousands would otherwise hold the event loop for
# seconds (18,000 open questions: ~37 s, estimated from ~115 ms for 1,000 x 1,000); the
# older ones get theirs at their next change.
SNAPSHOT_LISTS = 200


@functools.lru_cache(maxsize=4096)
def _key(text: str) -> str:
    """What ``token_sort_ratio`` compares: NFKC, lower case, no punctuation, the words
    sorted and joined by one space. Kept per text, so a snapshot of n questions prepares
    each text once (not n times) and compares with the plain ``ratio``: the same scores,
    without RapidFuzz preparing both sides again for every pair (a staff welcome with 400
    questions took ~200 ms of the event loop before, bench/staff_welcome.py)."""
    return " ".join(sorted(str(utils.default_process(unicodedata.normalize("NFKC", text))).split()))


def _key_of(q: Question) -> str:
    """``_key(q.text)``, kept on the question while its text is the same object: a queue of
    thousands of questions is past what ``_key``'s cache holds, and each question event
    compares one question with all of them."""
    m = q.match
    if m is None or m[0] is not q.text:
        m = q.match = (q.text, _key(q.text))
    return m[1]


def _best(scores: Sequence[float], ids: Sequence[str], own: str) -> list[dict[str, object]]:
    """The ``LIMIT`` best of one row of scores (0 = below ``MIN_SCORE``), ``own`` left
    out: the highest first, and among equal scores the earlier question first."""
    ranked = sorted(
        (i for i, score in enumerate(scores) if score >= MIN_SCORE and ids[i] != own),
        key=lambda i: -scores[i],
    )
    return [{"id": ids[i], "score": round(scores[i])} for i in ranked[:LIMIT]]


def track_target(qs: QuestionsState, q: Question) -> None:
    """Keep ``qs.target_keys`` after an event on ``q``: its key while a merge may land in
    it (in the order of asking: a question back among the targets is put in its place
    again), gone while not."""
    keys = qs.target_keys
    if q.status not in TARGETS:
        keys.pop(q.id, None)
        return
    back = q.id not in keys
    keys[q.id] = _key_of(q)
    if back and q.number != len(qs.items):  # not the newest question: back in its place
        qs.target_keys = dict(sorted(keys.items(), key=lambda kv: qs.items[kv[0]].number))


def similar(
    q: Question,
    items: Mapping[str, Question],
    revision: int | None = None,
    targets: Mapping[str, str] | None = None,
) -> list[dict[str, object]]:
    """Up to three questions ``q`` could be merged into, the most similar first:
    ``[{"id": "q-3", "score": 82}, …]``.

    ``items`` in the order of asking (a question's ``number`` is its place), as the queue
    keeps them. With ``revision`` (the queue's ``similar_rev``) the list is found again
    only against the questions asked since ``q``'s list was last found, and kept on ``q``
    (``Question.near``): a vote on one of 20,000 questions compares it with the few asked
    since, not with all of them. Over the whole queue again when the revision changed (a
    text was edited, a question came back among the targets) or one of the list left the
    targets; the lists are the same as without a revision (tests/unit/test_similar_kept.py).
    ``targets`` (the queue's ``target_keys``) spares the pass over the whole queue its
    Python loop: RapidFuzz reads the keys from that mapping itself."""
    if q.status not in (PENDING, APPROVED):
        return []
    best: list[tuple[float, int, str]] = []  # (score, number, id)
    start = 0
    kept = q.near
    if revision is not None and kept is not None and kept[0] == revision and kept[1] <= len(items):
        ids, scores = kept[2::2], kept[3::2]
        if all(_targets(items, qid) for qid in ids):
            start = kept[1]
            best = [(s, items[i].number, i) for i, s in zip(ids, scores, strict=True)]
    choices: Mapping[str, str]
    if start == 0 and targets is not None:
        choices = targets  # q among them, perhaps: one more found, q left out below
    else:
        choices = {
            o.id: _key_of(o)
            for o in itertools.islice(items.values(), start, None)
            if o.id != q.id and o.status in TARGETS
        }
    found = process.extract(
        _key_of(q),
        choices,
        scorer=fuzz.ratio,
        processor=None,
        score_cutoff=MIN_SCORE,
        limit=LIMIT + 1,
    )
    new = [
        (float(score), items[qid].number, str(qid)) for _text, score, qid in found if qid != q.id
    ][:LIMIT]
    best = sorted([*best, *new], key=lambda hit: (-hit[0], hit[1]))[:LIMIT]
    if revision is not None:
        q.near = (revision, len(items), *(x for s, _n, i in best for x in (i, s)))
    return [{"id": qid, "score": round(score)} for score, _number, qid in best]


def _targets(items: Mapping[str, Question], qid: str) -> bool:
    o = items.get(qid)
    return o is not None and o.status in TARGETS


def similar_all(items: Mapping[str, Question]) -> dict[str, list[dict[str, object]]]:
    """``similar(q, items)`` for every question of ``items`` at once (a staff snapshot).

    The same lists, but every pair is scored in one RapidFuzz ``cdist`` call (C++, in
    blocks of ``BLOCK`` rows) instead of one Python pass over the questions per question:
    the work is still every pending or approved question against every target, but none of
    it per pair in Python: 1,000 questions take ~115 ms where 1,000 calls of ``similar``
    take ~215 ms (one process, this machine, 2026-12-02). Lists equal ``similar``'s, ties
    included (the earlier question first), tests/unit/test_similar.py.

    For the newest ``SNAPSHOT_LISTS`` pending or approved questions only (in the order of
    asking); the others' lists are empty here and found at their next change
    (``similar``), so a snapshot's cost grows with the queue, not with its square."""
    targets = [o for o in items.values() if o.status in TARGETS]
    keys = [_key_of(o) for o in targets]
    ids = [o.id for o in targets]
    asking = [q for q in items.values() if q.status in (PENDING, APPROVED)][-SNAPSHOT_LISTS:]
    out: dict[str, list[dict[str, object]]] = {q.id: [] for q in items.values()}
    for start in range(0, len(asking), BLOCK):
        block = asking[start : start + BLOCK]
        matrix = process.cdist(
            [_key_of(q) for q in block],
            keys,
            scorer=fuzz.ratio,
            processor=None,
            score_cutoff=MIN_SCORE,
            dtype=np.float64,
        )
        for q, row in zip(block, matrix.tolist(), strict=True):
            out[q.id] = _best(row, ids, q.id)
    return out
