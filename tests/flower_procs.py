"""Flower processes for the slow end-to-end tests: isolated environment, free ports, owned PIDs.

Every process is started by `Processes.start` in a session of its own (its PID is the process group
id), so `stop_all` can end it together with the children it spawned (SuperExec, ServerApp and
ClientApp processes) by that id, and waits for them. Nothing here looks processes up by name
except by this test's own unique FLWR_HOME path.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
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
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("FLWR_")
    }  # no developer settings
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
    fields = text[text.rindex(")") + 2 :].split()
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
            blob = (
                Path(f"/proc/{entry}/cmdline").read_bytes()
                + Path(f"/proc/{entry}/environ").read_bytes()
            )
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


def wait_http(
    url: str, timeout: float, proc: subprocess.Popen | None = None, *, cafile: Path | None = None
) -> None:
    """Wait until GET url answers 2xx (no proxy; over TLS verified against `cafile` when given); fail early
    if proc exits."""
    handlers: list = [urllib.request.ProxyHandler({})]
    if cafile is not None:
        import ssl

        handlers.append(
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(cafile)))
        )
    opener = urllib.request.build_opener(*handlers)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with opener.open(url, timeout=1.0) as r:
                if 200 <= r.status < 300:
                    return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"{proc.args[0]} exited with {proc.returncode} before {url} answered"
            )
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:g} s")
        time.sleep(0.2)


class Processes:
    """Processes this test started; `stop_all` ends each one and its process group, and waits."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.workdir = logdir.parent  # the test's directory: process cwds, SuperLink state
        logdir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}

    def start(
        self, name: str, args: list[str], *, env: dict[str, str], cwd: Path
    ) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "wb")
        try:
            proc = subprocess.Popen(
                args,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()  # the child has its own copy
        self.procs[name] = proc
        return proc

    def start_superlink(self, port: int, env: dict[str, str]) -> subprocess.Popen:
        """An insecure SuperLink on 127.0.0.1:`port` (state in the work dir), once it answers /health
        (else SuperNodes started next exit at once)."""
        cwd = self.workdir / "superlink"
        cwd.mkdir()
        link = self.start(
            "superlink",
            [
                str(VENV_BIN / "flower-superlink"),
                "--insecure",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--disable-runtime-dependency-installation",
                "--database",
                str(self.workdir / "state.db"),
            ],
            env=env,
            cwd=cwd,
        )
        wait_http(f"http://127.0.0.1:{port}/health", 60, link)
        return link

    def start_flwr_run(
        self, connection: str, run_config: str, env: dict[str, str]
    ) -> subprocess.Popen:
        """`flwr run` of this repository's apps on the SuperLink `connection` names, streaming its
        logs, with `-c run_config`."""
        return self.start(
            "flwr-run",
            [str(VENV_BIN / "flwr"), "run", str(REPO), connection, "--stream", "-c", run_config],
            env=env,
            cwd=self.workdir,
        )

    def start_supernode(
        self, name: str, link_port: int, port: int, node_config: str
    ) -> subprocess.Popen:
        """An insecure SuperNode `name` on `port` for the SuperLink on `link_port`; it installs the app under
        its own FLWR_HOME (no race on one apps/ directory)."""
        cwd = self.workdir / name
        cwd.mkdir()
        return self.start(
            name,
            [
                str(VENV_BIN / "flower-supernode"),
                "--insecure",
                "--superlink",
                f"127.0.0.1:{link_port}",
                "--port",
                str(port),
                "--node-config",
                node_config,
            ],
            env=flower_env(cwd / "flwr-home"),
            cwd=cwd,
        )

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
            while time.monotonic() < deadline and any(
                p.poll() is None or group_members(p.pid) for p in groups
            ):
                time.sleep(0.1)
            if not any(p.poll() is None or group_members(p.pid) for p in groups):
                break
        for proc in groups:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        return [
            pid
            for p in groups
            for pid in ([p.pid] if p.poll() is None else []) + group_members(p.pid)
        ]


def process_tree(pid: int) -> list[int]:
    """pid and every live descendant of it (by parent PID, whatever session or group they joined)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(text[text.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if alive(p):
            out.append(p)
        todo.extend(children.get(p, []))
    return out


def freeze_tree(pid: int) -> list[int]:
    """SIGSTOP pid and all its descendants, parents first, until no new process appears (a frozen
    parent cannot fork, so this ends); return the frozen PIDs. `kill_tree` ends them."""
    frozen: list[int] = []
    while True:
        new = [p for p in process_tree(pid) if p not in frozen]
        if not new:
            return frozen
        for p in new:
            try:
                os.kill(p, signal.SIGSTOP)
                frozen.append(p)
            except ProcessLookupError:
                pass


def kill_tree(pid: int, timeout: float = 10.0) -> list[int]:
    """SIGKILL pid and all its descendants (frozen ones too), by PID; return any still alive after timeout."""
    pids = process_tree(pid)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return wait_gone(pids, timeout)


def wait_log(
    procs: Processes, name: str, text: str, timeout: float, poll: float = 0.05, times: int = 1
) -> float:
    """Wait until the log of process `name` contains `text` (`times` times); return when
    (time.monotonic()). Fails early if that process exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if procs.log(name).count(text) >= times:
            return time.monotonic()
        if procs.procs[name].poll() is not None:
            raise RuntimeError(
                f"{name} exited with {procs.procs[name].returncode} before logging {text!r}"
            )
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{name} did not log {text!r} within {timeout:g} s")
        time.sleep(poll)


# ---------------------------------------------------------------------------------------------
# Many SuperNodes on loopback (tests/test_deployment_scale.py, benchmarks/deployment.py).


def many_owners(n: int) -> dict[str, dict[int, int]]:
    """`n` (<= 60) owners' per-class sample counts for digit_files: even-numbered owners hold 8s and 9s
    (the trainer's hard classes), odd-numbered ones none."""
    if not 1 <= n <= 60:
        raise ValueError(f"many_owners: 1 to 60 owners (the digits go round), got {n}")
    owners = {}
    for i in range(n):
        counts = {c: 1 for c in range(8)}
        if i % 2 == 0:
            counts.update({8: 3, 9: 3})
        else:
            counts[i % 8] += 1
        owners[f"owner-{i:02d}"] = counts
    return owners


@dataclass
class LoopbackRun:
    """What `loopback_owners_run` saw: flwr run's exit code (None: still running at the deadline),
    seconds from the SuperLink's start to flwr run's end, report.json (None if not written), how many
    times the SuperLink logged `database is locked`, the logs' tails, and processes that outlived
    the stop."""

    owners: list[str]
    rc: int | None
    seconds: float
    report: dict | None
    locked: int
    logs: str
    survivors: list[int]
    leftovers: list[int]


def loopback_owners_run(
    workdir: Path,
    n: int,
    *,
    max_in_flight: int,
    run_timeout: float,
    reply_timeout: float,
    budget: int = 4,
    on_started: Callable[[Processes], None] | None = None,
) -> LoopbackRun:
    """One SuperLink with `--database`, `n` SuperNodes (one per owner file, each with its own port and
    FLWR_HOME) and `flwr run` of this repository's apps with `max-in-flight` queries out at once, all
    on 127.0.0.1 under `workdir`; `on_started(procs)` is called once everything was started. Every
    process is stopped (by PID) before this returns."""
    from digit_files import write_digit_files

    data = workdir / "data"
    data.mkdir(parents=True)
    owners = many_owners(n)
    scenario = write_digit_files(data, f"loopback-{n}", owners)
    out, home = workdir / "out", workdir / "flwr-home"
    link_port, *node_ports = free_ports(n + 1)
    write_connection(home, "loopback", link_port)
    env = flower_env(home)
    t0 = time.monotonic()
    with owned_processes(workdir, str(workdir)) as procs:
        procs.start_superlink(link_port, env)
        for i, (owner, port) in enumerate(zip(owners, node_ports)):
            procs.start_supernode(
                f"supernode-{i:02d}", link_port, port, f'data-path="{data / f"{owner}.npz"}"'
            )
        run = procs.start_flwr_run(
            "loopback",
            f"scenario='{scenario}' out='{out}' budget={budget} max-in-flight={max_in_flight} "
            f"reply-timeout={reply_timeout:g}",
            env,
        )
        if on_started is not None:
            on_started(procs)
        try:
            rc = run.wait(timeout=run_timeout)
        except subprocess.TimeoutExpired:
            rc = None
        seconds = time.monotonic() - t0
        locked = procs.log("superlink").count("database is locked")
        logs = procs.logs(tail=40)
        survivors = procs.stop_all()
        leftovers = wait_gone(marked_processes(str(workdir)), 10)
    report_path = out / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else None
    return LoopbackRun(list(owners), rc, seconds, report, locked, logs, survivors, leftovers)


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


# ---------------------------------------------------------------------------------------------
# TLS and SuperNode authentication (tests/test_secure_deployment.py). Pure `cryptography` (a flwr
# dependency): no openssl/ssh-keygen binaries needed.


def make_tls_files(
    d: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost"), days: int = 2
) -> dict[str, Path]:
    """A throw-away CA and a server certificate for `hosts`, signed by it, written to d as PEM:
    {"ca": ca.crt, "cert": server.pem, "key": server.key} (the SuperLink's --ssl-ca-certfile,
    --ssl-certfile, --ssl-keyfile; clients trust ca.crt)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    d.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mycroft-fl throw-away test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP384R1())
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    files = {"ca": d / "ca.crt", "cert": d / "server.pem", "key": d / "server.key"}
    files["ca"].write_bytes(ca.public_bytes(pem))
    files["cert"].write_bytes(cert.public_bytes(pem))
    files["key"].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    files["key"].chmod(0o600)
    return files  # the CA's private key is never written: nothing else can be signed with it


def make_node_key(d: Path, name: str) -> tuple[Path, Path]:
    """A SuperNode authentication key pair (EC P-384) in OpenSSH format, as `ssh-keygen -t ecdsa -b 384
    -N "" -f d/name` writes it: (d/name: `--auth-supernode-private-key`, d/name.pub: `flwr supernode
    register`)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    d.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    priv, pub = d / name, d / f"{name}.pub"
    priv.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    priv.chmod(0o600)
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        + b"\n"
    )
    return priv, pub


def write_tls_connection(home: Path, name: str, port: int, root_certificates: Path) -> None:
    """A named SuperLink connection over TLS in $FLWR_HOME/config.toml: `root-certificates` (absolute
    path to the CA) and no `insecure` key."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "{name}"\n\n[superlink.{name}]\naddress = "127.0.0.1:{port}"\n'
        f'root-certificates = "{Path(root_certificates).resolve()}"\n'
    )
