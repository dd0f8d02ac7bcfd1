"""The machine probe: what a measurement ran on (machine, versions, git commit, load), and how long and
how much memory it took (wall and CPU seconds; peak RSS and PSS of a process tree, read from /proc).

The runner stamps every result with `facts()`; the speed benchmarks time with `Timer` and `median_time`
and sample memory with `MemorySampler`. Linux only for memory (/proc); the rest works anywhere.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Distributions whose versions a result records (those installed).
PACKAGES = ("numpy", "torch", "flwr", "ray", "scikit-learn", "scipy")


def machine() -> dict:
    """The machine and the software a measurement ran on."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        memory = None
    return {
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "cpus": os.cpu_count(),
        "memory_gib": None if memory is None else round(memory, 1),
        "python": platform.python_version(),
        "packages": versions,
    }


def git(root: Path = ROOT) -> dict:
    """The checkout's commit and the paths that differ from it (modified or untracked), if any."""

    def out(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit = out("rev-parse", "HEAD").strip() or None
    changed = sorted(
        line[3:].strip()
        for line in out("status", "--porcelain", "--untracked-files=normal").splitlines()
        if line.strip()
    )
    return {"commit": commit, "changed": changed}


def load() -> float | None:
    """The 1-minute load average (None where the system has none): the machine may be shared."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def facts() -> dict:
    """Everything a result is stamped with before it is measured: date, machine, git, load."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "git": git(),
        "load_before": load(),
    }


class Timer:
    """Wall and CPU seconds (this process, all its threads) of a `with` block."""

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def median_time(run: Callable[[], object], runs: int) -> tuple[float, object]:
    """The median wall seconds of `runs` calls of `run`, and the last call's result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


# ------------------------------------------------------------------------------------------ /proc


def proc_kb(pid: int | str, field: str) -> int:
    """A KiB field of a process: `Pss` from /proc/PID/smaps_rollup, any other (VmRSS, VmHWM, RssAnon...)
    from /proc/PID/status; 0 when the process has gone."""
    path = f"/proc/{pid}/smaps_rollup" if field == "Pss" else f"/proc/{pid}/status"
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def process_tree(*roots: int) -> list[int]:
    """The processes `roots` and all their descendants."""
    kids, out, todo = _children(), [], list(roots)
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.append(pid)
            todo += kids.get(pid, [])
    return out


def cmdline(pid: int) -> str | None:
    """A process's command line, arguments separated by NUL (None when it has gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return None


class MemorySampler(threading.Thread):
    """Samples, every `interval` seconds until `stop()`, the processes `pids()` returns: the peak of each
    memory field summed over them (KiB; `Pss` shares pages out among the processes that map them, `VmRSS`
    counts shared pages once per process), the peak process count, the peak count of processes whose
    command line contains each of `count` (name -> text), every process seen with its command line, and
    when more than one process was last seen.

    Use as a context manager: sampling starts on entry and stops (one last sample taken) on exit.
    """

    def __init__(
        self,
        pids: Callable[[], Iterable[int]],
        interval: float,
        fields: Iterable[str] = ("VmRSS", "Pss"),
        count: Mapping[str, str] | None = None,
    ):
        super().__init__(daemon=True)
        self.pids, self.interval, self.fields = pids, interval, tuple(fields)
        self.count = dict(count or {})
        self.peak = dict.fromkeys(self.fields, 0)
        self.peak_counts = dict.fromkeys(self.count, 0)
        self.peak_procs = 0
        self.seen: dict[int, str | None] = {}
        self.last_many = 0.0
        self._halt = threading.Event()

    def sample(self) -> None:
        pids = list(self.pids())
        for p in pids:
            if p not in self.seen:
                self.seen[p] = cmdline(p)
        for field in self.fields:
            self.peak[field] = max(self.peak[field], sum(proc_kb(p, field) for p in pids))
        for name, text in self.count.items():
            n = sum(1 for p in pids if text in (self.seen.get(p) or ""))
            self.peak_counts[name] = max(self.peak_counts[name], n)
        self.peak_procs = max(self.peak_procs, len(pids))
        if len(pids) > 1:
            self.last_many = time.perf_counter()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join()
        self.sample()

    def __enter__(self) -> MemorySampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def peak_mb(self, field: str) -> float:
        """The peak of a field, in MiB."""
        return self.peak[field] / 1024

    def left_running(self, root: int) -> list[int]:
        """Processes seen (other than `root`) that still run the same command line."""
        return sorted(p for p, cmd in self.seen.items() if p != root and cmdline(p) == cmd)
