"""Owner-side selection: its time end to end, the factored OMP against dense ones, and the memory of the
owner's real entry point.

1. End to end: one owner with 50,000 samples (128-d features, 10 classes, logits from a random linear
   head, 64-d embeddings), 8 hard samples in each of the 10 classes, budget 256: `last_layer_factors` on
   all owner samples, then `select`. Median of 5 runs.
2. Side by side on one problem (one hard class's candidates): the factored OMP (`nonneg_ridge_omp` on
   `LastLayerGradients`), a naive non-negative ridge OMP that materialises the gradients and refits with
   scipy's `nnls` on the whole support at every step, and scikit-learn's `OrthogonalMatchingPursuit`
   on the materialised gradients (plain OMP: no sign constraint, no ridge; a speed reference). Every
   time starts from the factors p and h, so the two dense methods include building the gradients.
3. Peak memory of the owner's real entry point, `select_for_query`, in a fresh process per run
   (`python -m benchmarks.selection --big-owner DIR N`): an owner with 1,000,000 samples of 512 raw
   features (uniform over 1,000 classes, x a float32 .npy it memory-maps), the trainer's 1,000-class `mlp`
   (128 penultimate features), embedder `raw`, selector mycroft; a query with 10 hard classes and one
   with all 1,000. Peak RSS (VmHWM) counts the data file's pages the selection read; the memory the owner
   allocates is the peak of RssAnon, sampled every 10 ms by the probe. The 10-class case also runs with x
   loaded in memory. `--quick` (or `--no-memory`) leaves measurement 3 out.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.md import Reading, paragraphs, provenance, table
from benchmarks.probe import MemorySampler, load, median_time, proc_kb

TITLE = "## Owner-side selection time"
ROOT = Path(__file__).resolve().parent.parent
N_OWNER, FEATURES, CLASSES, EMBEDDING, HARD_PER_CLASS, BUDGET, RUNS = 50_000, 128, 10, 64, 8, 256, 5
TARGET_SECONDS = 2.0
#: Side by side: candidates, classes, features, picks.
PAIR_N, PAIR_CLASSES, PAIR_FEATURES, PAIR_K = 5_000, 100, 64, 32
TARGET_RATIO = 10.0
#: Memory: owner samples, classes, raw features; picks per hard class; the queries' hard classes.
BIG_N, BIG_CLASSES, BIG_FEATURES, BIG_PICKS, BIG_HARD = 1_000_000, 1_000, 512, 10, (10, 1_000)
#: Runs of the 10-class case (the 1,000-class case runs once); rows written per chunk.
BIG_RUNS, BIG_CHUNK = 3, 50_000
#: Seconds a fresh process of measurement 3 may take before it counts as hung (the 1,000-class case
#: took 169 s on a shared 2-core machine).
BIG_TIMEOUT = 1800
#: The trainer's model: built-in, 128 penultimate features (`logreg`'s would be the 512 inputs, at
#: 3x the time).
BIG_MODEL = "mlp"
TARGET_GB = 2.0
RIDGE = 0.5


def add_options(parser) -> None:
    parser.add_argument(
        "--no-memory", action="store_true", help="leave out the 1,000,000-sample owner (3)"
    )


def synthetic(seed: int = 0):
    """Class-structured features and embeddings, logits from a random linear head."""
    from mycroft_fl.owner.gradients import last_layer_factors
    from mycroft_fl.owner.selectors import HardView

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


def owner_side(method: str, owner_data, hard) -> np.ndarray:
    """What one owner runs: the factored gradients of all its samples, then the selection."""
    from mycroft_fl.owner.gradients import last_layer_factors
    from mycroft_fl.owner.selectors import OwnerView, make_selector

    y, features, logits, embeddings = owner_data
    gradients = last_layer_factors(features, logits, y)
    return make_selector(method).select(OwnerView(y, embeddings, gradients), hard, BUDGET)


def end_to_end() -> list[dict]:
    """Measurement 1."""
    owner_data, hard = synthetic()
    rows = []
    for method in ("gradmatch", "mycroft"):
        seconds, picks = median_time(lambda m=method: owner_side(m, owner_data, hard), RUNS)
        rows.append({"method": method, "median_s": seconds, "picks": len(picks)})
    return rows


def naive_nnls_omp(gradients: np.ndarray, target: np.ndarray, k: int) -> list[int]:
    """Textbook non-negative ridge OMP on materialised gradients: correlations with the residual, then
    scipy `nnls` on the whole ridge-augmented support, [G_S; √λ I] w ≈ [b; 0], after every pick."""
    from scipy.optimize import nnls

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


def side_by_side() -> list[dict]:
    """Measurement 2: per method its median seconds, picks, and picks shared with the factored OMP's."""
    from sklearn.linear_model import OrthogonalMatchingPursuit

    from mycroft_fl.owner.gradients import LastLayerGradients, last_layer_factors
    from mycroft_fl.owner.omp import nonneg_ridge_omp

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
    results = {name: median_time(run, RUNS) for name, run in methods.items()}
    base = set(np.asarray(next(iter(results.values()))[1]).tolist())
    return [
        {
            "method": name,
            "median_s": seconds,
            "picks": len(np.asarray(picks)),
            "shared": len(base & set(np.asarray(picks).tolist())),
        }
        for name, (seconds, picks) in results.items()
    ]


def write_owner(folder: Path) -> None:
    """The big owner's data in `folder`: x (BIG_N, BIG_FEATURES) float32 as an .npy written by chunks
    (class means plus unit noise), y (uniform class shares, shuffled), and the class means."""
    rng = np.random.default_rng(2)
    means = rng.normal(size=(BIG_CLASSES, BIG_FEATURES)).astype(np.float32)
    y = rng.permutation(np.arange(BIG_N) % BIG_CLASSES)
    x = np.lib.format.open_memmap(
        folder / "x.npy", mode="w+", dtype=np.float32, shape=(BIG_N, BIG_FEATURES)
    )
    for start in range(0, BIG_N, BIG_CHUNK):
        labels = y[start : start + BIG_CHUNK]
        noise = rng.standard_normal((len(labels), BIG_FEATURES), dtype=np.float32)
        x[start : start + len(labels)] = means[labels] + noise
    x.flush()
    np.save(folder / "y.npy", y)
    np.save(folder / "means.npy", means)


def big_model():
    """The trainer's model for the big owner."""
    from mycroft_fl.core.models import ModelSpec

    return ModelSpec(BIG_MODEL, (BIG_FEATURES,), BIG_CLASSES)


def big_query(folder: Path, hard_classes: int):
    """Mycroft's query to the big owner: `hard_classes` evenly spaced hard classes with HARD_PER_CLASS
    hard samples each, budget BIG_PICKS per hard class, the trainer's model (seeded weights:
    selection costs the same trained or not), embedder `raw`."""
    from mycroft_fl.core.embedders import embedder_state
    from mycroft_fl.core.models import get_weights
    from mycroft_fl.core.query import Query

    rng = np.random.default_rng(3)
    means = np.load(folder / "means.npy")
    hard_y = np.repeat(np.arange(hard_classes) * (BIG_CLASSES // hard_classes), HARD_PER_CLASS)
    hard_x = means[hard_y] + rng.standard_normal((len(hard_y), BIG_FEATURES), dtype=np.float32)
    spec = big_model()
    return Query(
        selector="mycroft",
        budget=BIG_PICKS * hard_classes,
        model=spec,
        weights=get_weights(spec.build(seed=0)),
        hard_x=hard_x,
        hard_y=hard_y,
        embedder="raw",
        embedder_state=embedder_state("raw", hard_x),
    )


def big_owner(folder: Path, hard_classes: int, mapped: bool) -> dict[str, float]:
    """Measurement 3, run in a fresh process: `select_for_query` of the big owner (x memory-mapped or
    loaded in memory). Its seconds, picks, the process's resident and anonymous memory before it (GB),
    its peak RSS and the peak of its anonymous memory."""
    import time

    from mycroft_fl.core.data import Dataset
    from mycroft_fl.owner.answer import select_for_query

    pid, gb = os.getpid(), 1024 / 1e9  # /proc's KiB in GB
    x = np.load(folder / "x.npy", mmap_mode="r" if mapped else None)
    data, query = Dataset(x, np.load(folder / "y.npy")), big_query(folder, hard_classes)
    before, anon_before = proc_kb(pid, "VmRSS") * gb, proc_kb(pid, "RssAnon") * gb
    with MemorySampler(lambda: [pid], 0.01, fields=("RssAnon",)) as sampler:
        start = time.perf_counter()
        picks = select_for_query(query, data)
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "picks": len(picks),
        "before_gb": before,
        "anon_before_gb": anon_before,
        "peak_rss_gb": proc_kb(pid, "VmHWM") * gb,
        "peak_anon_gb": sampler.peak["RssAnon"] * gb,
    }


def big_owner_runs() -> list[dict]:
    """Measurement 3's cases, each run in a fresh process; the data is written once to a temporary
    folder. Per case the medians over its runs."""
    cases = [(BIG_HARD[0], True, BIG_RUNS), (BIG_HARD[0], False, 1), (BIG_HARD[1], True, 1)]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        write_owner(Path(tmp))
        for hard_classes, mapped, runs in cases:
            command = [sys.executable, "-m", "benchmarks.selection", "--big-owner", tmp]
            command += [str(hard_classes), *([] if mapped else ["--in-memory"])]
            measured = [
                json.loads(
                    subprocess.run(
                        command,
                        capture_output=True,
                        text=True,
                        check=True,
                        cwd=ROOT,
                        timeout=BIG_TIMEOUT,
                    ).stdout
                )
                for _ in range(runs)
            ]
            median = {k: statistics.median(m[k] for m in measured) for k in measured[0]}
            results.append(
                {
                    "hard_classes": hard_classes,
                    "x": "mapped" if mapped else "in memory",
                    "runs": runs,
                    **median,
                }
            )
    return results


def measure(options) -> Iterator[tuple[str, dict]]:
    from mycroft_fl.owner import answer

    memory = None if options.quick or options.no_memory else big_owner_runs()
    timings_load = load()  # the machine may be shared: every time below depends on it
    pairs = side_by_side()
    e2e = end_to_end()
    yield (
        "selection",
        {
            "end_to_end": e2e,
            "side_by_side": pairs,
            "memory": memory,
            "load_at_timings": timings_load,
            "hidden": big_model().build().head.in_features,
            "batch_rows": answer.BATCH_ROWS,
        },
    )


# ------------------------------------------------------------------------------------------ section


def section(entries: list[dict], reading: Reading) -> str:
    entry = entries[0]
    d = entry["data"]
    base = d["side_by_side"][0]["median_s"]
    ratio = d["side_by_side"][1]["median_s"] / base
    e2e = table(
        ("method", "median (s)", "picks", f"target ≤ {TARGET_SECONDS:g} s"),
        "lrrl",
        (
            [
                r["method"],
                f"{r['median_s']:.2f}",
                r["picks"],
                "met" if r["median_s"] <= TARGET_SECONDS else "MISSED",
            ]
            for r in d["end_to_end"]
        ),
    )
    pairs = table(
        ("method", "median (s)", "factored OMP's speed-up", "picks shared with the factored OMP"),
        "lrrr",
        (
            [
                r["method"],
                f"{r['median_s']:.3f}",
                f"{r['median_s'] / base:.0f}×",
                f"{r['shared']} of {r['picks']}",
            ]
            for r in d["side_by_side"]
        ),
    )
    hidden = d["hidden"]
    memory = None
    if d.get("memory"):
        memory = table(
            (
                "hard classes",
                "candidates",
                "x",
                "runs",
                "median (s)",
                "picks",
                "before (GB)",
                "peak RSS (GB)",
                "peak anonymous (GB)",
                "added by selecting (GB)",
                f"target ≤ {TARGET_GB:g} GB",
            ),
            "rrlrrrrrrrl",
            (
                [
                    f"{m['hard_classes']:,}",
                    f"{BIG_N * m['hard_classes'] // BIG_CLASSES:,}",
                    m["x"],
                    m["runs"],
                    f"{m['seconds']:.1f}",
                    f"{m['picks']:,.0f}",
                    f"{m['before_gb']:.2f}",
                    f"{m['peak_rss_gb']:.2f}",
                    f"{m['peak_anon_gb']:.2f}",
                    f"{m['peak_anon_gb'] - m['anon_before_gb']:.2f}",
                    "met" if m["peak_anon_gb"] <= TARGET_GB else "MISSED",
                ]
                for m in d["memory"]
            ),
        )
    dense_tb = BIG_N * BIG_CLASSES * (hidden + 1) * 4 / 1e12
    return paragraphs(
        TITLE,
        f"**End to end.** One owner with {N_OWNER:,} samples ({FEATURES}-d features, {CLASSES} classes, "
        f"logits from a random linear head, {EMBEDDING}-d embeddings); {HARD_PER_CLASS} hard samples in "
        f"each of the {CLASSES} classes; budget {BUDGET}. Each time covers `last_layer_factors` on all "
        f"owner samples plus `select`; median of {RUNS} runs.",
        e2e,
        f"**Side by side.** One hard class: {PAIR_N:,} candidates, {PAIR_CLASSES} classes, "
        f"{PAIR_FEATURES}-d features (gradients of {PAIR_CLASSES * (PAIR_FEATURES + 1):,} values), target "
        f"the sum of {HARD_PER_CLASS} hard samples' gradients, {PAIR_K} picks, ridge {RIDGE}; median of "
        f"{RUNS} runs each, in one process. Every time starts from the factors p and h: the dense methods "
        "include building the gradients (float64 for the naive OMP, float32 for scikit-learn, which is "
        "plain OMP, without sign constraint or ridge, so its picks may differ). Target: the factored OMP "
        f"≥ {TARGET_RATIO:g}× faster than the naive NNLS-refit OMP: "
        f"**{'met' if ratio >= TARGET_RATIO else 'MISSED'}** ({ratio:.0f}×).",
        pairs,
        f"**Memory of the real owner path.** `select_for_query` (what the ClientApp runs) for an "
        f"owner with {BIG_N:,} samples of {BIG_FEATURES} raw features, uniform over {BIG_CLASSES:,} "
        f"classes; the trainer's {BIG_CLASSES:,}-class `{BIG_MODEL}` ({hidden} penultimate "
        f"features), embedder `raw`, selector mycroft, {HARD_PER_CLASS} hard "
        f"samples and {BIG_PICKS} picks per hard class; each run a fresh process. The owner's x alone "
        f"is {BIG_N * BIG_FEATURES * 4 / 1e9:.2f} GB (float32), so the {TARGET_GB:g} GB target is read "
        "on the memory the owner allocates (RssAnon, sampled every 10 ms) with x a memory-mapped .npy "
        "(`np.load(path, mmap_mode='r')`), which `select_for_query` reads by rows; peak RSS (VmHWM) "
        "also counts the file's pages the selection mapped (clean page cache the kernel can drop; "
        "reading a class's rows, scattered over the file, maps most of it when it is cached). "
        "Loaded in memory, x is allocated memory too and the target is missed by the data alone. "
        "Only the candidates (samples of the hard classes) go through the model and the embedder, "
        f"{d['batch_rows']:,} at a time, one hard class at a time. Dense gradients of all samples "
        f"would take {dense_tb:.1f} TB; p and h of all samples at once "
        f"{BIG_N * (BIG_CLASSES + hidden) * 4 / 1e9:.1f} GB. 'before': the process with "
        "torch, the data and the query loaded, before selecting; 'added by selecting': peak anonymous "
        "memory less the anonymous memory before."
        if memory
        else "**Memory of the real owner path**: not measured in this run (`--no-memory`).",
        memory,
        reading.text,
        provenance(entry)
        + (
            f" Load average {d['load_at_timings']:.1f} when the timings of 1 and 2 started."
            if d.get("load_at_timings") is not None
            else ""
        ),
    )


def main(argv: list[str]) -> None:
    """`--big-owner DIR HARD_CLASSES [--in-memory]`: measurement 3 in this fresh process, as JSON."""
    if argv[:1] != ["--big-owner"]:
        raise SystemExit("usage: python -m benchmarks.selection --big-owner DIR N [--in-memory]")
    print(json.dumps(big_owner(Path(argv[1]), int(argv[2]), mapped="--in-memory" not in argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
