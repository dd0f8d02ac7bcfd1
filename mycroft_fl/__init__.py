"""mycroft-fl: value data owners under a sharing budget with the Mycroft method, as a Flower plugin."""

from mycroft_fl.core.data import Dataset, TrainerData, check_dataset, load_npz, save_npz
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import TrainConfig
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.in_process import value_owners
from mycroft_fl.trainer.report import Report
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.strategy_config import StrategyConfig, load_strategy
from mycroft_fl.trainer.trainer import Trainer, TrainerConfig

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "InputError",
    "MycroftStrategy",
    "OwnerResult",
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
    "save_npz",
    "value_owners",
]


def __getattr__(name: str):
    if name == "MycroftStrategy":  # imports Flower only when asked for
        from mycroft_fl.flower.strategy import MycroftStrategy

        return MycroftStrategy
    raise AttributeError(f"module 'mycroft_fl' has no attribute {name!r}")
