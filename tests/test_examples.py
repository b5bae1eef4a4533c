"""Every worked close of examples/ (a copy of ../shared/examples), step after step against one
store, to the cent."""
from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from conftest import EXAMPLES, SHARED_EXAMPLES

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
