"""Live-post photos are decoded, bounded, re-encoded and stripped (issue 11, item 8)."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from typing import Any

import aiohttp
from PIL import ExifTags, Image

from confsvc.questions.photos import MAX_PIXELS


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (53.0, 46.0, 44.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (20.0, 29.0, 0.0)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


def _png_bomb(width: int, height: int) -> bytes:
    """A valid small PNG whose header claims ``width`` × ``height`` pixels."""
    buf = io.BytesIO()
    Image.new("1", (8, 8)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = 8  # after the signature: length(4) type(4) data(13) crc(4)
    body = (
        bytes(data[ihdr + 4 : ihdr + 8])
        + struct.pack(">II", width, height)
        + data[ihdr + 16 : ihdr + 21]
    )
    data[ihdr + 8 : ihdr + 16] = struct.pack(">II", width, height)
    data[ihdr + 21 : ihdr + 25] = struct.pack(">I", zlib.crc32(body))
    return bytes(data)


async def _post(running: Any, photo: bytes, ctype: str = "image/jpeg") -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("token", running.token("moderator"))
    form.add_field("text", "The Weifang site is answering now")
    form.add_field("photo", photo, filename="p.jpg", content_type=ctype)
    return await running.client.post(f"/c/{running.conference}/posts", data=form)


async def test_gps_exif_is_stripped_from_a_jpeg(running: Any) -> None:
    original = _jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # it leaks
    resp = await _post(running, original)
    assert resp.status == 200, await resp.text()
    post = (await resp.json())["id"]
    photo = await running.client.get(f"/c/{running.conference}/live/photos/{post}")
    served = await photo.read()
    assert photo.headers["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(served))
    assert (image.format, image.size) == ("JPEG", (64, 48))
    assert dict(image.getexif()) == {}
    assert b"Exif" not in served and b"PhoneMaker" not in served


async def test_html_behind_a_riff_header_is_refused(running: Any) -> None:
    fake = b"RIFF\x00\x10\x00\x00WEBPVP8 <html><script>alert(document.cookie)</script></html>"
    resp = await _post(running, fake, "image/webp")
    assert resp.status == 400
    refusal = (await resp.json())["message"]
    assert refusal.startswith("the photo cannot be decoded: ")
    # The same over the WebSocket: one filter for both ways in.
    mod = await running.ws("moderator")
    reply = await mod.command(
        "post.publish",
        text="x",
        photo={"type": "image/webp", "data": base64.b64encode(fake).decode()},
    )
    assert (reply["type"], reply["message"]) == ("error", refusal)
    html = b"<!doctype html><html><script>alert(1)</script></html>"
    resp = await _post(running, b"RIFF" + html, "image/webp")
    assert (await resp.json())["message"] == "the photo is not a JPEG, PNG, GIF or WebP image"
    hub = await running.hub()
    assert hub.state.parts["questions"].posts == []
    await mod.close()


async def test_a_decompression_bomb_is_refused_before_decoding(running: Any) -> None:
    bomb = _png_bomb(8_000, 8_000)  # 64 MP: past our bound, under Pillow's own
    assert len(bomb) < 200
    resp = await _post(running, bomb, "image/png")
    assert resp.status == 400
    assert (await resp.json())["message"] == (
        f"the photo is 8000 × 8000 pixels; at most {MAX_PIXELS:,} in all"
    )
    resp = await _post(running, _png_bomb(40_000, 40_000), "image/png")  # 1.6 GP
    assert resp.status == 400
    assert (await resp.json())["message"] == f"the photo has more than {MAX_PIXELS:,} pixels"


async def test_a_participant_cannot_make_the_server_decode_a_photo(running: Any) -> None:
    participant = await running.ws("participant")
    bomb = base64.b64encode(_png_bomb(40_000, 40_000)).decode()
    reply = await participant.command(
        "post.publish", text="x", photo={"type": "image/png", "data": bomb}
    )
    assert (reply["code"], reply["message"]) == (
        "forbidden",
        "role 'participant' may not use 'post.publish'",
    )
    await participant.close()
