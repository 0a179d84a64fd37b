"""Checking a browser's SDP offer before aiortc sees it, and the ICE address policy.

Anything wrong gives one ``BadRequest`` that names the problem (never another
exception): size, parse errors, too many media sections, data channels, missing ICE or
DTLS parameters. Remote candidates outside the policy are dropped from the offer so the
relay never sends checks to them (a loopback-only relay accepts only loopback ones).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from confsvc.core.errors import BadRequest
from confsvc.media.aiortc_internals import parse_sdp

MAX_SDP_BYTES = 48 * 1024
SEND_DIRECTIONS = ("sendonly", "sendrecv")


@dataclass(frozen=True, slots=True)
class Section:
    """One media section of an offer, as seen from the browser."""

    index: int
    kind: str  # "audio" | "video"
    sends: bool  # the browser sends media in it
    receives: bool  # the browser receives media in it


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def candidate_allowed(line: str, loopback_only: bool) -> bool:
    """``a=candidate:foundation component proto priority address port typ ...``."""
    parts = line.split()
    if len(parts) < 8 or parts[2].lower() != "udp":
        return False
    loop = _is_loopback(parts[4])
    return loop if loopback_only else not loop


def filter_candidates(sdp: str, local_addresses: list[str]) -> str:
    """Drop remote candidates the relay must not talk to under this address policy."""
    loopback_only = bool(local_addresses) and all(_is_loopback(a) for a in local_addresses)
    lines = sdp.replace("\r\n", "\n").split("\n")
    kept = [
        line
        for line in lines
        if not line.startswith("a=candidate:") or candidate_allowed(line[12:], loopback_only)
    ]
    return "\r\n".join(kept)


WANTED_CODECS = {"audio": ("opus",), "video": ("vp8",)}


def keep_codecs(sdp: str) -> str:
    """Server-side codec filter: only Opus (audio) and VP8 (+ its RTX) survive the offer.

    aiortc picks from what the offer lists, so every leg ends up VP8/Opus.
    """
    out: list[str] = []
    section: list[str] = []

    def flush() -> None:
        if not section or not section[0].startswith(("m=audio", "m=video")):
            out.extend(section)
            return
        kind = section[0][2:7]
        names: dict[str, str] = {}
        apt: dict[str, str] = {}
        for line in section:
            if line.startswith("a=rtpmap:"):
                pt, _, rest = line[9:].partition(" ")
                names[pt] = rest.split("/")[0].lower()
            elif line.startswith("a=fmtp:") and "apt=" in line:
                pt, _, rest = line[7:].partition(" ")
                for param in rest.split(";"):
                    key, _, value = param.strip().partition("=")
                    if key == "apt":
                        apt[pt] = value
        keep = {pt for pt, name in names.items() if name in WANTED_CODECS[kind]}
        keep |= {pt for pt, name in names.items() if name == "rtx" and apt.get(pt) in keep}
        m = section[0].split()
        out.append(" ".join(m[:3] + [pt for pt in m[3:] if pt in keep]))
        for line in section[1:]:
            if line.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:")):
                pt = line.split(":", 1)[1].split(" ", 1)[0]
                if pt != "*" and pt not in keep:
                    continue
            out.append(line)

    for line in sdp.replace("\r\n", "\n").split("\n"):
        if line.startswith("m="):
            flush()
            section = [line]
        else:
            section.append(line)
    flush()
    return "\r\n".join(out)


def check_offer(sdp: object, *, max_sections: int) -> list[Section]:
    """Validate an offer; return its audio/video sections in order."""
    if not isinstance(sdp, str):
        raise BadRequest("sdp must be a string", field="sdp")
    if len(sdp.encode("utf-8", "replace")) > MAX_SDP_BYTES:
        raise BadRequest(f"sdp is larger than {MAX_SDP_BYTES} bytes", field="sdp")
    if not sdp.startswith("v=0"):
        raise BadRequest("sdp does not start with v=0", field="sdp")
    try:
        desc = parse_sdp(sdp)
    except Exception as exc:
        raise BadRequest(f"sdp cannot be parsed: {type(exc).__name__}", field="sdp") from None
    if not desc.media:
        raise BadRequest("sdp has no media sections", field="sdp")
    if len(desc.media) > max_sections:
        raise BadRequest(
            f"sdp has {len(desc.media)} media sections; at most {max_sections} are accepted",
            field="sdp",
        )
    sections = []
    for i, media in enumerate(desc.media):
        if media.kind not in ("audio", "video"):
            raise BadRequest(f"media section {i} is {media.kind!r}: only audio and video")
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise BadRequest(f"media section {i} has no ICE credentials", field="sdp")
        if media.dtls is None or not media.dtls.fingerprints:
            raise BadRequest(f"media section {i} has no DTLS fingerprint", field="sdp")
        if media.rtp.muxId in (None, ""):
            raise BadRequest(f"media section {i} has no mid", field="sdp")
        direction = media.direction or "sendrecv"
        sections.append(
            Section(
                index=i,
                kind=media.kind,
                sends=direction in SEND_DIRECTIONS,
                receives=direction in ("recvonly", "sendrecv"),
            )
        )
    return sections
