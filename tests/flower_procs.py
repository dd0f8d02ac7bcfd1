"""Flower processes for the slow end-to-end tests: isolated environment, free ports, owned PIDs.

Every process is started by `Processes.start` in a session of its own (its PID is the process group
id), so `stop_all` can end it together with the children it spawned (SuperExec, ServerApp and
ClientApp processes) by that id, and waits for them. Nothing here looks processes up by name
except by this test's own unique FLWR_HOME path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

VENV_BIN = Path(sys.executable).parent  # the venv's bin, where flower-superlink & co live
REPO = Path(__file__).resolve().parents[1]  # the Flower app: pyproject.toml has [tool.flwr.app]


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (held open together while they are chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def flower_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment for Flower commands: private FLWR_HOME, no runtime installs, no network calls."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLWR_")}  # no developer settings
    env.update(
        FLWR_HOME=str(home),
        FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1",  # else uv would install the app's deps per run
        FLWR_DISABLE_UPDATE_CHECK="1",
        FLWR_TELEMETRY_ENABLED="0",
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # SuperLink spawns flower-superexec by name
        RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO="0",
        PYTHONUNBUFFERED="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


def write_connection(home: Path, name: str, port: int) -> None:
    """A named SuperLink connection in $FLWR_HOME/config.toml (`flwr run APP NAME`)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "{name}"\n\n[superlink.{name}]\naddress = "127.0.0.1:{port}"\ninsecure = true\n'
    )


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of a live process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[2])


def alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group pgid."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st and st[1] == pgid and st[0] not in ("Z", "X"):
                out.append(int(entry))
    return out


def marked_processes(marker: str) -> list[int]:
    """Live processes whose command line or environment contains `marker` (this test's unique FLWR_HOME):
    everything started on its behalf, including detached ones (the local SuperLink) and their children."""
    out = []
    needle = marker.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            blob = Path(f"/proc/{entry}/cmdline").read_bytes() + Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in blob and alive(int(entry)):
            out.append(int(entry))
    return out


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until none of pids is alive; return those still alive at the deadline."""
    deadline = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in left if alive(p)]
    return left


def kill_pids(pids: list[int], timeout: float = 10.0) -> list[int]:
    """SIGTERM, wait, then SIGKILL these PIDs; return any that survived."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        pids = wait_gone(pids, timeout)
        if not pids:
            break
    return pids


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Wait until GET url answers 2xx (no proxy); fail early if proc exits."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while True:
        try:
            with opener.open(url, timeout=1.0) as r:
                if 200 <= r.status < 300:
                    return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before {url} answered")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:g} s")
        time.sleep(0.2)


class Processes:
    """Processes this test started; `stop_all` ends each one and its process group, and waits."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        logdir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], *, env: dict[str, str], cwd: Path) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "wb")
        try:
            proc = subprocess.Popen(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()  # the child has its own copy
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = self.logdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self, tail: int = 60) -> str:
        """The last lines of every log, for assertion messages."""
        parts = []
        for name in self.procs:
            lines = self.log(name).splitlines()[-tail:]
            parts.append(f"----- {name} (rc={self.procs[name].poll()}) -----\n" + "\n".join(lines))
        return "\n".join(parts)

    def stop_all(self, timeout: float = 15.0) -> list[int]:
        """SIGTERM every process group we started, wait, SIGKILL what is left, reap; return survivors."""
        groups = list(self.procs.values())
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for proc in groups:
                if proc.poll() is None or group_members(proc.pid):
                    try:
                        os.killpg(proc.pid, sig)
                    except ProcessLookupError:
                        pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and any(p.poll() is None or group_members(p.pid) for p in groups):
                time.sleep(0.1)
            if not any(p.poll() is None or group_members(p.pid) for p in groups):
                break
        for proc in groups:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        return [pid for p in groups for pid in ([p.pid] if p.poll() is None else []) + group_members(p.pid)]


@contextlib.contextmanager
def owned_processes(workdir: Path, marker: str):
    """`Processes` for one test; on exit (also on failure) stops them all, then ends any process still
    carrying `marker` (the test's unique tmp path: detached SuperLinks, Ray workers...) by its PID."""
    procs = Processes(workdir / "logs")
    try:
        yield procs
    finally:
        procs.stop_all()
        kill_pids(marked_processes(marker))
