"""Every error sentence the core raises has a stable key, and pl and zh translate it."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from confsvc.core.error_codes import TEMPLATES, describe
from confsvc.core.errors import InvalidState, NotFound

CORE = Path(__file__).resolve().parents[2] / "confsvc" / "core"
CATALOG = Path(__file__).resolve().parents[2] / "tools" / "translations" / "errors.json"
ERRORS = {"BadRequest", "InvalidState", "Forbidden", "NotFound", "RateLimited", "Conflict"}
ERRORS |= {"InviteError", "Unavailable"}
# The invite checks, uploads, photos and the hub, which pages meet, say the core's too.
PAGES_MEET = ["http/auth.py", "http/forms.py", "http/invites.py", "questions/photos.py"]
PAGES_MEET += ["questions/setup.py", "service.py"]
SOURCES = [*sorted(CORE.rglob("*.py")), *(CORE.parent / p for p in PAGES_MEET)]
# Raised by the hub with a caught exception's text as the whole sentence: nothing to key.
UNKEYED = {"X0: try again", "X0; send the command again with the same key"}


def _sample(node: ast.expr) -> str | None:
    """The sentence a raise builds, with each f-string value as 'X1', 'X2', …"""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) else f"X{i}" for i, v in enumerate(node.values)
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _sample(node.left), _sample(node.right)
        return None if left is None else left + ("X" if right is None else right)
    if isinstance(node, ast.IfExp):
        return _sample(node.body)
    return None


def _raised() -> list[tuple[str, str]]:
    out = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ERRORS
                and node.args
            ):
                sentence = _sample(node.args[0])
                if sentence is not None:
                    out.append((f"{path.name}:{node.lineno}", sentence))
    return out


def test_every_sentence_the_core_raises_has_a_key() -> None:
    raised = _raised()
    assert len(raised) > 60  # the walk finds the raises (65 when this was written)
    unknown = [(where, s) for where, s in raised if describe(s) is None and s not in UNKEYED]
    assert unknown == []


def test_a_sentence_gives_its_key_and_params() -> None:
    err = InvalidState("cannot next when the conference is planned")
    assert err.as_dict() == {
        "code": "invalid_state",
        "message": "cannot next when the conference is planned",
        "key": "ros.not_now",
        "params": {"action": "next", "status": "planned"},
    }
    assert describe("q.approve: no question 'q-9'") == (
        "q.no_question",
        {"command": "q.approve", "question": "q-9"},
    )
    assert describe("cannot give the floor when the conference is ended") == (
        "floor.not_now",
        {"status": "ended"},
    )
    assert describe("written.answer: the answer is empty") == ("written.empty_answer", {})
    assert NotFound("something nobody wrote down").as_dict().get("key") is None


def test_pl_and_zh_translate_every_key_with_its_params() -> None:
    catalog = json.loads(CATALOG.read_text("utf-8"))
    assert sorted(catalog) == sorted(TEMPLATES.values())
    for template, tr in catalog.items():
        names = set(re.findall(r"\{(\w+)\}", template))
        for lang in ("pl", "zh"):
            assert tr.get(lang), (template, lang)
            used = set(re.findall(r"\{(\w+)\}", tr[lang]))
            assert used <= names, (template, lang, used - names)
