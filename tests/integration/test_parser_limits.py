"""Parser limits (issue 11, item 7): WebSocket messages with bounded depth and numbers,
upload forms authenticated before their body is read, malformed bodies a 400, never 5xx."""

from __future__ import annotations

import logging
import random
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

DEEP = "[" * 30_000 + "]" * 30_000
HUGE_INT = "9" * 4_300


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"type":"ping","x":' + DEEP + "}", "message is nested deeper than 16 levels"),
        (
            '{"type":"ping","x":' + HUGE_INT + "}",
            "a number in the message is longer than 40 characters",
        ),
        ('{"type":"ping","x":1e999}', "the number 1e999 is out of range"),
        ('{"type":"ping","x":NaN}', "NaN is not a number JSON allows"),
    ],
)
async def test_unbounded_messages_get_bad_request_naming_the_limit(
    running: Any, caplog: pytest.LogCaptureFixture, text: str, message: str
) -> None:
    host = await running.ws("host")
    await host.sock.send_str(text)
    reply = await host.expect("error")
    assert (reply["code"], reply["message"]) == ("bad_request", message)
    # The socket is still open and answers.
    await host.sock.send_json({"type": "ping", "id": 2})
    assert (await host.expect("pong"))["id"] == 2
    await host.close()
    _no_tracebacks(caplog)


@pytest.mark.parametrize("payload", [DEEP, HUGE_INT])
async def test_unbounded_hello_is_refused_with_a_close_frame(
    running: Any, caplog: pytest.LogCaptureFixture, payload: str
) -> None:
    sock = await running.client.ws_connect(f"/c/{running.conference}/ws")
    await sock.send_str('{"type":"hello","token":' + payload + "}")
    reply = await sock.receive_json(timeout=10)
    assert reply["code"] == "bad_request"
    closing = await sock.receive(timeout=10)
    assert closing.type is WSMsgType.CLOSE
    assert sock.close_code == 1008
    assert closing.extra == reply["message"]
    await sock.close()
    _no_tracebacks(caplog)


def _multipart(token: str | None, csv: bytes) -> tuple[bytes, str]:
    boundary = "----confsvc-fuzz-7MA4YWxkTrZu0gW"
    parts = []
    if token is not None:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="token"\r\n\r\n{token}\r\n'.encode()
        )
    parts.append(
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="q.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
        + csv
        + b"\r\n"
    )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\nhello\r\n'.encode()
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _mutate(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(5)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:  # flip a byte
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif op == 1:  # insert junk or a structural token
            junk = rng.choice(
                [b"\r\n", b"--", b'"', b";", b"\x00", b"=?utf-8?b?", b"filename*=x''%ff", b"\xff"]
            )
            data[at:at] = junk
        elif op == 2:  # delete a run
            del data[at : at + rng.randint(1, 40)]
        elif op == 3:  # duplicate a run
            data[at:at] = data[at : at + rng.randint(1, 200)]
        else:  # cut the body short
            del data[at:]
    return bytes(data)


BAD_CONTENT_TYPES = [
    "multipart/form-data",
    "multipart/form-data; boundary=",
    'multipart/form-data; boundary="',
    "multipart/form-data; boundary=other",
    "multipart/mixed; boundary=----confsvc-fuzz-7MA4YWxkTrZu0gW",
    "multipart/form-data; boundary=----confsvc-fuzz-7MA4YWxkTrZu0gW; charset=nope",
    "text/csv",
]
CSV = b"text,language\nHow did Weifang test schools?,en\n"


@pytest.mark.parametrize("route", ["questions/import", "posts"])
async def test_fuzzed_multipart_bodies_never_give_5xx(running: Any, route: str) -> None:
    rng = random.Random(11_07)  # fixed seed: the same 150 mutations every run
    token = running.token("moderator")
    url = f"/c/{running.conference}/{route}"
    statuses: dict[int, int] = {}
    for n in range(150):
        who = [token, None, "not-a-token"][n % 3]
        body, ctype = _multipart(who, CSV)
        mutated = _mutate(rng, body)
        ctype_sent = ctype if n % 7 else rng.choice(BAD_CONTENT_TYPES)
        async with running.client.post(
            url, data=mutated, headers={"Content-Type": ctype_sent}
        ) as resp:
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            assert resp.status < 500, (n, resp.status, await resp.text(), mutated[:200])
            if resp.status >= 400:
                body_json = await resp.json()
                assert body_json["code"] in ("bad_request", "forbidden", "bad_invite")
    assert statuses.get(400, 0) > 0 and statuses.get(403, 0) > 0, statuses


async def test_anonymous_bodies_are_not_read(running: Any) -> None:
    url = f"/c/{running.conference}/questions/import"
    body, ctype = _multipart(None, CSV)
    async with running.client.post(url, data=body, headers={"Content-Type": ctype}) as resp:
        assert resp.status == 403
        assert (await resp.json())["message"] == (
            "this needs an invite token: Authorization: Bearer, ?token=, "
            "or token as the form's first field"
        )
    # A body that is not multipart at all, without a token: refused for the token.
    async with running.client.post(url, data=b"\x00" * 100) as resp:
        assert resp.status == 403


async def test_malformed_body_with_a_token_in_the_header_is_400(running: Any) -> None:
    url = f"/c/{running.conference}/questions/import"
    headers = {
        "Authorization": f"Bearer {running.token('moderator')}",
        "Content-Type": "multipart/form-data; boundary=xyz",
    }
    async with running.client.post(url, data=b"--xyz\r\nnot a header\r\n", headers=headers) as resp:
        assert resp.status == 400
        assert (await resp.json())["message"].startswith(
            "the body is not valid multipart/form-data"
        )
    form = aiohttp.FormData()
    form.add_field("file", CSV, filename="q.csv", content_type="text/csv")
    async with running.client.post(
        url, data=form, headers={"Authorization": headers["Authorization"]}
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["imported"] == 1
