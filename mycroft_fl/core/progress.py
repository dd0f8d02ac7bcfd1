"""Progress displays: `ProgressLine` (a line on stderr, redrawn in place on a terminal, a few plain
lines otherwise), `ProgressBars` (rich's bars, one per stage, on a terminal or in a notebook), and
`progress_display`, which turns the Python API's `progress=` argument into one of them."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from mycroft_fl.core.errors import InputError

#: Called as `progress(stage, done, total)` while a run advances.
Progress = Callable[[str, int, int], None]

P, R = ParamSpec("P"), TypeVar("R")


class ProgressLine:
    """A progress line on `stream` (stderr by default), callable as `progress(stage, done, total)`:
    redrawn in place on a terminal; elsewhere (a log file, CI) about ten plain lines per stage. The
    command line's display."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.start = time.perf_counter()
        self._last: tuple[str, int] | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.start
        line = f"{stage}: {done}/{total} ({elapsed:.1f} s)"
        if self.tty:
            end = "\n" if done >= total else ""
            self.stream.write(f"\r\033[K{line}{end}")
        else:
            step = max(1, total // 10)
            key = (stage, done // step)
            if done < total and self._last == key:
                return
            self._last = key
            self.stream.write(line + "\n")
        self.stream.flush()


class ProgressBars:
    """rich's progress bars, one per stage (description, bar, done/total, elapsed and remaining
    time), callable as `progress(stage, done, total)`; a stage that starts over (the next round)
    restarts its bar. A context manager: the display lives from `__enter__` to `__exit__`.

    Parameters
    ----------
    console : rich.console.Console, optional
        Where the bars are drawn (default: a console on stderr).
    """

    def __init__(self, console=None):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
        )
        self._tasks: dict[str, tuple[int, int]] = {}  # stage: (task id, last done)

    def __enter__(self) -> ProgressBars:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self._tasks:
            task = self.bars.add_task(stage, total=total, completed=done)
        else:
            task, last = self._tasks[stage]
            if done < last:
                self.bars.reset(task, total=total, completed=done)
            else:
                self.bars.update(task, total=total, completed=done)
        self._tasks[stage] = (task, done)


@contextmanager
def progress_display(progress: bool | Progress | None) -> Iterator[Progress | None]:
    """The display the Python API's `progress=` asks for, for the duration of a call.

    Parameters
    ----------
    progress : bool or callable or None
        True: `ProgressBars` on stderr when it is a terminal or a notebook shows it, else
        `ProgressLine`'s plain lines; False or None: nothing; a callable: itself, called as
        `progress(stage, done, total)`.

    Yields
    ------
    callable or None
        What to call as `progress(stage, done, total)` (None: show nothing).
    """
    if progress is None or progress is False:
        yield None
    elif progress is True:
        from rich.console import Console

        console = Console(stderr=True)
        if console.is_terminal or console.is_jupyter:
            with ProgressBars(console) as bars:
                yield bars
        else:
            yield ProgressLine()
    elif callable(progress):
        yield progress
    else:
        raise InputError(
            f"progress must be True, False or a callable(stage, done, total), got {progress!r}"
        )


def shows_progress(function: Callable[P, R]) -> Callable[P, R]:
    """`function` with its keyword argument `progress` given through `progress_display`: True shows
    bars for the duration of the call, a callable is called as before."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with progress_display(kwargs.pop("progress", None)) as shown:
            return function(*args, progress=shown, **kwargs)

    return wrapper
