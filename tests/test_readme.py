"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mycroft_fl.core.data import Dataset, save_npz
from mycroft_fl.scenarios.spec import load_scenario

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.fixture
def digits_files(tmp_path, monkeypatch):
    sc = load_scenario("digits")
    data = sc.trainer_data()
    for name, part in (("train", data.train), ("val", data.val), ("test", data.test)):
        save_npz(tmp_path / f"{name}.npz", part)
    save_npz(tmp_path / "owner_a.npz", sc.owner_data("specialist"))
    unrelated = sc.owner_data("unrelated")
    save_npz(tmp_path / "owner_b.npz", Dataset(unrelated.x, unrelated.y))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_python_api_example(digits_files, capsys):
    exec(python_blocks()[0], {})
    out = capsys.readouterr().out
    assert "clinic-a 1" in out and "clinic-b 2" in out  # the owner with 8s and 9s ranks first
    assert (digits_files / "out" / "report.json").is_file()


def test_server_app_example_defines_an_app(digits_files):
    scope: dict = {}
    exec(python_blocks()[1], scope)
    assert type(scope["app"]).__name__ == "ServerApp"
