"""Digits, end to end through the public API: Mycroft values a useful owner, an unrelated one and a
mislabelled one, and beats random selection at the same budget on the held-out hard samples.

The trainer is the one of the shipped digits scenario: 25 training images per digit but only 3 of the
hard digits 8 and 9, 40 validation and 40 test images per digit, an MLP, raw-pixel embeddings. Three
owners of 120 images each:
- "hard": a quarter 8s, a quarter 9s, the rest other digits;
- "unrelated": digits 0-7 only (nothing of the hard classes);
- "noisy": all digits, 80% of the labels flipped to another digit.
Budget 10 (5 per hard class, out of ~30 the hard owner holds). Each seed draws a new split and trains
anew (scenario seed = trainer seed). Held-out hard samples per seed: 16-31.

Measured on seeds 0-39 (this file's scenario and budget):
- hard-owner utility, mycroft minus random, same seed: mean +0.138, sd 0.123; mycroft wins 32, ties 3,
  loses 5 (worst -0.077, i.e. two held-out samples). Seeds 0-7 used here: mean +0.122, per seed
  +0.083 +0.192 +0.065 +0.167 +0.120 +0.188 +0.241 -0.077. (gradmatch +0.132, retrieval +0.042,
  full information +0.299; the previous mycroft selection rule: +0.098.)
- mycroft ranks the hard owner first in 40/40 seeds (random: 38/40).
- the full order hard, unrelated, noisy: 39/40 (random: 37/40). The noisy owner's subset is mostly
  flipped labels (7-8 of 10), yet it raises hard accuracy (+0.47 on average; the hard owner +0.64),
  because labels of 8 and 9 on other digits push the model towards 8 and 9. It falls below "unrelated"
  (utility 0) only when flagged harmful, which happened in 39/40 seeds: its label agreement is below
  halfway between what clean and flipped labels reach on the trainer's data, and it costs the other
  digits accuracy (2.6% on average, the hard owner 1.0%). The hard owner was never flagged.

Reproduce: `.venv/bin/python -m pytest tests/test_digits_ranking.py -q` (about 15 s on 2 cores).
"""

from __future__ import annotations

import numpy as np
import pytest

from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.in_process import value_owners

SEEDS = range(8)
BUDGET = 10
OWNERS = ("hard", "unrelated", "noisy")

SCENARIO = """
name = "digits-ranking"
seed = {seed}

[data]
source = "digits"

[trainer]
model = "mlp"
embedder = "raw"
hard_classes = [8, 9]
train_per_class = 25
thin_classes = [8, 9]
thin_per_class = 3
val_per_class = 40
test_per_class = 40

[[owners]]
id = "hard"
size = 120
shares = {{ 8 = 0.25, 9 = 0.25 }}

[[owners]]
id = "unrelated"
size = 120
classes = [0, 1, 2, 3, 4, 5, 6, 7]

[[owners]]
id = "noisy"
size = 120
label_noise = 0.8
"""


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """{strategy: [report dict per seed]} for mycroft and random, same seeds and budget."""
    out = {"mycroft": [], "random": []}
    for seed in SEEDS:
        path = tmp_path_factory.mktemp(f"seed{seed}") / "scenario.toml"
        path.write_text(SCENARIO.format(seed=seed))
        scenario = load_scenario(path)
        data, owners = scenario.trainer_data(), scenario.owners_data()
        for strategy in out:
            report = value_owners(
                data, owners, strategy=strategy, budget=BUDGET, seed=seed, trainer=scenario.trainer
            )
            out[strategy].append(report.to_dict())
    return out


def _owner(report: dict, owner_id: str) -> dict:
    return next(o for o in report["owners"] if o["id"] == owner_id)


def _hard_utility(runs: list[dict]) -> np.ndarray:
    return np.array([_owner(r, "hard")["utility"] for r in runs])


def test_mycroft_beats_random_on_the_held_out_hard_samples(reports):
    gain = _hard_utility(reports["mycroft"]) - _hard_utility(reports["random"])
    # measured: mean +0.138, sd 0.121 over 40 seeds, so the mean of 8 seeds has a standard error of
    # ~0.043; the margin is that mean minus two standard errors
    assert gain.mean() >= 0.05, f"mycroft - random per seed: {np.round(gain, 3).tolist()}"


def test_mycroft_ranks_the_hard_class_owner_first(reports):
    for report in reports["mycroft"]:
        owners = {i: _owner(report, i) for i in OWNERS}
        assert owners["hard"]["rank"] == 1, (report["seed"], owners)
        assert owners["hard"]["shared"] == BUDGET and not owners["hard"]["harmful"]
        # nothing of the hard classes to share: the control's figures exactly
        assert owners["unrelated"]["shared"] == 0 and owners["unrelated"]["utility"] == 0.0
        assert owners["noisy"]["utility"] <= owners["hard"]["utility"]
    # the flipped labels are seen in the audit of the classes it is paid for; the hard owner's right
    # labels never lose a pick to it
    for report in reports["mycroft"]:
        noisy, hard = _owner(report, "noisy"), _owner(report, "hard")
        assert noisy["harmful"] and hard["unbought"] == 0, report["seed"]


def test_mycroft_ranks_hard_then_unrelated_then_noisy(reports):
    # noisy's flipped 8/9 labels raise recall on the hard 8s and 9s (utility ~+0.47 > 0), so it falls
    # below unrelated (utility 0) only by being flagged harmful: its labels mostly contradict the
    # trainer's own data (label agreement below halfway between clean and flipped labels' figures) and it
    # lowers the other digits. Asserted: the order holds in at least 7 of the 8 seeds.
    orders = [[_owner(r, i)["rank"] for i in OWNERS] for r in reports["mycroft"]]
    assert sum(order == [1, 2, 3] for order in orders) >= 7, orders
