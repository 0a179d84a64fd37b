"""Parsing one WebSocket message: JSON with bounded nesting and bounded numbers.

Python's ``json`` recurses once per level (30,000 levels raise ``RecursionError``) and
refuses integers of 4,300+ digits with ``ValueError``; it turns ``NaN``, ``Infinity`` and
``1e999`` into floats that no JSON writer may send back. Each of these is refused here with
a ``BadRequest`` naming the limit, before any of it reaches a command. The size limit is
the socket's (``max_msg_size``); this module does not see oversized messages.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from confsvc.core.errors import BadRequest

MAX_DEPTH = 16  # objects and arrays inside each other; the deepest command needs 4
MAX_NUMBER_CHARS = 40  # digits of an integer, or characters of a number with a fraction

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _check_depth(text: str) -> None:
    # Strings may hold brackets; drop them, then count what is left (C-speed regexes,
    # one pass over the brackets).
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    depth = 0
    for ch in brackets:
        if ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise BadRequest(f"message is nested deeper than {MAX_DEPTH} levels")
        else:
            depth -= 1


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise BadRequest(f"a number in the message is longer than {MAX_NUMBER_CHARS} characters")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise BadRequest(f"a number in the message is longer than {MAX_NUMBER_CHARS} characters")
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest(f"the number {text} is out of range")
    return value


def _constant(name: str) -> Any:
    raise BadRequest(f"{name} is not a number JSON allows")


def parse_message(text: str) -> dict[str, Any]:
    """The message as a dict, or ``BadRequest`` saying what is wrong with it."""
    _check_depth(text)
    try:
        body = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"message is not JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:  # not reached after _check_depth; kept as the last guard
        raise BadRequest(f"message is nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(body, dict):
        raise BadRequest("message must be a JSON object")
    return body
