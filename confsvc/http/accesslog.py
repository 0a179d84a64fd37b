"""An access log that never writes invite tokens, and names the client behind a trusted proxy."""

from __future__ import annotations

import re
from typing import Any, cast

from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from confsvc.http.forwarded import CLIENT_ADDRESS

TOKEN_IN_PATH = re.compile(r"(/j/)[^/?\s\"]+|([?&](?:t|token)=)[^&\s\"]+")


def redact(text: str) -> str:
    return TOKEN_IN_PATH.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


class _Redacted:
    """The request as the access log sees it: paths with tokens replaced by ***, and
    ``remote`` the client's address when a trusted proxy forwarded the request."""

    def __init__(self, inner: BaseRequest) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name == "remote":
            return self._inner.get(CLIENT_ADDRESS, value)
        if name in ("path", "path_qs", "rel_url", "url", "raw_path"):
            return redact(str(value))
        return value


class RedactingAccessLogger(AccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        super().log(cast(BaseRequest, _Redacted(request)), response, time)
