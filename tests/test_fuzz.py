"""Property-based tests: over random shapes, dtypes, values and documents, the checks never crash.

Every property is derandomized (the same examples on every run), so CI is stable; `EXAMPLES` sets
how many each one runs (RELIABILITY.md reports them).
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mycroft_fl.core.data import Dataset, TrainerData, check_dataset, load_npz
from mycroft_fl.core.errors import InputError
from mycroft_fl.scenarios.spec import Scenario, load_scenario
from mycroft_fl.trainer.strategy_config import StrategyConfig, load_strategy
from mycroft_fl.trust.replies import check_reply, reason_kind

# hypothesis itself warns when it casts a drawn value into a narrow dtype (float16): not ours
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")

EXAMPLES = {
    "reply": 800,
    "dataset": 300,
    "npz": 200,
    "scenario": 250,
    "strategy": 300,
    "records": 300,
}


def fuzz(name: str):
    return settings(
        max_examples=EXAMPLES[name],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


def one_line(message: str) -> bool:
    return bool(message.strip()) and "\n" not in message and "\r" not in message


# ---------------------------------------------------------------- arrays

NUMBER_DTYPES = [
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
    np.longdouble,
    np.bool_,
    np.complex64,
    np.complex128,
]
ODD_DTYPES = ["U3", "S2", "datetime64[s]", "timedelta64[ms]", [("a", "f4"), ("b", "i2")]]


def values_for(dtype: np.dtype) -> st.SearchStrategy:
    """Values of `dtype` with the corner cases: NaN, ±inf, huge, tiny, negative, extreme integers."""
    if dtype.kind == "f":
        width = min(dtype.itemsize * 8, 64)
        # only the corner values the dtype holds: 1e6 in float16 would be inf, which hypothesis rejects
        # as a broken strategy under numpy 1 (numpy 2 compares the inf it stored as equal)
        corners = [0.0, -0.0, 1.0, -1.0, 16.0, 1e6, -1e7, 1e30, math.nan, math.inf, -math.inf]
        largest = np.finfo(dtype).max
        return st.one_of(
            st.sampled_from([v for v in corners if not math.isfinite(v) or abs(v) <= largest]),
            st.floats(width=width, allow_nan=True, allow_infinity=True, allow_subnormal=False),
        )
    if dtype.kind == "c":
        return st.complex_numbers(allow_nan=True, allow_infinity=True, width=dtype.itemsize * 8)
    return hnp.from_dtype(dtype)


@st.composite
def arrays(draw, shape=None, dtypes=NUMBER_DTYPES, odd=True):
    """An array of random dtype (numbers, or with `odd` also text, dates, records) and shape (or the given one)."""
    choices = [np.dtype(d) for d in dtypes] + ([np.dtype(d) for d in ODD_DTYPES] if odd else [])
    dtype = draw(st.sampled_from(choices))
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
    if dtype.kind in "fcbiu":
        elements = values_for(dtype)
        if dtype == np.longdouble:
            return draw(
                hnp.arrays(np.float64, shape, elements=values_for(np.dtype(np.float64)))
            ).astype(dtype)
        return draw(hnp.arrays(dtype, shape, elements=elements))
    return np.zeros(shape, dtype=dtype)


def not_arrays():
    return st.one_of(
        st.none(),
        st.just([[1.0, 2.0]]),
        st.just((1, 2)),
        st.integers(),
        st.floats(),
        st.text(max_size=3),
        st.just(np.float64(1.0)),
        st.just(np.ma.masked_array([[1.0]])),
    )


def mostly(
    good: st.SearchStrategy, other: st.SearchStrategy, *, odds: int = 4
) -> st.SearchStrategy:
    """`good` but one time in `odds`, else `other`: mostly valid inputs, so every later check is reached."""
    return st.integers(1, odds).flatmap(lambda i: other if i == odds else good)


def good_x(n: int, sample_shape: tuple[int, ...]) -> st.SearchStrategy:
    """Small finite values of a numeric dtype (integers in -3..20 cast to it)."""
    dtypes = st.sampled_from(
        [np.float32, np.float64, np.float16, np.int64, np.int16, np.longdouble]
    )
    return st.tuples(
        hnp.arrays(np.int64, (n, *sample_shape), elements=st.integers(-3, 20)), dtypes
    ).map(lambda a: a[0].astype(a[1]))


def poisoned(n: int, sample_shape: tuple[int, ...]) -> st.SearchStrategy:
    """Valid-looking x with one value replaced (NaN, inf, huge) or the whole array cast to a bad dtype."""
    specials = st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -3e7, 5e5])
    casts = st.sampled_from([np.bool_, np.complex64, "U2", "datetime64[s]", np.float16, np.uint64])

    def poison(args):
        x, value, at, cast, how = args
        if how == "value" and x.size:
            x = x.astype(np.float64)
            x.flat[at % x.size] = value
            return x
        with np.errstate(all="ignore"):
            return x.astype(cast)

    return st.tuples(
        good_x(n, sample_shape),
        specials,
        st.integers(0, 10**6),
        casts,
        st.sampled_from(["value", "cast"]),
    ).map(poison)


@st.composite
def replies(draw):
    """A reply (x, y, indices) and the trainer's expectations. One part at a time is broken (x, y,
    indices or the options), so every check is reached; or everything is random (any shape, dtype,
    value: NaN, inf, huge, negative, or no array at all)."""
    sample_shape = tuple(draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)))
    n_classes = draw(st.integers(1, 5))
    n = draw(st.integers(0, 8))
    broken = draw(st.sampled_from(["none", "x", "x", "y", "indices", "options", "all"]))

    def part(name, good, bad):
        return draw(bad if broken in (name, "all") else good)

    any_array = st.one_of(
        arrays(), arrays(shape=(n,)), arrays(shape=(n, *sample_shape)), not_arrays()
    )
    wrong_shape = hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4).map(
        lambda shape: np.zeros(shape)
    )
    x = part(
        "x",
        good_x(n, sample_shape),
        st.one_of(any_array, poisoned(n, sample_shape), poisoned(n, sample_shape), wrong_shape),
    )
    y = part(
        "y",
        hnp.arrays(
            st.sampled_from([np.int64, np.int32, np.uint8]),
            n,
            elements=st.integers(0, n_classes - 1),
        ),
        st.one_of(any_array, hnp.arrays(np.int64, n, elements=st.integers(-2, n_classes + 2))),
    )
    indices = part(
        "indices",
        hnp.arrays(np.int64, n, elements=st.integers(0, 12), unique=True),
        st.one_of(
            any_array,
            hnp.arrays(np.int64, n, elements=st.integers(-2, 12)),
            hnp.arrays(np.uint64, n, elements=st.integers(0, 2**64 - 1)),
        ),
    )
    options = dict(
        budget=part("options", st.one_of(st.none(), st.integers(n, 10)), st.integers(0, 10)),
        local_size=part(
            "options",
            st.one_of(st.none(), st.integers(13, 20)),
            st.one_of(st.integers(-2, 15), st.floats(allow_nan=True), st.booleans(), st.just("12")),
        ),
        allowed_labels=part(
            "options", st.none(), st.lists(st.integers(0, n_classes - 1), max_size=3)
        ),
        max_abs=part("options", st.just(1e6), st.one_of(st.none(), st.floats(0, 100))),
        value_range=part("options", st.none(), st.tuples(st.floats(-20, 0), st.floats(0, 40))),
        max_padding=part("options", st.just(0.75), st.one_of(st.none(), st.floats(0, 1))),
    )
    return x, y, indices, sample_shape, n_classes, options


@fuzz("reply")
@given(replies())
def test_check_reply_never_raises_and_a_valid_reply_keeps_every_invariant(case):
    x, y, indices, sample_shape, n_classes, options = case
    with np.errstate(all="ignore"):
        subset, reason = check_reply(
            x, y, indices, sample_shape=sample_shape, n_classes=n_classes, **options
        )
    if subset is None:
        assert isinstance(reason, str) and one_line(reason)
        assert reason_kind(reason) is not None, reason
        event(f"rejected: {reason_kind(reason)}")
        return
    event("valid")
    assert reason is None and isinstance(subset, Dataset)
    n = len(subset)
    assert options["budget"] is None or n <= options["budget"]
    assert subset.x.dtype == np.float32 and subset.y.dtype == np.int64
    assert subset.x.shape == (n, *sample_shape) and subset.y.shape == (n,)
    assert np.all(np.isfinite(subset.x))
    assert np.all((subset.y >= 0) & (subset.y < n_classes))
    if options["allowed_labels"] is not None:
        assert set(subset.y.tolist()) <= set(options["allowed_labels"])
    if options["max_abs"] is not None:
        assert np.all(np.abs(subset.x) <= np.float32(options["max_abs"]) * (1 + 1e-6))
    assert len(np.unique(indices)) == n == len(indices) and (n == 0 or indices.min() >= 0)
    if options["local_size"] is not None and n:
        assert indices.max() < options["local_size"]
    if options["value_range"] is not None and n:
        assert (
            options["value_range"][0] <= subset.x.min()
            and subset.x.max() <= options["value_range"][1]
        )
    if options["budget"] is not None and options["max_padding"] is not None and n:
        assert (
            n - len(np.unique(subset.x.reshape(n, -1), axis=0)) <= options["max_padding"] * n + 1e-9
        )
    np.testing.assert_array_equal(subset.x, np.asarray(x, dtype=np.float32))
    np.testing.assert_array_equal(subset.y, np.asarray(y).astype(np.int64))


# ---------------------------------------------------------------- data files


@fuzz("dataset")
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.tuples(
            mostly(
                good_x(n, (3,)),
                st.one_of(
                    arrays(),
                    not_arrays(),
                    arrays(shape=(n, 2)),
                    st.lists(st.lists(st.floats(), max_size=3), max_size=3),
                ),
            ),
            mostly(
                hnp.arrays(
                    st.sampled_from([np.int64, np.uint8, np.float64]), n, elements=st.integers(0, 4)
                ),
                st.one_of(arrays(), arrays(shape=(n,)), not_arrays()),
            ),
        )
    ),
    st.one_of(st.none(), st.integers(1, 5)),
)
def test_check_dataset_returns_a_checked_dataset_or_raises_input_error(xy, n_classes):
    x, y = xy
    with np.errstate(all="ignore"):
        try:
            data = check_dataset(x, y, name="fuzz", n_classes=n_classes)
        except InputError as exc:
            assert one_line(str(exc))
            event("InputError")
            return
    event("Dataset")
    assert_checked(data, n_classes)


def assert_checked(data: Dataset, n_classes: int | None) -> None:
    assert data.x.dtype == np.float32 and data.y.dtype == np.int64
    assert data.x.ndim >= 2 and data.y.ndim == 1 and len(data.x) == len(data.y) > 0
    assert data.x[0].size > 0, "samples without features"
    assert np.all(np.isfinite(data.x)) and data.y.min() >= 0
    assert n_classes is None or data.y.max() < n_classes


def npz_bytes(arrays_: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays_)
    return buffer.getvalue()


@st.composite
def npz_files(draw):
    """The bytes of an .npz file: random arrays under random names, then perhaps damaged."""
    names = draw(
        mostly(
            st.just(["x", "y"]),
            st.lists(st.sampled_from(["x", "y", "z", "X"]), unique=True, max_size=3),
        )
    )
    n = draw(st.integers(1, 5))
    content = {
        k: draw(
            mostly(
                good_x(n, (2,))
                if k == "x"
                else hnp.arrays(np.int64, n, elements=st.integers(0, 4)),
                st.one_of(
                    arrays(dtypes=[d for d in NUMBER_DTYPES if d is not np.longdouble]),
                    arrays(shape=(n,), odd=False),
                ),
            )
        )
        for k in names
    }
    content = {
        k: v.astype(np.float64) if v.dtype == np.longdouble else v for k, v in content.items()
    }
    blob = npz_bytes(content)
    damage = draw(
        mostly(
            st.just("none"),
            st.sampled_from(["truncate", "flip", "garbage", "npy", "member", "method", "pickle"]),
        )
    )
    if damage == "truncate":
        blob = blob[: draw(st.integers(0, max(len(blob) - 1, 0)))]
    elif damage == "flip":
        data = bytearray(blob)
        for _ in range(draw(st.integers(1, 8))):
            if data:
                i = draw(st.integers(0, len(data) - 1))
                data[i] = draw(st.integers(0, 255))
        blob = bytes(data)
    elif damage == "garbage":
        blob = draw(st.binary(max_size=64))
    elif damage == "npy":  # a bare .npy, not an archive
        buffer = io.BytesIO()
        np.save(buffer, np.zeros((2, 2)))
        blob = buffer.getvalue()
    elif damage == "member":  # an archive member that is not a .npy, or one with an absurd header
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr(
                "x.npy",
                draw(
                    st.sampled_from(
                        [
                            b"not numpy",
                            b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', "
                            b"'fortran_order': False, 'shape': (10000000000000, 3), }"
                            + b" " * 40
                            + b"\n",
                        ]
                    )
                ),
            )
            z.writestr("y.npy", b"")
        blob = buffer.getvalue()
    elif damage == "pickle":  # an object array: loading it would unpickle
        blob = npz_bytes({"x": np.array([[1.0, None]], dtype=object), "y": np.zeros(1, np.int64)})
    elif damage == "method":  # a member compressed with a method zipfile cannot read, or encrypted
        data = bytearray(blob)
        for sig in (b"PK\x03\x04", b"PK\x01\x02"):
            at = data.find(sig)
            if at >= 0:
                off = at + (8 if sig == b"PK\x03\x04" else 10)
                if draw(st.booleans()):
                    data[off : off + 2] = (99).to_bytes(2, "little")  # compression method 99
                else:
                    data[off - 2 : off] = (1).to_bytes(2, "little")  # flag bit 0: encrypted
        blob = bytes(data)
    return blob


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    """A folder with valid data files for the scenarios that name them (t, v, s: trainer; o: owner)."""
    folder = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(0)
    for name in ("t", "v", "s", "o"):
        np.savez(folder / f"{name}.npz", x=rng.normal(size=(30, 4)), y=np.arange(30) % 3)
    return folder


@fuzz("npz")
@given(blob=npz_files(), n_classes=st.one_of(st.none(), st.integers(1, 5)))
def test_load_npz_returns_a_checked_dataset_or_raises_input_error(fuzz_dir, blob, n_classes):
    path = fuzz_dir / "data.npz"
    path.write_bytes(blob)
    with np.errstate(all="ignore"):
        try:
            data = load_npz(path, n_classes=n_classes)
        except InputError as exc:
            assert one_line(str(exc))
            event("InputError")
            return
    event("Dataset")
    assert_checked(data, n_classes)


# ---------------------------------------------------------------- TOML documents


def toml_key(key: str) -> str:
    return (
        key
        if key and all(c.isalnum() or c in "-_" for c in key) and key.isascii()
        else toml_value(key)
    )


def toml_value(value) -> str:
    """TOML text for a value (strings escaped so they round-trip, floats including nan and inf)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return (
            '"'
            + "".join(
                c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in value
            )
            + '"'
        )
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Raw):
        return value.text
    raise TypeError(value)


class Raw:
    """Literal TOML text for a value (dates, times)."""

    def __init__(self, text: str):
        self.text = text


def toml_document(doc: dict) -> str:
    lines = [
        f"{toml_key(k)} = {toml_value(v)}"
        for k, v in doc.items()
        if not isinstance(v, dict)
        and not (isinstance(v, list) and v and all(isinstance(t, dict) for t in v))
    ]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"[{toml_key(k)}]")
            lines += [f"{toml_key(kk)} = {toml_value(vv)}" for kk, vv in v.items()]
        elif isinstance(v, list) and v and all(isinstance(t, dict) for t in v):
            for table in v:
                lines.append(f"[[{toml_key(k)}]]")
                lines += [f"{toml_key(kk)} = {toml_value(vv)}" for kk, vv in table.items()]
    return "\n".join(lines) + "\n"


texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=6)
scalars = st.one_of(
    st.integers(-3, 200),
    st.integers(),
    st.sampled_from([2**63 - 1, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    texts,
    st.sampled_from(
        [
            "digits",
            "mlp",
            "raw",
            "trainer",
            "x.npz",
            "a:b",
            "",
            "mycroft",
            "gradmatch",
            "random",
            "full-information",
            "retrieval",
        ]
    ),
    st.sampled_from([Raw("1979-05-27T07:32:00Z"), Raw("1979-05-27"), Raw("07:32:00")]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=8,
)
CLASS_LISTS = st.lists(st.one_of(st.integers(-1, 12), scalars), max_size=4)


def tables(keys: dict[str, st.SearchStrategy], required: tuple[str, ...] = ()) -> st.SearchStrategy:
    """A table with some of `keys` (values mostly from their plausible strategy, else any TOML value),
    and now and then an unknown key."""
    known = st.fixed_dictionaries(
        {k: keys[k] for k in required},
        optional={k: mostly(v, values, odds=10) for k, v in keys.items() if k not in required},
    )
    odd = mostly(st.just({}), st.dictionaries(texts, values, min_size=1, max_size=1), odds=10)
    return st.tuples(known, odd).map(lambda kv: {**kv[0], **kv[1]})


def class_list(top: int = 9, min_size: int = 1) -> st.SearchStrategy:
    return st.lists(st.integers(0, top), min_size=min_size, max_size=3, unique=True)


def fraction(low: float = 0.0, high: float = 1.0) -> st.SearchStrategy:
    return st.floats(low, high, allow_nan=False)


TRAINER = {
    "model": st.sampled_from(["mlp", "nope"]),
    "embedder": st.sampled_from(["raw", "trainer"]),
    "hard_classes": class_list(),
    "thin_classes": class_list(min_size=0),
    "query_fraction": fraction(0.1, 0.9),
    "retrain": st.booleans(),
    "combine_top": st.integers(1, 5),
    "epochs": st.integers(1, 3),
    "finetune_epochs": st.integers(1, 3),
    "lr": fraction(1e-4, 0.1),
    "finetune_lr": fraction(1e-4, 0.1),
    "batch_size": st.integers(1, 64),
    "weight_decay": fraction(0, 1e-3),
    "n_classes": st.integers(2, 10),
    "train_per_class": st.integers(1, 30),
    "thin_per_class": st.integers(0, 5),
    "val_per_class": st.integers(1, 40),
    "test_per_class": st.integers(1, 40),
}
FILES = {"train": st.just("t.npz"), "val": st.just("v.npz"), "test": st.just("s.npz")}
OWNER = {
    "id": st.sampled_from(["a", "b", "c"]),
    "size": st.integers(1, 100),
    "classes": class_list(),
    "shares": st.dictionaries(
        mostly(st.integers(0, 9).map(str), st.sampled_from(["-1", "x", "1_0", " 2", "99"])),
        mostly(
            fraction(0, 0.3),
            st.sampled_from([math.nan, math.inf, -0.1, 2.0, 10**400, True, "0.1", [0.1]]),
            odds=3,
        ),
        max_size=3,
    ),
    "label_noise": fraction(),
    "description": texts,
}


@st.composite
def scenario_documents(draw):
    """A scenario document: built-in source or user files, mostly plausible, with random parts."""
    doc = draw(tables({"name": texts, "seed": st.integers(0, 5), "description": texts}))
    files = draw(st.booleans())
    if draw(mostly(st.just(not files), st.booleans(), odds=10)):
        doc["data"] = draw(
            tables(
                {"source": mostly(st.just("digits"), st.sampled_from(["mnist", ""]))},
                required=draw(mostly(st.just(("source",)), st.just(()))),
            )
        )
    if draw(mostly(st.just(True), st.booleans(), odds=10)):
        trainer = draw(tables(TRAINER))
        if files:
            trainer.update(
                draw(
                    tables(
                        FILES,
                        required=draw(
                            mostly(
                                st.just(tuple(FILES)),
                                st.lists(st.sampled_from(sorted(FILES))).map(tuple),
                            )
                        ),
                    )
                )
            )
        doc["trainer"] = trainer
    owner = (
        tables({"id": OWNER["id"], "data": st.just("o.npz")}, required=("id", "data"))
        if files
        else tables(OWNER, required=("id", "size", "shares"))
    )
    owners = draw(
        mostly(
            st.lists(owner, min_size=1, max_size=3, unique_by=lambda o: str(o.get("id"))),
            st.one_of(st.just([]), values, st.lists(owner, min_size=2, max_size=3)),
            odds=10,
        )
    )
    if draw(mostly(st.just(True), st.booleans(), odds=10)):
        doc["owners"] = owners
    return doc


@st.composite
def damaged(draw, documents):
    """A document's text, sometimes cut short or with a random character put in."""
    text = toml_document(draw(documents))
    how = draw(mostly(st.just("none"), st.sampled_from(["cut", "insert", "bytes"])))
    if how == "cut":
        return text[: draw(st.integers(0, len(text)))].encode()
    if how == "insert":
        at = draw(st.integers(0, len(text)))
        return (
            text[:at] + draw(st.sampled_from(list("[]{}=\"'#\n,.") + ["\\u00"])) + text[at:]
        ).encode()
    if how == "bytes":
        return text.encode() + draw(st.binary(min_size=1, max_size=4))
    return text.encode()


def assert_input_error_or(kind, call):
    """`call()`, or None when it raised InputError with a one-line message; any other exception fails."""
    with np.errstate(all="ignore"):
        try:
            result = call()
        except InputError as exc:
            assert one_line(str(exc)), str(exc)
            event(f"{kind.__name__}: InputError")
            return None
    event(f"{kind.__name__}: returned")
    return result


@fuzz("scenario")
@given(damaged(scenario_documents()))
def test_load_scenario_returns_a_scenario_or_raises_input_error(fuzz_dir, text):
    path = fuzz_dir / "scenario.toml"
    path.write_bytes(text)
    scenario = assert_input_error_or(Scenario, lambda: load_scenario(path))
    if scenario is None:
        return
    assert isinstance(scenario, Scenario) and scenario.owners
    # building the data (split from the built-in source, or loaded from the files) must not crash either
    if assert_input_error_or(TrainerData, scenario.trainer_data) is not None:
        owners = assert_input_error_or(dict, scenario.owners_data)
        assert owners is None or set(owners) == set(scenario.owner_ids)


SELECTOR = {
    "name": st.sampled_from(
        ["mycroft", "gradmatch", "retrieval", "random", "full-information", "all-data"]
    ),
    "ridge": fraction(0, 5),
    "penalty": fraction(0, 5),
    "anchor": st.one_of(st.sampled_from(["nearest", "geometric-median"]), texts),
}
VALUER = {
    "name": st.sampled_from(["retrain", "loo", "shapley"]),
    "permutations": st.integers(1, 500),
    "truncation": fraction(0, 0.5),
    "exact_up_to": st.integers(0, 20),
}
STRATEGY = {
    "name": texts,
    "budget": st.integers(1, 64),
    "description": texts,
    "selector": tables(SELECTOR, required=("name",)),
    "valuer": tables(VALUER, required=("name",)),
}


@fuzz("strategy")
@given(
    damaged(tables(STRATEGY, required=("selector",))),
    mostly(st.none(), st.one_of(st.integers(-2, 64), st.booleans())),
)
def test_load_strategy_returns_a_config_or_raises_input_error(fuzz_dir, text, budget):
    path = fuzz_dir / "strategy.toml"
    path.write_bytes(text)
    config = assert_input_error_or(StrategyConfig, lambda: load_strategy(str(path), budget=budget))
    if config is None:
        return
    assert isinstance(config, StrategyConfig) and isinstance(config.name, str)
    assert isinstance(config.budget, int) and config.budget >= 1
    params = {**config.selector.params(), **config.valuer.params()}
    assert all(math.isfinite(params[k]) and params[k] > 0 for k in ("ridge",) if k in params)
    assert all(math.isfinite(params[k]) and params[k] >= 0 for k in ("penalty",) if k in params)
    assert params.get("anchor", "nearest") in ("nearest", "geometric-median")
    if "permutations" in params:
        assert isinstance(params["permutations"], int) and params["permutations"] >= 1
        assert 0 <= params["truncation"] < 1 and isinstance(params["exact_up_to"], int)
        assert 0 <= params["exact_up_to"] <= 20


def test_load_strategy_survives_deep_nesting(fuzz_dir):
    path = fuzz_dir / "deep.toml"
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + '\n[selector]\nname = "mycroft"\n')
    with pytest.raises(InputError, match="not valid TOML"):
        load_strategy(str(path))


# ---------------------------------------------------------------- scenario.py crashes the fuzzing found (fixed)

BASE = '[data]\nsource = "digits"\n[trainer]\n'
FOUND = {
    "nul in path": '[trainer]\ntrain = "a\\u0000b"\nval = "v"\ntest = "t"\n[[owners]]\nid = "a"\ndata = "o"\n',
    "huge int share": BASE + '[[owners]]\nid = "a"\nsize = 3\nshares = { 1 = ' + "9" * 400 + " }\n",
    "nan share": BASE + '[[owners]]\nid = "a"\nsize = 3\nshares = { 1 = nan }\n',
    "deep nesting": BASE + "x = " + "[" * 5000 + "]" * 5000 + '\n[[owners]]\nid = "a"\nsize = 3\n',
}


@pytest.mark.parametrize("case", sorted(FOUND))
def test_scenario_crashes_found_by_fuzzing_stay_fixed(fuzz_dir, case):
    path = fuzz_dir / "known.toml"
    path.write_text(FOUND[case])
    try:
        scenario = load_scenario(path)
        scenario.trainer_data(), scenario.owners_data()
    except InputError:
        pass


# ---------------------------------------------------------------- replies as Flower records

HARD = (8, 9)  # the digits scenario's hard classes; its samples have 64 features


@pytest.fixture(scope="module")
def small_trainer():
    """A real trainer on the digits scenario, trained briefly (its replies' checks are what matter)."""
    from dataclasses import replace

    from mycroft_fl.core.models import TrainConfig
    from mycroft_fl.trainer.trainer import Trainer

    scenario = load_scenario("digits")
    trainer = Trainer(
        scenario.trainer_data(),
        replace(scenario.trainer, training=TrainConfig(epochs=2, finetune_epochs=1)),
    )
    assert tuple(trainer.hard_classes) == HARD and trainer.data.train.sample_shape == (64,)
    return trainer


def flower_reply(content):
    """`content` as the reply to a query message, as the strategy pulls it from the Grid."""
    from flower_fakes import make_message
    from flwr.app import Error, Message, RecordDict

    query = make_message(RecordDict(), dst=7)
    if isinstance(content, str):
        return Message(Error(code=0, reason=content), reply_to=query)
    return Message(content, reply_to=query)


metric_values = st.one_of(
    st.integers(-2, 40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e30, -1.0, 2.5, 0.0, 2**62, math.nan, math.inf]),
    st.lists(st.floats(-5, 5), max_size=2),
    st.lists(st.integers(0, 5), max_size=2),
)


@st.composite
def record_replies(draw):
    """An owner's reply as Flower records: arrays of any dtype and shape, odd metrics, odd or no owner id."""
    from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict

    n = draw(st.integers(0, 6))
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=30))  # an error reply (the owner raised), any text
    good = {
        "x": good_x(n, (64,)),
        "y": hnp.arrays(np.int64, n, elements=st.sampled_from(HARD)),
        "positions": hnp.arrays(np.int64, n, elements=st.integers(0, 30), unique=True),
        "proofs": hnp.arrays(np.uint8, (n, 5, 32)),
    }
    arrays_ = {
        k: draw(
            mostly(
                v, st.one_of(st.none(), arrays(), arrays(shape=(n,)), arrays(shape=(n, 64))), odds=3
            )
        )
        for k, v in good.items()
    }
    content = RecordDict()
    if draw(mostly(st.just(True), st.booleans(), odds=10)):
        content["subset"] = ArrayRecord(
            {k: Array(np.ascontiguousarray(v)) for k, v in arrays_.items() if v is not None}
        )
    info = {
        "owner_id": draw(
            mostly(st.sampled_from(["a", "b"]), st.one_of(st.just(""), st.integers(), texts))
        )
    }
    if draw(st.integers(0, 9)) == 0:
        info["error"] = draw(st.text(max_size=20))
    if draw(mostly(st.just(True), st.booleans(), odds=10)):
        content["info"] = ConfigRecord(info)
    metrics = {
        k: draw(mostly(v, metric_values))
        for k, v in (("local_size", st.integers(30, 100)), ("selection_s", st.floats(0, 10)))
        if draw(mostly(st.just(True), st.booleans()))
    }
    content["metrics"] = MetricRecord(metrics)
    return content


def query_config(budget: int | None, method: str = "mycroft") -> StrategyConfig:
    """The strategy of a query: budget None is unbudgeted (full information, or all data for `loo`)."""
    if budget is None:
        return load_strategy("loo" if method == "loo" else "full-information")
    return load_strategy(method, budget=budget)


@fuzz("records")
@given(
    record_replies(), st.one_of(st.none(), st.integers(1, 8)), st.sampled_from(["mycroft", "loo"])
)
def test_strategy_check_of_flower_records_never_raises(small_trainer, content, budget, method):
    config = query_config(budget, method)
    result = take_flower_reply(small_trainer, flower_reply(content), config)
    event(result.status)
    assert result.status in ("ok", "rejected", "failed")
    if result.status == "ok":
        assert result.subset is not None and (not config.budgeted or len(result.subset) <= budget)
        assert isinstance(result.id, str) and result.id
    else:
        assert (
            result.subset is None and isinstance(result.reason, str) and one_line(result.reason)
        ), result.reason


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_local_size_is_rejected_not_a_crash(small_trainer, value):
    from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict

    content = RecordDict(
        {
            "subset": ArrayRecord(
                {
                    "x": Array(np.ones((1, 64), np.float32)),
                    "y": Array(np.full(1, 8)),
                    "indices": Array(np.zeros(1, np.int64)),
                }
            ),
            "info": ConfigRecord({"owner_id": "a"}),
            "metrics": MetricRecord({"local_size": value}),
        }
    )
    result = take_flower_reply(small_trainer, flower_reply(content), query_config(8))
    assert result.status == "rejected"


def take_flower_reply(trainer, reply, config):
    """A node's reply as the engine takes it: decoded by the Flower transport, then checked against
    the commitment of an owner of 31 rows (proofs of depth 5)."""
    from mycroft_fl.core.data import Dataset
    from mycroft_fl.flower.protocol import decode_reply
    from mycroft_fl.flower.transport import FlowerOwners
    from mycroft_fl.owner.holding import Holding
    from mycroft_fl.trainer.intake import take_reply
    from mycroft_fl.trainer.results import OwnerResult

    answered = FlowerOwners(None, owners=1, reply_timeout=60.0)._decode(7, reply, decode_reply)
    if isinstance(answered, OwnerResult):
        return answered
    rng = np.random.default_rng(0)
    owner = Dataset(rng.normal(size=(31, 64)).astype(np.float32), rng.integers(0, 10, 31))
    commitment = Holding(owner, 10).commitment
    from dataclasses import replace

    from mycroft_fl.trainer.acquisition import strategy_query

    query = replace(strategy_query(trainer, config), audit=3, audit_key=1)
    return take_reply(answered, config, trainer, commitment=commitment, query=query)
