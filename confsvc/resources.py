"""Where the files that ship with confsvc are: ``web/`` (templates, static files, catalogs)
and ``agenda/`` (the sample agenda).

Both live at the repository's top level and are installed as the data packages
``confsvc.web`` and ``confsvc.agendas`` (see ``pyproject.toml``), so they are found through
the installed package, whether from a wheel, an sdist or an editable install — never
relative to a source tree.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

SAMPLE_AGENDA_NAME = "weifang-olsztyn-2020.yaml"


def _package_dir(package: str) -> Path:
    # Data packages have no __init__.py: the import system's search locations say where
    # the installed (or, for an editable install, the mapped) directory is.
    spec = importlib.util.find_spec(package)
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location)
        if path.is_dir():
            return path
    raise RuntimeError(f"confsvc is installed without its {package} files; reinstall it")


@cache
def web_dir() -> Path:
    """The directory holding ``templates/``, ``static/`` and ``locale/``."""
    return _package_dir("confsvc.web")


@cache
def agenda_dir() -> Path:
    """The directory holding the agenda files that ship with confsvc."""
    return _package_dir("confsvc.agendas")


def sample_agenda() -> Path:
    """The sample agenda (the Weifang–Olsztyn conference of 26 May 2020)."""
    return agenda_dir() / SAMPLE_AGENDA_NAME
