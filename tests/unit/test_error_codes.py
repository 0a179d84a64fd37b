"""Every error the core raises has a stable key, given where it is raised
(``X.keyed("key", …)``) or, for a sentence raised as it is, matched by its template; pl
and zh translate every key, and every raised key's params are its template's."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from confsvc.core.error_codes import TEMPLATES, describe, template_fields
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
    unknown = [(where, s) for where, s in raised if describe(s) is None and s not in UNKEYED]
    assert unknown == []


def _keyed() -> list[tuple[str, str, set[str], bool]]:
    """Every ``X.keyed("key", name=…, field=…)`` call: where, the key, the params it
    passes, and whether it passes ``field`` (which a template may name too; ``retry_after``
    of ``Unavailable`` is no param either)."""
    out = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "keyed"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names = {
                    k.arg for k in node.keywords if k.arg not in (None, "field", "retry_after")
                }
                has_field = any(k.arg == "field" for k in node.keywords)
                out.append((f"{path.name}:{node.lineno}", node.args[0].value, names, has_field))
    return out


def test_raise_sites_name_their_key_and_pass_its_params() -> None:
    keyed = _keyed()
    assert len(keyed) > 100  # the walk finds them (114 when the raise sites were keyed)
    wrong = []
    for where, key, names, has_field in keyed:
        if key not in TEMPLATES:
            wrong.append((where, key, "no such key"))
            continue
        wanted = template_fields(key) - ({"field"} if has_field else set())
        if names != wanted:
            wrong.append((where, key, f"params {sorted(names)}, template {sorted(wanted)}"))
    assert wrong == []


def test_every_raised_key_has_zh_and_pl_translations() -> None:
    catalog = json.loads(CATALOG.read_text("utf-8"))
    raised = {key for _where, key, _names, _field in _keyed()}
    untranslated = sorted(
        (key, lang) for key in raised for lang in ("pl", "zh") if not catalog.get(key, {}).get(lang)
    )
    assert untranslated == []


def test_a_keyed_error_says_its_english_and_carries_its_key() -> None:
    err = InvalidState.keyed("ros.no_item", item="q&a")
    assert err.message == "no agenda item 'q&a'"  # {item!r}: quoted as the f-string was
    assert err.as_dict() == {
        "code": "invalid_state",
        "message": "no agenda item 'q&a'",
        "key": "ros.no_item",
        "params": {"item": "q&a"},
    }
    # Keyed, it is not matched back: the raise site's key stands even if another fits.
    assert (
        InvalidState.keyed(
            "q.stale", command="q.approve", question="q-1", status="approved", seen="pending"
        ).as_dict()["key"]
        == "q.stale"
    )


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
    assert sorted(catalog) == sorted(TEMPLATES)  # by key, the English beside
    for key, tr in catalog.items():
        assert tr["en"] == TEMPLATES[key], key  # the English default is the template's
        names = template_fields(key)
        for lang in ("pl", "zh"):
            assert tr.get(lang), (key, lang)
            used = set(re.findall(r"\{(\w+)\}", tr[lang]))
            assert used <= names, (key, lang, used - names)


def test_pages_translate_by_the_raised_key_with_english_as_the_default() -> None:
    from confsvc.i18n import I18n

    i18n = I18n()
    err = InvalidState.keyed("ros.no_item", item="x9")
    assert i18n.error_text("pl", err) == "Nie ma takiego punktu programu: x9"
    assert i18n.error_text("zh", err) == "议程中没有此项：x9"
    assert i18n.error_text("en", err) == "no agenda item 'x9'"
    # The page's catalog is by key (errors.po: the key as msgctxt, the English as msgid).
    assert i18n.error_catalog("zh")["keys"]["ros.no_item"] == "议程中没有此项：{item}"
    # Params fill the translated template as they are (the title here has its own quotes).
    moved = InvalidState.keyed("ros.stale_moved", command="ros.next", title="'Q&A'")
    assert i18n.error_text("pl", moved) == "Ktoś był szybszy: bieżący punkt to już „'Q&A'”"
