"""`python -m benchmarks list | run NAME [options] | render [--check]` (see `benchmarks/__init__.py`)."""

from __future__ import annotations

import sys

from benchmarks import BENCHMARKS, ELSEWHERE

USAGE = """usage:
  python -m benchmarks list                       the benchmarks, in BENCHMARKS.md's order
  python -m benchmarks run NAME [options]         measure one; `run NAME --help` lists its options
  python -m benchmarks render [--check]           write BENCHMARKS.md from the results and readings
                                                  (--check: exit 1 if it is not what they give)"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "list":
        from benchmarks.runner import module

        for name in BENCHMARKS + ELSEWHERE:
            doc = (module(name).__doc__ or "").strip().split("\n")[0]
            print(f"{name:15} {doc}")
        return 0
    if command == "run" and rest and not rest[0].startswith("-"):
        from benchmarks.runner import run

        run(rest[0], rest[1:])
        return 0
    if command == "render" and set(rest) <= {"--check"}:
        from benchmarks.render import OUT, render

        ok = render(check="--check" in rest)
        if not ok:
            print(
                f"{OUT.name} is not what the results and readings give: python -m benchmarks render"
            )
        return 0 if ok else 1
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
