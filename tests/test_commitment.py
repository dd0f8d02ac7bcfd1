"""Commit, then open (trust/commitment): honest openings verify, every kind of tampering is named, and
the verifier never raises."""

import hashlib

import numpy as np
import pytest

from mycroft_fl.core.commitment import (
    Commitment,
    MerkleTree,
    committed_order,
    opening_bytes,
    tree_depth,
    verify_openings,
)
from mycroft_fl.core.errors import InputError

C = 4  # classes


def owner(n, d=3, seed=0, classes=C):
    """An owner's data in its own order: float64 rows (as an owner may hold them) and labels."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, classes, n)


def committed(n, d=3, seed=0, classes=C):
    """The owner's rows and labels in committed order (x as float32), and its tree."""
    x, y = owner(n, d, seed, classes)
    order = committed_order(y)
    xs, ys = x[order].astype(np.float32), y[order]
    return xs, ys, MerkleTree(xs, ys, classes)


def opening(xs, ys, tree, positions):
    """What an honest owner sends for `positions`."""
    p = np.asarray(positions, dtype=np.int64)
    return p, xs[p], ys[p], tree.prove(p)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 7, 8, 9, 1000])
def test_honest_openings_verify_including_odd_levels(n):
    xs, ys, tree = committed(n, seed=n)
    assert tree.commitment.n == n and tree.depth == tree_depth(n) == int(np.ceil(np.log2(n)))
    every = opening(xs, ys, tree, np.arange(n))
    assert verify_openings(tree.commitment, *every) is None
    rng = np.random.default_rng(n)
    some = rng.choice(n, size=min(n, 32), replace=False)
    assert verify_openings(tree.commitment, *opening(xs, ys, tree, some)) is None
    # the last row of an odd level is promoted without a sibling: its proof has zeros there
    if n in (3, 5, 7, 9):
        assert not tree.prove([n - 1])[0, 0].any()


def test_no_openings_verify_and_samples_of_any_shape_are_flattened():
    xs, ys, tree = committed(10)
    assert verify_openings(tree.commitment, *opening(xs, ys, tree, [])) is None
    images = np.random.default_rng(1).random((6, 2, 3, 3)).astype(np.float32)
    labels = np.array([0, 0, 1, 2, 2, 3])
    image_tree = MerkleTree(images, labels, C)
    assert image_tree.commitment == MerkleTree(images.reshape(6, -1), labels, C).commitment
    assert (
        verify_openings(image_tree.commitment, *opening(images, labels, image_tree, [5, 0])) is None
    )


def test_the_commitment_counts_the_rows_of_each_class_in_label_order():
    x, y = owner(50, classes=5)
    order = committed_order(y)
    assert np.all(np.diff(y[order]) >= 0)
    for c in range(5):  # a stable sort: each class keeps the owner's own order
        assert list(order[y[order] == c]) == list(np.flatnonzero(y == c))
    commitment = MerkleTree(x[order], y[order], 5).commitment
    assert commitment.counts == tuple(np.bincount(y, minlength=5)) and commitment.n == 50
    for c in range(5):
        start, stop = commitment.class_range(c)
        assert np.all(y[order][start:stop] == c)
        assert np.all(commitment.class_of(np.arange(start, stop)) == c)
    absent = MerkleTree(x[:0], y[:0], 3).commitment  # no rows at all: every range is empty
    assert absent.counts == (0, 0, 0) and absent.class_range(2) == (0, 0)


def test_each_kind_of_tampering_fails_with_a_reason():
    xs, ys, tree = committed(200, seed=3)
    c = tree.commitment
    p, x, y, proofs = opening(xs, ys, tree, [0, 17, 100, 199])

    x2 = x.copy()
    x2[1, 2] += 0.5
    assert (
        verify_openings(c, p, x2, y, proofs)
        == "row at position 17 does not open against the commitment"
    )

    # a changed label fails its class range; in one class, it fails the hash (the label is hashed)
    y2 = y.copy()
    y2[2] = (y2[2] + 1) % C
    assert "has label" in verify_openings(c, p, x, y2, proofs)
    same = np.flatnonzero(ys == ys[100])
    assert len(same) > 1
    q = same[:2]
    px, xx, yx, prx = opening(xs, ys, tree, q)
    assert "does not open" in verify_openings(c, px, xx[::-1].copy(), yx, prx)  # two rows swapped
    assert "does not open" in verify_openings(c, q[::-1].copy(), xx, yx, prx)  # positions swapped
    assert "does not open" in verify_openings(c, px, xx, yx, prx[::-1].copy())  # proofs swapped

    other_xs, other_ys, other = committed(200, seed=4)
    assert "does not open" in verify_openings(c, p, x, y, other.prove(p))  # another tree's paths
    assert "does not open" in verify_openings(other.commitment, p, x, y, proofs)

    assert verify_openings(c, np.array([0, 17, 100, 200]), x, y, proofs) == (
        "position 200 beyond the committed 200 rows"
    )
    assert "beyond" in verify_openings(c, np.array([0, -1, 100, 199]), x, y, proofs)
    assert verify_openings(c, np.array([0, 17, 17, 0]), x, y, proofs) == (
        "2 duplicate positions (first: 17)"
    )
    flipped = proofs.copy()
    flipped[3, 0, 0] ^= 1
    assert "position 199 does not open" in verify_openings(c, p, x, y, flipped)


def test_a_nonzero_entry_where_a_node_has_no_sibling_fails():
    xs, ys, tree = committed(5)
    p, x, y, proofs = opening(xs, ys, tree, [4])  # position 4 of 5 has no sibling at levels 0 and 1
    assert not proofs[0, :2].any() and proofs[0, 2].any()
    proofs[0, 0, 0] = 1
    assert "has a sibling at level 0, where none exists" in verify_openings(
        tree.commitment, p, x, y, proofs
    )


def test_the_row_count_and_class_counts_are_bound():
    xs, ys, tree = committed(100, seed=5)
    c = tree.commitment
    opened = opening(xs, ys, tree, [3, 50, 99])
    shifted = list(c.counts)
    shifted[0], shifted[1] = shifted[0] + 1, shifted[1] - 1  # same n, other class ranges
    for counts in (shifted, [*c.counts[:-1], c.counts[-1] + 1], [*c.counts, 0]):
        claim = Commitment(c.root, tuple(counts))
        reason = verify_openings(claim, *opened)
        assert reason is not None and ("does not open" in reason or "proofs have shape" in reason)
    # rebinding the same tree under other counts gives another root
    assert Commitment.bind(tree.tree_root, tuple(shifted)).root != c.root
    assert Commitment.bind(tree.tree_root, c.counts) == c


def test_a_row_opened_under_another_class_range_fails():
    # a cheater's tree whose row at position 2 has label 1, published with counts saying rows 0..2 are 0s
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.array([0, 0, 1, 1, 1, 2])
    tree = MerkleTree(x, y, 3)
    cheat = Commitment.bind(tree.tree_root, (3, 2, 1))
    assert verify_openings(cheat, *opening(x, y, tree, [0, 1, 3, 5])) is None
    assert verify_openings(cheat, *opening(x, y, tree, [0, 2])) == (
        "row at position 2 has label 1 but the commitment places it among class 0's rows"
    )


def test_the_root_is_deterministic_and_moves_with_one_ulp():
    x, y = owner(300, d=8, seed=6)
    order = committed_order(y)
    root = MerkleTree(x[order], y[order], C).commitment
    assert MerkleTree(x[order].copy(), y[order].copy(), C).commitment == root
    # committed as float32 whatever the owner's dtype
    assert MerkleTree(x[order].astype(np.float32), y[order], C).commitment == root
    # any permutation of the owner's rows that keeps each class's own order gives the same commitment:
    # random slots for each class, filled with that class's rows in the owner's order
    slots = y[np.random.default_rng(7).permutation(300)]
    perm = np.empty(300, dtype=np.int64)
    for c in range(C):
        perm[slots == c] = np.flatnonzero(y == c)
    assert not np.array_equal(perm, np.arange(300))
    o = committed_order(y[perm])
    assert MerkleTree(x[perm][o], y[perm][o], C).commitment == root
    # the order within a class is the owner's, and part of what it commits to
    first, second = np.flatnonzero(y == 0)[:2]
    perm = np.arange(300)
    perm[[first, second]] = perm[[second, first]]
    o = committed_order(y[perm])
    assert MerkleTree(x[perm][o], y[perm][o], C).commitment != root
    x32 = x[order].astype(np.float32)
    x32[150, 4] = np.nextafter(x32[150, 4], np.float32(np.inf))
    assert MerkleTree(x32, y[order], C).commitment.root != root.root
    negative_zero = np.zeros((2, 2), np.float32)
    negative_zero[1, 1] = -0.0
    zeros = MerkleTree(np.zeros((2, 2), np.float32), np.array([0, 0]), 1).commitment
    assert MerkleTree(negative_zero, np.array([0, 0]), 1).commitment != zeros


def test_the_encoding_is_the_documented_one():
    x = np.array([[1.5, -2.0], [0.25, 3.0], [7.0, 8.0]], dtype=np.float64)
    y = np.array([0, 1, 1])

    def h(*parts):
        return hashlib.sha256(b"".join(parts)).digest()

    def leaf(p):
        row = x[p].astype("<f4").tobytes()
        return h(b"\x00", p.to_bytes(8, "little"), int(y[p]).to_bytes(8, "little"), row)

    tree_root = h(b"\x01", h(b"\x01", leaf(0), leaf(1)), leaf(2))  # leaf 2 promoted, not doubled
    counts = np.array([1, 2], dtype="<i8").tobytes()
    expected = h(b"\x02", (3).to_bytes(8, "little"), counts, tree_root)
    assert MerkleTree(x, y, 2).commitment.root == expected


def test_nan_rows_open_bit_for_bit():
    x = np.array([[np.nan, 1.0], [2.0, np.inf]], dtype=np.float32)
    y = np.array([0, 1])
    tree = MerkleTree(x, y, 2)
    assert verify_openings(tree.commitment, *opening(x, y, tree, [0, 1])) is None
    other_nan = x.copy()
    other_nan.view(np.uint32)[0, 0] ^= 1  # another NaN payload: other bytes
    assert np.isnan(other_nan[0, 0])
    reason = verify_openings(tree.commitment, np.array([0]), other_nan[:1], y[:1], tree.prove([0]))
    assert reason == "row at position 0 does not open against the commitment"


def test_malformed_openings_return_a_reason_and_never_raise():
    xs, ys, tree = committed(40, seed=8)
    c = tree.commitment
    p, x, y, proofs = opening(xs, ys, tree, [1, 20, 39])
    cases = {
        "commitment None": (None, p, x, y, proofs),
        "commitment dict": (c.to_arrays(), p, x, y, proofs),
        "positions None": (c, None, x, y, proofs),
        "positions float": (c, p.astype(float), x, y, proofs),
        "positions bool": (c, np.array([True, False, True]), x, y, proofs),
        "positions 2-D": (c, p[:, None], x, y, proofs),
        "positions ragged": (c, [[1], [2, 3]], x, y, proofs),
        "positions huge": (c, np.array([1, 20, 2**64 - 1], dtype=np.uint64), x, y, proofs),
        "rows None": (c, p, None, y, proofs),
        "rows float64": (c, p, x.astype(np.float64), y, proofs),
        "rows int": (c, p, x.astype(np.int32), y, proofs),
        "rows object": (c, p, x.astype(object), y, proofs),
        "rows too few": (c, p, x[:2], y, proofs),
        "rows 0-D": (c, p, np.float32(1.0), y, proofs),
        "labels None": (c, p, x, None, proofs),
        "labels float": (c, p, x, y.astype(float), proofs),
        "labels string": (c, p, x, np.array(["a", "b", "c"]), proofs),
        "labels huge": (c, p, x, np.array([2**64 - 1] * 3, dtype=np.uint64), proofs),
        "labels too many": (c, p, x, np.append(y, 0), proofs),
        "proofs None": (c, p, x, y, None),
        "proofs list": (c, p, x, y, proofs.tolist()),
        "proofs int64": (c, p, x, y, proofs.astype(np.int64)),
        "proofs too shallow": (c, p, x, y, proofs[:, :-1]),
        "proofs too deep": (c, p, x, y, np.concatenate([proofs, proofs[:, :1]], axis=1)),
        "proofs short hashes": (c, p, x, y, proofs[:, :, :31]),
        "proofs too few": (c, p, x, y, proofs[:2]),
    }
    for name, args in cases.items():
        reason = verify_openings(*args)
        assert isinstance(reason, str) and reason and "\n" not in reason, name
    assert "depth" in verify_openings(*cases["proofs too shallow"]) or "need" in verify_openings(
        *cases["proofs too shallow"]
    )
    assert (
        verify_openings(*cases["rows float64"]) == "rows must be float32, as committed, got float64"
    )
    assert verify_openings(c, p, x.astype(">f4"), y, proofs) is None  # float32 in either byte order


def test_wire_round_trip_and_malformed_commitments():
    _, _, tree = committed(30)
    c = tree.commitment
    arrays = c.to_arrays()
    assert arrays["root"].dtype == np.uint8 and arrays["root"].shape == (32,)
    assert arrays["counts"].dtype == np.int64 and list(arrays["counts"]) == list(c.counts)
    assert Commitment.from_arrays(arrays) == c
    bad = [
        None,
        {"root": arrays["root"]},
        {**arrays, "root": arrays["root"][:31]},
        {**arrays, "root": arrays["root"].astype(np.int64)},
        {**arrays, "root": arrays["root"].tobytes()},
        {**arrays, "counts": arrays["counts"].astype(np.int32)},
        {**arrays, "counts": arrays["counts"].astype(float)},
        {**arrays, "counts": arrays["counts"][None, :]},
        {**arrays, "counts": np.array([3, -1, 2], dtype=np.int64)},
        {**arrays, "counts": np.array([], dtype=np.int64)},
        {**arrays, "counts": np.array([2**62, 2**62], dtype=np.int64)},
    ]
    for arr in bad:
        with pytest.raises(InputError) as err:
            Commitment.from_arrays(arr)
        assert "\n" not in str(err.value)


def test_the_owner_side_refuses_what_it_cannot_commit_to():
    x, y = owner(10)
    with pytest.raises(InputError, match="committed order"):
        MerkleTree(x, y, C)  # not sorted by label
    order = committed_order(y)
    with pytest.raises(InputError, match="labels must lie"):
        MerkleTree(x[order], y[order], 2)
    with pytest.raises(InputError):
        MerkleTree(x[:9], np.sort(y), C)
    with pytest.raises(InputError):
        committed_order(y.astype(float))
    tree = MerkleTree(x[order], y[order], C)
    with pytest.raises(InputError):
        tree.prove([10])
    with pytest.raises(InputError):
        tree.commitment.class_range(C)


def test_opening_costs_grow_with_log_n():
    assert tree_depth(800) == 10 and tree_depth(1) == 0 and tree_depth(1024) == 10
    cost = opening_bytes(800, 32, n_classes=10, row_floats=64)
    assert cost["commitment"] == 32 + 80
    assert cost["proofs"] == 32 * 10 * 32
    assert cost["rows"] == 32 * (64 * 4 + 8)
    assert cost["total"] == sum(v for k, v in cost.items() if k != "total")
    xs, ys, tree = committed(800, d=64)
    p, x, y, proofs = opening(xs, ys, tree, np.arange(0, 800, 25))
    sent = len(tree.commitment.root) + 8 * C + p.nbytes + proofs.nbytes + x.nbytes + y.nbytes
    assert sent == opening_bytes(800, 32, n_classes=C, row_floats=64)["total"]
    # 32 openings over a million rows cost well under a megabyte
    assert opening_bytes(10**6, 32, n_classes=10, row_floats=784)["total"] < 200_000
