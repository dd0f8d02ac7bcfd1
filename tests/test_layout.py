"""The package's layout and import rules (README "How the code is organised"), checked on the source."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "mycroft_fl"
#: The sub-packages from the bottom layer up: a module may import its own layer and the layers below.
LAYERS = ("core", "owner", "trust", "trainer", "scenarios", "flower", "cli")


def imports(path: Path, package_dir: Path) -> set[str]:
    """Every module `path` (inside `package_dir`) imports, as dotted names (relative imports resolved)."""
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
                f"{base}.{a.name}" for a in node.names if base in ("mycroft_fl",) or node.level
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
