"""Which features the web app is built with: the composition root, explicit calls only.

Each feature (media, questions, mail, report, schedules, metrics) is a ``setup(app)``
that adds its routes, WebSocket message types, role pages and cleanup contexts.
``confsvc.http.app.create_app`` calls every one of ``web_features()`` in this order; a
feature that cannot be imported fails the start with its own error instead of being
skipped. Not for a feature's own wiring: that is its ``setup``.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

Setup = Callable[[web.Application], None]


def web_features() -> list[Setup]:
    # Imported here, not at the top: every feature imports the web adapter's modules,
    # and the web adapter asks for this list while it builds the app.
    from confsvc import metrics
    from confsvc.http import schedule
    from confsvc.mail import setup as mail
    from confsvc.media import setup as media
    from confsvc.questions import setup as questions
    from confsvc.report import web as report

    return [media.setup, questions.setup, mail.setup, report.setup, schedule.setup, metrics.setup]
