"""Live text posts (with an optional photo) that staff publish to the public page."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pydantic import Field

from confsvc.core.conference import Args, ConferenceState
from confsvc.core.errors import BadRequest
from confsvc.core.events import Event, NewEvent, Principal
from confsvc.core.questions.queue import COMMANDS
from confsvc.core.questions.state import Post, questions
from confsvc.core.questions.text import clean_text
from confsvc.core.roles import STAFF

MAX_PHOTO_BYTES = 2 * 1024 * 1024
PHOTO_TYPES = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


class PhotoArgs(Args):
    type: str = Field(max_length=32)
    data: str = Field(max_length=(MAX_PHOTO_BYTES * 4) // 3 + 8)


class PostArgs(Args):
    text: str = Field(max_length=8000)
    photo: PhotoArgs | None = None


def _photo(photo: PhotoArgs) -> dict[str, str]:
    magics = PHOTO_TYPES.get(photo.type)
    if magics is None:
        raise BadRequest(
            f"post.publish: photo type {photo.type!r} is not one of " + ", ".join(PHOTO_TYPES),
            field="args.photo.type",
        )
    try:
        raw = base64.b64decode(photo.data, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest.keyed("post.photo_base64", field="args.photo.data") from None
    if len(raw) > MAX_PHOTO_BYTES:
        raise BadRequest.keyed(
            "post.photo_size", size=len(raw), max=MAX_PHOTO_BYTES, field="args.photo.data"
        )
    if not raw.startswith(magics):
        raise BadRequest.keyed("post.photo_content", type=photo.type, field="args.photo.data")
    return {"type": photo.type, "data": photo.data}


@COMMANDS.command(
    "post.publish", PostArgs, roles=STAFF, doc="Publish a live text post, with an optional photo."
)
def _post(state: ConferenceState, args: PostArgs, who: Principal, now: float) -> list[NewEvent]:
    text = clean_text(args.text, "the post", "args.text", 2000)
    photo = _photo(args.photo) if args.photo is not None else None
    post_id = f"p-{len(questions(state).posts) + 1}"
    return [NewEvent(type="post.published", data={"id": post_id, "text": text, "photo": photo})]


def on_post(state: ConferenceState, event: Event) -> None:
    d = event.data
    photo = d.get("photo") or {}
    questions(state).posts.append(
        Post(
            id=d["id"],
            at=event.at,
            actor=event.actor,
            text=d["text"],
            photo_type=photo.get("type"),
            photo=photo.get("data"),
        )
    )


def post_view(p: Post) -> dict[str, Any]:
    return {"id": p.id, "at": p.at, "text": p.text, "photo": p.photo_type is not None}
