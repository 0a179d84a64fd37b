"""X-Forwarded-For / X-Forwarded-Proto, believed only from the proxies we were told to trust.

Behind nginx every request comes from the proxy's address; the proxy says who the client
was in ``X-Forwarded-For`` and how it connected in ``X-Forwarded-Proto``. Anyone can send
those headers, so they count only when the peer is one of ``--trusted-proxy`` (addresses
or CIDR networks); from anyone else they are ignored, never an error. The handler then
sees ``request.remote`` and ``request.scheme`` of the client, and the access log (which
is handed aiohttp's original request, not our clone) reads the client's address from
``request[CLIENT_ADDRESS]``.

Why not aiohttp-remotes: its ``XForwardedStrict`` answers 400 to a request whose
headers come from an untrusted peer (we want them ignored: a browser on the LAN that
reaches the port directly must still work), and ``XForwardedRelaxed`` trusts everyone.
Forty lines with :mod:`ipaddress` do exactly what we document.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Where the middleware leaves the client's address on aiohttp's original request.
CLIENT_ADDRESS = web.RequestKey("client_address", str)


def parse_networks(items: Iterable[str]) -> list[Network]:
    """``["127.0.0.1", "10.0.0.0/8", "::1"]`` as networks; ``ValueError`` names the bad one."""
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"not an IP address or CIDR network: {item!r} (e.g. 127.0.0.1 or 10.0.0.0/8)"
            ) from None
    return networks


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def is_trusted(text: str | None, networks: list[Network]) -> bool:
    addr = _address(text) if text else None
    return addr is not None and any(addr in net for net in networks)


def client_address(peer: str, forwarded_for: str | None, networks: list[Network]) -> str:
    """The client's address: the right-most ``X-Forwarded-For`` entry that is not one of our
    proxies (each proxy appends the address it saw, so entries further left are claims
    made by whoever connected to our outermost proxy). ``peer`` when it is not trusted."""
    if not is_trusted(peer, networks) or not forwarded_for:
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if _address(hop) is None:  # garbage: stop believing the chain here
            return peer
        if not is_trusted(hop, networks):
            return hop.strip("[]")
    return hops[0].strip("[]") if hops else peer


def forwarded_middleware(networks: list[Network]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware for ``networks`` (empty: the headers are always ignored)."""

    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = request.remote
        if not networks or peer is None or not is_trusted(peer, networks):
            return await handler(request)
        client = client_address(peer, request.headers.get("X-Forwarded-For"), networks)
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        scheme = proto if proto in ("http", "https") else request.scheme
        request[CLIENT_ADDRESS] = client
        return await handler(request.clone(remote=client, scheme=scheme))

    return forwarded
