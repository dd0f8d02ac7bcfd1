"""Settings for the code blocks of README.md and docs/, which pytest-markdown-docs runs as tests
(`--markdown-docs`, in pyproject's addopts): each page's blocks run in a fresh temporary working
directory of their own, shared by the page's blocks (a `continuation` block sees the files the blocks
before it wrote), with the tests' one torch thread and a non-interactive matplotlib.

For the whole suite: every report.json the session wrote under its temporary directories (tests'
tmp_path, the documentation pages' directories, the command lines and Flower processes the tests
start there) must fit report.json's schema; the session ends with an error naming each that does not."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

# The documentation's examples train tiny models: one thread is faster and steady on a busy machine.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def _page_directories(tmp_path_factory):
    return {}


@pytest.fixture(autouse=True)
def _page_working_directory(request, _page_directories, tmp_path_factory, monkeypatch):
    """A documentation page's blocks run in the page's own working directory."""
    if request.node.get_closest_marker("markdown-docs") is not None:
        page = request.node.path
        if page not in _page_directories:
            _page_directories[page] = tmp_path_factory.mktemp(f"docs-{page.stem}")
        monkeypatch.chdir(_page_directories[page])
        monkeypatch.setenv("MPLBACKEND", "Agg")


def reports_breaking_schema(root: Path) -> list[str]:
    """Each report.json under `root` that does not fit report.json's schema: its path and where."""
    from mycroft_fl.trainer.report import schema_problem

    bad = []
    for path in sorted(root.rglob("report.json")):
        try:
            problem = schema_problem(json.loads(path.read_text()))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problem = f"not a JSON document ({exc})"
        if problem:
            bad.append(f"{path}: {problem}")
    return bad


@pytest.fixture(scope="session")
def report_scanner() -> Callable[[Path], list[str]]:
    """`reports_breaking_schema`, for tests of the check itself."""
    return reports_breaking_schema


@pytest.fixture(scope="session", autouse=True)
def _written_reports_fit_the_schema(tmp_path_factory):
    """After the session: every report.json written under its temporary directories fits the schema."""
    yield
    bad = reports_breaking_schema(tmp_path_factory.getbasetemp())
    if bad:
        pytest.fail(
            "report.json files that do not fit mycroft_fl/trainer/report.schema.json "
            "(add the field to the schema and docs/reference/report-json.md, and raise "
            "SCHEMA_VERSION):\n" + "\n".join(bad),
            pytrace=False,
        )
