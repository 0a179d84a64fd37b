"""The wheel holds every package and every file the pages and the demo need."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from confsvc.resources import agenda_dir, sample_agenda, web_dir

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_python_package_is_listed_for_the_wheel() -> None:
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "confsvc").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found - set(SETUPTOOLS["packages"]) == set()


def _shipped(package: str, directory: Path) -> tuple[set[str], set[str]]:
    globs = SETUPTOOLS["package-data"][package]
    files = {
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".py"
    }
    shipped = {
        f
        for f in files
        if any(fnmatch.fnmatch(f, g) or fnmatch.fnmatch(f, g.removeprefix("**/")) for g in globs)
    }
    return files, shipped


def test_every_web_and_agenda_file_is_package_data() -> None:
    for package, directory in (("confsvc.web", ROOT / "web"), ("confsvc.agendas", ROOT / "agenda")):
        assert SETUPTOOLS["package-dir"][package] == directory.name
        files, shipped = _shipped(package, directory)
        assert files, directory
        assert files - shipped == set(), f"{package}: not in the wheel"


def test_resources_are_found_through_the_package() -> None:
    assert (web_dir() / "templates" / "base.html").is_file()
    assert (web_dir() / "static").is_dir()
    assert sample_agenda().parent == agenda_dir()
    assert sample_agenda().is_file()
