"""The parts that make up a conference, in fold order.

A new area of rules adds its ``PART`` here; nothing else in the core needs to change.
"""

from __future__ import annotations

from confsvc.core import floor, interpretation, invites, questions, recording, runofshow, written
from confsvc.core.conference import CONFERENCE_PART, Rules

# The floor part folds after the run of show, since it reads the new current item.
# Written answers come after the questions: they read the queue's questions (never its
# events), and their live messages follow the queue's.
PARTS = [
    CONFERENCE_PART,
    invites.PART,
    runofshow.PART,
    floor.PART,
    interpretation.PART,
    questions.PART,
    written.PART,
]
# The recording reads only the agenda and the run of show's segments: it folds last.
PARTS.append(recording.PART)

RULES = Rules(PARTS)
