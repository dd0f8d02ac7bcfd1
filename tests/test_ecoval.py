"""EcoVal: owners report their data's counts over the trainer's clusters; the trainer values the cells
by what the samples it received there proved worth, and an owner by the worth it holds. Known cases:
more useful data raises the value where retraining the subset alone cannot see it, a worthless cluster
does not, a malformed histogram is rejected with its reason; the query and reply carry them; seeded."""

from __future__ import annotations

import numpy as np
import pytest

from mycroft_fl.core.clusters import Clusters
from mycroft_fl.core.data import Dataset
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.query import Query
from mycroft_fl.flower.protocol import decode_reply, reply_content
from mycroft_fl.owner.answer import Answer, answer_query, cluster_histogram
from mycroft_fl.owner.holding import Holding
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.acquisition import strategy_query
from mycroft_fl.trainer.coalitions import Coalitions
from mycroft_fl.trainer.ecoval import cell_worth, fit_clusters, owner_values
from mycroft_fl.trainer.in_process import acquire
from mycroft_fl.trainer.intake import take_reply
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.rounds import check_rounds
from mycroft_fl.trainer.strategy_config import load_strategy
from mycroft_fl.trainer.trainer import Trainer
from mycroft_fl.trainer.transport import Reply
from mycroft_fl.trainer.valuers import EcoVal, Retrain, make_valuer
from mycroft_fl.trust.replies import HISTOGRAM_REJECTIONS, check_histogram


@pytest.fixture(scope="module")
def digits():
    scenario = load_scenario("digits")
    return Trainer(scenario.trainer_data(), scenario.trainer, seed=0), scenario.owners_data()


@pytest.fixture(scope="module")
def ecoval():
    return load_strategy("ecoval", budget=6)


def test_nearest_cluster_and_far_cell_per_class():
    clusters = Clusters(np.array([[0.0, 0.0], [10.0, 0.0]], np.float32), radius=1.0)
    x = np.array([[0.1, 0], [9.5, 0], [5, 5], [0, 0.2], [10, 0]], np.float32)
    y = np.array([3, 3, 3, 7, 1])  # class 1 is not a hard class: not counted
    assert clusters.nearest(x).tolist() == [0, 1, 2, 0, 1]  # (5, 5) is beyond the radius: far
    assert clusters.histogram(x, y, np.array([3, 7])).tolist() == [[1, 1, 1], [1, 0, 0]]
    assert clusters.cells(x, y, np.array([3, 7])).tolist() == [0, 1, 2, 3, -1]


def test_five_times_the_useful_data_five_times_the_value_a_worthless_cell_adds_nothing():
    worth = cell_worth(np.array([0.3, -0.1, 0.0]), np.array([10, 20, 0]))
    assert worth.tolist() == [0.03, 0.0, 0.0]  # a cell that did not help is worth nothing
    sent = {o: np.array([6, 0, 0]) for o in ("small", "large", "garbled")}
    held = {"small": [12, 0, 0], "large": [60, 0, 0], "garbled": [12, 500, 0]}
    values = owner_values(dict.fromkeys(sent, 0.2), sent, held, worth)
    assert values["large"] == pytest.approx(5 * values["small"])
    assert values["garbled"] == pytest.approx(values["small"])
    # what it sent proved worth nothing: nothing to scale by, its subset's utility as is
    assert owner_values({"a": -0.1}, {"a": [0, 6, 0]}, {"a": [0, 600, 0]}, worth) == {"a": -0.1}


def _eighty_nines(owners: dict[str, Dataset]) -> Dataset:
    data = owners["specialist"]
    return data.subset(np.flatnonzero(np.isin(data.y, [8, 9]))[:6])


def test_equal_subsets_more_useful_data_ranks_higher_under_ecoval_not_retrain(digits):
    trainer, owners = digits
    valuer = EcoVal()
    clusters = valuer.query_clusters(trainer)
    classes = np.unique(trainer.hard_query.y)
    subset = _eighty_nines(owners)
    sent = clusters.histogram(trainer.features(subset.x), subset.y, classes)
    results = [
        OwnerResult("holds-little", subset=subset, histogram=sent * 2),
        OwnerResult("holds-much", subset=subset, histogram=sent * 10),
    ]
    retrain = Retrain().value(Coalitions(trainer, results)).values
    assert retrain["holds-little"] == retrain["holds-much"] > 0  # the same subset: a tie
    result = valuer.value(Coalitions(trainer, results))
    assert result.values["holds-much"] == pytest.approx(5 * result.values["holds-little"])
    assert result.values["holds-little"] > 0 and result.cost["cluster_retrains"] >= 1
    again = valuer.value(Coalitions(trainer, results))  # same seed, same result
    assert again.values == result.values


def test_harmful_owners_samples_are_not_pooled(digits):
    trainer, owners = digits
    subset = _eighty_nines(owners)
    flipped = Dataset(subset.x, np.where(subset.y == 8, 9, 8))
    clean = OwnerResult("clean", subset=subset)
    bad = OwnerResult("flipped", subset=flipped, harmful=True)
    alone = EcoVal().value(Coalitions(trainer, [clean])).values["clean"]
    assert EcoVal().value(Coalitions(trainer, [clean, bad])).values["clean"] == alone


def test_clusters_are_seeded_and_sent_and_read_back_with_the_query(digits, ecoval):
    trainer, owners = digits
    features = trainer.features(trainer.data.train.x)
    a, b = (fit_clusters(features, 4, 2.0, seed=3) for _ in range(2))
    assert np.array_equal(a.centres, b.centres) and a.radius == b.radius
    query = strategy_query(trainer, ecoval)
    assert query.clusters is trainer.clusters(4, 2.0) and query.clusters.centres.shape[0] == 4
    back = Query.from_parts(query.to_arrays(), query.to_config())
    assert np.array_equal(back.clusters.centres, query.clusters.centres)
    assert back.clusters.radius == query.clusters.radius
    histogram = cluster_histogram(back, owners["specialist"])
    assert (
        histogram.shape == (2, 5)
        and histogram.sum() == np.isin(owners["specialist"].y, [8, 9]).sum()
    )
    assert strategy_query(trainer, load_strategy("mycroft")).clusters is None


BAD = {
    "missing": (None, "missing"),
    "not an array": ([[1, 2]], "list"),
    "wrong shape": (np.zeros((2, 4), np.int64), "shape (2, 4), expected (2, 5)"),
    "not integer": (np.zeros((2, 5)), "float64"),
    "negative": (np.full((2, 5), -1), "10 negative"),
    "more than held": (np.full((2, 5), 100), "1000 samples but the owner declared 120"),
    "fewer than sent": (np.zeros((2, 5), np.int64), "0 samples of class 8 but"),
}


def honest_reply(trainer, ecoval, data, histogram):
    """An owner's honest reply to the ecoval query with `histogram` in place of its own, and its
    commitment and the audit drawn from it."""
    query = strategy_query(trainer, ecoval)
    holding = Holding(data, 10)
    sent = answer_query(query, holding)._replace(histogram=histogram)
    reply = Reply("o", **sent._asdict(), local_size=len(data))
    return reply, holding.commitment, query


@pytest.mark.parametrize("kind", BAD)
def test_a_malformed_histogram_rejects_the_reply_with_its_reason(digits, ecoval, kind):
    trainer, owners = digits
    histogram, words = BAD[kind]
    clusters = ecoval.valuer.query_clusters(trainer)

    def collect(counts):
        reply, commitment, query = honest_reply(trainer, ecoval, owners["specialist"], counts)
        return take_reply(
            reply, ecoval, trainer, commitment=commitment, query=query, clusters=clusters
        )

    result = collect(histogram)
    assert result.status == "rejected" and words in result.reason
    assert result.reason.startswith(HISTOGRAM_REJECTIONS[kind].split("{")[0])
    good = np.array([[20, 10, 0, 0, 1], [10, 5, 5, 0, 0]])
    ok = collect(good)
    assert ok.status == "ok" and ok.revealed == 10 and ok.to_dict()["histogram"] == good.tolist()
    sent = np.array([8] * 5 + [9] * 5)
    assert check_histogram(good, shape=(2, 5), classes=np.array([8, 9]), sent=sent)[1] is None


def test_the_flower_reply_carries_the_histogram_and_the_strategy_checks_it(digits, ecoval):
    trainer, owners = digits
    clusters = ecoval.valuer.query_clusters(trainer)
    good = np.array([[20, 10, 0, 0, 1], [10, 5, 5, 0, 0]])
    for histogram, status in ((good, "ok"), (good[:, :3].copy(), "rejected")):
        reply, commitment, query = honest_reply(trainer, ecoval, owners["specialist"], histogram)
        answer = Answer(*(getattr(reply, k) for k in Answer._fields))
        content = reply_content("o", "mycroft", answer, local_size=120, selection_s=0.1)
        sent = decode_reply(content, "node-1")
        result = take_reply(
            sent, ecoval, trainer, commitment=commitment, query=query, clusters=clusters
        )
        assert result.status == status
    assert "cluster histogram has shape (2, 3)" in result.reason


def test_ecoval_preset_end_to_end_reports_what_owners_revealed(digits, ecoval):
    trainer, owners = digits
    report = acquire(trainer, owners, ecoval).to_dict()
    ok = [o for o in report["owners"] if o["status"] == "ok"]
    assert all(o["revealed"] == 10 and np.array(o["histogram"]).shape == (2, 5) for o in ok)
    assert report["exposure"]["total_revealed"] == 10 * len(ok)
    assert (
        report["valuation"]["valuer"] == "ecoval" and report["valuation"]["cluster_retrains"] >= 1
    )
    ranks = {o["id"]: o["rank"] for o in report["owners"]}
    assert ranks["noisy"] == 5 and ranks["specialist"] < ranks["generalist"] < ranks["sparse"]


def test_parameters_are_checked_and_rounds_refused(ecoval):
    for params in ({"clusters": 0}, {"clusters": 2.5}, {"reach": 0.0}, {"reach": -1.0}):
        with pytest.raises(InputError):
            make_valuer("ecoval", **params)
    assert ecoval.valuer == EcoVal(clusters=4, reach=2.0)
    with pytest.raises(InputError, match="cluster histograms of one query"):
        check_rounds(ecoval, 2)
