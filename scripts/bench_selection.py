"""Time and size owner-side selection, and record it in BENCHMARKS.md.

Three measurements, one run:
1. End to end: one owner with 50,000 samples (128-d features, 10 classes, logits from a random linear
   head, 64-d embeddings), 8 hard samples in each of the 10 classes, budget 256: `last_layer_factors` on
   all owner samples, then `select`. Median of 5 runs.
2. Side by side on one problem (one hard class's candidates): the factored OMP (`nonneg_ridge_omp` on
   `LastLayerGradients`), a naive non-negative ridge OMP that materialises the gradients and refits with
   scipy's `nnls` on the whole support at every step, and scikit-learn's `OrthogonalMatchingPursuit`
   on the materialised gradients (plain OMP: no sign constraint, no ridge; a speed reference). Every
   time starts from the factors p and h, so the two dense methods include building the gradients.
3. Peak memory (ru_maxrss, in a fresh subprocess) of one owner selecting among 1,000,000 samples with
   1,000 classes and 512-d features.

Run: .venv/bin/python scripts/bench_selection.py
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
from benchmarks_md import write_section  # scripts/ is on sys.path when run as a script
from scipy.optimize import nnls
from sklearn.linear_model import OrthogonalMatchingPursuit

from mycroft_fl.owner.gradients import LastLayerGradients, last_layer_factors
from mycroft_fl.owner.omp import nonneg_ridge_omp
from mycroft_fl.owner.selectors import HardView, OwnerView, make_selector

N_OWNER, FEATURES, CLASSES, EMBEDDING, HARD_PER_CLASS, BUDGET, RUNS = 50_000, 128, 10, 64, 8, 256, 5
TARGET_SECONDS = 2.0
#: Side by side: candidates, classes, features, picks.
PAIR_N, PAIR_CLASSES, PAIR_FEATURES, PAIR_K = 5_000, 100, 64, 32
TARGET_RATIO = 10.0
#: Memory: owner samples, classes, features, hard classes, budget; rows built per batch.
BIG_N, BIG_CLASSES, BIG_FEATURES, BIG_HARD, BIG_BUDGET, BIG_BATCH = (
    1_000_000,
    1_000,
    512,
    10,
    100,
    10_000,
)
TARGET_GB = 2.0
RIDGE = 0.5
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
    hard_factors = last_layer_factors(hard_features, hard_logits, hard_y)
    targets = {c: hard_factors[hard_y == c].total() for c in range(CLASSES)}
    return (owner_y, *sample(owner_y)), HardView(hard_y, hard_embeddings, targets)


def owner_side(method: str, owner_data, hard: HardView) -> np.ndarray:
    """What one owner runs: the factored gradients of all its samples, then the selection."""
    y, features, logits, embeddings = owner_data
    gradients = last_layer_factors(features, logits, y)
    return make_selector(method).select(OwnerView(y, embeddings, gradients), hard, BUDGET)


def median_time(run: Callable[[], object], runs: int = RUNS) -> tuple[float, object]:
    """Median wall time of `runs` calls of `run`, and the last call's result."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def end_to_end() -> list[str]:
    """Table of measurement 1."""
    owner_data, hard = synthetic()
    rows = []
    for method in ("gradmatch", "mycroft"):
        seconds, picks = median_time(lambda m=method: owner_side(m, owner_data, hard))
        rows.append((method, seconds, len(picks)))
    return [
        f"| method | median (s) | picks | target ≤ {TARGET_SECONDS:g} s |",
        "|---|---:|---:|---|",
    ] + [
        f"| {m} | {s:.2f} | {k} | {'met' if s <= TARGET_SECONDS else 'MISSED'} |"
        for m, s, k in rows
    ]


def naive_nnls_omp(gradients: np.ndarray, target: np.ndarray, k: int) -> list[int]:
    """Textbook non-negative ridge OMP on materialised gradients: correlations with the residual, then
    scipy `nnls` on the whole ridge-augmented support, [G_S; √λ I] w ≈ [b; 0], after every pick."""
    support: list[int] = []
    residual = target
    augmented_target = np.concatenate([target, np.zeros(k)])
    for _ in range(k):
        corr = gradients @ residual
        corr[support] = -np.inf
        j = int(np.argmax(corr))
        if corr[j] <= 0:
            break
        support.append(j)
        columns = gradients[support].T
        system = np.vstack([columns, np.sqrt(RIDGE) * np.eye(len(support))])
        weights, _ = nnls(system, augmented_target[: len(target) + len(support)])
        residual = target - columns @ weights
    return support


def side_by_side() -> tuple[list[str], float]:
    """Table of measurement 2, and the factored OMP's speed-up over the naive NNLS-refit OMP."""
    rng = np.random.default_rng(1)
    weight = rng.normal(size=(PAIR_CLASSES, PAIR_FEATURES)) / np.sqrt(PAIR_FEATURES)

    def factors(n: int) -> LastLayerGradients:
        h = np.maximum(rng.normal(size=(n, PAIR_FEATURES)) + weight[0], 0).astype(np.float32)
        return last_layer_factors(h, h @ weight.T, np.zeros(n, dtype=np.int64))

    owner, target = factors(PAIR_N), factors(HARD_PER_CLASS).total()
    methods = {
        "factored OMP (`nonneg_ridge_omp`)": lambda: nonneg_ridge_omp(owner, target, PAIR_K)[0],
        "naive OMP, `nnls` refit on the support": lambda: naive_nnls_omp(
            owner.dense().astype(np.float64), target, PAIR_K
        ),
        "scikit-learn `OrthogonalMatchingPursuit`": lambda: np.flatnonzero(
            OrthogonalMatchingPursuit(n_nonzero_coefs=PAIR_K, fit_intercept=False)
            .fit(owner.dense().T, target)
            .coef_
        ),
    }
    results = {name: median_time(run) for name, run in methods.items()}
    (ours, (base_s, base_picks)), *others = results.items()
    base_set = set(np.asarray(base_picks).tolist())
    lines = [
        "| method | median (s) | factored OMP's speed-up | picks shared with the factored OMP |",
        "|---|---:|---:|---:|",
        f"| {ours} | {base_s:.3f} | 1× | {len(base_set)} of {len(base_set)} |",
    ]
    for name, (seconds, picks) in others:
        shared = len(base_set & set(np.asarray(picks).tolist()))
        lines.append(
            f"| {name} | {seconds:.3f} | {seconds / base_s:.0f}× | {shared} of {len(picks)} |"
        )
    return lines, results[next(iter(others))[0]][0] / base_s


def big_owner() -> dict[str, float]:
    """Measurement 3, run in a fresh process: one owner, its candidates' factors built class by class
    in batches of rows, the factored OMP per hard class. Prints peak RSS and time as JSON."""
    rng = np.random.default_rng(2)
    weight = (rng.normal(size=(BIG_CLASSES, BIG_FEATURES)) / np.sqrt(BIG_FEATURES)).astype(
        np.float32
    )
    per_class, share = BIG_N // BIG_HARD, BIG_BUDGET // BIG_HARD
    start = time.perf_counter()
    picked = 0
    for c in range(BIG_HARD):
        p = np.empty((per_class, BIG_CLASSES), dtype=np.float32)
        h = np.empty((per_class, BIG_FEATURES), dtype=np.float32)
        for row in range(0, per_class, BIG_BATCH):
            batch_h = rng.random((min(BIG_BATCH, per_class - row), BIG_FEATURES), dtype=np.float32)
            batch = last_layer_factors(batch_h, batch_h @ weight.T, np.full(len(batch_h), c))
            p[row : row + len(batch_h)], h[row : row + len(batch_h)] = batch.p, batch.h
        target = LastLayerGradients(p[:HARD_PER_CLASS], h[:HARD_PER_CLASS]).total()
        picked += len(nonneg_ridge_omp(LastLayerGradients(p, h), target, share)[0])
        del p, h
    return {
        "seconds": time.perf_counter() - start,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9,
        "picks": picked,
    }


def main() -> None:
    if sys.argv[1:] == ["--big-owner"]:
        print(json.dumps(big_owner()))
        return
    run = subprocess.run(
        [sys.executable, __file__, "--big-owner"], capture_output=True, text=True, check=True
    )
    big = json.loads(run.stdout)
    load = os.getloadavg()[0]  # the machine is shared: every time above depends on it
    pair_table, ratio = side_by_side()
    e2e_table = end_to_end()
    dense_tb = BIG_N * BIG_CLASSES * (BIG_FEATURES + 1) * 4 / 1e12
    text = (
        f"{SECTION}\n\n"
        f"**End to end.** One owner with {N_OWNER:,} samples ({FEATURES}-d features, {CLASSES} classes, "
        f"logits from a random linear head, {EMBEDDING}-d embeddings); {HARD_PER_CLASS} hard samples in "
        f"each of the {CLASSES} classes; budget {BUDGET}. Each time covers `last_layer_factors` on all "
        f"owner samples plus `select`; median of {RUNS} runs.\n\n"
        + "\n".join(e2e_table)
        + f"\n\n**Side by side.** One hard class: {PAIR_N:,} candidates, {PAIR_CLASSES} classes, "
        f"{PAIR_FEATURES}-d features (gradients of {PAIR_CLASSES * (PAIR_FEATURES + 1):,} values), target "
        f"the sum of {HARD_PER_CLASS} hard samples' gradients, {PAIR_K} picks, ridge {RIDGE}; median of "
        f"{RUNS} runs each, in one process. Every time starts from the factors p and h: the dense methods "
        "include building the gradients (float64 for the naive OMP, float32 for scikit-learn, which is "
        "plain OMP, without sign constraint or ridge, so its picks may differ). Target: the factored OMP "
        f"≥ {TARGET_RATIO:g}× faster than the naive NNLS-refit OMP: "
        f"**{'met' if ratio >= TARGET_RATIO else 'MISSED'}** ({ratio:.0f}×).\n\n"
        + "\n".join(pair_table)
        + f"\n\n**Memory.** One owner with {BIG_N:,} samples, {BIG_CLASSES:,} classes, {BIG_FEATURES}-d "
        f"features, all in {BIG_HARD} hard classes ({BIG_N // BIG_HARD:,} candidates each), budget "
        f"{BIG_BUDGET}: p and h generated per hard class in batches of {BIG_BATCH:,} rows through "
        "`last_layer_factors` (as an owner computing one class's features at a time would), then the "
        "factored OMP. Dense gradients would take "
        f"{dense_tb:.1f} TB; p and h of all samples at once {BIG_N * (BIG_CLASSES + BIG_FEATURES) * 4 / 1e9:.0f} "
        f"GB (float32), so the owner goes class by class. Peak resident memory (ru_maxrss of a fresh "
        f"process): **{big['peak_gb']:.2f} GB** (target ≤ {TARGET_GB:g} GB: "
        f"{'met' if big['peak_gb'] <= TARGET_GB else 'MISSED'}), {big['seconds']:.0f} s, "
        f"{big['picks']} picks.\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"NumPy {np.__version__} (default threads); load average {load:.1f} when the timings started "
        "(the machine was shared).\n\n"
        "Command: `.venv/bin/python scripts/bench_selection.py`\n"
    )
    print(text)
    write_section(text)


if __name__ == "__main__":
    main()
