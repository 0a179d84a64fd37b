"""``confsvc mail …``: the mail adapter on its own (receiver, sender, reminders, status).

``confsvc mail receive --listen 127.0.0.1:2525`` takes expert replies by SMTP;
``confsvc mail send-due --smtp-out smtp://127.0.0.1:25`` sends what the outbox holds
(``--loop`` keeps going); ``confsvc mail remind`` queues the reminders and digest due
now; ``confsvc mail status`` prints the outbox counts as JSON. Each reads confsvc.toml
and ``CONFSVC_*`` like ``confsvc serve`` (passwords: ``CONFSVC_SMTP_PASSWORD``,
``CONFSVC_IMAP_PASSWORD`` or their ``_file`` options, never the URL on the command line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from confsvc.config import Config


def register(sub: Any) -> None:
    p = sub.add_parser("mail", help="send and receive the written-answer mail")
    msub = p.add_subparsers(dest="mail_command", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        from confsvc.cli.main import add_server_options

        add_server_options(q)  # with --organiser-email, --mail-from and --imap

    r = msub.add_parser("receive", help="run the SMTP receiver for expert replies")
    common(r)
    r.add_argument("--listen", required=True, help="HOST:PORT, e.g. 127.0.0.1:2525")
    r.set_defaults(func=cmd_receive)

    s = msub.add_parser("send-due", help="send the queued mail (until none is due)")
    common(s)
    s.add_argument("--loop", action="store_true", help="keep sending until stopped")
    s.set_defaults(func=cmd_send_due)

    m = msub.add_parser("remind", help="queue the reminders and the digest due now")
    common(m)
    m.set_defaults(func=cmd_remind)

    st = msub.add_parser("status", help="print the outbox counts as JSON")
    from confsvc.cli.main import add_config_option

    add_config_option(st)
    st.add_argument("--db", default="confsvc.db")
    st.set_defaults(func=cmd_status)


def _config(args: argparse.Namespace) -> Config:
    from confsvc.cli.main import config_from

    return config_from(args, media=False)


async def _service(cfg: Config) -> Any:
    from confsvc.http.secret import signing_secret
    from confsvc.i18n import I18n
    from confsvc.mail.service import MailService
    from confsvc.service import Hubs
    from confsvc.store import open_store

    store = await open_store(cfg.db)
    hubs = Hubs(store)
    secret = signing_secret(cfg)
    return MailService(hubs, cfg, secret=secret, i18n=I18n())


def _stop_on_signals() -> asyncio.Event:
    """Set on SIGINT or SIGTERM. Installed before the ready line is printed, so that a
    SIGTERM sent as soon as it is read stops the command cleanly (exit 0)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _receive(args: argparse.Namespace, cfg: Config) -> int:
    cfg.smtp_in = args.listen
    service = await _service(cfg)
    stop = _stop_on_signals()
    try:
        await service.start(send=False, tick_s=0)
        print(f"confsvc mail: receiving on {args.listen} for @{cfg.mail_domain}", flush=True)
        await stop.wait()
    finally:
        await service.close()
        await service.hubs.store.close()
    return 0


async def _send_due(args: argparse.Namespace, cfg: Config) -> int:
    from confsvc.mail.sender import Sender, SmtpSettings

    if not cfg.smtp_out:
        print(
            "confsvc mail send-due: no SMTP server: give --smtp-out, CONFSVC_SMTP_OUT or "
            "smtp_out in confsvc.toml",
            file=sys.stderr,
        )
        return 2
    service = await _service(cfg)
    smtp = SmtpSettings.from_url(cfg.smtp_out, ca_file=cfg.smtp_ca_file)
    sender = Sender(service.outbox, smtp, on_result=service.record)
    try:
        recovered = await service.outbox.recover()
        if recovered:
            print(f"confsvc mail: {recovered} mail(s) left in 'sending' requeued", flush=True)
        if args.loop:
            stop = _stop_on_signals()
            await sender.start()
            await stop.wait()
            await sender.close()
        else:
            n = await sender.drain()
            print(json.dumps({"handled": n, **await service.outbox.counts()}), flush=True)
            if sender.held:
                error = sender.health()["error"]
                print(f"confsvc mail send-due: outbox held: {error}", file=sys.stderr)
                return 1
    finally:
        await service.close()
        await service.hubs.store.close()
    return 0


async def _remind(args: argparse.Namespace, cfg: Config) -> int:
    service = await _service(cfg)
    try:
        events = await service.tick()
        print(json.dumps({"queued": [e.type for e in events]}), flush=True)
    finally:
        await service.close()
        await service.hubs.store.close()
    return 0


async def _status(args: argparse.Namespace, cfg: Config) -> int:
    from confsvc.mail.outbox import Outbox
    from confsvc.store import open_store

    store = await open_store(cfg.db)
    try:
        print(json.dumps(await Outbox(store).counts()))
    finally:
        await store.close()
    return 0


def _run(job: Callable[[argparse.Namespace, Config], Coroutine[Any, Any, int]], args: Any) -> int:
    """Load the configuration, log as it says (``--log-format``, ``--log-level``, ``-v``:
    confsvc.logs, its secrets and tokens masked, as serve does), run ``job``."""
    from confsvc.logs import configure

    cfg = _config(args)
    configure(cfg)
    return int(asyncio.run(job(args, cfg)))


def cmd_receive(args: argparse.Namespace) -> int:
    return _run(_receive, args)


def cmd_send_due(args: argparse.Namespace) -> int:
    return _run(_send_due, args)


def cmd_remind(args: argparse.Namespace) -> int:
    return _run(_remind, args)


def cmd_status(args: argparse.Namespace) -> int:
    return _run(_status, args)
