"""The parts that make up a conference, in fold order.

A new area of rules adds its ``PART`` here; nothing else in the core needs to change.
"""

from __future__ import annotations

from confsvc.core import floor, followup, invites, questions, runofshow
from confsvc.core.conference import CONFERENCE_PART, Rules

# The floor part folds after the run of show, since it reads the new current item.
PARTS = [CONFERENCE_PART, invites.PART, runofshow.PART, floor.PART, questions.PART]
# Written answers fold last: they read the question queue's events.
PARTS.append(followup.PART)

RULES = Rules(PARTS)
