"""The rules of a conference, with no I/O: agenda, run of show, floor, questions, roles.

Nothing in this package imports asyncio, aiohttp, aiortc, a database or a mail library.
Time is passed in as seconds since the epoch, never read.
"""
