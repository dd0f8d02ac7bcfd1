"""Time owner-side selection on a large synthetic owner and record it in BENCHMARKS.md.

Owner: 50,000 samples, 128-d penultimate features, 10 classes, logits from a random linear head, 64-d
embeddings. Trainer: 8 hard samples in each of the 10 classes. Budget 256. Each timing covers what an owner
does: `last_layer_gradients` on all its samples, then `select`. Median of 5 runs.

Run: .venv/bin/python scripts/bench_selection.py
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np
from benchmarks_md import write_section  # scripts/ is on sys.path when run as a script

from mycroft_fl.owner.gradients import last_layer_gradients
from mycroft_fl.owner.selectors import HardView, OwnerView, make_selector

N_OWNER, FEATURES, CLASSES, EMBEDDING, HARD_PER_CLASS, BUDGET, RUNS = 50_000, 128, 10, 64, 8, 256, 5
TARGET_SECONDS = 2.0
SECTION = "## Owner-side selection time"


def synthetic(seed: int = 0):
    """Class-structured features and embeddings, logits from a random linear head."""
    rng = np.random.default_rng(seed)
    feature_means = rng.normal(size=(CLASSES, FEATURES)).astype(np.float32)
    embedding_means = rng.normal(size=(CLASSES, EMBEDDING)).astype(np.float32)
    weight = rng.normal(size=(CLASSES, FEATURES)).astype(np.float32) / np.sqrt(FEATURES)
    bias = rng.normal(size=CLASSES).astype(np.float32)

    def sample(labels):
        features = np.maximum(feature_means[labels] + rng.normal(size=(len(labels), FEATURES)), 0)
        embeddings = embedding_means[labels] + 2 * rng.normal(size=(len(labels), EMBEDDING))
        return (
            features.astype(np.float32),
            features @ weight.T + bias,
            embeddings.astype(np.float32),
        )

    owner_y = rng.integers(0, CLASSES, size=N_OWNER)
    hard_y = np.repeat(np.arange(CLASSES), HARD_PER_CLASS)
    hard_features, hard_logits, hard_embeddings = sample(hard_y)
    hard_gradients = last_layer_gradients(hard_features, hard_logits, hard_y)
    targets = {c: hard_gradients[hard_y == c].sum(axis=0) for c in range(CLASSES)}
    return (owner_y, *sample(owner_y)), HardView(hard_y, hard_embeddings, targets)


def owner_side(method: str, owner_data, hard: HardView) -> np.ndarray:
    """What one owner runs: gradients of all its samples, then the selection."""
    y, features, logits, embeddings = owner_data
    gradients = last_layer_gradients(features, logits, y)
    return make_selector(method).select(OwnerView(y, embeddings, gradients), hard, BUDGET)


def main() -> None:
    owner_data, hard = synthetic()
    rows = []
    for method in ("gradmatch", "mycroft"):
        times = []
        for _ in range(RUNS):
            start = time.perf_counter()
            picks = owner_side(method, owner_data, hard)
            times.append(time.perf_counter() - start)
        rows.append((method, statistics.median(times), min(times), max(times), len(picks)))

    table = [
        "| method | median (s) | min (s) | max (s) | picks | target ≤ 2 s |",
        "|---|---|---|---|---|---|",
    ] + [
        f"| {m} | {med:.2f} | {lo:.2f} | {hi:.2f} | {k} | {'met' if med <= TARGET_SECONDS else 'MISSED'} |"
        for m, med, lo, hi, k in rows
    ]
    print("\n".join(table))
    write_section(
        f"{SECTION}\n\n"
        f"One owner with {N_OWNER:,} samples ({FEATURES}-d features, {CLASSES} classes, logits from a random "
        f"linear head, {EMBEDDING}-d embeddings); {HARD_PER_CLASS} hard samples in each of the {CLASSES} "
        f"classes; budget {BUDGET}. Each time covers `last_layer_gradients` on all owner samples plus "
        f"`select`; median of {RUNS} runs. Target: ≤ {TARGET_SECONDS:g} s each.\n\n"
        + "\n".join(table)
        + f"\n\nMachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"NumPy {np.__version__} (default threads).\n\n"
        "Command: `.venv/bin/python scripts/bench_selection.py`\n"
    )


if __name__ == "__main__":
    main()
