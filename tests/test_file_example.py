"""The shipped file-based example holds exactly the digits scenario's data, as the user's own files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from mycroft_fl.scenarios.spec import load_scenario

REPO = Path(__file__).resolve().parent.parent


def test_clinics_files_are_the_digits_scenario_exported():
    spec = importlib.util.spec_from_file_location(
        "file_example", REPO / "benchmarks" / "file_example.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    clinics = load_scenario("clinics")
    data = clinics.trainer_data()
    shipped = {"trainer_train": data.train, "trainer_val": data.val, "trainer_test": data.test}
    shipped.update(
        {f"owner_{o.removeprefix('clinic-')}": clinics.owner_data(o) for o in clinics.owner_ids}
    )
    built = script.build()
    assert shipped.keys() == built.keys()
    for stem, part in built.items():
        np.testing.assert_array_equal(shipped[stem].x, part.x, err_msg=stem)
        np.testing.assert_array_equal(shipped[stem].y, part.y, err_msg=stem)
