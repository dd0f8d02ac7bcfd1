"""mycroft-fl: value data owners under a sharing budget with the Mycroft method, as a Flower plugin.

The public names are imported when first used, so that importing a part of the package (an owner's
ClientApp committing to its data, say) does not load torch and the trainer's code with it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what type checkers and the API reference see; `_PUBLIC` loads them at run time
    from mycroft_fl.core.data import Dataset, TrainerData, check_dataset, load_npz, save_npz
    from mycroft_fl.core.errors import InputError
    from mycroft_fl.core.models import TrainConfig
    from mycroft_fl.core.progress import ProgressBars, ProgressLine
    from mycroft_fl.flower.strategy import MycroftStrategy
    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.in_process import value_owners
    from mycroft_fl.trainer.report import Report, report_schema
    from mycroft_fl.trainer.results import OwnerResult
    from mycroft_fl.trainer.strategy_config import StrategyConfig, load_strategy
    from mycroft_fl.trainer.trainer import Trainer, TrainerConfig

__version__ = "0.1.0"

#: Each public name and the module it lives in.
_PUBLIC = {
    "Dataset": "mycroft_fl.core.data",
    "TrainerData": "mycroft_fl.core.data",
    "check_dataset": "mycroft_fl.core.data",
    "load_npz": "mycroft_fl.core.data",
    "save_npz": "mycroft_fl.core.data",
    "InputError": "mycroft_fl.core.errors",
    "ProgressBars": "mycroft_fl.core.progress",
    "ProgressLine": "mycroft_fl.core.progress",
    "TrainConfig": "mycroft_fl.core.models",
    "load_scenario": "mycroft_fl.scenarios.spec",
    "value_owners": "mycroft_fl.trainer.in_process",
    "Report": "mycroft_fl.trainer.report",
    "report_schema": "mycroft_fl.trainer.report",
    "OwnerResult": "mycroft_fl.trainer.results",
    "StrategyConfig": "mycroft_fl.trainer.strategy_config",
    "load_strategy": "mycroft_fl.trainer.strategy_config",
    "Trainer": "mycroft_fl.trainer.trainer",
    "TrainerConfig": "mycroft_fl.trainer.trainer",
    "MycroftStrategy": "mycroft_fl.flower.strategy",
}

__all__ = [
    "Dataset",
    "InputError",
    "MycroftStrategy",
    "OwnerResult",
    "ProgressBars",
    "ProgressLine",
    "Report",
    "StrategyConfig",
    "TrainConfig",
    "Trainer",
    "TrainerConfig",
    "TrainerData",
    "check_dataset",
    "load_npz",
    "load_scenario",
    "load_strategy",
    "report_schema",
    "save_npz",
    "value_owners",
]


def __getattr__(name: str) -> object:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'mycroft_fl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
