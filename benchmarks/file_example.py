"""Write the data of the file-based example `simulations/clinics.toml`: `simulations/clinics/*.npz`.

The files are the built-in `digits` scenario (simulations/digits.toml) exported as the user's own
files: the trainer's train/val/test sets and one file per owner, each with arrays x float32 (n, 64)
and y int64 (n,). Regenerating them gives the same arrays (the zip timestamps are fixed too, so git
stays clean). The scenario file that uses them, simulations/clinics.toml, is written by hand.

Run from the repository's root: .venv/bin/python -m benchmarks.file_example (benchmarks/simulate.py
builds its owners from the same files).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from mycroft_fl.core.data import Dataset
from mycroft_fl.scenarios.spec import load_scenario

OUT = Path(__file__).resolve().parent.parent / "simulations" / "clinics"


def build() -> dict[str, Dataset]:
    """Every file of the example by stem: trainer_{train,val,test} and owner_<id>."""
    scenario = load_scenario("digits")
    trainer = scenario.trainer_data()
    parts = {
        "trainer_train": trainer.train,
        "trainer_val": trainer.val,
        "trainer_test": trainer.test,
    }
    parts.update({f"owner_{o}": scenario.owner_data(o) for o in scenario.owner_ids})
    return parts


def write_npz(path: Path, data: Dataset) -> None:
    """A compressed .npz with fixed timestamps, so the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, array in (("x", data.x), ("y", data.y)):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
            zf.writestr(
                zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                buf.getvalue(),
                compress_type=zipfile.ZIP_DEFLATED,
            )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for stem, data in build().items():
        path = OUT / f"{stem}.npz"
        write_npz(path, data)
        print(
            f"{path.relative_to(OUT.parent.parent)}: {len(data)} samples, {path.stat().st_size / 1024:.0f} KB"
        )


if __name__ == "__main__":
    main()
