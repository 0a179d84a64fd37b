"""Every sentence the core's errors say, under a stable key, with its parameters named.

The core raises English sentences (``InvalidState(f"cannot {x} when …")``); tests assert
them exactly and the log keeps them. A page shows them in its reader's language, so each
error on the wire also carries ``key`` and ``params``: the key names the sentence for
good (the English may be reworded, the key stays), the params are the pieces that vary.
The page translates ``key`` from its catalog (``tools/translations/errors.json``, whose
msgids are the templates below) and fills in ``params``.

The key and params are recovered from the sentence by matching it against these
templates, so a raise site stays one readable f-string; ``tests/unit/test_error_codes.py``
walks every ``raise`` in ``confsvc/core`` and fails on a sentence no template matches.

The HTTP side's upload and hub errors a page can meet are here too (uploads, photos, a
busy or missing conference); the WebSocket framing and SDP errors are not: pages do not
send malformed frames, and those say what a developer needs.

Not for: wording the errors (that stays at the raise site) or deciding them.
"""

from __future__ import annotations

import re
from functools import cache

# key: template. A {name} matches any text; a sentence takes the most specific template
# that matches it whole (see _ORDER).
TEMPLATES: dict[str, str] = {
    # run of show and floor
    "ros.not_now": "cannot {action} when the conference is {status}",
    "ros.last_item": "this is the last item: use end to finish the conference",
    "ros.first_item": "this is the first item: there is no previous one",
    "ros.no_item": "no agenda item {item}",
    "ros.already_current": "item {item} is already the current item",
    "ros.extend_limit": "an item can be extended by at most {minutes} minutes in all",
    # stale: decided on an item or status that has changed since (at_item, from_status)
    "ros.stale_moved_by": "{command}: already moved to {title} by the {role}",
    "ros.stale_moved": "{command}: already moved to {title}",
    "ros.stale_ended_by": "{command}: the conference was already ended by the {role}",
    "ros.stale_ended": "{command}: the conference was already ended",
    # the recording (core/recording.py)
    "rec.not_now": "cannot {action} the recording when it is {status}",
    "rec.after_end": "cannot start the recording when the conference is ended",
    "rec.stale": "{command}: the recording is already {status}",
    "ros.stale_not_started": "{command}: the conference has not started; you saw item {item}",
    "q.stale_by": "{command}: {question} is already {status} by the {role}; you saw it {seen}",
    "q.stale": "{command}: {question} is already {status}; you saw it {seen}",
    "floor.follows_agenda": "the floor follows the agenda already",
    # the conference and its links
    "conference.no_agenda": "conference {conference} has no agenda yet",
    "conference.missing": "conference {conference} does not exist",
    "conference.archived": "conference {conference} is archived: it takes no more commands",
    "command.unknown": "unknown command {command}",
    "command.role": "role {role} may not use {command}",
    "command.field": "{command}: args.{field}: {detail}",
    "command.args": "{command}: {detail}",
    "invite.revoked": "this invite link has been revoked",
    "invite.already_revoked": "invite {invite} is already revoked",
    "invite.own": "you cannot revoke the link you are using",
    "invite.ttl": "an invite must live for a positive number of seconds",
    "invite.role": "no invites for role {role}",
    "invite.site": "a site invite needs a site, and only a site invite takes one",
    "invite.recorded": "invite {invite} is already recorded",
    "link.other_conference": "this link is for another conference",
    "link.revoked": "this link has been revoked",
    "link.not_invite": "this link is not a confsvc invite",
    "link.signature": "this link's signature is not valid",
    "link.expired": "this link has expired",
    "person.personal": "this link is personal: it has no people of its own",
    "person.not_token": "this is not a confsvc person token",
    "person.other_link": "this person token belongs to another link",
    "person.signature": "this person token's signature is not valid",
    "key.length": "key must be a string of 1 to {max} characters",
    "key.printable": "key must be printable text",
    "key.reused": "key {key} was already used for {used}, not {command}",
    # questions
    "q.rate": "q.ask: at most {max} questions a minute from one link; wait a little and ask again",
    "q.no_question": "{command}: no question {question}",
    "q.merged": "{command}: {question} was merged into {target}",
    "q.wrong_status": "{command}: {question} is {status}; this needs a question that is {allowed}",
    "q.other_on_air": "{command}: {question} is on air; mark it answered or take it off air first",
    "q.no_expert": "{command}: no expert {expert} in the agenda",
    "q.unchanged": "{command}: the text of {question} is unchanged",
    "q.merge_self": "{command}: a question cannot be merged into itself",
    "q.merge_target": (
        "{command}: {question} is {status}; merge only into a pending, approved or on-air question"
    ),
    "q.already": "{command}: {question} is {status} already",
    "q.voted": "{command}: you have already voted for {question}",
    "q.own": "{command}: {question} is your own question",
    "q.vote_rate": "{command}: at most {max} votes a minute from one link",
    "q.tag": "{command}: tag {tag} must be 1-32 letters, digits, '-' or '_'",
    "text.empty": "{what} is empty",
    "text.long": "{what} is {length} characters long; at most {max} are allowed",
    "text.control": "{what} contains control characters",
    "post.photo_type": "post.publish: photo type {type} is not one of {types}",
    "post.photo_base64": "post.publish: photo data is not base64",
    "post.photo_size": "post.publish: the photo is {size} bytes; at most {max}",
    "post.photo_content": "post.publish: the photo is not a {type} image",
    # written answers
    "written.no_question": "no written question {question} (only deferred or pre-session ones)",
    "written.no_expert": "{command}: no expert {expert}",
    "written.due_far": "{command}: the due date is more than {days} days away",
    "written.due_past": "{command}: the due date must be in the future",
    "written.twice": "written.assign_batch: question {question} twice",
    "written.not_yours": "written.answer: question {question} is not assigned to you",
    "written.empty_answer": "written.answer: the answer is empty",
    "written.publish_empty": "written.publish: question {question} has an empty answer",
    "written.no_mail": "written.file: no quarantined mail {mail}",
    "written.filed": "written.file: mail {mail} is already filed under {question}",
    "written.wrong_status": "{command}: question {question} is {status}",
    "written.header": "{field}: line breaks and NUL are not allowed",
    "written.untranslated": (
        "written.publish: the answer to {question} is not translated into {language} yet; "
        "wait for the desk, or publish it untranslated"
    ),
    # the translation desk (core/translation.py)
    "tr.not_a_language": "{command}: {language} is not a language of this conference",
    "tr.same_language": "{command}: {subject} is in {language} already",
    "tr.not_yours": "{command}: you do not translate from {source} into {target}",
    "tr.unchanged": "{command}: the {language} translation of {subject} is unchanged",
    "invite.languages": "only a translator invite takes languages",
    "invite.language": "{language} is not a language of this conference ({languages})",
    # uploads (http/forms.py, questions/photos.py) and the hub (service.py)
    "upload.form": "send the form as multipart/form-data",
    "upload.size": "the upload is larger than {max} MiB",
    "upload.slow": "the form did not arrive within {seconds} s",
    "upload.broken": "the body is not valid multipart/form-data ({detail})",
    "upload.fields": "the form has more than {max} fields",
    "upload.nested": "the form has a nested multipart part",
    "upload.missing": "missing file field {field}",
    "photo.pixels": "the photo has more than {max} pixels",
    "photo.dimensions": "the photo is {width} × {height} pixels; at most {max} in all",
    "photo.format": "the photo is not a JPEG, PNG, GIF or WebP image",
    "photo.decode": "the photo cannot be decoded: {detail}",
    "photo.missing": "no photo for post {post}",
    "token.needed": "this needs an invite token{how}",
    "hub.busy": "the conference is changing too fast; try again",
    "hub.no_conference_why": "no conference {conference}: {detail}",
    "hub.no_conference": "no conference {conference}",
    "invite.ttl_hours": "ttl_hours must be between 0 and {max}",
    "invite.unknown_role": "unknown role {role}",
    "invite.not_text": "{field} must be a string",
    # places named by several parts
    "site.unknown": "{command}: no site {site} in the agenda",
    "site.unknown_plain": "no site {site} in the agenda",
    "floor.not_now": "cannot give the floor when the conference is {status}",
}
_FIELD = re.compile(r"\{(\w+)\}")
# The most specific first: the template with the most fixed text ("cannot give the floor
# when …" before "cannot {action} when …", "written.answer: the answer is empty" before
# "{what} is empty", "{command}: {detail}" last).
_ORDER = sorted(TEMPLATES, key=lambda k: -len(_FIELD.sub("", TEMPLATES[k])))


@cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = _FIELD.split(template)
    rx = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
    return re.compile(rx, re.DOTALL)


def describe(message: str) -> tuple[str, dict[str, str]] | None:
    """The key and params of a core sentence, or None for one no template knows."""
    for key in _ORDER:
        m = _pattern(TEMPLATES[key]).fullmatch(message)
        if m:
            return key, {k: v.strip("'\"") for k, v in m.groupdict().items()}
    return None
