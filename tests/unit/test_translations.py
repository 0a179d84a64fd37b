"""Every template and page string has a Polish and a Chinese translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from confsvc.i18n import load_translations

ROOT = Path(__file__).resolve().parent.parent.parent


def template_strings() -> set[str]:
    method_map = [("web/templates/**.html", "jinja2")]
    options = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(ROOT), method_map=method_map, options_map=options
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_templates_have_strings_to_translate() -> None:
    assert "Host console" in template_strings()


@pytest.mark.parametrize("lang", ["pl", "zh"])
def test_every_template_string_is_translated(lang: str) -> None:
    translations = load_translations(lang)
    catalog = translations._catalog  # type: ignore[attr-defined]
    missing = sorted(s for s in template_strings() if not catalog.get(s))
    assert missing == [], f"untranslated in {lang}: {missing}"
