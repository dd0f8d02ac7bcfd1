"""report.json for programs: its shipped JSON Schema, `Report.load` (write -> load -> write gives the
same file), one-line errors for bad files, the conftest check of every report the suite writes, and
pyDVL's ValuationResult."""

from __future__ import annotations

import copy
import json
import re
import tempfile
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from mycroft_fl import InputError, Report, load_scenario, value_owners
from mycroft_fl.core.data import Dataset
from mycroft_fl.core.tomlfile import read_toml
from mycroft_fl.trainer.in_process import acquire
from mycroft_fl.trainer.report import (
    READABLE_VERSIONS,
    SCHEMA_VERSION,
    report_schema,
    schema_problem,
)
from mycroft_fl.trainer.strategy_config import load_strategy
from mycroft_fl.trainer.trainer import Trainer

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reference" / "report-json.md"


@pytest.fixture(scope="module")
def reports() -> dict[str, Report]:
    """In-process runs whose reports carry most optional fields: notes and value_ci (an owner with
    little data), rounds, rejected owners."""
    digits = load_scenario("digits")
    data, owners = digits.trainer_data(), digits.owners_data()
    tiny = Dataset(owners["specialist"].x[:10], owners["specialist"].y[:10])
    hostile = load_scenario("hostile")
    return {
        "one round": value_owners(data, {**owners, "tiny": tiny}, seed=0, trainer=digits.trainer),
        "two rounds": value_owners(
            data, owners, seed=0, trainer=digits.trainer, rounds=2, budget=16
        ),
        "hostile": acquire(
            Trainer(hostile.trainer_data(), hostile.trainer, seed=0),
            hostile.owners_data(),
            load_strategy("mycroft"),
            behaviours={o.id: o.behaviour for o in hostile.owners},
        ),
    }


def schema_properties(node) -> set[str]:
    """Every property name the schema defines, at any depth."""
    names = set()
    if isinstance(node, dict):
        names |= {k for k in node.get("properties", {})}
        for value in node.values():
            names |= schema_properties(value)
    elif isinstance(node, list):
        for value in node:
            names |= schema_properties(value)
    return names


def test_the_schema_is_draft_2020_12_and_ships_in_the_package():
    schema = report_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"] == {"enum": list(READABLE_VERSIONS)}
    assert SCHEMA_VERSION == max(READABLE_VERSIONS)
    pyproject = read_toml(Path(__file__).resolve().parents[1] / "pyproject.toml")
    package_data = pyproject["tool"]["setuptools"]["package-data"]
    assert "report.schema.json" in package_data["mycroft_fl.trainer"]  # wheels carry it


def test_every_field_of_the_schema_is_documented():
    page = re.sub(r"```.*?```", "", DOCS.read_text(), flags=re.S)  # the tables, not the example
    documented = set(re.findall(r"`([^`]+)`", page))
    missing = sorted(schema_properties(report_schema()) - documented)
    assert not missing, f"schema fields not named in docs/reference/report-json.md: {missing}"


@pytest.mark.parametrize("name", ["one round", "two rounds", "hostile"])
def test_write_load_write_gives_the_same_report_json(reports, name, tmp_path):
    report = reports[name]
    first = report.write(tmp_path / "a")
    doc = json.loads(first.read_text())
    assert doc["schema_version"] == SCHEMA_VERSION and schema_problem(doc) is None
    loaded = Report.load(first)
    second = loaded.write(tmp_path / "b")
    assert second.read_text() == first.read_text()
    assert Report.load(tmp_path / "b").to_dict() == doc  # a directory names its report.json
    # the typed parts, not only the JSON
    assert loaded.strategy.name == report.strategy.name
    assert type(loaded.strategy.selector) is type(report.strategy.selector)
    assert type(loaded.strategy.valuer) is type(report.strategy.valuer)
    for before, after in zip(
        sorted(report.owners, key=lambda o: o.id), sorted(loaded.owners, key=lambda o: o.id)
    ):
        assert (after.id, after.status, after.rank, after.shared, after.utility) == (
            before.id,
            before.status,
            before.rank,
            before.shared,
            before.utility,
        )
        assert after.utility_ci == before.utility_ci and after.commitment == before.commitment
        assert after.subset is None
    assert loaded.weights is None  # report.json carries no weights
    assert loaded.table() == report.table() and loaded.markdown() == report.markdown()


def test_a_recorded_valuer_this_version_does_not_know_keeps_its_name_and_meaning(reports):
    doc = reports["one round"].to_dict()
    doc.update(valuer="my-valuer", value_meaning="what my valuer means", selector="my-selector")
    loaded = Report.from_dict(doc)
    assert loaded.strategy.valuer.name == "my-valuer"
    assert loaded.strategy.valuer.meaning == "what my valuer means"
    assert loaded.strategy.selector.name == "my-selector"
    assert loaded.to_dict() == doc


def broken(doc: dict, change) -> dict:
    doc = copy.deepcopy(doc)
    change(doc)
    return doc


def rename(d: dict, old: str, new: str) -> None:
    d[new] = d.pop(old)


BREAKS = {
    "a missing field": (lambda d: d.pop("combined"), "'combined' is a required property"),
    "an unknown field": (lambda d: d.update(extra=1), "'extra' was unexpected"),
    "a renamed owner field": (
        lambda d: rename(d["owners"][0], "utility", "gain"),
        "owners[0]",
    ),
    "a wrong type": (lambda d: d["trainer"].update(hard_query="26"), "trainer.hard_query"),
    "another schema version": (lambda d: d.update(schema_version=3), "schema_version is 3"),
    "no schema version": (lambda d: d.pop("schema_version"), "no schema_version"),
    "a rejected owner with a utility": (
        lambda d: d["owners"][-1].update(utility=0.5),
        "owners[",
    ),
    "totals that do not add up": (
        lambda d: d["exposure"].update(total_received=1),
        "exposure.total_received is 1 but its owners add up to",
    ),
    "a commitment that does not add up": (
        lambda d: d["owners"][0]["commitment"].update(rows=7),
        "commitment rows 7",
    ),
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_a_bad_report_is_a_one_line_error_naming_the_file(reports, case, tmp_path):
    change, message = BREAKS[case]
    path = tmp_path / "broken.json"  # not named report.json: the session's check skips it
    path.write_text(json.dumps(broken(reports["hostile"].to_dict(), change)))
    with pytest.raises(InputError) as info:
        Report.load(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text, text


def test_unreadable_and_non_json_files_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match=r"missing\.json: cannot read it"):
        Report.load(tmp_path / "missing.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(InputError, match=r"junk\.json: not a JSON document"):
        Report.load(tmp_path / "junk.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(InputError, match=r"list\.json: the document: \[\] is not of type"):
        Report.load(tmp_path / "list.json")


def test_the_suites_check_flags_a_report_with_a_field_the_schema_lacks(reports, report_scanner):
    """conftest.py's session check (every report.json the session wrote) fails on such a file."""
    doc = reports["one round"].to_dict()
    with tempfile.TemporaryDirectory() as root:
        good, bad = Path(root, "good"), Path(root, "bad")
        for where, document in ((good, doc), (bad, {**doc, "owners_paid": 3})):
            where.mkdir()
            (where / "report.json").write_text(json.dumps(document))
        found = report_scanner(Path(root))
    assert len(found) == 1 and found[0].startswith(str(bad / "report.json")), found
    assert "'owners_paid' was unexpected" in found[0]


def test_owner_values_as_a_pydvl_valuation_result(reports):
    pytest.importorskip("pydvl.valuation.result")
    from pydvl.utils.status import Status

    report = reports["hostile"]
    result = report.to_valuation_result()
    valued = [o for o in report.to_dict()["owners"] if o["status"] == "ok"]
    assert list(result.names) == [o["id"] for o in valued]  # rank order; rejected ones left out
    assert list(result.values) == [o["value"] for o in valued]
    assert set(result.variances) == {0.0}  # retrain does not sample
    assert result.status == Status.Converged and result.algorithm == "mycroft-fl:retrain"
    best = result.get(0)
    assert best.name == valued[0]["id"] and best.value == valued[0]["value"]
