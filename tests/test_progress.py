"""The Python API's progress display: off by default, opt-in with progress=True (rich's bars on a
terminal or in a notebook, plain lines elsewhere), or the caller's own callable."""

from __future__ import annotations

import io
import re

import pytest

from mycroft_fl import InputError, load_scenario, value_owners
from mycroft_fl.core.progress import ProgressBars, progress_display


def test_progress_is_off_by_default_and_plain_lines_off_a_terminal(capfd):
    digits = load_scenario("digits")
    owners = {k: v for k, v in digits.owners_data().items() if k in ("specialist", "unrelated")}
    args = (digits.trainer_data(), owners)
    value_owners(*args, budget=8, seed=0, trainer=digits.trainer)
    assert capfd.readouterr().err == ""
    value_owners(*args, budget=8, seed=0, trainer=digits.trainer, progress=True)
    err = capfd.readouterr().err
    assert re.search(r"^querying owners: 2/2 \(\d+\.\d s\)$", err, re.M), err
    seen = []
    value_owners(
        *args, budget=8, seed=0, trainer=digits.trainer, progress=lambda *a: seen.append(a)
    )
    assert ("querying owners", 2, 2) in seen
    with pytest.raises(InputError, match="progress must be True, False or a callable"):
        value_owners(*args, budget=8, seed=0, trainer=digits.trainer, progress="yes")


def test_progress_bars_on_a_terminal_restart_a_stage_that_starts_over():
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    with ProgressBars(console) as bars:
        for done in (1, 2, 3):
            bars("owners answered", done, 3)
        bars("owners answered", 1, 2)  # the next round
        assert bars.bars.tasks[0].completed == 1 and bars.bars.tasks[0].total == 2
        bars("coalitions valued", 4, 4)
    assert len(bars.bars.tasks) == 2 and "owners answered" in out.getvalue()
    with progress_display(False) as shown:
        assert shown is None
