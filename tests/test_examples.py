"""Every worked close of examples/ (a copy of ../shared/examples), step after step against one
store, to the cent (on SQLite); and on PostgreSQL, the same CSVs as on SQLite byte for byte."""
from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from conftest import EXAMPLES, SHARED_EXAMPLES, Workspace

SCENARIOS = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_example_reproduces_expected_csvs(scenario: Path, ws):
    steps = sorted(scenario.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    assert steps, f"{scenario} has no steps"
    for step in steps:
        period = (step / "period").read_text().strip()
        ws.drop(*sorted((step / "inbox").iterdir()))
        code = ws.run(period)
        assert code == 0, f"{step.name}: exit {code}"
        for name in ("settlement.csv", "kpi_results.csv", "contracts.csv"):
            expected = (step / "expected" / name).read_text(encoding="utf-8")
            assert ws.text(period, name) == expected, f"{scenario.name}/{step.name}/{name} differs"


def _steps(scenario: Path) -> list[Path]:
    return sorted(scenario.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_both_stores_give_the_same_csvs_byte_for_byte(scenario: Path, tmp_path, monkeypatch, pg):
    monkeypatch.chdir(tmp_path)
    lite = Workspace(tmp_path / "sqlite")
    post = Workspace(tmp_path / "postgresql", pg.new_database())
    for step in _steps(scenario):
        period = (step / "period").read_text().strip()
        outcome = {}
        for w in (lite, post):
            w.drop(*sorted((step / "inbox").iterdir()))
            code = w.run(period)
            outcome[w.kind] = (code, {name: w.text(period, name) if (w.outbox / period / name).exists() else None
                                      for name in ("settlement.csv", "kpi_results.csv", "contracts.csv")})
        assert outcome["sqlite"][1]["settlement.csv"] is not None, f"{step.name}: no settlement.csv"
        assert outcome["postgresql"] == outcome["sqlite"], f"{scenario.name}/{step.name}: the stores differ"


def test_examples_are_present():
    assert len(SCENARIOS) >= 5


def _differences(a: Path, b: Path) -> list[str]:
    cmp = filecmp.dircmp(a, b)
    out = [f"only in {a}: {n}" for n in cmp.left_only] + [f"only in {b}: {n}" for n in cmp.right_only]
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    out += [f"differs: {a / n}" for n in mismatch + errors]
    for sub in cmp.common_dirs:
        out += _differences(a / sub, b / sub)
    return out


@pytest.mark.skipif(not SHARED_EXAMPLES.is_dir(), reason="no ../shared/examples beside this clone")
def test_the_copy_equals_the_shared_examples():
    assert _differences(EXAMPLES, SHARED_EXAMPLES) == []
