"""Write or update one feature's catalog: ``python tools/po.py FEATURE`` reads
``tools/translations/FEATURE.json`` ({msgid: {"pl": ..., "zh": ...}}) and writes
``web/locale/{en,pl,zh}/LC_MESSAGES/FEATURE.po``.

Each feature keeps its own catalog file; the server merges them per language.

An entry with an ``"en"`` text is keyed: its key is the message's context (``msgctxt``)
and its English text the msgid, so a translation is found by the key the code asked for
(``pgettext(key, english)``) and English stays the default: ``errors.json`` is
``{key: {"en": ..., "pl": ..., "zh": ...}}`` (the keys are the raise sites',
``confsvc/core/error_codes.py``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

ROOT = Path(__file__).resolve().parent.parent


def main(feature: str) -> None:
    table = json.loads((ROOT / "tools" / "translations" / f"{feature}.json").read_text("utf-8"))
    for lang in ("en", "pl", "zh"):
        catalog = Catalog(locale=lang, project="confsvc", domain=feature)
        for msgid, tr in table.items():
            if "en" in tr:  # keyed: the key is the context, the English the msgid
                text = tr["en"] if lang == "en" else tr.get(lang, "")
                catalog.add(tr["en"], text, context=msgid)
            else:
                catalog.add(msgid, msgid if lang == "en" else tr.get(lang, ""))
        out = ROOT / "web" / "locale" / lang / "LC_MESSAGES" / f"{feature}.po"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as fh:
            write_po(fh, catalog, width=100, omit_header=False)


if __name__ == "__main__":
    for name in sys.argv[1:] or ["messages"]:
        main(name)
