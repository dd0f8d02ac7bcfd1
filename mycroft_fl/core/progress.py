"""A progress line on stderr: redrawn in place on a terminal, a few plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


class ProgressLine:
    """Callable as `progress(stage, done, total)`."""

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


Progress = Callable[[str, int, int], None]
