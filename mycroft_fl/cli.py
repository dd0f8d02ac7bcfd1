"""`mycroft-fl`: run a scenario on Flower's simulation engine and print the owner ranking."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import InputError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and status 2, like every other input error
        self.exit(2, f"mycroft-fl: error: {message}\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mycroft-fl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sim = sub.add_parser("simulate", help="value the scenario's owners on Flower's simulation engine")
    sim.add_argument("scenario", help="scenario file (simulations/NAME.toml) or the name of a shipped one")
    sim.add_argument("--strategy", default="mycroft", help="preset name (strategies/NAME.toml) or a strategy file")
    sim.add_argument("--budget", type=_positive, help="samples each owner may share (default: the strategy's)")
    sim.add_argument("--seed", type=_seed, help="seed of training, hard-sample split and selection (default: the scenario's)")
    sim.add_argument("--out", default=None, help="directory for report.json, report.md, ranking.png (default: runs/NAME)")
    sim.add_argument("--quiet", action="store_true", help="no progress display")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _simulate(args)
    except InputError as exc:
        print(f"mycroft-fl: error: {exc}", file=sys.stderr)
        return 2


def _simulate(args: argparse.Namespace) -> int:
    from .presets import load_strategy
    from .progress import ProgressLine
    from .scenario import load_scenario
    from .simulation import simulate

    scenario = load_scenario(args.scenario)
    strategy = load_strategy(args.strategy, budget=args.budget)
    seed = scenario.seed if args.seed is None else args.seed
    out = Path(args.out) if args.out else Path("runs") / scenario.name
    report = simulate(scenario, strategy, seed=seed, progress=None if args.quiet else ProgressLine())
    path = report.write(out)
    print(report.table())
    print(f"report: {path}  ({out / 'report.md'}, {out / 'ranking.png'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
