"""Owner and trainer `.npz` files cut from scikit-learn's digits, for the deployment tests: a trainer thin
in the hard classes 8 and 9 and owners with given per-class counts, plus the scenario file naming them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

HARD = (8, 9)
TRAINER = {
    "trainer_train": {c: 3 if c in HARD else 25 for c in range(10)},  # thin in the hard classes
    "trainer_val": {c: 40 for c in range(10)},
    "trainer_test": {c: 40 for c in range(10)},
}


OWNERS = {  # owner id -> per-class sample counts of its file (the deployment tests' three)
    "rich": {**{c: 8 for c in range(8)}, 8: 30, 9: 30},  # half of it 8s and 9s
    "unrelated": {c: 15 for c in range(8)},  # no 8 or 9 at all
    "clinic-mixed": {c: 12 for c in range(10)},  # in between
}


def write_digit_files(
    d: Path,
    name: str,
    owners: dict[str, dict[int, int]],
    unlisted: dict[str, dict[int, int]] | None = None,
) -> Path:
    """Write the trainer's files, `d/OWNER.npz` for every owner (per-class sample counts, no sample in two
    files) and for every `unlisted` one (a file that the scenario does not name), and the scenario `name`
    listing the owners; return the scenario file."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = bunch.data.astype(np.float32), bunch.target.astype(np.int64)
    rng = np.random.default_rng(0)
    pool = {c: list(rng.permutation(np.flatnonzero(y == c))) for c in range(10)}
    for file, counts in {**TRAINER, **owners, **(unlisted or {})}.items():
        idx = []
        for c, n in counts.items():
            idx += pool[c][:n]
            del pool[c][:n]
        idx = rng.permutation(np.array(idx))
        np.savez(d / f"{file}.npz", x=x[idx], y=y[idx])
    scenario = d / "scenario.toml"
    scenario.write_text(
        f'name = "{name}"\nseed = 0\n\n[trainer]\ntrain = "trainer_train.npz"\nval = "trainer_val.npz"\n'
        'test = "trainer_test.npz"\nmodel = "mlp"\nembedder = "raw"\nhard_classes = [8, 9]\n\n'
        + "".join(f'[[owners]]\nid = "{o}"\ndata = "{o}.npz"\n\n' for o in owners)
    )
    return scenario
