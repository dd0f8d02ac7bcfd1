"""TrainerConfig checks its values at the boundary, each with a message naming the field."""

from __future__ import annotations

import pytest

from mycroft_fl.core.errors import InputError
from mycroft_fl.trainer.trainer import TrainerConfig

BAD = {
    "combine_top zero": ({"combine_top": 0}, "combine_top must be an integer >= 1"),
    "combine_top text": ({"combine_top": "3"}, "combine_top must be an integer >= 1"),
    "retrain text": ({"retrain": "yes"}, "retrain must be true or false"),
    "defences number": ({"defences": 1}, "defences must be true or false"),
    "query_fraction one": ({"query_fraction": 1.0}, r"query_fraction must be a number in \(0, 1\)"),
    "query_fraction bool": (
        {"query_fraction": True},
        r"query_fraction must be a number in \(0, 1\)",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_values_raise_input_error_naming_the_field(case):
    kwargs, message = BAD[case]
    with pytest.raises(InputError, match=message):
        TrainerConfig(**kwargs)


def test_defaults():
    config = TrainerConfig()
    assert (config.model, config.embedder, config.combine_top, config.retrain, config.defences) == (
        "mlp",
        "trainer",
        3,
        False,
        True,
    )
