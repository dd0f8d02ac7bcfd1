"""Settings for the code blocks of README.md and docs/, which pytest-markdown-docs runs as tests
(`--markdown-docs`, in pyproject's addopts): each page's blocks run in a fresh temporary working
directory of their own, shared by the page's blocks (a `continuation` block sees the files the blocks
before it wrote), with the tests' one torch thread and a non-interactive matplotlib."""

from __future__ import annotations

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
