"""Photos for live posts: decoded with Pillow, bounded in pixels, re-encoded, stripped.

What a moderator uploads is shown to every public viewer, so it is never served as sent:
the image is opened by Pillow (which names its real format, whatever the upload claims),
refused above ``MAX_PIXELS`` *before* any pixel is decoded (a 50 KB PNG can claim
40,000 × 40,000), turned upright by its EXIF orientation, shrunk to ``MAX_SIDE`` and
written again as JPEG, PNG or WebP with no metadata at all (EXIF with GPS, XMP, ICC,
comments). Bytes that only start like an image (HTML behind ``RIFF``) do not decode.

This module does the image work only; ``post.publish`` in ``confsvc.core.questions``
keeps its own checks (type, size, magic bytes) on what comes out of here.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from confsvc.core.errors import BadRequest

MAX_PIXELS = 40_000_000  # a 40-megapixel phone photo; more is a bomb, not a photo
MAX_SIDE = 2048  # what a live page shows; larger photos are scaled down
# Pillow format name -> (format written, MIME type). GIF becomes PNG (one frame).
OUTPUT = {
    "JPEG": ("JPEG", "image/jpeg"),
    "PNG": ("PNG", "image/png"),
    "WEBP": ("WEBP", "image/webp"),
    "GIF": ("PNG", "image/png"),
}


def clean_photo(raw: bytes) -> tuple[str, bytes]:
    """``(mime type, re-encoded bytes)`` of an uploaded photo, or ``BadRequest`` saying why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(raw), formats=list(OUTPUT))
            width, height = opened.size  # read from the header; nothing decoded yet
            if width * height > MAX_PIXELS:
                raise BadRequest(
                    f"the photo is {width} × {height} pixels; at most {MAX_PIXELS:,} in all",
                    field="photo",
                )
            fmt = str(opened.format)
            opened.seek(0)
            opened.load()
            image: Image.Image = ImageOps.exif_transpose(opened)
    except BadRequest:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard (from about 89 million pixels): the header claims even more.
        raise BadRequest(f"the photo has more than {MAX_PIXELS:,} pixels", field="photo") from None
    except UnidentifiedImageError:
        raise BadRequest.keyed("photo.format", field="photo") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # truncated or corrupt data
        raise BadRequest.keyed("photo.decode", detail=exc, field="photo") from None
    out_format, mime = OUTPUT[fmt]
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    if out_format == "JPEG":
        image = image.convert("RGB")
    elif image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA")
    image.info.clear()  # nothing the upload carried is written back
    buf = io.BytesIO()
    options: dict[str, Any] = {"quality": 85} if out_format in ("JPEG", "WEBP") else {}
    image.save(buf, format=out_format, **options)
    return mime, buf.getvalue()


def clean_post_args(args: dict[str, Any]) -> dict[str, Any]:
    """``post.publish`` arguments with the photo (base64) replaced by its clean re-encoding.

    Registered as the hub's command filter for ``post.publish``, so the WebSocket and the
    upload route (``POST /c/<id>/posts``) both go through it.
    """
    photo = args.get("photo")
    if not isinstance(photo, dict) or not isinstance(photo.get("data"), str):
        return args  # nothing to clean; the core names what is wrong with it
    try:
        raw = base64.b64decode(photo["data"], validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest.keyed("post.photo_base64", field="args.photo.data") from None
    mime, data = clean_photo(raw)
    return {**args, "photo": {"type": mime, "data": base64.b64encode(data).decode("ascii")}}
