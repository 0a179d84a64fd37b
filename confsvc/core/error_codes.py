"""Every sentence the core's errors say, under a stable key, with its parameters named.

Each error on the wire carries its English ``message`` (tests assert it exactly, the log
keeps it) and ``key`` and ``params``: the key names the sentence for good (the English
may be reworded, the key stays), the params are the pieces that vary. The key is given
where the error is raised: ``raise InvalidState.keyed("ros.not_now", action=name,
status=status)`` makes the English from the template below (``str.format``: ``{item!r}``
quotes as an f-string's ``!r`` did). A page translates by the key
(``tools/translations/errors.json`` is ``{key: {"en", "pl", "zh"}}``; ``tools/po.py``
writes the key as each message's context, so ``pgettext(key, english)`` finds it and
English stays the default) and fills in ``params``.

A sentence raised without a key (an adapter's ``require(..., refusal)``, a helper's new
raise) still gets one when a template matches it whole (``describe``).
``tests/unit/test_error_codes.py`` walks the raises: a keyed one must name a template and
pass exactly its params, and pl and zh must translate it; an unkeyed one must match.

The HTTP side's upload and hub errors a page can meet are here too (uploads, photos, a
busy or missing conference); the WebSocket framing and SDP errors are not: pages do not
send malformed frames, and those say what a developer needs.

Not for: deciding the errors (the parts do) or their HTTP status (``errors.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache

# key: template. A {name} matches any text; a sentence takes the most specific template
# that matches it whole (see _ORDER).
TEMPLATES: dict[str, str] = {
    # run of show and floor
    "ros.not_now": "cannot {action} when the conference is {status}",
    "ros.last_item": "this is the last item: use end to finish the conference",
    "ros.first_item": "this is the first item: there is no previous one",
    "ros.no_item": "no agenda item {item!r}",
    "ros.already_current": "item {item!r} is already the current item",
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
    "ros.stale_not_started": "{command}: the conference has not started; you saw item {item!r}",
    "q.stale_by": "{command}: {question} is already {status} by the {role}; you saw it {seen}",
    "q.stale": "{command}: {question} is already {status}; you saw it {seen}",
    "floor.follows_agenda": "the floor follows the agenda already",
    # the conference and its links
    "conference.no_agenda": "conference {conference!r} has no agenda yet",
    "conference.missing": "conference {conference!r} does not exist",
    "conference.archived": "conference {conference!r} is archived: it takes no more commands",
    "command.unknown": "unknown command {command!r}",
    "command.role": "role {role!r} may not use {command!r}",
    "command.field": "{command}: args.{field}: {detail}",
    "command.args": "{command}: {detail}",
    "invite.revoked": "this invite link has been revoked",
    "invite.already_revoked": "invite {invite!r} is already revoked",
    "invite.own": "you cannot revoke the link you are using",
    "invite.ttl": "an invite must live for a positive number of seconds",
    "invite.interpreter": "an interpreter invite needs an interpreter id, and only an "
    "interpreter invite takes one",
    "invite.no_interpretation": "the agenda has no interpretation section: no interpreter links",
    "invite.no_interpreter": "no interpreter {interpreter!r} in the agenda (interpreters: {known})",
    # interpretation booths (core/interpretation.py)
    "interp.stale": "interp.take: channel {channel} has changed; {name} is live now",
    "interp.already_live": "interp.take: you are already live in channel {channel}",
    "interp.cough_not_live": "interp.cough: you are not live in channel {channel}; "
    "take the channel first",
    "interp.release_not_live": "interp.release: you are not live in channel {channel}",
    "interp.muted_already": "interp.cough: channel {channel} is muted already",
    "interp.on_air_already": "interp.cough: channel {channel} is on air already",
    "interp.no_channels": "{command}: the agenda has no interpretation channels",
    "interp.not_interpreter": "{command}: only an interpreter link speaks into a channel",
    "interp.nobody_live": "interp.release: nobody is live in channel {channel}",
    "invite.role": "no invites for role {role!r}",
    "invite.site": "a site invite needs a site, and only a site invite takes one",
    "invite.recorded": "invite {invite!r} is already recorded",
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
    "key.reused": "key {key!r} was already used for {used!r}, not {command!r}",
    # questions
    "q.rate": "q.ask: at most {max} questions a minute from one person; wait a little and ask again",
    "q.no_question": "{command}: no question {question!r}",
    "q.merged": "{command}: {question} was merged into {target}",
    "q.wrong_status": "{command}: {question} is {status}; this needs a question that is {allowed}",
    "q.other_on_air": "{command}: {question} is on air; mark it answered or take it off air first",
    "q.no_expert": "{command}: no expert {expert!r} in the agenda",
    "q.unchanged": "{command}: the text of {question} is unchanged",
    "q.merge_self": "{command}: a question cannot be merged into itself",
    "q.merge_target": (
        "{command}: {question} is {status}; merge only into a pending, approved or on-air question"
    ),
    "q.already": "{command}: {question} is {status} already",
    "q.voted": "{command}: you have already voted for {question}",
    "q.own": "{command}: {question} is your own question",
    "q.vote_rate": "{command}: at most {max} votes a minute from one person",
    "q.tag": "{command}: tag {tag!r} must be 1-32 letters, digits, '-' or '_'",
    "text.empty": "{what} is empty",
    "text.long": "{what} is {length} characters long; at most {max} are allowed",
    "text.control": "{what} contains control characters",
    "post.photo_type": "post.publish: photo type {type} is not one of {types}",
    "post.photo_base64": "post.publish: photo data is not base64",
    "post.photo_size": "post.publish: the photo is {size} bytes; at most {max}",
    "post.photo_content": "post.publish: the photo is not a {type} image",
    # written answers
    "written.no_question": "no written question {question!r} (only deferred or pre-session ones)",
    "written.no_expert": "{command}: no expert {expert!r}",
    "written.due_far": "{command}: the due date is more than {days} days away",
    "written.due_past": "{command}: the due date must be in the future",
    "written.twice": "written.assign_batch: question {question!r} twice",
    "written.not_yours": "written.answer: question {question!r} is not assigned to you",
    "written.empty_answer": "written.answer: the answer is empty",
    "written.publish_empty": "written.publish: question {question!r} has an empty answer",
    "written.no_mail": "written.file: no quarantined mail {mail!r}",
    "written.filed": "written.file: mail {mail!r} is already filed under {question}",
    "written.wrong_status": "{command}: question {question!r} is {status}",
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
    "invite.language": "{language!r} is not a language of this conference ({languages})",
    # uploads (http/forms.py, questions/photos.py) and the hub (service.py)
    "upload.form": "send the form as multipart/form-data",
    "upload.size": "the upload is larger than {max} MiB",
    "upload.slow": "the form did not arrive within {seconds} s",
    "upload.broken": "the body is not valid multipart/form-data ({detail})",
    "upload.fields": "the form has more than {max} fields",
    "upload.nested": "the form has a nested multipart part",
    "upload.missing": "missing file field {field!r}",
    "photo.pixels": "the photo has more than {max} pixels",
    "photo.dimensions": "the photo is {width} × {height} pixels; at most {max} in all",
    "photo.format": "the photo is not a JPEG, PNG, GIF or WebP image",
    "photo.decode": "the photo cannot be decoded: {detail}",
    "photo.missing": "no photo for post {post!r}",
    "broadcast.off": "this server does not broadcast (broadcast_dir is not set)",
    "broadcast.not_started": "the broadcast of {conference!r} has not started",
    "broadcast.segment_gone": "segment {name!r} is no longer in the broadcast's playlist",
    "broadcast.bad_name": "no broadcast file {name!r} (index.m3u8 or seg-RUN-N.ts)",
    "token.needed": "this needs an invite token{how}",
    "hub.busy": "the conference is changing too fast; try again",
    "hub.no_conference_why": "no conference {conference!r}: {detail}",
    "hub.no_conference": "no conference {conference!r}",
    "invite.ttl_hours": "ttl_hours must be between 0 and {max}",
    "invite.unknown_role": "unknown role {role!r}",
    "invite.not_text": "{field} must be a string",
    # the media home (media/forward.py, media/setup.py)
    "media.home_silent": "the media home of this conference does not answer: try again",
    "media.home_refused": "the media home refused the connection: {reason}",
    "media.home_gone": "the media home went away: try again",
    "media.home_lost": "the media home went away: reconnecting",
    "media.home_unknown": "the media home cannot be looked up: {reason}",
    "media.not_forwardable": "this connection cannot be forwarded to the media home",
    # places named by several parts
    "site.unknown": "{command}: no site {site!r} in the agenda",
    "site.unknown_plain": "no site {site!r} in the agenda",
    "floor.not_now": "cannot give the floor when the conference is {status}",
}
_FIELD = re.compile(r"\{(\w+)(?:![rs])?\}")  # {name}, or {name!r}: quoted, as repr() quotes
# The most specific first: the template with the most fixed text ("cannot give the floor
# when …" before "cannot {action} when …", "written.answer: the answer is empty" before
# "{what} is empty", "{command}: {detail}" last).
_ORDER = sorted(TEMPLATES, key=lambda k: -len(_FIELD.sub("", TEMPLATES[k])))


@cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = _FIELD.split(template)
    rx = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
    return re.compile(rx, re.DOTALL)


def english(key: str, params: Mapping[str, object]) -> str:
    """The English sentence of ``key`` with ``params`` (``str.format``: ``{item!r}``
    quotes its value as the f-strings at the raise sites did)."""
    try:
        template = TEMPLATES[key]
    except KeyError:
        raise KeyError(f"no error template {key!r} in confsvc/core/error_codes.py") from None
    return template.format(**params)


def template_fields(key: str) -> set[str]:
    """The params the template of ``key`` names."""
    return set(_FIELD.findall(TEMPLATES[key]))


def describe(message: str) -> tuple[str, dict[str, str]] | None:
    """The key and params of a core sentence, or None for one no template knows."""
    for key in _ORDER:
        m = _pattern(TEMPLATES[key]).fullmatch(message)
        if m:
            return key, {k: v.strip("'\"") for k, v in m.groupdict().items()}
    return None
