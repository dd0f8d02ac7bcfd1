"""In-Run Data Shapley: its per-step values are the loss change a step causes, it tells a harmful
owner from a useful one in one run, it is seeded, it leaves the run it watches unchanged, and the
`inrun` valuer's rechecked owners rank first by their exact utilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import fine_tune, get_weights
from mycroft_fl.owner.selectors import AllData
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.coalitions import Coalitions
from mycroft_fl.trainer.in_process import acquire
from mycroft_fl.trainer.inrun import StepValues, in_run_shapley
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.strategy_config import StrategyConfig, load_strategy
from mycroft_fl.trainer.trainer import Trainer
from mycroft_fl.trainer.valuers import InRun, make_valuer


def tiny_problem(seed: int = 0) -> tuple[nn.Module, Dataset, np.ndarray, Dataset]:
    """A linear classifier, a batch of 8 (2 of the trainer's, 3 of owner 0, 3 of owner 1) and 5
    held-out samples."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = nn.Linear(4, 3)
    data = Dataset(rng.normal(size=(8, 4)).astype(np.float32), rng.integers(0, 3, 8))
    hard = Dataset(rng.normal(size=(5, 4)).astype(np.float32), rng.integers(0, 3, 5))
    return model, data, np.array([-1, -1, 0, 0, 0, 1, 1, 1]), hard


def hard_loss(model: nn.Module, hard: Dataset, delta: list[torch.Tensor] | None = None) -> float:
    """The held-out loss of `model` with `delta` added to its parameters."""
    with torch.no_grad():
        w, b = (p + d for p, d in zip(model.parameters(), delta or [0, 0]))
        return float(F.cross_entropy(torch.from_numpy(hard.x) @ w.T + b, torch.from_numpy(hard.y)))


def one_step(
    model: nn.Module, data: Dataset, owner_of: np.ndarray, hard: Dataset, opt, second_order=False
) -> StepValues:
    """Value one step of `opt` on the whole of `data` as one batch (the hook runs, the step is not taken)."""
    hook = StepValues(data, owner_of, hard, int(owner_of.max()) + 1, second_order=second_order)
    opt.zero_grad()
    F.cross_entropy(model(torch.from_numpy(data.x)), torch.from_numpy(data.y)).backward()
    hook(model, torch.arange(len(data)), opt)
    return hook


def owner_step(model: nn.Module, data: Dataset, rows: np.ndarray, lr: float) -> list[torch.Tensor]:
    """The SGD step the samples `rows` of a batch of `len(data)` make: -lr/|B| times their summed
    gradient (the batch loss is a mean)."""
    model.zero_grad()
    x, y = torch.from_numpy(data.x[rows]), torch.from_numpy(data.y[rows])
    F.cross_entropy(model(x), y, reduction="sum").backward()
    return [-lr / len(data) * p.grad.clone() for p in model.parameters()]


def test_first_order_value_is_the_loss_change_of_an_sgd_step():
    model, data, owner_of, hard = tiny_problem()
    lr = 0.01
    hook = one_step(model, data, owner_of, hard, torch.optim.SGD(model.parameters(), lr=lr))
    before = hard_loss(model, hard)
    for k in (0, 1):
        actual = before - hard_loss(model, hard, owner_step(model, data, owner_of == k, lr))
        assert hook.values[k] == pytest.approx(actual, rel=0.02, abs=1e-6)
    assert hook.per_sample_gradients == 6  # the owners' samples only


def test_second_order_values_add_up_to_the_step_more_closely():
    model, data, _, hard = tiny_problem(1)
    everyone = np.arange(
        len(data)
    )  # every sample an owner of its own: the values add up to the step
    lr = 0.5
    first, second = (
        one_step(model, data, everyone, hard, torch.optim.SGD(model.parameters(), lr=lr), so)
        for so in (False, True)
    )
    actual = hard_loss(model, hard) - hard_loss(model, hard, owner_step(model, data, everyone, lr))
    assert abs(second.values.sum() - actual) < abs(first.values.sum() - actual) / 5


def test_adams_first_step_is_credited_in_full():
    """Adam's first step is lr * g / (|g| + eps) exactly: the preconditioned values add up to it."""
    model, data, _, hard = tiny_problem(2)
    everyone = np.arange(len(data))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    hook = one_step(model, data, everyone, hard, opt)
    before = hard_loss(model, hard)
    opt.step()
    assert hook.values.sum() == pytest.approx(before - hard_loss(model, hard), rel=0.02)


@pytest.fixture(scope="module")
def digits():
    scenario = load_scenario("digits")
    return Trainer(scenario.trainer_data(), scenario.trainer, seed=0), scenario.owners_data()


def test_flipped_labels_are_worth_less_than_nothing_and_clean_data_more(digits):
    trainer, owners = digits
    run = in_run_shapley(trainer, owners)
    assert run.values["noisy"] < 0 < run.values["specialist"]  # 80% of noisy's labels are flipped
    assert max(run.values, key=run.values.get) == "specialist"
    # one run: every step of the trainer's fine-tuning, per-sample gradients of each owner sample
    config = trainer.config.training
    n = len(trainer.data.train) + sum(len(d) for d in owners.values())
    assert run.steps == config.finetune_epochs * -(-n // config.batch_size)
    assert run.per_sample_gradients == config.finetune_epochs * sum(len(d) for d in owners.values())


def test_same_seed_same_values_and_the_run_is_the_trainers_own(digits):
    trainer, owners = digits
    assert in_run_shapley(trainer, owners).values == in_run_shapley(trainer, owners).values
    # valuing a run does not change it: the same weights as the trainer's fine-tuning without the hook
    data = Dataset.concat([trainer.data.train, *owners.values()])
    owner_of = np.repeat(
        np.arange(-1, len(owners)), [len(trainer.data.train)] + [len(d) for d in owners.values()]
    )
    hook = StepValues(data, owner_of, trainer.hard_eval, len(owners))
    args = (trainer.baseline, data, trainer.config.training)
    watched = get_weights(fine_tune(*args, seed=trainer.seed, on_step=hook))
    plain = get_weights(fine_tune(*args, seed=trainer.seed))
    assert all(np.array_equal(watched[k], plain[k]) for k in plain)


def test_rechecked_owners_rank_first_by_their_exact_utility(digits):
    trainer, owners = digits
    coalitions = Coalitions(trainer, [OwnerResult(k, subset=d) for k, d in owners.items()])
    result = InRun(recheck=2).value(coalitions)
    run = in_run_shapley(
        trainer, dict(reversed(owners.items()))
    )  # in owner-id order whatever the mapping's
    best = sorted(run.values, key=run.values.get, reverse=True)[:2]
    assert set(result.first) == set(best) and coalitions.retrains == 2
    for k in owners:
        exact = coalitions.utility(frozenset({k}))
        assert result.values[k] == (exact if k in best else run.values[k])
    scores = result.ranking_scores()
    assert sorted(scores, key=scores.get, reverse=True)[:2] == sorted(
        best, key=lambda k: -result.values[k]
    )
    assert result.stderr is None and result.cost["per_sample_gradients"] == run.per_sample_gradients


def test_inrun_values_budgeted_and_all_data_replies_and_reports_its_cost(digits):
    trainer, owners = digits
    for config in (
        load_strategy("inrun"),
        StrategyConfig("inrun-all", AllData(), InRun(recheck=1)),
    ):
        report = acquire(trainer, owners, config).to_dict()
        valuation = report["valuation"]
        assert valuation["valuer"] == "inrun" and valuation["inrun_steps"] > 0
        assert valuation["per_sample_gradients"] == trainer.config.training.finetune_epochs * sum(
            o["shared"] for o in report["owners"]
        )
        ranked = [o for o in report["owners"] if o["status"] == "ok"]
        assert all(isinstance(o["utility"], float) for o in ranked)
    assert load_strategy("inrun").valuer == InRun(recheck=5, second_order=False)


@pytest.mark.parametrize("params", [{"recheck": -1}, {"recheck": 1.5}, {"second_order": 1}])
def test_bad_parameters_are_named(params):
    with pytest.raises(InputError, match=next(iter(params))):
        make_valuer("inrun", **params)
