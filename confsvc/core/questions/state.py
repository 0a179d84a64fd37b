"""The question part's state: the questions, who is on air, the posts, and the times of
each link's asks and votes (for the rate limits)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from confsvc.core.conference import ConferenceState
from confsvc.core.errors import NotFound
from confsvc.core.events import Step
from confsvc.core.questions.life import PENDING


@dataclass(slots=True)
class Question:
    id: str
    text: str
    language: str
    name: str | None
    site: str | None
    source: str
    email: str | None
    invite: str | None  # the asker's Principal.identity (stored as "invite" since v1)
    asked_at: float
    # Its place in the order of asking (1 for the first question of the conference).
    number: int = 0
    status: str = PENDING
    prev_status: str = PENDING
    askers: list[str] = field(default_factory=list)  # identities: the asker's and merged ones'
    voters: set[str] = field(default_factory=set)
    # Tuples, () until set: most questions are never tagged, merged into, edited or noted,
    # and an empty tuple is shared where every empty list is one more object.
    tags: tuple[str, ...] = ()
    pinned: bool = False
    reason: str | None = None
    answered_by: dict[str, str | None] | None = None
    on_air_at: float | None = None
    answering: str | None = None  # the site answering while on air
    answered_at: float | None = None
    merged_into: str | None = None
    merged_from: tuple[str, ...] = ()
    edits: tuple[dict[str, Any], ...] = ()  # {at, actor, text}
    notes: tuple[dict[str, Any], ...] = ()  # {at, actor, text}
    # The desk's: {language: [{at, actor, text, source}, ...]} (confsvc.core.translation).
    translations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    history: list[Step] = field(default_factory=list)  # every event, in order
    # (text, its similarity key) as last found by confsvc.core.questions.similar: derived
    # from ``text`` and found again when the text is another object (an edit, an erasure).
    match: tuple[str, str] | None = field(default=None, init=False, repr=False, compare=False)
    # Its similar list as confsvc.core.questions.similar last found it, flat to be small:
    # (the queue's ``similar_rev`` then, how many questions it had, id, score, id, ...).
    near: tuple[Any, ...] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def original(self) -> str:
        return cast(str, self.edits[0]["text"]) if self.edits else self.text


@dataclass(slots=True)
class Post:
    id: str
    at: float
    actor: str
    text: str
    photo_type: str | None = None
    photo: str | None = None  # base64; served by the adapter, never put in views


@dataclass(slots=True)
class QuestionsState:
    items: dict[str, Question] = field(default_factory=dict)
    on_air: str | None = None
    posts: list[Post] = field(default_factory=list)
    asks: dict[str, list[float]] = field(default_factory=dict)  # identity -> times
    votes: dict[str, list[float]] = field(default_factory=dict)  # identity -> times
    # Counts the changes after which a question's similar list is found again over the
    # whole queue (a text edited, a question back among the merge targets); new
    # questions, votes and moves between targets do not count (similar.py).
    similar_rev: int = 0
    # id -> similarity key of every question a merge may land in, in the order of asking:
    # what a new question is compared with (similar.py, kept by the fold).
    target_keys: dict[str, str] = field(default_factory=dict)

    def next_id(self) -> str:
        return f"q-{len(self.items) + 1}"

    def get(self, qid: str, command: str) -> Question:
        q = self.items.get(qid)
        if q is None:
            raise NotFound.keyed("q.no_question", command=command, question=qid)
        return q


PART_NAME = "questions"


def questions(state: ConferenceState) -> QuestionsState:
    return cast(QuestionsState, state.parts[PART_NAME])


def question(state: ConferenceState, qid: str) -> Question | None:
    """The question ``qid`` as the queue knows it, for other parts to read (never to change)."""
    return questions(state).items.get(qid)
