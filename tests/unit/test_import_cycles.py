"""No import cycle among confsvc's modules (module-level imports, read with ast).

Imports inside functions and under ``if TYPE_CHECKING:`` are not walked: they run later
or never, which is how a cycle is broken when it must be.
"""

from __future__ import annotations

import ast
from pathlib import Path

import confsvc

ROOT = Path(confsvc.__file__).parent


def _graph() -> dict[str, set[str]]:
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = ("confsvc", *path.relative_to(ROOT).with_suffix("").parts)
        modules[".".join(parts).removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # module level only
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps.add(node.module)
                deps |= {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[v] = min(low[v], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_the_walk_sees_the_imports() -> None:
    graph = _graph()
    assert "confsvc.core.conference" in graph["confsvc.core.registry"]
    assert "confsvc.http.wsconn" in graph["confsvc.http.ws"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_among_confsvc_modules() -> None:
    assert _cycles(_graph()) == []


def _every_import(path: Path) -> set[str]:
    """Every module ``path`` imports, inside functions too (those run later, but they are
    a dependency all the same)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return found


def test_no_feature_or_adapter_imports_the_command_line() -> None:
    # The command line sits on top: it may use every part, no part uses it. Features give
    # the demo their extra links through confsvc.assembly.demo_links (mail once appended
    # itself to the CLI's DEMO_HOOKS), and commands are listed there too.
    above = {"confsvc.assembly", "confsvc.__main__"}
    reaching_up = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(("confsvc", *path.relative_to(ROOT).with_suffix("").parts))
        if name.startswith("confsvc.cli.") or name in above:
            continue
        cli = sorted(
            m for m in _every_import(path) if m == "confsvc.cli" or m.startswith("confsvc.cli.")
        )
        if cli:
            reaching_up[name] = cli
    assert reaching_up == {}


def test_the_command_line_walk_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from confsvc.cli import main\n")
    assert {"confsvc.cli", "confsvc.cli.main"} <= _every_import(module)


def _module_path(name: str) -> Path:
    parts = name.split(".")[1:]
    path = ROOT.joinpath(*parts)
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def test_translations_are_not_a_web_concern() -> None:
    # Catalogs, language choice and the template environments live in confsvc.i18n, which
    # knows nothing of HTTP; mail and the report take them from there.
    neutral = _every_import(_module_path("confsvc.i18n"))
    assert sorted(m for m in neutral if m.startswith(("aiohttp", "confsvc.http"))) == []
    for name in ("confsvc.mail.compose", "confsvc.mail.service", "confsvc.report"):
        imports = _every_import(_module_path(name))
        assert "confsvc.i18n" in imports, name
        assert sorted(m for m in imports if m.startswith("confsvc.http.i18n")) == [], name


FEATURES = ("media", "questions", "mail", "report", "recording", "desk", "metrics")
ADAPTER_INSIDES = ("confsvc.http.keys", "confsvc.http.ws", "confsvc.http.wsconn")


def test_features_use_the_feature_interface_not_the_web_adapters_insides() -> None:
    # What a feature may register and read of the app is confsvc.http.features.
    reaching_in = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(("confsvc", *path.relative_to(ROOT).with_suffix("").parts))
        if name.split(".")[1] not in FEATURES:
            continue
        inside = sorted(
            m
            for m in _every_import(path)
            if m in ADAPTER_INSIDES or m.startswith(tuple(f"{a}." for a in ADAPTER_INSIDES))
        )
        if inside:
            reaching_in[name] = inside
    assert reaching_in == {}
    assert "confsvc.http.features" in _every_import(_module_path("confsvc.media.setup"))
