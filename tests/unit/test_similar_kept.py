"""A question's similar list kept between events (``Question.near``): found again only
against the questions asked since, it equals the list found over the whole queue after
every command the queue takes, in random runs through the real fold."""

from __future__ import annotations

import random
from typing import Any

import pytest

from confsvc.core.errors import DomainError
from confsvc.core.events import Principal
from confsvc.core.questions import questions
from confsvc.core.questions import similar as similar_mod
from confsvc.core.questions.similar import similar
from confsvc.core.roles import Role
from tests.unit.core_session import HOST, Session
from tests.unit.core_session import MODERATOR as MOD

PEOPLE = [Principal(role=Role.PARTICIPANT, invite=f"p{i}") for i in range(40)]
# Near-duplicates (scores 60-100, ties among the copies) and unrelated questions.
TEXTS = [
    "Czy szpitale w Olsztynie mają wystarczająco dużo maseczek dla personelu?",
    "Czy szpitale w Olsztynie mają dość maseczek dla lekarzy i pielęgniarek?",
    "Czy szpitale w Olsztynie mają maseczki?",
    "Jak długo trwa kwarantanna po powrocie z zagranicy?",
    "Jak długo trwa kwarantanna?",
    "潍坊的医院如何安排发热门诊和普通门诊的分流？",
    "潍坊医院是怎样安排发热门诊与普通门诊分流的？",
    "学校什么时候复课？",
]


class Queue(Session):
    """A started conference (tests/unit/core_session.py) whose commands may be refused."""

    def __init__(self) -> None:
        super().__init__()
        self.do(HOST, "ros.start")

    def attempt(self, who: Principal, name: str, **args: Any) -> bool:
        """Decide and fold; False when the core refuses the command."""
        try:
            self.do(who, name, **args)
        except DomainError:
            return False
        return True

    def lists_agree(self) -> int:
        """Every open question's kept list equals its list over the whole queue."""
        qs = questions(self.state)
        # The fold's keys of the merge targets, in the order of asking.
        assert list(qs.target_keys.items()) == [
            (o.id, similar_mod._key(o.text))
            for o in qs.items.values()
            if o.status in similar_mod.TARGETS
        ]
        checked = 0
        for q in qs.items.values():
            kept = similar(q, qs.items, qs.similar_rev, qs.target_keys)
            assert kept == similar(q, qs.items), (q.id, q.status)
            checked += bool(kept)
        return checked


@pytest.mark.parametrize("seed", range(6))
def test_kept_lists_equal_whole_queue_lists_through_random_runs(seed: int) -> None:
    rng = random.Random(seed)
    queue = Queue()
    commands = ["q.approve", "q.reject", "q.restore", "q.defer", "q.answer", "q.on_air"]
    commands += ["q.off_air", "q.merge", "q.edit", "q.vote"]
    nonempty = 0
    for step in range(160):
        queue.now += 15
        n = len(questions(queue.state).items)
        if n < 3 or rng.random() < 0.35:
            queue.attempt(rng.choice(PEOPLE), "q.ask", text=rng.choice(TEXTS))
        else:
            qid = f"q-{rng.randint(1, n)}"
            name = rng.choice(commands)
            if name == "q.vote":
                queue.attempt(rng.choice(PEOPLE), name, id=qid)
            elif name == "q.merge":
                queue.attempt(MOD, name, id=qid, into=f"q-{rng.randint(1, n)}")
            elif name == "q.edit":
                queue.attempt(MOD, name, id=qid, text=rng.choice(TEXTS) + f" ({step})")
            else:
                queue.attempt(MOD, name, id=qid)
        nonempty += queue.lists_agree()
    assert nonempty > 50  # the runs do find duplicates: the lists compared are not all empty


def test_a_vote_compares_the_question_only_with_those_asked_since(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = Queue()
    for i in range(30):
        queue.now += 15
        assert queue.attempt(PEOPLE[i], "q.ask", text=TEXTS[i % len(TEXTS)])
        assert queue.attempt(MOD, "q.approve", id=f"q-{i + 1}")
    qs = questions(queue.state)
    first = qs.items["q-1"]
    whole = similar(first, qs.items, qs.similar_rev, qs.target_keys)
    assert whole and first.near is not None
    queue.now += 15
    assert queue.attempt(PEOPLE[31], "q.ask", text=TEXTS[0])
    sizes: list[int] = []
    extract = similar_mod.process.extract

    def counted(query: str, choices: dict[str, str], **kw: Any) -> Any:
        sizes.append(len(choices))
        return extract(query, choices, **kw)

    monkeypatch.setattr(similar_mod.process, "extract", counted)
    assert queue.attempt(PEOPLE[32], "q.vote", id="q-1")
    again = similar(first, qs.items, qs.similar_rev, qs.target_keys)
    assert sizes == [1]  # only q-31, asked since
    assert again == whole  # q-31 is a copy of q-1's text, but the older copies come first
    # An edit anywhere changes the revision: the next list is over the whole queue again.
    assert queue.attempt(MOD, "q.edit", id="q-5", text=TEXTS[0])
    assert similar(first, qs.items, qs.similar_rev, qs.target_keys) == similar(first, qs.items)
    # over the fold's keys (q-1 among them), then the plain whole-queue pass
    assert sizes[1:] == [31, 30]
