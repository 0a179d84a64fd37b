"""The question queue's adapter: routes, SSE for the public page, CSV import, exports.

The rules live in ``confsvc.core.questions``; this package only turns HTTP into
commands and the hub's messages into Server-Sent Events. ``setup(app)`` plugs it in.
"""
