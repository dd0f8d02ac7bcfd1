"""pyproject promises Python >= 3.10: the package must not need what only 3.11 has."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mycroft_fl"


def python310() -> str | None:
    """A Python 3.10 interpreter that runs (pyenv's shims may name one that is not active), or None."""
    candidates = [
        shutil.which("python3.10"),
        *map(str, Path.home().glob(".pyenv/versions/3.10*/bin/python3.10")),
    ]
    for exe in filter(None, candidates):
        try:
            done = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20)
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.startswith("Python 3.10"):
            return exe
    return None


PYTHON310 = python310()


@pytest.mark.timeout(120)
def test_scenarios_and_presets_load_without_tomllib():
    """Python 3.10 has no tomllib: the package reads TOML with tomli there."""
    code = (
        "import sys; sys.modules['tomllib'] = None\n"  # import tomllib now fails, as on 3.10
        "from mycroft_fl import load_scenario, load_strategy\n"
        "assert load_scenario('digits').name == 'digits'\n"
        "assert load_strategy('mycroft').selector.name == 'mycroft'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(PYTHON310 is None, reason="no Python 3.10 on this machine")
@pytest.mark.timeout(120)
def test_every_module_compiles_on_python_310():
    """No syntax newer than 3.10 (the modules are compiled, not imported: 3.10 lacks the dependencies)."""
    files = [str(p) for p in sorted(PACKAGE.rglob("*.py"))]
    code = "import sys\nfor f in sys.argv[1:]: compile(open(f, encoding='utf-8').read(), f, 'exec')"
    done = subprocess.run(
        [PYTHON310, "-c", code, *files], capture_output=True, text=True, timeout=100
    )
    assert done.returncode == 0, done.stderr
