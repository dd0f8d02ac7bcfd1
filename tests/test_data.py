"""Labelled arrays: every bad input is an InputError with a one-line message naming the file and problem."""

import numpy as np
import pytest

from mycroft_fl.core.data import Dataset, TrainerData, check_dataset, load_npz, save_npz
from mycroft_fl.core.errors import InputError


def good_arrays(n=12, d=5, n_classes=3):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, d)), np.arange(n) % n_classes


def load_error(path, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        load_npz(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def write(path, **arrays):
    np.savez(path, **arrays)
    return path


# --- file-level problems -------------------------------------------------------------------------


def test_missing_file(tmp_path):
    assert "no such file" in load_error(tmp_path / "absent.npz")


def test_directory_is_not_a_file(tmp_path):
    assert "no such file" in load_error(tmp_path)


@pytest.mark.parametrize("content", [b"", b"hello, not an archive\n", b"PK\x03\x04 truncated"])
def test_not_an_npz(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    assert "not an .npz" in load_error(path)


def test_npy_file_instead_of_npz(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((3, 2)))
    assert "not an .npz" in load_error(path)


def test_truncated_npz(tmp_path):
    full = write(tmp_path / "full.npz", x=np.zeros((50, 4)), y=np.zeros(50, int))
    path = tmp_path / "cut.npz"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    assert "npz" in load_error(path)


def test_corrupt_compressed_member(tmp_path):
    path = tmp_path / "corrupt.npz"
    rng = np.random.default_rng(0)
    np.savez_compressed(path, x=rng.normal(size=(200, 20)), y=np.arange(200) % 3)
    raw = bytearray(path.read_bytes())
    for i in range(200, 600):  # inside the first member's deflate stream
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert "not a readable .npz" in load_error(path)


@pytest.mark.parametrize("present, absent", [("y", "'x'"), ("x", "'y'")])
def test_missing_array(tmp_path, present, absent):
    path = write(
        tmp_path / "part.npz", **{present: np.zeros((3, 2)) if present == "x" else np.zeros(3, int)}
    )
    message = load_error(path)
    assert "missing array" in message and absent in message


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    path = write(tmp_path / "obj.npz", x=np.array([[1.0, "a"]], dtype=object), y=np.array([0]))
    assert "object" in load_error(path).lower()


# --- array-level problems, through a file and directly -------------------------------------------

X, Y = good_arrays()
BAD = {
    "non-numeric x": (np.array([["a", "b"], ["c", "d"]]), np.array([0, 1]), "numeric"),
    "complex x": (np.ones((2, 2), dtype=complex), np.array([0, 1]), "numeric"),
    "fractional float labels": (X, Y + 0.5, "integer"),
    "boolean labels": (X[:2], np.array([True, False]), "integer"),
    "x 1-d": (np.arange(4.0), np.array([0, 1, 0, 1]), "shape"),
    "y 2-d": (X, Y[:, None], "shape"),
    "empty": (np.zeros((0, 5)), np.zeros(0, dtype=np.int64), "no samples"),
    "empty float y": (np.zeros((0, 5)), np.zeros(0), "no samples"),
    "length mismatch": (X, Y[:-1], "12 samples but y has 11"),
    "nan": (np.where(np.eye(12, 5) > 0, np.nan, X), Y, "NaN or inf in 5 samples"),
    "inf": (np.where(np.eye(12, 5) > 0, np.inf, X), Y, "NaN or inf"),
    "negative label": (X, np.where(np.arange(12) == 3, -1, Y), "labels outside"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_arrays_in_file(tmp_path, case):
    x, y, words = BAD[case]
    path = write(tmp_path / "data.npz", x=x, y=y)
    assert words in load_error(path)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_arrays_direct_name_the_source(case):
    x, y, words = BAD[case]
    with pytest.raises(InputError, match=words) as info:
        check_dataset(x, y, name="clinic-a")
    assert str(info.value).startswith("clinic-a: ")


def test_label_at_or_above_n_classes(tmp_path):
    path = write(tmp_path / "data.npz", x=X, y=np.where(np.arange(12) == 0, 3, Y))
    assert "labels outside 0..2 (found 0..3)" in load_error(path, n_classes=3)
    assert len(load_npz(path, n_classes=4)) == 12  # the same file is fine with more classes


def test_ragged_sequences_are_an_input_error():
    with pytest.raises(InputError, match="rectangular"):
        check_dataset([[1.0, 2.0], [3.0]], [0, 1])


# --- good data -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x_dtype, y_dtype", [(np.float64, np.int32), (np.uint8, np.uint8), (np.float32, np.float64)]
)
def test_round_trip_converts_to_float32_int64(tmp_path, x_dtype, y_dtype):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 16, size=(10, 2, 3)).astype(x_dtype)
    y = (np.arange(10) % 4).astype(y_dtype)
    data = check_dataset(x, y, n_classes=4)
    assert data.x.dtype == np.float32 and data.y.dtype == np.int64
    save_npz(tmp_path / "d.npz", data)
    back = load_npz(tmp_path / "d.npz", n_classes=4)
    assert back.x.dtype == np.float32 and back.y.dtype == np.int64
    np.testing.assert_array_equal(back.x, x.astype(np.float32))
    np.testing.assert_array_equal(back.y, y.astype(np.int64))
    assert back.sample_shape == (2, 3) and len(back) == 10


def test_subset_and_concat():
    data = check_dataset(X, Y)
    part = data.subset(np.array([3, 1]))
    np.testing.assert_array_equal(part.y, Y[[3, 1]])
    both = Dataset.concat([part, data])
    assert len(both) == 14 and both.x.shape == (14, 5)


def test_trainer_data_refuses_mismatched_sample_shapes():
    a, b = check_dataset(X, Y), check_dataset(X[:, :4], Y)
    with pytest.raises(InputError, match="trainer test: sample shape"):
        TrainerData(a, a, b, n_classes=3)


def test_trainer_data_refuses_labels_beyond_its_number_of_classes():
    ok = Dataset(np.zeros((4, 3), np.float32), np.array([0, 1, 2, 9]))
    with pytest.raises(
        InputError, match=r"trainer train: labels outside 0\.\.4 \(found 0\.\.9; n_classes is 5\)"
    ):
        TrainerData(ok, ok, ok, n_classes=5)
    for bad in (1, 0, 2.5, True):
        with pytest.raises(InputError, match="n_classes must be an integer >= 2"):
            TrainerData(ok, ok, ok, n_classes=bad)
    assert TrainerData(ok, ok, ok, n_classes=10).n_classes == 10
