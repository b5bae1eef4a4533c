"""The worked examples of the user guides quote the amounts of the examples' expected CSVs."""
from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
GUIDES = {lang: (ROOT / "docs" / f"guide-{lang}.md").read_text(encoding="utf-8")
          for lang in ("fr", "en")}

# (scenario, step, file, key columns, column, amount the guides quote)
QUOTED = [
    # Clause options (bonus-blocks, C-TRI-06)
    ("bonus-blocks", 1, "settlement", {"month": "2026-03"}, "bonus", "2700.00"),
    ("bonus-blocks", 1, "settlement", {"month": "2026-03"}, "due", "22100.00"),
    ("bonus-blocks", 1, "settlement", {"month": "2026-02"}, "invoice_now", "13520.00"),
    ("bonus-blocks", 1, "kpi_results", {"month": "2026-01", "kpi_id": "prevision"}, "earned_k", "2160.00"),
    ("bonus-blocks", 1, "kpi_results", {"month": "2026-02", "kpi_id": "prevision"}, "earned_k", "2520.00"),
    ("bonus-blocks", 1, "kpi_results", {"month": "2026-03", "kpi_id": "prevision"}, "earned_k", "3000.00"),
    ("bonus-blocks", 2, "kpi_results", {"month": "2026-04", "kpi_id": "prevision"}, "earned_k", "3420.00"),
    ("bonus-blocks", 2, "kpi_results", {"month": "2026-05", "kpi_id": "incidents"}, "held_k", "2700.00"),
    ("bonus-blocks", 2, "settlement", {"month": "2026-05"}, "due", "17300.00"),
    ("bonus-blocks", 2, "kpi_results", {"month": "2026-02", "kpi_id": "delai"}, "earned_back_k", "2700.00"),
    ("bonus-blocks", 2, "settlement", {"month": "2026-02"}, "due", "16220.00"),
    ("bonus-blocks", 2, "settlement", {"month": "2026-02"}, "invoice_now", "2700.00"),
    ("bonus-blocks", 3, "kpi_results", {"month": "2026-05", "kpi_id": "incidents"}, "forfeited_k", "2700.00"),
    # When the contract changes (amendment-exit, C-AVN-05)
    ("amendment-exit", 1, "settlement", {"month": "2026-01"}, "due", "6740.00"),
    ("amendment-exit", 1, "settlement", {"month": "2026-02"}, "due", "7412.00"),
    ("amendment-exit", 1, "settlement", {"month": "2026-03"}, "due", "6880.00"),
    ("amendment-exit", 2, "settlement", {"month": "2026-04"}, "fixed", "5850.00"),
    ("amendment-exit", 2, "kpi_results", {"month": "2026-04", "kpi_id": "reclamations"}, "earned_k", "1285.20"),
    ("amendment-exit", 2, "settlement", {"month": "2026-04"}, "due", "8395.20"),
    ("amendment-exit", 3, "settlement", {"month": "2026-08"}, "invoice_now", "8244.00"),
    ("amendment-exit", 4, "settlement", {"month": "2026-08"}, "invoice_now", "-8244.00"),
    ("amendment-exit", 4, "settlement", {"month": "2026-07"}, "due", "7790.40"),
    # Invoices and credit notes
    ("invoices", 1, "documents", {"number": "F2026-00001"}, "total", "11280.00"),
    ("invoices", 1, "documents", {"number": "F2026-00002"}, "base", "26000.00"),
    ("invoices", 1, "documents", {"number": "F2026-00002"}, "vat", "5200.00"),
    ("invoices", 2, "documents", {"number": "F2026-00003"}, "total", "22500.00"),
    ("invoices", 2, "documents", {"number": "AV2026-00001"}, "base", "600.00"),
    ("invoices", 2, "documents", {"number": "AV2026-00001"}, "total", "720.00"),
]

# Texts the guides quote verbatim from the expected files.
QUOTED_TEXT = [
    ("bonus-blocks", 2, "kpi_results", {"month": "2026-02", "kpi_id": "delai"}, "reason",
     "earned back 2026-03..2026-04"),
    ("bonus-blocks", 3, "kpi_results", {"month": "2026-05", "kpi_id": "incidents"}, "reason",
     "deemed missed: 2026-05 missing"),
    ("bonus-blocks", 3, "contracts", {"contract_id": "C-TRI-06"}, "chronic", "incidents"),
    ("amendment-exit", 2, "contracts", {"contract_id": "C-AVN-05"}, "exit_deadline", "2026-08"),
    ("amendment-exit", 4, "contracts", {"contract_id": "C-AVN-05"}, "exit_status", "exercised"),
    ("amendment-exit", 4, "contracts", {"contract_id": "C-AVN-05"}, "last_month", "2026-07"),
    ("invoices", 2, "documents", {"number": "F2026-00003"}, "references", "F2026-00002"),
    ("invoices", 2, "documents", {"number": "AV2026-00001"}, "due_date", "2026-12-03"),
    ("invoices", 1, "documents", {"number": "F2026-00002"}, "due_date", "2026-11-16"),
]


def _row(scenario, step, name, key):
    path = EXAMPLES / scenario / f"step-{step}" / "expected" / f"{name}.csv"
    with path.open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if all(r[k] == v for k, v in key.items())]
    assert len(rows) == 1, (path, key)
    return rows[0]


def _shown(amount: str, lang: str) -> str:
    """An amount as the guides write it: '8 395,20 €' (fr), '€8,395.20' (en)."""
    value = Decimal(amount)
    text = f"{abs(value):,.2f}"
    sign = "−" if value < 0 else ""
    if lang == "fr":
        return sign + text.replace(",", " ").replace(".", ",")
    return sign + "€" + text


@pytest.mark.parametrize("scenario,step,name,key,column,amount", QUOTED)
def test_quoted_amount_is_the_expected_one(scenario, step, name, key, column, amount):
    assert _row(scenario, step, name, key)[column] == amount
    for lang, text in GUIDES.items():
        shown = _shown(amount, lang)
        if lang == "en" and name == "documents":
            shown = shown.lstrip("€")          # the documents tables print bare amounts
        assert shown in text, (lang, shown)


@pytest.mark.parametrize("scenario,step,name,key,column,value", QUOTED_TEXT)
def test_quoted_text_is_the_expected_one(scenario, step, name, key, column, value):
    assert _row(scenario, step, name, key)[column] == value
    for lang, text in GUIDES.items():
        assert value in text, lang


def test_hand_computed_examples():
    """The figures the guides compute by hand from SPEC §3 (not in the expected files)."""
    q = Decimal("0.01")
    # bonus_base earned vs pool, quarter 1 of C-TRI-06.
    assert 3 * Decimal(9000) * Decimal("0.10") == Decimal("2700.00")
    assert (Decimal("7560") + Decimal("2520") + Decimal("8400")) * Decimal("0.10") == Decimal("1848.00")
    assert (Decimal("7560") + Decimal("5220") + Decimal("8400")) * Decimal("0.10") == Decimal("2118.00")
    assert 3 * Decimal(9000) * Decimal("0.05") == Decimal("1350.00")
    # worst of February and March with min_coverage 2 in April: 0.88 → attainment 0.8.
    assert Decimal(3600) * (Decimal("0.88") - Decimal("0.80")) / Decimal("0.10") == Decimal("2880")
    # C-AVN-05 restated at a fee of 9,000 without an amendment, January to March.
    fixed, pool = Decimal("5850.00"), Decimal("3150.00")
    recl, dispo = pool * Decimal("0.6"), pool * Decimal("0.4")
    dues = [fixed + (recl * a).quantize(q) + dispo * d
            for a, d in ((Decimal("0.25"), 1), (Decimal("0.65"), 1), (Decimal(1), 0))]
    assert dues == [Decimal("7582.50"), Decimal("8338.50"), Decimal("7740.00")]
    assert sum(dues) - (Decimal("6740") + Decimal("7412") + Decimal("6880")) == Decimal("2629.00")
    # A KPI joining in October: the pool of 3,150 split 0.4 / 0.4 / 0.2.
    assert [pool * w for w in (Decimal("0.4"), Decimal("0.4"), Decimal("0.2"))] == [1260, 1260, 630]
    # VAT rounding per document.
    from decimal import ROUND_HALF_UP
    assert (Decimal("1234.57") * Decimal("0.20")).quantize(q, ROUND_HALF_UP) == Decimal("246.91")
    for lang, text in GUIDES.items():
        for amount in ("1848.00", "2118.00", "1350.00", "2880.00", "7582.50", "8338.50",
                       "7740.00", "2629.00", "630.00", "246.91"):
            shown = _shown(amount, lang)
            assert shown in text, (lang, shown)
