"""`mycroft-fl`: value a scenario's owners on Flower's simulation engine (`simulate`), or compare
strategies, budgets and seeds in-process with the same engine (`compare`)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from mycroft_fl.core.errors import InputError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and status 2, like every other input error
        self.exit(2, f"mycroft-fl: error: {message}\n")


def _integer(minimum: int):
    """An argparse type: an integer of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def package_version() -> str:
    """The installed distribution's version, or the package's own when it runs from a checkout that
    was never installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mycroft-fl")
    except PackageNotFoundError:
        from mycroft_fl import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mycroft-fl", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mycroft-fl {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sim = sub.add_parser(
        "simulate", help="value the scenario's owners on Flower's simulation engine"
    )
    sim.add_argument(
        "scenario", help="scenario file (simulations/NAME.toml) or the name of a shipped one"
    )
    sim.add_argument(
        "--strategy",
        default="mycroft",
        help="preset name (strategies/NAME.toml) or a strategy file",
    )
    sim.add_argument(
        "--budget", type=_integer(1), help="samples each owner may share (default: the strategy's)"
    )
    sim.add_argument(
        "--rounds",
        type=_integer(1),
        default=1,
        help="acquisition rounds sharing each owner's budget: later ones ask the useful owners for "
        "more, for the hard samples the combined model still gets wrong (default: 1)",
    )
    sim.add_argument(
        "--settle",
        type=_integer(1),
        metavar="K",
        help="with --rounds: each round asks every owner for the budget, and later rounds only the "
        "owners whose place among the first K is unsettled (default: the strategy's settle)",
    )
    sim.add_argument(
        "--seed",
        type=_integer(0),
        help="seed of training, hard-sample split and selection (default: the scenario's)",
    )
    sim.add_argument(
        "--out",
        default=None,
        help="directory for report.json, report.md, ranking.png (default: runs/NAME)",
    )
    sim.add_argument(
        "--private",
        action="store_true",
        help="keep the hard samples with the trainer: owners get their gradient targets and embeddings",
    )
    sim.add_argument(
        "--allow-revealing-embedder",
        action="store_true",
        help="with --private, send the hard samples' embeddings even when they give the samples "
        "back (the raw embedder): refused otherwise, recorded in report.json",
    )
    sim.add_argument(
        "--ray-address",
        default=None,
        help="run on this existing Ray cluster (default: $RAY_ADDRESS, else a local Ray instance)",
    )
    _scenario_options(sim)

    cmp = sub.add_parser(
        "compare",
        help="run several strategies, budgets and seeds on one scenario in-process, "
        "against full information",
    )
    cmp.add_argument(
        "scenario", help="scenario file (simulations/NAME.toml) or the name of a shipped one"
    )
    cmp.add_argument(
        "--strategies",
        help="comma-separated preset names or strategy files (default: mycroft,gradmatch,"
        "retrieval,random); full-information always runs as the reference",
    )
    cmp.add_argument(
        "--budgets", help="comma-separated samples each owner may share (default: 8,16,32)"
    )
    cmp.add_argument(
        "--seeds",
        type=_integer(1),
        default=3,
        help="number of seeds, counted from the scenario's (default: 3)",
    )
    cmp.add_argument(
        "--out",
        default=None,
        help="directory for compare.json, compare.md and the plots (default: runs/NAME-compare)",
    )
    _scenario_options(cmp)

    return parser


def _scenario_options(command: argparse.ArgumentParser) -> None:
    """The options both commands take about the scenario and the display."""
    command.add_argument(
        "--no-hard-classes",
        action="store_true",
        help="the trainer names no hard classes: every validation sample its baseline gets wrong is hard",
    )
    command.add_argument("--quiet", action="store_true", help="no progress display")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _compare(args, argv) if args.command == "compare" else _simulate(args)
    except InputError as exc:
        print(f"mycroft-fl: error: {exc}", file=sys.stderr)
        return 2


def _simulate(args: argparse.Namespace) -> int:
    from mycroft_fl.core.progress import ProgressLine
    from mycroft_fl.flower.simulation import simulate
    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.strategy_config import load_strategy

    scenario = load_scenario(args.scenario)
    if args.no_hard_classes:
        scenario = scenario.without_hard_classes()
    strategy = load_strategy(args.strategy, budget=args.budget)
    if args.settle is not None:
        strategy = replace(strategy, settle=args.settle)
    seed = scenario.seed if args.seed is None else args.seed
    out = Path(args.out) if args.out else Path("runs") / scenario.name
    report = simulate(
        scenario,
        strategy,
        seed=seed,
        progress=None if args.quiet else ProgressLine(),
        private=args.private,
        allow_revealing=args.allow_revealing_embedder,
        rounds=args.rounds,
        ray_address=args.ray_address,
    )
    path = report.write(out)
    if args.rounds > 1:
        print("\n".join(report.rounds_lines()))
    print(report.table())
    print(f"report: {path}  ({out / 'report.md'}, {out / 'ranking.png'})")
    for warning in report.warnings:
        print(f"mycroft-fl: warning: {warning}", file=sys.stderr)
    return 0


def _compare(args: argparse.Namespace, argv: list[str] | None) -> int:
    import shlex

    import torch

    from mycroft_fl.core.progress import ProgressLine
    from mycroft_fl.evaluation.comparison import (
        DEFAULT_BUDGETS,
        DEFAULT_STRATEGIES,
        compare,
        parse_budgets,
        parse_list,
    )
    from mycroft_fl.scenarios.spec import load_scenario

    scenario = load_scenario(args.scenario)
    if args.no_hard_classes:
        scenario = scenario.without_hard_classes()
    strategies = DEFAULT_STRATEGIES if args.strategies is None else parse_list(args.strategies)
    budgets = DEFAULT_BUDGETS if args.budgets is None else parse_budgets(args.budgets)
    torch.set_num_threads(
        1
    )  # the trainer's small models: one thread is faster than contending for the cores
    result = compare(
        scenario, strategies, budgets, args.seeds, progress=None if args.quiet else ProgressLine()
    )
    out = Path(args.out) if args.out else Path("runs") / f"{scenario.name}-compare"
    path = result.write(out, shlex.join(["mycroft-fl", *(sys.argv[1:] if argv is None else argv)]))
    print(result.table())
    print(
        "share of full-info gain = (combined hard acc - control) / (full-information combined hard acc - control), "
        "per seed; rank agreement is against full information's ranking of the same seed"
    )
    print(
        f"comparison: {path}  ({out / 'compare.md'}, {out / 'accuracy_vs_budget.png'}, {out}/ranking_*.png)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
