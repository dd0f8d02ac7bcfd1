"""Strategy presets and shipped scenarios are found by name from an installed wheel, not only a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mycroft_fl.core.tomlfile import read_toml

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_installed_wheel_finds_presets_and_scenarios_by_name(tmp_path):
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            str(REPO),
            "-w",
            str(tmp_path / "dist"),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=240,
    )
    # every directory the package ships is declared: setuptools warned about 40 lines per build before
    assert "absent from the `packages` configuration" not in built.stdout + built.stderr
    wheel = next((tmp_path / "dist").glob("mycroft_fl-*.whl"))
    assert "mycroft_fl/py.typed" in zipfile.ZipFile(wheel).namelist()  # PEP 561 marker shipped
    assert "mycroft_fl/trainer/report.schema.json" in zipfile.ZipFile(wheel).namelist()
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import mycroft_fl, sys; from mycroft_fl import load_strategy, load_scenario; "
        "assert mycroft_fl.__file__.startswith(sys.argv[1]), mycroft_fl.__file__; "
        "from mycroft_fl.core.resources import shipped_dirs; "
        "assert all(str(d).startswith(sys.argv[1]) for k in ('strategies', 'simulations') "
        "for d in shipped_dirs(k)[:1]), shipped_dirs('simulations'); "
        "print(sorted(load_strategy(n).selector.name for n in "
        "['mycroft', 'gradmatch', 'retrieval', 'random', 'full-information'])); "
        "print(len(load_scenario('digits').owners), len(load_scenario('clinics').owners_data())); "
        "print(mycroft_fl.report_schema()['title'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(site)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "['full-information', 'gradmatch', 'mycroft', 'random', 'retrieval']" in out.stdout
    assert "mycroft-fl report.json" in out.stdout  # the schema, read from the installed package


def test_the_wheel_carries_the_py_typed_marker_and_the_package_declares_it():
    """PEP 561: without py.typed a type checker ignores every annotation of the installed package."""
    assert (REPO / "mycroft_fl" / "py.typed").is_file()
    package_data = read_toml(REPO / "pyproject.toml")["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["mycroft_fl"]


def test_version_flag_prints_the_installed_version():
    from importlib.metadata import version

    import mycroft_fl

    out = subprocess.run(
        [sys.executable, "-m", "mycroft_fl.cli.main", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"mycroft-fl {version('mycroft-fl')}\n"
    # one version everywhere: the distribution's, the package's, pyproject's
    assert version("mycroft-fl") == mycroft_fl.__version__
    assert read_toml(REPO / "pyproject.toml")["project"]["version"] == mycroft_fl.__version__


def test_version_falls_back_to_the_package_when_not_installed(monkeypatch, capsys):
    import importlib.metadata

    import mycroft_fl
    from mycroft_fl.cli.main import main

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"mycroft-fl {mycroft_fl.__version__}\n"


def test_type_checkers_and_the_api_docs_see_every_public_name():
    """mycroft_fl loads its public names lazily (`_PUBLIC`); its `if TYPE_CHECKING:` imports and its
    `__all__` name the same ones (from the same modules), so mypy and mkdocstrings see them all."""
    import ast

    import mycroft_fl

    tree = ast.parse((REPO / "mycroft_fl" / "__init__.py").read_text())
    guarded = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
    )
    seen = {
        alias.name: node.module
        for node in guarded.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert seen == mycroft_fl._PUBLIC and sorted(mycroft_fl.__all__) == sorted(mycroft_fl._PUBLIC)
