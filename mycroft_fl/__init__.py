"""mycroft-fl: value data owners under a sharing budget with the Mycroft method, as a Flower plugin."""

from .api import value_owners
from .data import Dataset, TrainerData, check_dataset, load_npz, save_npz
from .errors import InputError
from .models import TrainConfig
from .presets import StrategyConfig, load_strategy
from .report import Report
from .scenario import load_scenario
from .valuation import OwnerResult, Trainer, TrainerConfig

__version__ = "0.1.0"

__all__ = [
    "Dataset", "InputError", "MycroftStrategy", "OwnerResult", "Report", "StrategyConfig", "TrainConfig",
    "Trainer", "TrainerConfig", "TrainerData", "check_dataset", "load_npz", "load_scenario", "load_strategy",
    "save_npz", "value_owners",
]


def __getattr__(name: str):
    if name == "MycroftStrategy":  # imports Flower only when asked for
        from .strategy import MycroftStrategy

        return MycroftStrategy
    raise AttributeError(f"module 'mycroft_fl' has no attribute {name!r}")
