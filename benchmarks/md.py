"""What every section is written with: where its figures come from (`provenance`), Markdown tables,
number formats, target verdicts, and the hand-written readings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

READINGS = Path(__file__).resolve().parent / "readings"


def table(header: Sequence[str], align: str, rows: Iterable[Sequence[object]]) -> list[str]:
    """A Markdown table; `align` has one letter per column: l (left) or r (right)."""
    rule = "|" + "".join("---:|" if a == "r" else "---|" for a in align)
    return [
        "| " + " | ".join(header) + " |",
        rule,
        *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
    ]


def pts(s: dict | None, interval: bool = True) -> str:
    """A figure in points (x 100), signed, with its 95% interval: `{"mean", "lo", "hi"}`."""
    if not s or s.get("mean") is None:
        return "-"
    text = f"{100 * s['mean']:+.1f}"
    if interval and s.get("lo") is not None:
        text += f" [{100 * s['lo']:+.1f}, {100 * s['hi']:+.1f}]"
    return text


def num(s: dict | float | None, fmt: str = ".2f", scale: float = 1.0) -> str:
    """A mean (`{"mean"}` or a number) formatted, `-` when undefined."""
    value = s.get("mean") if isinstance(s, dict) else s
    return "-" if value is None else format(scale * value, fmt)


def verdict(ok: bool | None, met: str = " **MET**", missed: str = " **MISSED**") -> str:
    return "" if ok is None else (met if ok else missed)


def short(commit: str | None) -> str:
    return (commit or "unknown")[:7]


def provenance(entry: dict, what: str = "") -> str:
    """Where an entry's figures come from, in one sentence: the command, when, on which commit and
    machine (measured by this runner), or the script and commit that recorded them (transcribed)."""
    what = f"{what} " if what else ""
    if "recorded" in entry:
        r = entry["recorded"]
        return (
            f"{what}Recorded {r['date']} at commit {short(r['commit'])} by `{r['command']}` "
            f"(a script this suite replaced); transcribed from the tables it wrote, not re-run by this "
            f"runner ({r.get('rerun', 'its `python -m benchmarks run` command re-measures it')})."
        )
    m = entry["measured"]
    mach, git = m["machine"], m["git"]
    pkgs = m["machine"]["packages"]
    changed = git.get("changed") or []
    tree = f"commit {short(git['commit'])}" + (
        f" (uncommitted: {', '.join(changed)})" if changed else ""
    )
    software = ", ".join(
        f"{name} {pkgs[key]}"
        for name, key in (("torch", "torch"), ("flwr", "flwr"), ("NumPy", "numpy"))
        if pkgs.get(key)
    )
    load = (
        f"; load average {m['load_before']:.1f} before, {m['load_after']:.1f} after"
        if m.get("load_before") is not None and m.get("load_after") is not None
        else ""
    )
    return (
        f"{what}Measured by `{m['command']}`, {m['date']} to {m['finished']} ({m['wall_s']:.0f} s), "
        f"{tree}; {mach['machine']}, {mach['cpus']} CPUs, {mach['memory_gib']:.0f} GiB, Python "
        f"{mach['python']}, {software}{load}."
    )


def ordered(entries: list[dict], keys: Sequence[str]) -> list[dict]:
    """`entries` in the order of `keys` (those not named there after them, as they came)."""
    rank = {k: i for i, k in enumerate(keys)}
    return sorted(entries, key=lambda e: rank.get(e["key"], len(rank)))


def provenances(entries: list[dict]) -> list[str]:
    """`provenance` of each run of entries: consecutive parts measured by one command (or recorded by
    one) are said once, with the parts named when there are several."""
    groups: list[list[dict]] = []
    for e in entries:
        last = groups[-1][-1] if groups else None
        same = last is not None and (
            (
                "measured" in e
                and "measured" in last
                and e["measured"]["command"] == last["measured"]["command"]
                and e["measured"]["git"] == last["measured"]["git"]
            )
            or (
                "recorded" in e
                and "recorded" in last
                and e["recorded"]["command"] == last["recorded"]["command"]
            )
        )
        if same:
            groups[-1].append(e)
        else:
            groups.append([e])
    out = []
    for group in groups:
        first, last = group[0], group[-1]
        if "measured" in first and len(group) > 1:
            first = {
                **first,
                "measured": {
                    **first["measured"],
                    # the group may be in the section's order, not the order it was measured in
                    "date": min(e["measured"]["date"] for e in group),
                    "finished": max(e["measured"]["finished"] for e in group),
                    "wall_s": sum(e["measured"]["wall_s"] for e in group),
                    "load_after": last["measured"]["load_after"],
                },
            }
        keys = ", ".join(f"`{e['key']}`" for e in group)
        out.append(provenance(first, f"{keys}:" if len(entries) > 1 else ""))
    return out


@dataclass
class Reading:
    """A section's hand-written reading (benchmarks/readings/NAME.md): `text` before any `### key`
    heading, and `parts[key]`, the text under each such heading."""

    text: str = ""
    parts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, name: str, directory: Path = READINGS) -> Reading:
        path = directory / f"{name}.md"
        if not path.is_file():
            return cls()
        head, parts, key = [], {}, None
        for line in path.read_text().splitlines():
            if line.startswith("### "):
                key = line[4:].strip()
                parts[key] = []
            elif key is None:
                head.append(line)
            else:
                parts[key].append(line)
        return cls(
            "\n".join(head).strip(),
            {k: "\n".join(v).strip() for k, v in parts.items()},
        )

    def part(self, key: str) -> str:
        return self.parts.get(key, "")


def paragraphs(*blocks: str | Iterable[str] | None) -> str:
    """Blocks (a string or lines) joined by blank lines, empty ones left out."""
    out = []
    for b in blocks:
        if b is None:
            continue
        text = b if isinstance(b, str) else "\n".join(b)
        if text.strip():
            out.append(text.strip("\n"))
    return "\n\n".join(out)
