"""What each audience sees of the queue, on connect and after each event.

Staff see everything (notes, e-mail addresses, history, every translation) and, in the
moderator's view, the ``actions`` the life table allows them on each question and the
languages it still ``needs``; translators see the desk (``desk.desk_item``: text,
language, status and translations, no names or e-mail) in the languages they read; the room (participants,
sites, experts) sees approved, on-air and answered questions and its own questions'
status; the public (``EVERYONE``) sees only the on-air question, answered questions and
posts, without names, e-mail addresses, notes or invites.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confsvc.core.conference import EVERYONE, Audience, ConferenceState, Message
from confsvc.core.events import Event, Principal
from confsvc.core.permissions import reads
from confsvc.core.questions.desk import (
    TRANSLATABLE,
    desk_item,
    desk_targets,
    desk_view,
    needs,
    translations_view,
)
from confsvc.core.questions.life import ANSWERED, ON_AIR, SHOWN
from confsvc.core.questions.posts import post_view
from confsvc.core.questions.queue import ASKERS, allowed_actions
from confsvc.core.questions.similar import similar, similar_all
from confsvc.core.questions.state import Question, questions
from confsvc.core.roles import STAFF, Role

ROOM = frozenset({Role.PARTICIPANT, Role.SITE, Role.EXPERT})
STAFF_AUDIENCE = Audience(roles=STAFF)
ROOM_AUDIENCE = Audience(roles=ROOM)
# Every translator gets each desk item; the page keeps those in the languages its link
# reads (the snapshot is filtered here already).
DESK_AUDIENCE = Audience(roles=frozenset({Role.TRANSLATOR}))


def public_view(q: Question) -> dict[str, Any]:
    """What anyone may see of an on-air or answered question (no name, e-mail or notes)."""
    return {
        "id": q.id,
        "status": q.status,
        "text": q.text,
        "language": q.language,
        "translations": translations_view(q),  # {language: text}, current ones only
        "site": q.site,
        "votes": len(q.voters),
        "answering": q.answering,
        "answered_by": q.answered_by,
        "on_air_at": q.on_air_at,
        "answered_at": q.answered_at,
    }


def room_view(q: Question) -> dict[str, Any]:
    """What participants, sites and experts see of an approved question."""
    return {**public_view(q), "name": q.name, "tags": list(q.tags), "pinned": q.pinned}


def own_view(q: Question) -> dict[str, Any]:
    """What an asker sees of their own question, whatever its status."""
    return {
        **room_view(q),
        "reason": q.reason,
        "merged_into": q.merged_into,
        "asked_at": q.asked_at,
    }


def staff_view(q: Question) -> dict[str, Any]:
    """Everything about a question: for hosts, moderators and the exports."""
    return {
        **own_view(q),
        "source": q.source,
        "email": q.email,
        "askers": len(q.askers),
        "original": q.original,
        "edits": list(q.edits),
        "versions": q.translations,  # every translation, per language, oldest first
        "notes": list(q.notes),
        "merged_from": list(q.merged_from),
        "history": [h.as_dict() for h in q.history],
    }


def moderator_view(
    q: Question,
    roles: frozenset[Role] = STAFF,
    items: Mapping[str, Question] | None = None,
    state: ConferenceState | None = None,
    lists: Mapping[str, list[dict[str, object]]] | None = None,
) -> dict[str, Any]:
    """The staff view plus ``actions``: what ``roles`` may do to ``q`` now (the console's
    buttons), ``similar``: the questions among ``items`` it likely duplicates (the merge
    form's default), and ``needs``: the languages the desk has still to translate it into
    (read from ``state``); ``lists``: the similar lists already found for every question
    (``similar_all``, a snapshot's). Not for exports: use ``staff_view``."""
    view = {**staff_view(q), "actions": allowed_actions(q, roles)}
    if lists is not None:
        view["similar"] = lists.get(q.id, [])
    else:
        # The queue's own items: its revision says when q's kept list is still good.
        qs = questions(state) if state is not None else None
        if qs is not None and items is qs.items:
            view["similar"] = similar(q, items, qs.similar_rev, qs.target_keys)
        else:
            view["similar"] = similar(q, items) if items is not None else []
    view["needs"] = needs(state, q) if state is not None else []
    return view


def live_view(state: ConferenceState) -> dict[str, Any]:
    """The public page's part: the on-air question, answered questions, posts."""
    qs = questions(state)
    answered = sorted(
        (q for q in qs.items.values() if q.status == ANSWERED),
        key=lambda q: q.answered_at or 0.0,
        reverse=True,
    )
    on_air = qs.items[qs.on_air] if qs.on_air is not None else None
    return {
        "on_air": public_view(on_air) if on_air is not None else None,
        "answered": [public_view(q) for q in answered],
        "posts": [post_view(p) for p in reversed(qs.posts)],
    }


def snapshot(state: ConferenceState, who: Principal, now: float) -> dict[str, Any] | None:
    if not state.exists:
        return None
    qs = questions(state)
    view = live_view(state)
    if who.role in STAFF or who.role is Role.SYSTEM:
        roles = frozenset({who.role}) if who.role in STAFF else STAFF
        lists = similar_all(qs.items)
        view["items"] = [
            moderator_view(q, roles, qs.items, state, lists) for q in qs.items.values()
        ]
        view["staff"] = True
        view["desk_languages"] = desk_targets(state)
        return view
    if who.role is Role.PUBLIC:
        return view
    if who.role is Role.TRANSLATOR:
        view["desk"] = [i for i in desk_view(state, qs.items) if reads(who, i["language"])]
        view["desk_languages"] = [lang for lang in desk_targets(state) if reads(who, lang)]
        return view
    view["items"] = [room_view(q) for q in qs.items.values() if q.status in SHOWN]
    view["mine"] = [own_view(q) for q in qs.items.values() if who.identity in q.askers]
    view["voted"] = [q.id for q in qs.items.values() if who.identity in q.voters]
    view["can_ask"] = who.role in ASKERS
    return view


def _question_messages(
    state: ConferenceState, q: Question, items: Mapping[str, Question]
) -> tuple[list[Message], bool]:
    """The messages about one changed question, and whether the public page changes."""
    item = moderator_view(q, items=items, state=state)
    out = [Message(audience=STAFF_AUDIENCE, payload={"type": "q.item", "item": item})]
    if q.status in TRANSLATABLE or q.prev_status in TRANSLATABLE:
        desk = desk_item(state, q)
        out.append(Message(audience=DESK_AUDIENCE, payload={"type": "q.desk", "item": desk}))
    for invite in q.askers:
        out.append(
            Message(
                audience=Audience(invite=invite), payload={"type": "q.mine", "item": own_view(q)}
            )
        )
    if q.status in SHOWN:
        out.append(
            Message(audience=ROOM_AUDIENCE, payload={"type": "q.shown", "item": room_view(q)})
        )
    elif q.prev_status in SHOWN:
        out.append(Message(audience=ROOM_AUDIENCE, payload={"type": "q.hidden", "id": q.id}))
    return out, bool({q.status, q.prev_status} & {ON_AIR, ANSWERED})


def messages(state: ConferenceState, event: Event) -> list[Message]:
    if event.type == "post.published":
        post = questions(state).posts[-1]
        return [Message(audience=EVERYONE, payload={"type": "post", "post": post_view(post)})]
    if not event.type.startswith("q."):
        return []
    qs = questions(state)
    # An import is one message to each console (q.imported closes it), not one a row.
    if event.type == "q.imported":
        imported = [qs.items[qid] for qid in event.data["ids"]]
        items = [moderator_view(q, items=qs.items, state=state) for q in imported]
        desk = [desk_item(state, q) for q in imported]
        return [
            Message(audience=STAFF_AUDIENCE, payload={"type": "q.batch", "items": items}),
            Message(audience=DESK_AUDIENCE, payload={"type": "q.desk_batch", "items": desk}),
        ]
    if event.type == "q.asked" and event.data.get("source") == "pre_session":
        return []
    ids = [event.data["id"]]
    if event.type == "q.merged":
        ids.append(event.data["into"])
    out: list[Message] = []
    live = False
    for qid in ids:
        more, changed = _question_messages(state, qs.items[qid], qs.items)
        out.extend(more)
        live = live or changed
    if event.type == "q.voted":
        voter = Audience(invite=event.data["invite"])
        out.append(Message(audience=voter, payload={"type": "q.voted", "id": event.data["id"]}))
    if live:
        out.append(
            Message(
                audience=EVERYONE, payload={"type": "q.live", **live_view(state)}, coalesce=True
            )
        )
    return out
