"""Commit, then open: an owner fixes its whole data set in one hash before the trainer draws what to audit.

The owner sorts its rows by label (`committed_order`), builds a Merkle tree over them (`MerkleTree`) and
sends only the `Commitment`: a 32-byte root and how many rows it holds of each class. The trainer then
draws audit positions inside the ranges of the classes it wants to audit, with its own randomness; the
owner opens those rows (and its picks) with sibling paths (`MerkleTree.prove`), and the trainer checks
them (`verify_openings`). A row that does not open, or whose label is not the class its position's range
claims, is evidence against the owner. What this proves: the opened rows come from one data set fixed
before the challenge. What it does not: that the data set is real, or private (opened rows are revealed).

Positions 0..n-1 name rows in the committed (label-sorted) order from the commitment on.

The encoding (fixed: a change of any byte here changes every root):

- leaf at position p: ``sha256(b"\\x00" + p as uint64 LE + label as int64 LE + row)``, where the row is the
  sample flattened and cast to float32 little-endian (its bit pattern: -0.0 is not 0.0, NaN payloads count);
- inner node: ``sha256(b"\\x01" + left + right)``; the last node of a level with an odd number of nodes has
  no sibling and is promoted unchanged to the next level (it is not paired with a copy of itself);
- the tree root of no rows is 32 zero bytes;
- published root: ``sha256(b"\\x02" + n as uint64 LE + counts as int64 LE + tree root)``, binding the row
  count and the rows per class to the tree.

A proof of one row is ``depth = ceil(log2(n))`` sibling hashes, leaf level first. At a level where the
row's node has no sibling (the verifier knows n, so it knows which levels those are) the entry is all
zeros, and verification requires it to be: there is exactly one valid proof per row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mycroft_fl.core.errors import InputError

HASH = 32  # bytes of a sha256 digest
LEAF, NODE, ROOT = b"\x00", b"\x01", b"\x02"
EMPTY_TREE = bytes(HASH)  # the tree root of no rows
MAX_ROWS = 2**63 - 1  # row counts travel as int64
CHUNK = 65536  # rows whose leaf encodings are held at once while hashing

_sha256 = hashlib.sha256


def committed_order(y: Any) -> np.ndarray:
    """The owner's row at each committed position: a stable sort of its rows by label.

    Sorting by label is what lets the commitment say how many rows of each class the owner holds, and
    the trainer draw audit positions inside a class; the stable sort keeps the owner's own order among
    rows of one class, so that order is part of what the owner commits to.

    Parameters
    ----------
    y : array-like of int, shape (n,)
        The owner's labels, in its own row order.

    Returns
    -------
    np.ndarray of int64, shape (n,)
        ``order[p]`` is the owner's row at committed position ``p``: commit to ``x[order], y[order]``.
    """
    labels = _labels(y, "labels")
    return np.argsort(labels, kind="stable").astype(np.int64)


def tree_depth(n: int) -> int:
    """Sibling hashes in one row's proof in a tree of `n` rows: ceil(log2(n)), 0 for one row or none.

    Parameters
    ----------
    n : int
        Rows in the tree.

    Returns
    -------
    int
        The number of levels above the leaves.
    """
    return max(int(n) - 1, 0).bit_length()


def level_sizes(n: int) -> list[int]:
    """Nodes at each level of a tree of `n` rows, the leaves first and the root's level last."""
    sizes = [int(n)]
    while sizes[-1] > 1:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def opening_bytes(n: int, k: int, n_classes: int, row_floats: int) -> dict[str, int]:
    """Bytes on the wire for a commitment to `n` rows and `k` openings of it.

    Parameters
    ----------
    n : int
        Rows committed to.
    k : int
        Rows opened (audit and picks).
    n_classes : int
        Classes in the commitment's counts.
    row_floats : int
        Floats in one (flattened) sample.

    Returns
    -------
    dict[str, int]
        ``commitment``: the root (32) and the counts (8 per class); ``challenge``: the drawn positions
        (8 each); ``proofs``: ``k * depth * 32``; ``rows``: the opened rows (4 per float) and their labels
        (8 each), which an audit sends anyway; ``total``: their sum.
    """
    parts = {
        "commitment": HASH + 8 * n_classes,
        "challenge": 8 * k,
        "proofs": k * tree_depth(n) * HASH,
        "rows": k * (4 * row_floats + 8),
    }
    return {**parts, "total": sum(parts.values())}


@dataclass(frozen=True)
class Commitment:
    """What leaves the owner before the challenge: the published root and the rows per class.

    Parameters
    ----------
    root : bytes
        The published root (32 bytes), which binds `counts` and the tree root.
    counts : tuple of int
        Rows of class 0, 1, ..., C-1, in this order in the committed order.
    """

    root: bytes
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.root, (bytes, bytearray)) or len(self.root) != HASH:
            raise InputError(f"a commitment's root must be {HASH} bytes")
        try:
            counts = tuple(_count(c) for c in self.counts)
        except TypeError:
            raise InputError("a commitment's counts must be a sequence of integers") from None
        if not counts:
            raise InputError("a commitment must count at least one class")
        if any(c < 0 for c in counts):
            raise InputError(f"a commitment's counts must not be negative, got {list(counts)}")
        if sum(counts) > MAX_ROWS:
            raise InputError(f"a commitment's counts add up to more than {MAX_ROWS} rows")
        object.__setattr__(self, "root", bytes(self.root))
        object.__setattr__(self, "counts", counts)

    @classmethod
    def bind(cls, tree_root: bytes, counts: Sequence[int]) -> Commitment:
        """The commitment to a tree with root `tree_root` and `counts` rows per class.

        Parameters
        ----------
        tree_root : bytes
            The Merkle tree's own root (32 bytes).
        counts : sequence of int
            Rows per class; their sum is the row count the published root binds.

        Returns
        -------
        Commitment
            Its root is ``sha256(b"\\x02" + n + counts + tree_root)``.
        """
        if not isinstance(tree_root, (bytes, bytearray)) or len(tree_root) != HASH:
            raise InputError(f"a tree root must be {HASH} bytes")
        try:
            counts = tuple(_count(c) for c in counts)
        except TypeError:
            raise InputError("counts must be a sequence of integers") from None
        if not counts or any(c < 0 for c in counts) or sum(counts) > MAX_ROWS:
            raise InputError(
                f"counts must be 1 or more, non-negative, adding up to at most {MAX_ROWS}"
            )
        return cls(_bind(sum(counts), counts, bytes(tree_root)), counts)

    @property
    def n(self) -> int:
        """Rows committed to."""
        return sum(self.counts)

    @property
    def n_classes(self) -> int:
        """Classes counted (0..C-1)."""
        return len(self.counts)

    def class_range(self, c: int) -> tuple[int, int]:
        """Positions ``start <= p < stop`` of class `c`'s rows in the committed order.

        Parameters
        ----------
        c : int
            A class, 0..C-1.

        Returns
        -------
        tuple of int
            ``(start, stop)``; empty (``start == stop``) when the owner holds no row of class `c`.
        """
        if not 0 <= c < len(self.counts):
            raise InputError(f"class {c} is not among the committed {len(self.counts)} classes")
        start = sum(self.counts[:c])
        return start, start + self.counts[c]

    def class_of(self, positions: Any) -> np.ndarray:
        """The class whose range holds each position: the label an honest opening there must carry.

        Parameters
        ----------
        positions : array-like of int
            Positions 0..n-1.

        Returns
        -------
        np.ndarray of int64, same shape as `positions`
        """
        p = np.asarray(positions)
        if p.size and (p.dtype.kind not in "iu" or p.min() < 0 or p.max() >= self.n):
            raise InputError(f"positions must be integers in 0..{self.n - 1}")
        stops = np.cumsum(np.asarray(self.counts, dtype=np.uint64))
        return np.searchsorted(stops, p.astype(np.uint64), side="right").astype(np.int64)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The commitment as arrays for the wire: ``root`` (uint8, 32) and ``counts`` (int64, C)."""
        return {
            "root": np.frombuffer(self.root, dtype=np.uint8).copy(),
            "counts": np.asarray(self.counts, dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> Commitment:
        """The commitment `to_arrays` gave, checked: raises `InputError` with one line saying what is wrong.

        Parameters
        ----------
        arrays : mapping
            ``root``: uint8 array of 32; ``counts``: 1-D int64 array of at least one non-negative count.

        Returns
        -------
        Commitment
        """
        if not isinstance(arrays, Mapping):
            raise InputError(
                f"a commitment must be a mapping of arrays, got {type(arrays).__name__}"
            )
        missing = [k for k in ("root", "counts") if k not in arrays]
        if missing:
            raise InputError(f"a commitment lacks {', '.join(missing)}")
        root, counts = arrays["root"], arrays["counts"]
        if not isinstance(root, np.ndarray) or root.dtype != np.uint8 or root.shape != (HASH,):
            raise InputError(
                f"a commitment's root must be a uint8 array of {HASH}, got {_describe(root)}"
            )
        if not isinstance(counts, np.ndarray) or counts.dtype != np.int64 or counts.ndim != 1:
            raise InputError(
                f"a commitment's counts must be a 1-D int64 array, got {_describe(counts)}"
            )
        return cls(root.tobytes(), tuple(int(c) for c in counts))


class MerkleTree:
    """The owner's hash tree over its rows in committed order, which proves any row against its root.

    Holds every level as a (m, 32) uint8 array: about 2 * n * 32 bytes, and not the rows.

    Parameters
    ----------
    x : array-like of numbers, shape (n, ...)
        The owner's samples in committed order (``x[committed_order(y)]``), or in its own order with
        `order`; each is flattened and committed to as float32.
    y : array-like of int, shape (n,)
        Their labels, sorted (``y[committed_order(y)]``), or in the owner's order with `order`; each
        in 0..n_classes-1.
    n_classes : int
        Classes the commitment counts (the task's, so that every owner's counts have one length).
    order : array-like of int, optional
        ``committed_order(y)`` of `x` and `y` given in the owner's own order: rows are then read a
        chunk at a time in committed order, so `x` may be a memory map and is never copied whole.
    """

    def __init__(self, x: Any, y: Any, n_classes: int, order: Any = None) -> None:
        labels = _labels(y, "labels")
        rows = x if isinstance(x, np.ndarray) else np.asarray(x)
        if order is not None:
            order = np.asarray(order, dtype=np.int64)
            labels = labels[order]
        if rows.ndim < 1 or rows.shape[0] != labels.shape[0]:
            raise InputError(f"{labels.shape[0]} labels for samples of shape {rows.shape}")
        if rows.dtype.kind not in "biuf":
            raise InputError(f"samples must be real numbers, got dtype {rows.dtype}")
        if int(n_classes) < 1:
            raise InputError(f"n_classes must be at least 1, got {n_classes}")
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise InputError(f"labels must lie in 0..{n_classes - 1}")
        if np.any(labels[1:] < labels[:-1]):
            raise InputError(
                "rows must be in committed order (sorted by label): use committed_order"
            )
        n = labels.shape[0]
        leaves = np.empty((n, HASH), dtype=np.uint8)
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            chunk = rows[start:stop] if order is None else rows[order[start:stop]]
            leaves[start:stop] = _leaf_hashes(start, labels[start:stop], chunk)
        self.levels: list[np.ndarray] = [leaves]
        while len(self.levels[-1]) > 1:
            self.levels.append(_parents(self.levels[-1]))
        self.tree_root: bytes = self.levels[-1][0].tobytes() if n else EMPTY_TREE
        counts = np.bincount(labels, minlength=int(n_classes))
        self.commitment = Commitment.bind(self.tree_root, tuple(int(c) for c in counts))

    @property
    def n(self) -> int:
        """Rows in the tree."""
        return len(self.levels[0])

    @property
    def depth(self) -> int:
        """Sibling hashes in one proof."""
        return len(self.levels) - 1

    def prove(self, positions: Any) -> np.ndarray:
        """The sibling paths that open the rows at `positions` against `commitment`.

        Parameters
        ----------
        positions : array-like of int, shape (k,)
            Positions 0..n-1 (repeats allowed here; `verify_openings` rejects them).

        Returns
        -------
        np.ndarray of uint8, shape (k, depth, 32)
            Row ``i`` holds the siblings of position ``positions[i]``'s path, leaf level first, with all
            zeros where its node has no sibling.
        """
        p = np.asarray(positions)
        if p.ndim != 1 or (p.size and p.dtype.kind not in "iu"):
            raise InputError(f"positions must be a 1-D array of integers, got {_describe(p)}")
        p = p.astype(np.int64)
        if p.size and (p.min() < 0 or p.max() >= self.n):
            raise InputError(f"positions must lie in 0..{self.n - 1}")
        proofs = np.zeros((p.size, self.depth, HASH), dtype=np.uint8)
        for level, nodes in enumerate(self.levels[:-1]):
            sibling = (p >> level) ^ 1
            has = sibling < len(nodes)
            proofs[has, level] = nodes[sibling[has]]
        return proofs


def verify_openings(
    commitment: Commitment, positions: Any, x: Any, y: Any, proofs: Any
) -> str | None:
    """Whether the rows opened at `positions` are the rows committed there; never raises.

    Each row must hash, with its label and position, up the sibling path in `proofs` to the tree root
    the commitment binds, and its label must be the class whose range in the committed order holds its
    position. Anything malformed (wrong types, dtypes or shapes, None, out-of-range or repeated
    positions) is a failed opening too.

    Parameters
    ----------
    commitment : Commitment
        What the owner committed to before the challenge.
    positions : array-like of int, shape (k,)
        The positions opened, distinct.
    x : np.ndarray of float32, shape (k, ...)
        The opened samples, exactly as committed (float32: the bytes the tree hashed).
    y : array-like of int, shape (k,)
        Their labels.
    proofs : np.ndarray of uint8, shape (k, depth, 32)
        `MerkleTree.prove(positions)` of the owner's tree.

    Returns
    -------
    str or None
        None when every row opens; else one line naming the first failure.
    """
    try:
        return _verify(commitment, positions, x, y, proofs)
    except (
        Exception
    ) as exc:  # a malformed input not foreseen below is still a failed opening, not a crash
        return f"openings could not be checked ({type(exc).__name__}: {exc})"


def _verify(commitment: Any, positions: Any, x: Any, y: Any, proofs: Any) -> str | None:
    """`verify_openings`' checks, in order: the inputs' types and shapes, then row by row."""
    if not isinstance(commitment, Commitment):
        return f"the commitment is a {type(commitment).__name__}, not a Commitment"
    n = commitment.n
    for name, value in (("positions", positions), ("rows", x), ("labels", y), ("proofs", proofs)):
        if not isinstance(value, (np.ndarray, list, tuple)):
            return f"{name} must be an array, got {type(value).__name__}"
    p, labels = _array(positions), _array(y)
    if p is None or p.ndim != 1 or (p.size and p.dtype.kind not in "iu"):
        return f"positions must be a 1-D array of integers, got {_describe(positions)}"
    k = p.shape[0]
    if labels is None or labels.shape != (k,) or (k and labels.dtype.kind not in "iu"):
        return f"labels must be {k} integers, got {_describe(y)}"
    if not isinstance(x, np.ndarray) or x.ndim < 1 or x.shape[0] != k:
        return f"rows must be an array of {k} samples, got {_describe(x)}"
    if x.dtype.kind != "f" or x.dtype.itemsize != 4:
        return f"rows must be float32, as committed, got {x.dtype}"
    depth = tree_depth(n)
    if not isinstance(proofs, np.ndarray) or proofs.dtype != np.uint8:
        return f"proofs must be a uint8 array, got {_describe(proofs)}"
    if proofs.shape != (k, depth, HASH):
        return (
            f"proofs have shape {proofs.shape}, openings of {k} rows of a tree of {n} rows "
            f"need ({k}, {depth}, {HASH})"
        )
    at = [int(v) for v in p]
    for pos in at:
        if not 0 <= pos < n:
            return f"position {pos} beyond the committed {n} rows"
    repeats, seen = k - len(set(at)), set()
    for pos in at:
        if pos in seen:
            return f"{repeats} duplicate position{'s' if repeats > 1 else ''} (first: {pos})"
        seen.add(pos)
    if not k:
        return None
    said = [int(v) for v in labels]
    claimed = commitment.class_of(p)
    for pos, label, c in zip(at, said, claimed):
        if label != c:
            return (
                f"row at position {pos} has label {label} but the commitment places it among "
                f"class {c}'s rows"
            )
    rows = np.ascontiguousarray(x.reshape(k, _row_size(x)), dtype="<f4")
    sizes = level_sizes(n)
    for i, pos in enumerate(at):
        node = _sha256(_leaf_prefix(pos, said[i]) + rows[i].tobytes()).digest()
        for level in range(depth):
            index = pos >> level
            sibling = proofs[i, level].tobytes()
            if (index ^ 1) >= sizes[level]:
                if sibling != EMPTY_TREE:
                    return (
                        f"proof of position {pos} has a sibling at level {level}, where none exists"
                    )
                continue
            pair = node + sibling if index % 2 == 0 else sibling + node
            node = _sha256(NODE + pair).digest()
        if _bind(n, commitment.counts, node) != commitment.root:
            return f"row at position {pos} does not open against the commitment"
    return None


def _bind(n: int, counts: Sequence[int], tree_root: bytes) -> bytes:
    """The published root over a tree root, the row count and the rows per class."""
    encoded = np.asarray(counts, dtype="<i8").tobytes()
    return _sha256(ROOT + int(n).to_bytes(8, "little") + encoded + tree_root).digest()


def _leaf_prefix(position: int, label: int) -> bytes:
    """The bytes of a leaf before its row: the domain byte, the position and the label."""
    return LEAF + position.to_bytes(8, "little") + label.to_bytes(8, "little", signed=True)


def _leaf_hashes(start: int, labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The leaf hashes of `rows` at positions start, start+1, ...: one sha256 per row, as (m, 32)."""
    m = labels.shape[0]
    floats = np.ascontiguousarray(rows.reshape(m, _row_size(rows)), dtype="<f4")
    width = 17 + floats.shape[1] * 4
    encoded = np.empty((m, width), dtype=np.uint8)
    encoded[:, 0] = LEAF[0]
    encoded[:, 1:9] = np.arange(start, start + m, dtype="<u8").view(np.uint8).reshape(m, 8)
    encoded[:, 9:17] = labels.astype("<i8").view(np.uint8).reshape(m, 8)
    encoded[:, 17:] = floats.view(np.uint8).reshape(m, -1)
    return _hash_rows(encoded)


def _parents(nodes: np.ndarray) -> np.ndarray:
    """The next level up: each pair's hash, and an odd last node promoted unchanged."""
    pairs = len(nodes) // 2
    encoded = np.empty((pairs, 1 + 2 * HASH), dtype=np.uint8)
    encoded[:, 0] = NODE[0]
    encoded[:, 1:] = nodes[: 2 * pairs].reshape(pairs, 2 * HASH)
    parents = _hash_rows(encoded)
    if len(nodes) % 2:
        parents = np.concatenate([parents, nodes[-1:]])
    return parents


def _hash_rows(encoded: np.ndarray) -> np.ndarray:
    """sha256 of each row of a C-contiguous (m, w) uint8 array, as an (m, 32) uint8 array."""
    m, width = encoded.shape
    if m == 0:
        return np.empty((0, HASH), dtype=np.uint8)
    flat = memoryview(np.ascontiguousarray(encoded).reshape(-1))
    digests = b"".join([_sha256(flat[i : i + width]).digest() for i in range(0, m * width, width)])
    return np.frombuffer(digests, dtype=np.uint8).reshape(m, HASH).copy()


def _labels(y: Any, name: str) -> np.ndarray:
    """`y` as a 1-D int64 array, or `InputError`."""
    labels = np.asarray(y)
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise InputError(f"{name} must be a 1-D array of integers, got {_describe(labels)}")
    if labels.size and labels.dtype.kind == "u" and labels.max() > np.iinfo(np.int64).max:
        raise InputError(f"{name} must fit in int64")
    return labels.astype(np.int64)


def _row_size(rows: np.ndarray) -> int:
    """Numbers in one sample of `rows` (shape (m, ...)): the length of its flattened row."""
    return int(np.prod(rows.shape[1:], dtype=np.int64))


def _count(c: Any) -> int:
    """An integer count (a Python or numpy integer, not a bool or a float), or TypeError."""
    if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)):
        raise TypeError(f"not an integer: {c!r}")
    return int(c)


def _array(value: Any) -> np.ndarray | None:
    """`value` as a numpy array, or None when it is not one (ragged, objects)."""
    try:
        out = np.asarray(value)
    except (ValueError, TypeError):
        return None
    return None if out.dtype == object else out


def _describe(value: Any) -> str:
    """A short description of what was given: an array's dtype and shape, or a type's name."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    if isinstance(value, (list, tuple)):
        array = _array(value)
        return f"a {type(value).__name__} of {'non-numbers' if array is None else array.dtype}"
    return type(value).__name__
