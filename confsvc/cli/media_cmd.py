"""``confsvc bot``, ``confsvc loadtest`` and ``confsvc demo --bots``: headless media clients."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Coroutine
from typing import Any

from confsvc.config import Config


def _ice_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ice-address",
        action="append",
        default=None,
        help="local address the bot offers for ICE (repeat); default 127.0.0.1 for a "
        "loopback server, else all",
    )


def _log_options(p: argparse.ArgumentParser) -> None:
    from confsvc.logs import FORMATS, LEVELS

    p.add_argument(
        "--log-format",
        choices=FORMATS,
        default="text",
        help="text lines, or one JSON object a line (default %(default)s)",
    )
    p.add_argument("--log-level", choices=LEVELS, default="warning", help="default %(default)s")


def _ice_for(url: str, given: list[str] | None) -> list[str]:
    if given:
        return given
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    if host in ("127.0.0.1", "localhost"):
        return ["127.0.0.1"]
    return ["::1"] if host == "::1" else []


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError) and not str(exc):
        return (
            "the media connection did not come up in time: check that the server can reach "
            "the bot's ICE addresses (--ice-address)"
        )
    return str(exc) or type(exc).__name__


def _token(url: str) -> str:
    """The invite token in ``…/j/<token>`` (``""`` if there is none)."""
    from urllib.parse import urlsplit

    return urlsplit(url).path.rpartition("/j/")[2]


def _run(
    command: str,
    job: Coroutine[Any, Any, dict[str, Any]],
    args: argparse.Namespace,
    links: list[str],
) -> dict[str, Any] | None:
    """Run a bot command's coroutine; ``None`` after printing why it failed.

    Logs go through confsvc.logs (``--log-format``, ``--log-level``) with every link's
    token masked, in whatever form a line would carry it; so does the failure line."""
    from confsvc.core.errors import DomainError
    from confsvc.logs import clean, mask, setup_logging

    mask(_token(link) for link in links)
    setup_logging(level=args.log_level, fmt=args.log_format)
    log = logging.getLogger(f"confsvc.{command}")
    for link in links:
        log.info("joining with %s", link)
    try:
        return asyncio.run(job)
    except (DomainError, ConnectionError, OSError, TimeoutError) as exc:
        print(clean(f"confsvc {command}: {_why(exc)}"), file=sys.stderr)
        return None


def cmd_bot(args: argparse.Namespace) -> int:
    from confsvc.media.bot import run_bot

    result = _run(
        "bot",
        run_bot(
            args.link,
            args.seconds,
            _ice_for(args.link, args.ice_address),
            on_live=lambda what: print(f"confsvc bot: {what}", file=sys.stderr, flush=True),
            reconnect=not args.no_reconnect,
        ),
        args,
        [args.link],
    )
    if result is None:
        return 1
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for site, c in result.get("sites", {}).items():
            print(
                f"{site:<10} video {c['video_frames']:>5}  audio {c['audio_frames']:>5}  "
                f"keyframes {c['keyframes']:>3}  first frame {c['first_frame_ms']} ms"
            )
        if "sent" in result:
            print(f"{result['site']}: sent {result['sent']}")
        print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_loadtest(args: argparse.Namespace) -> int:
    from confsvc.media.bot import run_loadtest

    result = _run(
        "loadtest",
        run_loadtest(
            args.link,
            args.participants,
            args.seconds,
            _ice_for(args.link[0], args.ice_address),
            light=args.light,
        ),
        args,
        args.link,
    )
    if result is None:
        return 1
    for i, row in enumerate(result["subscribers"]):
        cells = "  ".join(
            f"{s}: {v['video_fps']:>4} fps, {v['video_loss_pct']:>4} % lost" for s, v in row.items()
        )
        print(f"subscriber {i + 1:>3}  {cells}")
    print(json.dumps(result, ensure_ascii=False))
    return 0


async def demo_bots(app: Any, cfg: Config, links: list[tuple[str, str]]) -> None:
    """``confsvc demo --bots``: a site bot for each site link, stopped with the server."""
    from confsvc.media.bot import SiteBot, parse_link
    from confsvc.media.setup import BOTS

    log = logging.getLogger("confsvc.demo")
    bots = app[BOTS]  # closed by the relay's cleanup, before the relay itself
    # The bots run in this process: they talk to this server directly, not through the
    # proxy that --public-url names.
    local = Config(host=cfg.host, port=cfg.port).base_url
    for role, url in links:
        if role.startswith("site:"):
            direct = local + url[len(cfg.base_url) :]
            # It starts over by itself when its connection is lost, as a site's page does.
            bot = SiteBot(parse_link(direct), ice_addresses=list(cfg.ice_addresses), reconnect=True)
            try:
                await bot.start()
            except Exception as exc:
                log.warning("site bot %s did not start: %s", role, exc)
                await bot.close()
                continue
            bots.append(bot)
            log.info("site bot %s is publishing", role)


def register(sub: Any) -> None:
    p = sub.add_parser("bot", help="join with an invite link as a headless media client")
    p.add_argument("--link", required=True, help="invite link: a site publishes, others watch")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--json", action="store_true", help="print only the JSON result")
    p.add_argument(
        "--no-reconnect",
        action="store_true",
        help="stop at the first lost connection (by default it starts over, as a page does)",
    )
    _ice_option(p)
    _log_options(p)
    p.set_defaults(func=cmd_bot)

    p = sub.add_parser("loadtest", help="N subscriber bots: per-subscriber frame rates and loss")
    p.add_argument(
        "--link",
        required=True,
        action="append",
        help="a participant invite link; repeat (8 connections per link)",
    )
    p.add_argument("--participants", type=int, default=10)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument(
        "--light",
        action="store_true",
        help="count media from RTP headers without decrypting (hundreds of viewers per process)",
    )
    _ice_option(p)
    _log_options(p)
    p.set_defaults(func=cmd_loadtest)
