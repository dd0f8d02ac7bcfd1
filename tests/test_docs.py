"""The documentation (README.md and docs/) is true to the code, as written.

pytest-markdown-docs runs every Python block of README.md and docs/ (pyproject's addopts). This file
covers what it cannot: blocks marked `notest` that need a process of their own (the ServerApp under
Flower's simulation engine, a user's model module), shell commands, the outputs the pages show (`make
run`'s table, the ServerApp's, the command-line help) and the reference pages' files and fields.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from flower_procs import VENV_BIN, marked_processes, owned_processes, wait_gone

from mycroft_fl.cli.main import build_parser
from mycroft_fl.core.data import Dataset
from mycroft_fl.core.resources import find_shipped
from mycroft_fl.core.tomlfile import read_toml
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.strategy_config import load_strategy

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
README = REPO / "README.md"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)(?P<info>[^\n]*)\n(?P<body>.*?)^(?P=indent)```",
    re.M | re.S,
)


def blocks(page: Path, lang: str) -> list[str]:
    """The code blocks of `page` in language `lang` (`""`: no language), as a reader copies them:
    without the indentation of a list item."""
    return [
        textwrap.dedent(m["body"]) for m in _FENCE.finditer(page.read_text()) if m["lang"] == lang
    ]


def shown_table(page: Path) -> list[str]:
    """The lines of the first output block of `page` that shows a ranking table, from its header on."""
    for block in blocks(page, ""):
        lines = block.splitlines()
        header = [i for i, line in enumerate(lines) if line.startswith("rank  owner")]
        if header:
            return lines[header[0] :]
    raise AssertionError(f"{page} shows no ranking table")


def run_python(
    code: str, cwd: Path, timeout: float = 240, **env: str
) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter of this environment, in `cwd`, with one torch thread."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def example_files(tmp_path, monkeypatch):
    """The example files of "Your own data", written by that page's first block as written, and the
    page's scenario file saved as study.toml beside them; the working directory is theirs."""
    monkeypatch.chdir(tmp_path)
    exec(blocks(DOCS / "guides" / "your-data.md", "python")[0], {})
    (tmp_path / "study.toml").write_text(blocks(DOCS / "guides" / "your-data.md", "toml")[0])
    return tmp_path


# --- outputs the pages show ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_make_run_prints_the_table_shown(tmp_path):
    """`make run`'s command (the Makefile's), and the table README.md and Getting started show."""
    recipe = (REPO / "Makefile").read_text()
    command = re.search(r"^run: .*\n\t(.*)$", recipe, re.M)[1]
    assert command == "$(BIN)/mycroft-fl simulate simulations/digits.toml --out runs/digits"
    out = subprocess.run(
        [
            str(VENV_BIN / "mycroft-fl"),
            "simulate",
            str(REPO / "simulations" / "digits.toml"),
            "--out",
            str(tmp_path / "runs" / "digits"),
            "--quiet",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    printed = out.stdout.splitlines()
    for page in (README, DOCS / "getting-started.md"):
        shown = shown_table(page)
        assert shown[-1].startswith("report: runs/digits/report.json"), page
        assert printed[: len(shown) - 1] == shown[:-1], (
            f"{page} shows another table than make run:\n" + out.stdout
        )


# The ServerApp guide's two blocks (the app, then run_simulation) as one script.
@pytest.mark.slow
@pytest.mark.timeout(360)
def test_server_app_guide_runs_in_simulation(example_files):
    """In a process of its own (a Ray start-up that hangs is ended with its process group), with a
    private, short Ray temp dir (Ray's socket paths are limited)."""
    app, simulation = blocks(DOCS / "guides" / "server-app.md", "python")[:2]
    assert "run_simulation(" in simulation
    (example_files / "example.py").write_text(app + "\n" + simulation)
    ray_tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    env = {
        **os.environ,
        "RAY_TMPDIR": ray_tmp,
        "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
        "PYTHONPATH": str(REPO),  # this checkout's code
        "MYCROFT_FL_DOCS_TEST": str(example_files),  # marks every process of this test
    }
    try:
        with owned_processes(example_files, str(example_files)) as procs:
            run = procs.start("example", [sys.executable, "example.py"], env=env, cwd=example_files)
            try:
                rc = run.wait(timeout=300)
            except subprocess.TimeoutExpired:
                pytest.fail("the guide's simulation did not end within 300 s\n" + procs.logs())
            assert rc == 0, procs.logs()
            log = procs.log("example")
            leftovers = wait_gone(marked_processes(str(example_files)), 20)
            assert not leftovers, f"the simulation left processes running: {leftovers}"
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    report = json.loads((example_files / "runs" / "mine" / "report.json").read_text())
    owners = {o["id"]: o for o in report["owners"]}
    assert sorted(owners) == ["clinic-a", "clinic-b"], owners
    assert all(o["status"] == "ok" for o in owners.values()), owners  # not "no data"
    assert owners["clinic-a"]["rank"] == 1 and owners["clinic-a"]["shared"] > 0
    assert len(report["rounds"]) == 2  # the example runs Flower's start() for two rounds
    assert len(report["trainer"]["hard_classes"]) > 2  # it names none: hard samples beyond 8 and 9
    for line in shown_table(DOCS / "guides" / "server-app.md"):  # the output the guide shows
        assert line in log, f"the guide shows {line!r}, the run printed:\n{log}"
    for line in blocks(DOCS / "guides" / "server-app.md", "")[0].splitlines():
        if line.startswith("[ROUND"):
            assert line in log, f"the guide shows {line!r}, the run logged:\n{log}"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_your_model_guide_runs_as_written(tmp_path):
    """The factory module saved as the guide says, and the guide's call beside it, in a process whose
    working directory holds the module (on sys.path by PYTHONPATH, as the guide's "anywhere on
    PYTHONPATH")."""
    module, call = blocks(DOCS / "guides" / "your-model.md", "python")[:2]
    assert module.startswith("# mymodels.py")
    (tmp_path / "mymodels.py").write_text(module)
    out = run_python(call, tmp_path, PYTHONPATH=str(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "rank  owner" in out.stdout and "specialist" in out.stdout, out.stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_your_data_scenario_file_runs(example_files):
    """The scenario file of "Your own data" loads, and the page's command runs it on Flower's
    simulation engine, with the environment's bin on PATH as the page says."""
    scenario = load_scenario(example_files / "study.toml")
    assert scenario.owner_ids == ["clinic-a", "clinic-b"]
    assert scenario.trainer_data().n_classes == 10
    (command,) = blocks(DOCS / "guides" / "your-data.md", "bash")
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(
        ["bash", "-c", command],
        cwd=example_files,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((example_files / "runs" / "my-study" / "report.json").read_text())
    assert report["scenario"] == "my-study"
    assert {o["id"]: o["rank"] for o in report["owners"]} == {"clinic-a": 1, "clinic-b": 2}


# --- shell commands -----------------------------------------------------------------------------


def command_lines() -> list[tuple[Path, str]]:
    """Every `mycroft-fl` command line of a shell or console block of README.md and docs/."""
    found = []
    for page in PAGES:
        for lang in ("bash", "console"):
            for block in blocks(page, lang):
                for line in block.replace("\\\n", " ").splitlines():
                    line = line.removeprefix("$ ").split(" #")[0].strip()
                    if line and Path(line.split()[0]).name == "mycroft-fl":
                        found.append((page, line))
    return found


def test_every_mycroft_fl_command_of_the_docs_parses_and_names_what_ships():
    """Each command line parses with the command's own parser; the scenarios and strategies it names
    are shipped ones or files of the repository (a file the page itself writes is left out)."""
    lines = command_lines()
    assert len(lines) >= 8, lines
    for page, line in lines:
        args = shlex.split(line)[1:]
        if "--help" in args or "--version" in args:
            continue
        parsed = build_parser().parse_args(args)
        where = f"{page.relative_to(REPO)}: {line}"
        if parsed.scenario.endswith(".toml"):
            if (REPO / parsed.scenario).is_file():
                load_scenario(REPO / parsed.scenario)
            else:
                assert parsed.scenario == "study.toml", where  # written by the page (your-data.md)
        else:
            assert find_shipped("simulations", parsed.scenario), where
        names = [getattr(parsed, "strategy", None)]
        names += (getattr(parsed, "strategies", None) or "").split(",")
        for name in filter(None, names):
            load_strategy(name)


def test_tls_guide_certificates_and_keys(tmp_path):
    """Steps 1 and 2 of the TLS guide as written: a CA, a server certificate for the SuperLink's host
    that the CA verifies, for server authentication; an owner's OpenSSH EC P-384 key pair."""
    if not (shutil.which("openssl") and shutil.which("ssh-keygen")):
        pytest.skip("openssl or ssh-keygen is not installed")
    certs, keys = blocks(DOCS / "guides" / "tls.md", "bash")[:2]
    for script in (certs, keys):
        out = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, script + out.stderr
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", "certs/ca.crt", "certs/server.pem"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0 and "OK" in verify.stdout, verify.stdout + verify.stderr
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    cert = x509.load_pem_x509_certificate((tmp_path / "certs" / "server.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["superlink.example.org"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert (tmp_path / "keys" / "owner_a").is_file()
    assert (tmp_path / "keys" / "owner_a.pub").read_text().startswith("ecdsa-sha2-nistp384 ")


# --- reference pages ----------------------------------------------------------------------------


def test_cli_reference_shows_the_commands_help():
    """The help text on the command-line page is what `mycroft-fl CMD --help` prints (compared word
    by word: the wrapping follows the terminal's width)."""
    page = DOCS / "reference" / "cli.md"
    shown = [b for b in blocks(page, "console") if b.startswith("$ mycroft-fl ")]
    assert len(shown) == 2, shown
    for block in shown:
        command, _, text = block.partition("\n")
        args = shlex.split(command)[2:]
        out = subprocess.run(
            [sys.executable, "-m", "mycroft_fl.cli.main", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "100"},
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert text.split() == out.stdout.split(), (
            f"{command}: regenerate the block with COLUMNS=100"
        )


def test_strategy_file_reference_loads(tmp_path):
    """The strategy file on the reference page, saved as a file, loads with every value it sets."""
    (text,) = blocks(DOCS / "reference" / "strategies.md", "toml")
    path = tmp_path / "mine.toml"
    path.write_text(text)
    strategy = load_strategy(str(path))
    table = read_toml(path)
    assert strategy.name == "mine" and strategy.budget == table["budget"]
    for part in ("selector", "valuer"):
        written = strategy.to_dict()[part]
        assert written == {**written, **table[part]}, (part, written, table[part])


def test_scenario_file_reference_examples_load(tmp_path):
    """The scenario files on the reference page load: the one of the user's own files beside such
    files, the built-in source's with its owners as it describes them."""
    import numpy as np

    own, builtin = blocks(DOCS / "reference" / "scenarios.md", "toml")[:2]
    digits = load_scenario("digits")
    data = digits.trainer_data()
    for name, part in (("train", data.train), ("val", data.val), ("test", data.test)):
        np.savez(tmp_path / f"trainer_{name}.npz", x=part.x, y=part.y)
    owner = digits.owner_data("specialist")
    np.savez(tmp_path / "owner_a.npz", x=owner.x, y=owner.y)
    (tmp_path / "own.toml").write_text(own)
    scenario = load_scenario(tmp_path / "own.toml")
    assert scenario.owner_ids == ["clinic-a"] and scenario.trainer.hard_classes == (8, 9)
    assert scenario.trainer_data().n_classes == 10 and len(scenario.owner_data("clinic-a")) == 120

    (tmp_path / "builtin.toml").write_text(builtin)
    scenario = load_scenario(tmp_path / "builtin.toml")
    owners = scenario.owners_data()
    assert {k: len(v) for k, v in owners.items()} == {
        "specialist": 120,
        "unrelated": 120,
        "noisy": 120,
    }
    assert set(owners["unrelated"].y.tolist()) <= set(range(8))
    assert np.isin(owners["specialist"].y, [8, 9]).sum() == 60


def _fields(report: dict) -> dict[str, set[str]]:
    """Every field name a report holds, by the reference page's section it belongs in."""
    owners = report["owners"]
    rounds = report.get("rounds", [])
    return {
        "Top level": set(report),
        "`trainer`": set(report["trainer"]),
        "`owners[]`": {k for o in owners for k in o},
        "`label_audit`": {k for o in owners if o.get("label_audit") for k in o["label_audit"]},
        "`combined`": set(report["combined"]),
        "`exposure`": set(report["exposure"]),
        "`valuation`": set(report["valuation"]),
        "`timings`": set(report["timings"]),
        "`rounds[]`": {k for r in rounds for k in r}
        | {k for r in rounds for entry in r["owners"].values() for k in entry},
    }


def test_report_json_reference_names_every_field():
    """Every field that runs write — one round and two, the valuers with fields of their own, a
    rejected owner and one whose budget exceeds its data — is named in its section of the
    report.json page."""
    from mycroft_fl import StrategyConfig, value_owners
    from mycroft_fl.owner.selectors import AllData
    from mycroft_fl.trainer.in_process import acquire
    from mycroft_fl.trainer.trainer import Trainer
    from mycroft_fl.trainer.valuers import Shapley

    digits = load_scenario("digits")
    data, owners = digits.trainer_data(), digits.owners_data()
    few = {**owners, "tiny": Dataset(owners["specialist"].x[:10], owners["specialist"].y[:10])}
    config = digits.trainer
    reports = [
        value_owners(data, few, seed=0, trainer=config),
        value_owners(data, owners, seed=0, trainer=config, rounds=2, budget=16),
        value_owners(data, owners, seed=0, trainer=config, strategy="ecoval"),
        value_owners(data, owners, seed=0, trainer=config, strategy="inrun"),
        value_owners(
            data,
            owners,
            seed=0,
            trainer=config,
            strategy=StrategyConfig(
                "sampled", selector=AllData(), valuer=Shapley(exact_up_to=0, permutations=10)
            ),
        ),
    ]
    hostile = load_scenario("hostile")
    reports.append(
        acquire(
            Trainer(hostile.trainer_data(), hostile.trainer, seed=0),
            hostile.owners_data(),
            load_strategy("mycroft"),
            behaviours={o.id: o.behaviour for o in hostile.owners},
        )
    )
    written: dict[str, set[str]] = {}
    for report in reports:
        for section, names in _fields(report.to_dict()).items():
            written.setdefault(section, set()).update(names)
    statuses = {o["status"] for r in reports for o in r.to_dict()["owners"]}
    assert statuses >= {"ok", "rejected"}, statuses
    assert {"notes", "value_se", "histogram"} <= written["`owners[]`"]

    page = (DOCS / "reference" / "report-json.md").read_text()
    sections = {
        heading: body
        for heading, body in re.findall(r"^##+ ([^\n]+)\n(.*?)(?=^##+ |\Z)", page, re.M | re.S)
    }
    for section, names in written.items():
        documented = set(re.findall(r"`([^`]+)`", sections[section]))
        missing = sorted(names - documented)
        assert not missing, (
            f"report.json fields not documented in docs/reference/report-json.md, section "
            f"{section}: {missing}"
        )
