"""mycroft-fl's benchmarks: a small suite with one runner.

    python -m benchmarks list
    python -m benchmarks run NAME [--seeds N] [--scenarios a,b] [--quick] [options of NAME]
    python -m benchmarks render [--check]

Run from the repository's root (`-m` puts it on the path). Each benchmark is a module of this package
that measures and returns plain figures (`runner.py` says what a module provides); the runner stamps
them with the machine probe's facts (`probe.py`) and keeps them in benchmarks/results/NAME.json, which
are committed. `render` writes BENCHMARKS.md from those results and the hand-written readings in
benchmarks/readings/NAME.md, one section per benchmark in the order below.
"""

#: Every benchmark, in the order of its section in BENCHMARKS.md.
BENCHMARKS = (
    "selection",
    "simulate",
    "commitment",
    "evidence",
    "privacy",
    "shapley_error",
    "inrun",
    "ensemble",
    "rounds",
    "settle",
    "ecoval",
    "baselines",
    "deployment",
    "ray_cluster",
    "selection_mix",
    "audit",
    "fill",
    "clean_audit",
)
#: Benchmarks whose section belongs to another document (`run` prints it; `render` leaves it out).
ELSEWHERE = ("attacks",)  # RELIABILITY.md's "## Attacks"
