"""A sheet's cells kept by column, each distinct value once: nothing of a cell is lost.

The reader sends sheets back from its child process in this form, and validation converts
each distinct value once; so two cells may share an entry only when they hold the same value
of the same type, written the same way.
"""
from __future__ import annotations

import datetime as dt
import pickle
from decimal import Decimal

from hypothesis import given, settings, strategies as st

from perfsettle.inputs.reading import Grid, RawSheet, RawWorkbook
from perfsettle.inputs.validation import parse_workbook

# Equal under ==, yet different cells.
LOOK_ALIKES = [1, 1.0, True, 0, 0.0, -0.0, False, Decimal("1"), Decimal("1.0"), Decimal("-0"), "1", "",
               None, dt.date(2026, 1, 1), dt.datetime(2026, 1, 1), float("nan"), float("inf")]

CELLS = st.one_of(
    st.sampled_from(LOOK_ALIKES), st.text(max_size=5), st.integers(-3, 3), st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True), st.dates(), st.datetimes(), st.times(),
    st.timedeltas(), st.decimals(allow_nan=False, places=1, min_value=-2, max_value=2),
)


def same_cell(a, b) -> bool:
    """Same type, and the same value as written (repr tells 0.0 from -0.0, 1 from 1.0)."""
    return type(a) is type(b) and repr(a) == repr(b)


def same_rows(got, want) -> bool:
    return len(got) == len(want) and all(
        len(g) == len(w) and all(map(same_cell, g, w)) for g, w in zip(got, want))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 6).flatmap(lambda w: st.lists(st.lists(CELLS, min_size=w, max_size=w), max_size=30)))
def test_every_cell_comes_back_with_its_type_and_value(rows):
    grid = Grid.from_rows(rows)
    assert same_rows(grid.rows(), rows)
    assert same_rows(pickle.loads(pickle.dumps(grid)).rows(), rows)
    for col in grid.columns:
        assert len(col.codes) == len(rows)


def test_look_alikes_stay_apart():
    grid = Grid.from_rows([[v] for v in LOOK_ALIKES * 3])
    (col,) = grid.columns
    assert len(col.values) == len(LOOK_ALIKES)
    assert same_rows(grid.rows(), [[v] for v in LOOK_ALIKES * 3])


def test_repeated_values_are_kept_once():
    rows = [["C-1", "k1", dt.date(2026, 1, 1), 0.5, "verified"]] * 1000
    grid = Grid.from_rows(rows)
    assert [len(c.values) for c in grid.columns] == [1] * 5
    assert all(c.codes.itemsize == 1 for c in grid.columns)


def test_short_rows_are_completed_with_blank_cells():
    grid = Grid.from_rows([["a", "b", "c"], ["d"], []])
    assert grid.rows() == [["a", "b", "c"], ["d", None, None], [None, None, None]]


def test_a_sheet_given_as_rows_is_kept_as_a_grid():
    rows = [["contract_id", "kpi_id"], ["C-1", "k"]]
    sheet = RawSheet("KPIs", rows, {}, False)
    assert isinstance(sheet.grid, Grid) and sheet.rows == rows
    assert sheet == RawSheet("KPIs", Grid.from_rows(rows), {}, False)


def test_each_cell_of_look_alike_values_gets_its_own_finding():
    """1, 1.0 and True in a number column: the boolean alone is refused, at its cell."""
    header = ["contract_id", "kpi_id", "month", "value", "status"]
    rows = [header] + [["C-1", "k", f"2026-0{i}", v, "verified"] for i, v in enumerate([1, 1.0, True, 1], 1)]
    wb = parse_workbook("w.xlsx", RawWorkbook((RawSheet("Readings", rows, {}, False),), ("Readings",)))
    found = [(d.code, d.source.cell) for d in wb.diagnostics]
    assert found == [("not-a-number", "Readings!D4")]
    values = [r.values["value"] for r in wb.sheets["Readings"]]
    assert values == [Decimal(1), Decimal(1), None, Decimal(1)]
    assert [r.bad for r in wb.sheets["Readings"]] == [frozenset(), frozenset(), {"value"}, frozenset()]


def test_flagged_and_blank_cells_as_before():
    """A row blank in the sheet's columns is skipped unless a cell is flagged (an error cell,
    a formula without a value); the flagged cell is reported and read as missing."""
    header = ["contract_id", "kpi_id", "month", "value", "status"]
    rows = [header, ["C-1", "k", "2026-01", 0.5, "verified"], [None, " ", "", None, None],
            [None, None, None, 0.7, None], ["C-1", "k", "2026-02", 0.9, "verified"]]
    flags = {(2, 3): "#N/A", (4, 3): "formula"}
    wb = parse_workbook("w.xlsx", RawWorkbook((RawSheet("Readings", rows, flags, False),), ("Readings",)))
    kept = wb.sheets["Readings"]
    assert [r.row for r in kept] == [2, 3, 4, 5]
    assert [(d.code, d.source.cell) for d in wb.diagnostics] == [
        ("error-cell", "Readings!D3"), ("formula-no-value", "Readings!D5")]
    assert kept[1].values["value"] is None and kept[3].values["value"] is None
    assert kept[2].values["value"] == Decimal("0.7")
