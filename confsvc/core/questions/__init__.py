"""The live question queue and the live text broadcast (posts).

Theory of operation: everything that changes a question lives in this package, and it
knows nothing of I/O. A question's life is one table, ``life.TRANSITIONS``
(``{status: {command: status after}}``): deciding a command refuses it when the table has
no entry for the question's status, and folding its event sets the status from the same
entry, so the table is the only place a status is written. Each command is registered
once, beside its rule (``queue.question_command``): name, argument model, roles, the
event it records and what that event changes besides the status.

- ``life``: statuses and the table; ``state``: the dataclasses; ``text``: text checks and
  the language guess;
- ``queue``: asking, voting and the commands on one question, and their fold;
- ``csv_import``: pre-session questions (the CSV, its checks, ``q.import``);
- ``posts``: live text posts; ``views``: what each audience sees, on connect and live;
- ``desk``: the translation desk's side (what needs translating, ``q.translate``).

Who may do what is the ``roles`` of each command: participants and sites ask and vote;
translators and staff translate (``q.translate``);
hosts and moderators (``STAFF``) do everything else. Rate limits are rules too
(``MAX_ASKS_PER_MIN`` and ``MAX_VOTES_PER_MIN`` per person, ``Principal.identity``: a
personal link, or one browser of a shared audience link): they read the times of that
person's earlier events, so every node decides them the same way.

Other parts read a question through ``question(state, qid)`` and the typed payloads of
``confsvc.core.events``; they never fold ``q.*`` events into a copy of their own.
"""

from __future__ import annotations

from confsvc.core.conference import Part
from confsvc.core.questions import desk  # registers q.translate (before PART is built)
from confsvc.core.questions.csv_import import (
    CSV_COLUMNS,
    MAX_IMPORT_ROWS,
    ImportArgs,
    ImportProblems,
    ImportRow,
    check_import_rows,
    parse_import_csv,
)
from confsvc.core.questions.life import (
    ANSWERED,
    APPROVED,
    DEFERRED,
    MERGE_TARGETS,
    MERGED,
    ON_AIR,
    PENDING,
    REJECTED,
    SHOWN,
    STATUSES,
    TRANSITIONS,
)
from confsvc.core.questions.posts import MAX_PHOTO_BYTES, PHOTO_TYPES, on_post, post_view
from confsvc.core.questions.queue import (
    ASKERS,
    COMMANDS,
    EVENT_OF,
    MAX_ASKS_PER_MIN,
    MAX_VOTES_PER_MIN,
    allowed_actions,
    reducers,
)
from confsvc.core.questions.state import (
    PART_NAME,
    Post,
    Question,
    QuestionsState,
    question,
    questions,
)
from confsvc.core.questions.text import LANGUAGES, MAX_TEXT, guess_language
from confsvc.core.questions.views import (
    DESK_AUDIENCE,
    ROOM,
    ROOM_AUDIENCE,
    STAFF_AUDIENCE,
    live_view,
    messages,
    moderator_view,
    own_view,
    public_view,
    room_view,
    snapshot,
    staff_view,
)

PART = Part(
    name=PART_NAME,
    init=QuestionsState,
    commands=COMMANDS.specs,
    reducers={**reducers(), "post.published": on_post},
    snapshot=snapshot,
    messages=messages,
)

__all__ = [
    "ANSWERED", "APPROVED", "ASKERS", "CSV_COLUMNS", "DEFERRED", "DESK_AUDIENCE", "EVENT_OF",
    "LANGUAGES",
    "MAX_ASKS_PER_MIN", "MAX_IMPORT_ROWS", "MAX_PHOTO_BYTES", "MAX_TEXT", "MAX_VOTES_PER_MIN",
    "MERGED", "MERGE_TARGETS", "ON_AIR", "PART", "PENDING", "PHOTO_TYPES", "REJECTED", "ROOM",
    "ROOM_AUDIENCE", "SHOWN", "STAFF_AUDIENCE", "STATUSES", "TRANSITIONS", "ImportArgs",
    "ImportProblems", "ImportRow", "Post", "Question", "QuestionsState", "allowed_actions",
    "check_import_rows", "desk", "guess_language", "live_view", "moderator_view", "own_view",
    "parse_import_csv", "post_view", "public_view", "question", "questions", "room_view",
    "staff_view",
]  # fmt: skip
