"""Scenario files: the shipped digits scenario builds what it documents; user files load; bad files are named."""

import textwrap
from pathlib import Path

import numpy as np
import pytest

from mycroft_fl.core.data import Dataset, save_npz
from mycroft_fl.core.errors import InputError
from mycroft_fl.scenarios.sources import load_source
from mycroft_fl.scenarios.spec import load_scenario

DIGITS_TOML = Path(__file__).resolve().parent.parent / "simulations" / "digits.toml"


@pytest.fixture(scope="module")
def digits():
    scenario = load_scenario(DIGITS_TOML)
    return scenario, scenario.trainer_data(), scenario.owners_data()


def pool_index(x: np.ndarray) -> np.ndarray:
    """Where each sample sits in the digits pool (its images are all distinct)."""
    pool, _ = load_source("digits")
    where = {row.tobytes(): i for i, row in enumerate(pool.x)}
    assert len(where) == len(pool.x)
    return np.array([where[row.tobytes()] for row in x.astype(np.float32)])


def counts(y, n_classes=10):
    return np.bincount(y, minlength=n_classes).tolist()


def test_digits_by_name_and_by_path():
    by_name = load_scenario("digits")
    assert by_name.path == DIGITS_TOML
    assert by_name.name == "digits" and by_name.seed == 0 and by_name.source == "digits"
    assert by_name.owner_ids == ["specialist", "generalist", "sparse", "unrelated", "noisy"]
    assert by_name.trainer.model == "mlp" and by_name.trainer.embedder == "raw"
    assert by_name.trainer.hard_classes == (8, 9)


@pytest.mark.parametrize("path", sorted(DIGITS_TOML.parent.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_loads_by_name(path):
    scenario = load_scenario(path.stem)
    trainer = scenario.trainer_data()
    owners = scenario.owners_data()
    assert scenario.path == path and owners and set(owners) == set(scenario.owner_ids)
    assert all(
        d.sample_shape == trainer.train.sample_shape and d.y.max() < trainer.n_classes
        for d in owners.values()
    )


def test_digits_trainer_splits(digits):
    _, trainer, _ = digits
    assert trainer.n_classes == 10 and trainer.train.sample_shape == (64,)
    assert counts(trainer.train.y) == [25] * 8 + [
        3,
        3,
    ]  # thin classes 8, 9 have thin_per_class samples
    assert counts(trainer.val.y) == [40] * 10
    assert counts(trainer.test.y) == [40] * 10


def test_digits_owner_sizes_and_class_mix(digits):
    _, _, owners = digits
    pool, _ = load_source("digits")
    source = {k: counts(pool.y[pool_index(d.x)]) for k, d in owners.items()}
    assert {k: len(d) for k, d in owners.items()} == dict.fromkeys(source, 120)
    # shares {8: .25, 9: .25}: 30 each; the other 60 spread evenly over 8 classes (7.5 -> 8, 8, 8, 8, 7, ...)
    assert source["specialist"] == [8, 8, 8, 8, 7, 7, 7, 7, 30, 30]
    assert source["noisy"] == source["specialist"]
    assert source["generalist"] == [12] * 10
    # shares {8: .03, 9: .03}: 3.6 -> 4 each; the other 112 over 8 classes: 14 each
    assert source["sparse"] == [14] * 8 + [4, 4]
    assert source["unrelated"] == [15] * 8 + [0, 0]


def test_digits_label_noise(digits):
    _, _, owners = digits
    pool, _ = load_source("digits")
    flipped = {k: float(np.mean(d.y != pool.y[pool_index(d.x)])) for k, d in owners.items()}
    assert flipped["noisy"] == pytest.approx(0.8, abs=0.1)
    assert all(flipped[k] == 0.0 for k in flipped if k != "noisy")
    noisy = owners["noisy"].y
    assert noisy.min() >= 0 and noisy.max() <= 9 and noisy.dtype == np.int64


def test_digits_no_sample_is_used_twice(digits):
    _, trainer, owners = digits
    parts = [trainer.train.x, trainer.val.x, trainer.test.x, *(d.x for d in owners.values())]
    every = np.concatenate([pool_index(x) for x in parts])
    assert len(every) == 250 - 44 + 400 + 400 + 5 * 120
    assert len(np.unique(every)) == len(every)


def test_same_seed_same_data_other_seed_other_data(tmp_path, digits):
    _, trainer, owners = digits
    again = load_scenario(DIGITS_TOML)
    np.testing.assert_array_equal(again.trainer_data().train.x, trainer.train.x)
    np.testing.assert_array_equal(again.trainer_data().val.y, trainer.val.y)
    for k, d in again.owners_data().items():
        np.testing.assert_array_equal(d.x, owners[k].x)
        np.testing.assert_array_equal(d.y, owners[k].y)
    other = tmp_path / "digits-seed1.toml"
    other.write_text(DIGITS_TOML.read_text().replace("seed = 0", "seed = 1"))
    moved = load_scenario(other)
    assert moved.seed == 1
    assert not np.array_equal(moved.trainer_data().train.x, trainer.train.x)
    assert not np.array_equal(moved.owner_data("specialist").x, owners["specialist"].x)


# --- a scenario of the user's own files ----------------------------------------------------------


def blob_data(n, seed, n_classes=3, shape=(2, 4)):
    rng = np.random.default_rng(seed)
    return Dataset(
        rng.normal(size=(n, *shape)).astype(np.float32), (np.arange(n) % n_classes).astype(np.int64)
    )


FILES_TOML = """
name = "my-study"
seed = 3

[trainer]
train = "data/trainer_train.npz"
val   = "data/trainer_val.npz"
test  = "data/trainer_test.npz"
model = "logreg"
epochs = 5

[[owners]]
id   = "clinic-a"
data = "data/owner_a.npz"

[[owners]]
id   = "clinic-b"
data = "../elsewhere/owner_b.npz"
description = "a file beside the study"
"""


@pytest.fixture
def study(tmp_path):
    (tmp_path / "study" / "data").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    files = {
        "study/data/trainer_train.npz": blob_data(30, 0),
        "study/data/trainer_val.npz": blob_data(15, 1),
        "study/data/trainer_test.npz": blob_data(12, 2),
        "study/data/owner_a.npz": blob_data(9, 3),
        "elsewhere/owner_b.npz": blob_data(7, 4),
    }
    for name, data in files.items():
        save_npz(tmp_path / name, data)
    path = tmp_path / "study" / "scenario.toml"
    path.write_text(FILES_TOML)
    return path, files


def test_file_scenario_loads_relative_to_the_scenario_file(study, tmp_path, monkeypatch):
    path, files = study
    monkeypatch.chdir(tmp_path / "elsewhere")  # the working directory does not matter
    scenario = load_scenario(path)
    assert scenario.name == "my-study" and scenario.seed == 3 and scenario.source is None
    assert scenario.owner_ids == ["clinic-a", "clinic-b"]
    assert scenario.trainer.model == "logreg" and scenario.trainer.training.epochs == 5
    trainer = scenario.trainer_data()
    assert trainer.n_classes == 3 and trainer.train.sample_shape == (2, 4)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(
            getattr(trainer, split).x, files[f"study/data/trainer_{split}.npz"].x
        )
    owners = scenario.owners_data()
    np.testing.assert_array_equal(owners["clinic-a"].x, files["study/data/owner_a.npz"].x)
    np.testing.assert_array_equal(owners["clinic-b"].y, files["elsewhere/owner_b.npz"].y)


def test_file_scenario_with_declared_classes(study):
    path, _ = study
    path.write_text(FILES_TOML.replace('model = "logreg"', 'model = "logreg"\nn_classes = 5'))
    assert load_scenario(path).trainer_data().n_classes == 5


# --- bad scenarios -------------------------------------------------------------------------------

SOURCE_TOML = """
seed = 0
[data]
source = "digits"
[trainer]
model = "mlp"
[[owners]]
id = "a"
size = 20
"""


def error_of(path: Path, build=False) -> str:
    with pytest.raises(InputError) as info:
        scenario = load_scenario(path)
        if build:
            scenario.trainer_data()
            scenario.owners_data()
    message = str(info.value)
    assert "\n" not in message
    return message


def write_scenario(tmp_path, text, name="bad.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_missing_scenario_file(tmp_path):
    assert "no such scenario file" in error_of(tmp_path / "nope.toml")
    assert "no-such-shipped-scenario: no such scenario file" in error_of(
        Path("no-such-shipped-scenario")
    )


BAD_SOURCE = {
    "invalid toml": (lambda t: t + "\n[[owners]\n", "not valid TOML"),
    "not utf-8": (None, "not valid TOML"),
    "unknown top-level key": (lambda t: "sede = 1\n" + t, "unknown key 'sede'"),
    "unknown trainer key": (
        lambda t: t.replace('model = "mlp"', 'model = "mlp"\nepoch = 3'),
        "[trainer]: unknown key 'epoch'",
    ),
    "unknown owner key": (lambda t: t + "colour = 'red'\n", "owner 'a': unknown key 'colour'"),
    "unknown data key": (
        lambda t: t.replace('source = "digits"', 'source = "digits"\npath = "x"'),
        "[data]: unknown key 'path'",
    ),
    "missing trainer": (
        lambda t: t.replace('[trainer]\nmodel = "mlp"\n', ""),
        "[trainer] is missing",
    ),
    "no owners": (lambda t: t.split("[[owners]]")[0], "no [[owners]]"),
    "owner without id": (
        lambda t: t.replace('id = "a"', ""),
        "owner 1: id must be a non-empty string",
    ),
    "duplicate ids": (lambda t: t + '[[owners]]\nid = "a"\nsize = 5\n', "duplicate owner id 'a'"),
    "unknown source": (
        lambda t: t.replace('"digits"', '"imagenet"'),
        "unknown data source 'imagenet'",
    ),
    "negative share": (
        lambda t: t + "shares = { 8 = -0.1 }\n",
        "shares.8 must be a number >= 0, got -0.1",
    ),
    "shares over 1": (lambda t: t + "shares = { 8 = 0.7, 9 = 0.4 }\n", "sum to at most 1"),
    "share not a number": (
        lambda t: t + 'shares = { 8 = "half" }\n',
        "shares must map class numbers",
    ),
    "share of a word": (
        lambda t: t + "shares = { eight = 0.5 }\n",
        "shares must map class numbers",
    ),
    "shares not a table": (lambda t: t + "shares = 0.5\n", "shares is missing or not a table"),
    "label noise above 1": (
        lambda t: t + "label_noise = 1.5\n",
        "label_noise must be a number in [0, 1]",
    ),
    "label noise negative": (
        lambda t: t + "label_noise = -0.1\n",
        "label_noise must be a number in [0, 1]",
    ),
    "label noise too large for a float": (
        lambda t: t + "label_noise = " + "9" * 30 + "\n",
        "label_noise must be a number in [0, 1]",
    ),
    "label noise text": (
        lambda t: t + 'label_noise = "high"\n',
        "label_noise must be a number in [0, 1]",
    ),
    "label noise boolean": (
        lambda t: t + "label_noise = true\n",
        "label_noise must be a number in [0, 1]",
    ),
    "size zero": (lambda t: t.replace("size = 20", "size = 0"), "size must be an integer >= 1"),
    "size missing": (
        lambda t: t.replace("size = 20", ""),
        "size must be an integer >= 1, got None",
    ),
    "classes empty": (lambda t: t + "classes = []\n", "classes must be a non-empty list"),
    "classes negative": (lambda t: t + "classes = [-1]\n", "classes must be a non-empty list"),
    "classes text": (lambda t: t + 'classes = "8"\n', "classes must be a non-empty list"),
    "bad seed": (lambda t: t.replace("seed = 0", "seed = -1"), "seed must be an integer >= 0"),
    "bad epochs": (
        lambda t: t.replace('model = "mlp"', 'model = "mlp"\nepochs = 0'),
        "epochs must be an integer",
    ),
    "bad train_per_class": (
        lambda t: t.replace('model = "mlp"', 'model = "mlp"\ntrain_per_class = "many"'),
        "train_per_class must be an integer >= 1",
    ),
    "bad hard_classes": (
        lambda t: t.replace('model = "mlp"', 'model = "mlp"\nhard_classes = 8'),
        "hard_classes must be a non-empty list",
    ),
    "bad query_fraction": (
        lambda t: t.replace('model = "mlp"', 'model = "mlp"\nquery_fraction = 1.0'),
        "query_fraction must be a number in (0, 1)",
    ),
    "n_classes below 2": (
        lambda t: t.replace('model = "mlp"', 'model = "mlp"\nn_classes = 1'),
        "[trainer] n_classes must be an integer >= 2",
    ),
    "unknown embedder": (
        lambda t: t.replace('model = "mlp"', 'model = "mlp"\nembedder = "clip"'),
        "unknown embedder 'clip'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SOURCE))
def test_bad_scenario_names_file_and_problem(tmp_path, case):
    edit, words = BAD_SOURCE[case]
    path = tmp_path / "bad.toml"
    if edit is None:
        path.write_bytes(b"name = '\xff\xfe'\n")
    else:
        path.write_text(edit(SOURCE_TOML))
    message = error_of(path)
    assert str(path.resolve()) in message
    assert words in message


BAD_AT_BUILD = {
    "pool exhausted": ("size = 2000", "needs"),
    "share of a class the source lacks": (
        "size = 20\nshares = { 12 = 0.5 }",
        "classes outside 0..9 of 'digits'",
    ),
    "class the source lacks": ("size = 20\nclasses = [3, 10]", "classes outside 0..9"),
    "shares that cannot fill the owner": (
        "size = 20\nclasses = [8]\nshares = { 8 = 0.5 }",
        "shares must sum to 1",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_AT_BUILD))
def test_bad_source_owner_found_when_building(tmp_path, case):
    owner, words = BAD_AT_BUILD[case]
    path = write_scenario(tmp_path, SOURCE_TOML.replace("size = 20", owner))
    message = error_of(path, build=True)
    assert str(path.resolve()) in message and words in message


def test_pool_exhausted_by_the_trainer(tmp_path):
    path = write_scenario(
        tmp_path, SOURCE_TOML.replace('model = "mlp"', 'model = "mlp"\nval_per_class = 500')
    )
    message = error_of(path, build=True)
    assert (
        str(path.resolve()) in message
        and "the validation set needs 500 samples of class 0" in message
    )


def test_thin_class_the_source_lacks(tmp_path):
    path = write_scenario(
        tmp_path, SOURCE_TOML.replace('model = "mlp"', 'model = "mlp"\nthin_classes = [10]')
    )
    assert "thin_classes outside 0..9" in error_of(path, build=True)


def test_a_seed_too_large_for_a_float_is_a_seed(tmp_path):
    path = write_scenario(tmp_path, SOURCE_TOML.replace("seed = 0", f"seed = {2**70}"))
    scenario = load_scenario(path)
    assert scenario.seed == 2**70 and len(scenario.owner_data("a")) == 20


BAD_FILES = {
    "partial trainer files": (
        lambda t: t.replace('test  = "data/trainer_test.npz"\n', ""),
        "needs all of train, val and test files (missing test)",
    ),
    "owner without data and no source": (
        lambda t: t + '\n[[owners]]\nid = "c"\nsize = 10\n',
        "owner 'c': needs a data file",
    ),
    "data owner with built-in keys": (
        lambda t: t.replace('data = "data/owner_a.npz"', 'data = "data/owner_a.npz"\nsize = 10'),
        "'size' applies to built-in owners",
    ),
    "data path not a string": (
        lambda t: t.replace('data = "data/owner_a.npz"', "data = 5"),
        "data must be a file path",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_scenario(study, case):
    path, _ = study
    edit, words = BAD_FILES[case]
    path.write_text(edit(FILES_TOML))
    message = error_of(path)
    assert str(path.resolve()) in message and words in message


def test_missing_trainer_file_is_named(study):
    path, _ = study
    (path.parent / "data" / "trainer_val.npz").unlink()
    scenario = load_scenario(path)  # files are read when the data is needed
    message = error_of(path, build=True)
    assert str(scenario.trainer_files["val"]) in message and "no such file" in message


def test_missing_owner_file_is_named(study):
    path, _ = study
    (path.parent / "data" / "owner_a.npz").unlink()
    scenario = load_scenario(path)
    assert len(scenario.owner_data("clinic-b")) == 7  # the other owner still loads
    with pytest.raises(InputError) as info:
        scenario.owner_data("clinic-a")
    assert str(path.parent / "data" / "owner_a.npz") in str(info.value) and "no such file" in str(
        info.value
    )


def test_owner_labels_outside_the_trainers_classes(study):
    path, _ = study
    save_npz(
        path.parent / "data" / "owner_a.npz",
        Dataset(np.zeros((4, 2, 4), np.float32), np.array([0, 1, 2, 3])),
    )
    with pytest.raises(InputError) as info:
        load_scenario(path).owner_data("clinic-a")
    assert "owner_a.npz" in str(info.value) and "labels outside 0..2 (found 0..3)" in str(
        info.value
    )


def test_owner_samples_of_another_shape(study):
    path, _ = study
    save_npz(path.parent / "data" / "owner_a.npz", blob_data(4, 0, shape=(8,)))
    with pytest.raises(
        InputError, match=r"owner_a.npz: samples of shape \(8,\), but the trainer's are \(2, 4\)"
    ):
        load_scenario(path).owner_data("clinic-a")


def test_trainer_labels_above_declared_classes(study):
    path, _ = study
    path.write_text(FILES_TOML.replace('model = "logreg"', 'model = "logreg"\nn_classes = 2'))
    message = error_of(path, build=True)
    assert "trainer_train.npz: labels outside 0..1" in message


def test_trainer_files_of_different_shapes(study):
    path, _ = study
    save_npz(path.parent / "data" / "trainer_test.npz", blob_data(12, 2, shape=(8,)))
    message = error_of(path, build=True)
    assert str(path.resolve()) in message and "trainer test: sample shape (8,) differs" in message


def test_unknown_owner_id(study):
    path, _ = study
    with pytest.raises(InputError, match="no owner 'clinic-z'"):
        load_scenario(path).owner_data("clinic-z")


# --- owner and split options of built-in sources (module docstring of scenario.py) ----------------

BAD_OPTIONS = {
    "one data class": (
        "[data] classes",
        "classes = [3]",
        "[data] classes must be a list of at least 2 distinct items",
    ),
    "unknown cue": (
        "[data] classes",
        'cue = "stripe"',
        "[data] cue must be one of 'corner', got 'stripe'",
    ),
    "cue_class without cue": ("[data] classes", "cue_class = 1", "[data] cue_class needs a cue"),
    "counter without cue": ("owner", "counter = 0.5", "owner 'a': counter needs a [data] cue"),
    "counter above 1": (
        "owner cue",
        "counter = 1.5",
        "counter must be a number in [0, 1], got 1.5",
    ),
    "train_counter without cue": (
        "trainer",
        "train_counter = 0.1",
        "[trainer] train_counter needs a [data] cue",
    ),
    "eval_counter text": (
        "trainer cue",
        'eval_counter = "half"',
        "eval_counter must be a number in [0, 1]",
    ),
    "share without train_where": (
        "trainer",
        "train_where_share = 0.9",
        "train_where_share needs train_where",
    ),
    "train_where not a table": (
        "trainer",
        'train_where = "fixed"',
        "train_where is missing or not a table",
    ),
    "where value a number": (
        "owner",
        "where = { Job = 3 }",
        "where.Job must be a non-empty string or a non-empty list",
    ),
    "where list of numbers": (
        "owner",
        "where = { Job = [1, 2] }",
        "where.Job must be a non-empty string or a non-empty list",
    ),
    "empty where": ("owner", "where = {}", "where must name at least one column"),
    "trainer_copies text": (
        "owner",
        'trainer_copies = "yes"',
        "trainer_copies must be true or false",
    ),
    "trainer_copies with shares": (
        "owner",
        "trainer_copies = true\nshares = { 8 = 0.5 }",
        "'shares' does not apply to trainer_copies",
    ),
    "unknown corruption": (
        "owner",
        'corrupt = "jpeg"',
        "corrupt must be one of 'blur', 'erase', 'rotate', 'shuffle'",
    ),
    "corrupt_fraction zero": (
        "owner",
        'corrupt = "blur"\ncorrupt_fraction = 0',
        "corrupt_fraction must be a number in (0, 1], got 0",
    ),
    "corrupt_fraction alone": ("owner", "corrupt_fraction = 0.5", "corrupt_fraction needs corrupt"),
    "shuffle without columns": (
        "owner",
        'corrupt = "shuffle"',
        "corrupt = 'shuffle' needs corrupt_columns",
    ),
    "columns with blur": (
        "owner",
        'corrupt = "blur"\ncorrupt_columns = ["a"]',
        "corrupt_columns applies to corrupt = 'shuffle' only",
    ),
    "no columns": (
        "owner",
        'corrupt = "shuffle"\ncorrupt_columns = []',
        "corrupt_columns must be a non-empty list",
    ),
    "unknown cross domain": (
        "owner",
        'cross_domain = "sketch"',
        "cross_domain must be one of 'invert'",
    ),
}


def with_option(where: str, line: str) -> str:
    """SOURCE_TOML with `line` in the owner, the trainer or [data] (`cue`: on a scenario with a cue)."""
    text = SOURCE_TOML
    if "cue" in where.split():
        text = text.replace(
            'source = "digits"', 'source = "digits"\nclasses = [8, 9]\ncue = "corner"'
        )
    if where.startswith("owner"):
        return text + line + "\n"
    if where.startswith("trainer"):
        return text.replace('model = "mlp"', f'model = "mlp"\n{line}')
    return text.replace('source = "digits"', f'source = "digits"\n{line}')


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_option_names_file_and_problem(tmp_path, case):
    where, line, words = BAD_OPTIONS[case]
    path = write_scenario(tmp_path, with_option(where, line))
    message = error_of(path)
    assert str(path.resolve()) in message and words in message


def test_data_options_need_a_builtin_source(study):
    path, _ = study
    path.write_text(FILES_TOML.replace("[trainer]", '[data]\ncue = "corner"\n\n[trainer]'))
    assert "[data] cue needs a built-in source" in error_of(path)


BAD_OPTIONS_AT_BUILD = {
    "where on images": (
        "owner",
        'where = { Job = "fixed" }',
        "owner 'a': where: source 'digits' has no groups",
    ),
    "train_where on images": (
        "trainer",
        'train_where = { Job = "fixed" }',
        "[trainer] train_where: source 'digits'",
    ),
    "shuffle on images": (
        "owner",
        'corrupt = "shuffle"\ncorrupt_columns = ["Income"]',
        "source 'digits' has no column 'Income' (its columns: none)",
    ),
    "data class the source lacks": (
        "[data] classes",
        "classes = [3, 12]",
        "[data] classes outside 0..9",
    ),
    "cue_class beyond the classes": (
        "[data] classes",
        'classes = [8, 9]\ncue = "corner"\ncue_class = 2',
        "[data] cue_class outside 0..1",
    ),
    "owner class beyond the classes": (
        "owner cue",
        "classes = [1, 2]",
        "owner 'a': classes outside 0..1",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS_AT_BUILD))
def test_bad_option_found_when_building(tmp_path, case):
    where, line, words = BAD_OPTIONS_AT_BUILD[case]
    path = write_scenario(tmp_path, with_option(where, line))
    message = error_of(path, build=True)
    assert str(path.resolve()) in message and words in message


HALF_EIGHTS = "size = 20\nshares = { 8 = 0.5, 9 = 0.5 }\n"


def owner_with(tmp_path, options: str) -> tuple[Dataset, Dataset, Dataset]:
    """Owner `a` (plain) and owner `b` (with `options`) of a digits scenario, and `b` without options.
    The two b's hold the same digits in the same order: the options draw from b's own random stream."""
    text = SOURCE_TOML.replace("size = 20\n", HALF_EIGHTS) + '[[owners]]\nid = "b"\n' + HALF_EIGHTS
    with_options = load_scenario(
        write_scenario(tmp_path, text + options, "options.toml")
    ).owners_data()
    without = load_scenario(write_scenario(tmp_path, text, "plain.toml")).owners_data()
    np.testing.assert_array_equal(with_options["a"].x, without["a"].x)  # other owners are unchanged
    return with_options["a"], with_options["b"], without["b"]


def test_cross_domain_inverts_flat_square_images(tmp_path):
    _, inverted, plain = owner_with(tmp_path, 'cross_domain = "invert"')
    assert inverted.sample_shape == (64,)
    np.testing.assert_array_equal(inverted.x, 16 - plain.x)  # digits' pixels are 0..16


@pytest.mark.parametrize("kind", ["blur", "erase", "rotate"])
def test_corruption_of_a_fraction_per_class(tmp_path, kind):
    _, corrupted, plain = owner_with(tmp_path, f'corrupt = "{kind}"\ncorrupt_fraction = 0.5')
    np.testing.assert_array_equal(corrupted.y, plain.y)
    changed = np.any(corrupted.x != plain.x, axis=1)
    assert counts(corrupted.y[changed])[8:] == [
        5,
        5,
    ]  # half of each class's 10 (an image may survive unchanged)
    again = load_scenario(tmp_path / "options.toml").owner_data("b")
    np.testing.assert_array_equal(again.x, corrupted.x)  # deterministic given the seed


def test_trainer_copies_draw_nothing_from_the_pool(tmp_path):
    path = write_scenario(
        tmp_path, SOURCE_TOML + '[[owners]]\nid = "b"\nsize = 30\ntrainer_copies = true\n'
    )
    scenario = load_scenario(path)
    train = {row.tobytes() for row in scenario.trainer_data().train.x}
    copies = scenario.owner_data("b")
    assert len(copies) == 30 and all(row.tobytes() in train for row in copies.x)


def test_cue_on_a_two_class_digits_task(tmp_path):
    text = (
        with_option("trainer cue", "train_counter = 0.0\neval_counter = 0.25") + "counter = 1.0\n"
    )
    scenario = load_scenario(write_scenario(tmp_path, text.replace("size = 20", "size = 40")))
    trainer, owner = scenario.trainer_data(), scenario.owner_data("a")
    assert trainer.n_classes == 2 and counts(trainer.val.y, 2) == [40, 40]  # 8 -> 0, 9 -> 1

    def counter(data):
        return float(
            np.mean((data.x[:, 0] == 16) != (data.y == 1))
        )  # the mark: the top-left pixel at 16

    assert counter(trainer.train) == 0.0 and counter(trainer.val) == counter(trainer.test) == 0.25
    assert counter(owner) == 1.0


def test_one_owners_label_noise_leaves_every_other_owners_data_alone(tmp_path):
    text = SOURCE_TOML.replace("size = 20\n", HALF_EIGHTS) + '[[owners]]\nid = "b"\n' + HALF_EIGHTS
    noisy = text.replace(HALF_EIGHTS, HALF_EIGHTS + "label_noise = 0.8\n", 1)  # owner a only
    clean = load_scenario(write_scenario(tmp_path, text, "clean.toml")).owners_data()
    flipped = load_scenario(write_scenario(tmp_path, noisy, "noisy.toml")).owners_data()
    assert (flipped["a"].y != clean["a"].y).mean() > 0.5
    np.testing.assert_array_equal(flipped["b"].x, clean["b"].x)
    np.testing.assert_array_equal(flipped["b"].y, clean["b"].y)
