"""The package's layout and import rules (docs/development.md, "How the code is organised"), checked on the source."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "mycroft_fl"
#: The sub-packages from the bottom layer up: a module may import its own layer and the layers below.
LAYERS = ("core", "owner", "trust", "trainer", "scenarios", "evaluation", "flower", "cli")


def module_file(name: str, package_dir: Path) -> str | None:
    """The file of the package's module `mycroft_fl.a.b` (`a/b.py` or `a/b/__init__.py`, `mycroft_fl`:
    `__init__.py`) inside `package_dir`, or None (not the package's, or not a module)."""
    top, *parts = name.split(".")
    if top != "mycroft_fl":
        return None
    candidates = [Path(*parts, "__init__.py")]
    if parts:
        candidates.insert(0, Path(*parts).with_suffix(".py"))
    return next((str(c) for c in candidates if (package_dir / c).is_file()), None)


def imports(path: Path, package_dir: Path) -> set[str]:
    """Every module `path` (inside `package_dir`) imports, as dotted names (relative imports resolved).
    `from P import n` gives P, and P.n too where that may be a module: always for a relative import,
    for an absolute one where P.n is a module of the package."""
    tree = ast.parse(path.read_text())
    package = ["mycroft_fl", *path.relative_to(package_dir).parent.parts]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            out.add(base)
            out.update(
                f"{base}.{a.name}"
                for a in node.names
                if node.level or module_file(f"{base}.{a.name}", package_dir)
            )
    return out


def modules(package_dir: Path = ROOT) -> dict[str, set[str]]:
    """Each module's path inside the package, and what it imports."""
    return {
        str(p.relative_to(package_dir)): imports(p, package_dir)
        for p in sorted(package_dir.rglob("*.py"))
    }


def layer(module: str) -> str | None:
    """The layer of an imported `mycroft_fl.<layer>...` name, or of a file path `<layer>/x.py`."""
    parts = module.split(".") if "/" not in module else module.split("/")
    if parts[0] == "mycroft_fl":
        parts = parts[1:]
    return parts[0] if parts and parts[0] in LAYERS else None


def violations(package_dir: Path = ROOT) -> list[str]:
    """Every import that breaks the rules: flwr outside `flower/`, anything of the package in `core/`
    but `core/`, `trainer/` in `owner/`, and any import of a higher layer."""
    wrong = []
    for module, imps in modules(package_dir).items():
        own = layer(module)
        for name in sorted(imps):
            if name.split(".")[0] == "flwr" and own != "flower":
                wrong.append(f"{module} imports {name}: only flower/ imports Flower")
            target = layer(name) if name.startswith("mycroft_fl") else None
            if own is None or target is None:  # the package's __init__ is the public facade
                continue
            if LAYERS.index(target) > LAYERS.index(own):
                wrong.append(f"{module} imports {name}: {target}/ is above {own}/")
    return wrong


def test_every_module_sits_in_a_layer():
    flat = [m for m in modules() if "/" not in m and m != "__init__.py"]
    assert not flat, f"modules outside the sub-packages: {flat}"
    assert {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(
        LAYERS
    )


def test_the_import_rules_hold():
    assert violations() == []


def test_the_rules_catch_an_upward_import_and_flower_outside_its_layer(tmp_path):
    for name in LAYERS:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / "core" / "x.py").write_text("from mycroft_fl.owner.selectors import Mycroft\n")
    (tmp_path / "owner" / "y.py").write_text("from ..trainer import report\nimport flwr\n")
    (tmp_path / "flower" / "z.py").write_text(
        "import flwr\nfrom mycroft_fl.trainer.report import Report\n"
    )
    found = violations(tmp_path)
    assert found == [
        "core/x.py imports mycroft_fl.owner.selectors: owner/ is above core/",
        "owner/y.py imports flwr: only flower/ imports Flower",
        "owner/y.py imports mycroft_fl.trainer: trainer/ is above owner/",
        "owner/y.py imports mycroft_fl.trainer.report: trainer/ is above owner/",
    ]


def import_graph(package_dir: Path = ROOT) -> dict[str, set[str]]:
    """Each module's path and the paths of the package's modules it imports: an imported name is the
    longest of its prefixes that is a module (`mycroft_fl.a.b.C` is `a/b.py`). A package's `__init__.py`
    counts only where it is named itself, not as the parent Python runs before a sub-module."""
    graph = {}
    for module, names in modules(package_dir).items():
        targets = (_named_module(name, package_dir) for name in names)
        graph[module] = {t for t in targets if t is not None}
    return graph


def _named_module(name: str, package_dir: Path) -> str | None:
    """The file of the package's module that the imported `name` refers to, or None."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if found := module_file(".".join(parts[:n]), package_dir):
            return found
    return None


def import_cycles(package_dir: Path = ROOT) -> list[str]:
    """Every import cycle among the package's modules, as chains `a.py -> b.py -> a.py`: per strongly
    connected component (Tarjan's), the shortest cycle through each of its modules, each cycle once."""
    graph = import_graph(package_dir)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    chains: dict[frozenset, str] = {}
    for component in components:
        if len(component) == 1 and component[0] not in graph[component[0]]:
            continue
        for start in component:
            cycle = _shortest_cycle(graph, start, set(component))
            chains.setdefault(frozenset(zip(cycle, cycle[1:])), " -> ".join(cycle))
    return sorted(chains.values())


def _shortest_cycle(graph: dict[str, set[str]], start: str, within: set[str]) -> list[str]:
    """The shortest path from `start` back to itself inside `within` (breadth first, ties by name)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v] & within):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in previous:
                    previous[w] = v
                    following.append(w)
        frontier = following
    raise ValueError(f"{start} is on no cycle inside {sorted(within)}")


def test_no_import_cycles():
    cycles = import_cycles()
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_cycle_finder_catches_a_planted_cycle(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    for name in ("core", "trainer", "evaluation"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / "core" / "a.py").write_text("import numpy\n")
    (tmp_path / "trainer" / "b.py").write_text(
        "from mycroft_fl.trainer.c import C\nfrom mycroft_fl.core.a import A\n"
    )
    (tmp_path / "trainer" / "c.py").write_text(
        "def f():\n    from mycroft_fl.evaluation import d\n"
    )
    (tmp_path / "evaluation" / "d.py").write_text("import mycroft_fl.trainer.b\n")
    (tmp_path / "evaluation" / "e.py").write_text("from . import e\n")  # itself
    (tmp_path / "evaluation" / "f.py").write_text("from mycroft_fl.evaluation import d\n")
    assert import_graph(tmp_path)["evaluation/f.py"] == {
        "evaluation/__init__.py",
        "evaluation/d.py",
    }
    assert import_cycles(tmp_path) == [
        "evaluation/d.py -> trainer/b.py -> trainer/c.py -> evaluation/d.py",
        "evaluation/e.py -> evaluation/e.py",
    ]
