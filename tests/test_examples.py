"""Every worked close of ../shared/examples, step after step against one store, to the cent."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import EXAMPLES

SCENARIOS = sorted(p for p in EXAMPLES.iterdir() if p.is_dir()) if EXAMPLES.exists() else []


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
    assert len(SCENARIOS) >= 2
