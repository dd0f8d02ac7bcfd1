"""mycroft-fl: value data owners under a sharing budget with the Mycroft method, as a Flower plugin.

The public names are imported when first used, so that importing a part of the package (an owner's
ClientApp committing to its data, say) does not load torch and the trainer's code with it.
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.1.0"

#: Each public name and the module it lives in.
_PUBLIC = {
    "Dataset": "mycroft_fl.core.data",
    "TrainerData": "mycroft_fl.core.data",
    "check_dataset": "mycroft_fl.core.data",
    "load_npz": "mycroft_fl.core.data",
    "save_npz": "mycroft_fl.core.data",
    "InputError": "mycroft_fl.core.errors",
    "TrainConfig": "mycroft_fl.core.models",
    "load_scenario": "mycroft_fl.scenarios.spec",
    "value_owners": "mycroft_fl.trainer.in_process",
    "Report": "mycroft_fl.trainer.report",
    "OwnerResult": "mycroft_fl.trainer.results",
    "StrategyConfig": "mycroft_fl.trainer.strategy_config",
    "load_strategy": "mycroft_fl.trainer.strategy_config",
    "Trainer": "mycroft_fl.trainer.trainer",
    "TrainerConfig": "mycroft_fl.trainer.trainer",
    "MycroftStrategy": "mycroft_fl.flower.strategy",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> object:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'mycroft_fl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
