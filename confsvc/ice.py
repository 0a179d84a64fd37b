"""STUN/TURN servers as handed out: URL checks and TURN credentials minted per connection.

``Config.ice_servers`` holds the servers as configured (``--ice-server``); nothing hands
them out raw. ``ice_servers_for`` gives what a browser, a bot or the relay's own
``RTCPeerConnection`` gets: TURN entries carry short-lived credentials in coturn's
"TURN REST API" scheme (``use-auth-secret`` / ``static-auth-secret``)::

    username   = "<unix expiry>:<label>"
    credential = base64(HMAC-SHA1(secret, username))

or the static ``--turn-username`` / ``CONFSVC_TURN_PASSWORD`` pair. The shared secret
itself never leaves this module's HMAC: it is not logged, not sent, not in ``repr``.

What this module is not: the ICE *address* policy (which local and remote addresses the
relay uses) is ``Config.ice_addresses``, applied in ``relay.py`` and ``offer.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from confsvc.config import Config

SCHEMES = ("stun", "turn", "turns")
TURN_SCHEMES = ("turn", "turns")
# RFC 7064 / 7065 as aiortc parses them (``aiortc.rtcicetransport``): no IPv6 literal, no
# "//", a transport only on turn: (udp or tcp) and turns: (tcp: aiortc skips turns over udp).
_URL = re.compile(
    r"(?P<scheme>[a-z]+):(?P<host>[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?"
    r"(?:\?transport=(?P<transport>[a-z]+))?"
)
_TRANSPORTS = {"stun": (), "turn": ("udp", "tcp"), "turns": ("tcp",)}
_LABEL_JUNK = re.compile(r"[^A-Za-z0-9._-]+")
LABEL_MAX = 64


def check_ice_url(text: str) -> str:
    """``text`` if it is a STUN or TURN URL that browsers and aiortc both accept.

    Raises ``ValueError`` with the reason (the caller adds the flag and the value).
    """
    scheme = text.split(":", 1)[0] if ":" in text else ""
    if scheme not in SCHEMES:
        raise ValueError("must start with stun:, turn: or turns:")
    rest = text[len(scheme) + 1 :]
    if rest.startswith("//"):
        raise ValueError(f"write {scheme}:HOST[:PORT], without //")
    if rest.startswith("["):
        raise ValueError("IPv6 literals are not supported (aiortc); use a host name")
    match = _URL.fullmatch(text)
    if match is None or match["scheme"] != scheme:
        raise ValueError(
            "must be stun:HOST[:PORT], turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT]"
        )
    if match["port"] is not None and not 0 < int(match["port"]) < 65536:
        raise ValueError("the port must be 1 to 65535")
    transport = match["transport"]
    if transport is not None and transport not in _TRANSPORTS[scheme]:
        allowed = " or ".join(_TRANSPORTS[scheme]) or "none"
        raise ValueError(f"{scheme}: takes transport {allowed}, not {transport!r}")
    return text


def is_turn(url: str) -> bool:
    return url.split(":", 1)[0] in TURN_SCHEMES


def turn_label(label: str) -> str:
    """A label coturn can log: no ``:`` (its REST separator), no spaces, bounded."""
    return _LABEL_JUNK.sub("-", label).strip("-")[:LABEL_MAX] or "confsvc"


def mint_turn_credential(secret: str, label: str, expires: int) -> tuple[str, str]:
    """(username, credential) valid until ``expires`` (unix seconds) for coturn's
    ``use-auth-secret`` with ``static-auth-secret=secret``."""
    username = f"{expires}:{turn_label(label)}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def _urls(server: dict[str, object]) -> list[str]:
    urls = server.get("urls")
    if isinstance(urls, str):
        return [urls]
    if isinstance(urls, list):
        return [u for u in urls if isinstance(u, str)]
    return []


def ice_servers_for(config: Config, label: str, now: float) -> list[dict[str, object]]:
    """The ICE servers to give one connection (``label`` names it in coturn's log).

    TURN entries without their own credentials get minted ones (``config.turn_secret``,
    valid ``config.turn_ttl_s`` from ``now``) or the static pair; STUN entries go as they
    are. ``[]`` stays ``[]``: no STUN or TURN server is contacted unless configured.
    Pure: the same arguments give the same list; ``config`` is not changed.
    """
    out: list[dict[str, object]] = []
    for server in config.ice_servers:
        entry = dict(server)
        needs_auth = any(is_turn(u) for u in _urls(server)) and "username" not in server
        if needs_auth and config.turn_secret:
            expires = int(now) + config.turn_ttl_s
            username, credential = mint_turn_credential(config.turn_secret, label, expires)
            entry.update(username=username, credential=credential)
        elif needs_auth and config.turn_username and config.turn_password is not None:
            entry.update(username=config.turn_username, credential=config.turn_password)
        out.append(entry)
    return out
