"""Which features the web app and the command line are built with: the composition
root, explicit calls only.

Each web feature (media, questions, mail, report, schedules, metrics) is a
``setup(app)`` that adds its routes, WebSocket message types, role pages and cleanup
contexts. ``confsvc.http.app.create_app`` calls every one of ``web_features()`` in this
order; each command module of ``cli_commands()`` adds its subcommands to ``confsvc``
(``confsvc.cli.main.build_parser``); ``demo_links()`` are the features' extra lines of
``confsvc demo`` (the demo asks the features; no feature reaches into the command
line). A feature that cannot be imported fails with its own error instead of being
skipped. Not for a feature's own wiring: that is its ``setup`` or ``register``.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Setup = Callable[[web.Application], None]
# register(subparsers): adds a command's parsers, each with ``func`` set.
Register = Callable[["argparse._SubParsersAction[Any]"], None]
# demo_links(app, base_url, links): more (role, URL) pairs for ``confsvc demo`` to print,
# given the ones printed so far (the host's, the moderator's, …); [] for none.
DemoLinks = Callable[
    [web.Application, str, list[tuple[str, str]]], Awaitable[list[tuple[str, str]]]
]


def web_features() -> list[Setup]:
    # Imported here, not at the top: every feature imports the web adapter's modules,
    # and the web adapter asks for this list while it builds the app.
    from confsvc import memtrim, metrics
    from confsvc.desk import setup as desk
    from confsvc.http import schedule
    from confsvc.mail import setup as mail
    from confsvc.media import broadcast
    from confsvc.media import interpretation as interpreting
    from confsvc.media import setup as media
    from confsvc.questions import setup as questions
    from confsvc.recording import web as recording
    from confsvc.report import web as report

    # broadcast and recording after media: they join the relay's rooms (and leave them
    # before the relay closes: cleanup contexts exit in reverse).
    return [
        media.setup,
        interpreting.setup,  # after media: it reads the relay
        broadcast.setup,
        recording.setup,
        questions.setup,
        desk.setup,
        mail.setup,
        report.setup,
        schedule.setup,
        memtrim.setup,
        metrics.setup,
    ]


def cli_commands() -> list[Register]:
    """The subcommands beyond serve, demo, agenda and invite (``confsvc.cli.main``)."""
    # Imported here: the command modules import confsvc.cli.main, which asks for this list.
    from confsvc.cli import (
        admin_cmd,
        config_cmd,
        mail_cmd,
        media_cmd,
        privacy_cmd,
        questions_cmd,
        recording_cmd,
        report_cmd,
    )

    return [
        config_cmd.register,
        mail_cmd.register,
        questions_cmd.register,
        report_cmd.register,
        media_cmd.register,
        admin_cmd.register,
        privacy_cmd.register,
        recording_cmd.register,
    ]


def demo_links() -> list[DemoLinks]:
    """The web features' extra links for ``confsvc demo``, printed in this order."""
    from confsvc.mail import setup as mail

    return [mail.demo_links]
