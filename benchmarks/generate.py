"""Synthetic portfolios for the benchmarks: valid, realistic input workbooks (SPEC §2).

    python benchmarks/generate.py SIZE OUTDIR [--seed N] [--verify]

SIZE is one of:

    S     50 contracts, ~2k readings, one workbook
    M     1,000 contracts, ~50k readings, one workbook
    L     10,000 contracts, ~500k readings (~5 KPIs a contract, ~10 months), one workbook
    many  200 small workbooks of ~5 contracts each (~1,000 contracts in all)

Contracts start between 2025-07 and 2026-10 (the benchmark close period is 2026-10) and
carry every option of the format: four company sizes with variable shares inside their
usual bands; EUR, USD, GBP, CHF and JPY (whole-yen fees); absolute, relative and points
targets with the right sign for their direction; floors strictly worse than targets;
windows of 1 to 6 months; due months; weight-0 KPIs serving as bonus or exit KPI;
bonus-malus; early-exit rights; verified-only contracts; readings that are mostly verified,
some provisional, a few disputed and a few missing; opening balances (sheet Invoiced) for
about 10 % of the contracts. Months are real Excel dates in some workbooks and text
(`YYYY-MM`, or `MM/YYYY`) in others; some of the many-files workbooks use the French
sheet names, headers and values. Output is deterministic for a given seed.

Workbooks are written with xlsxwriter in constant-memory mode (rows streamed in order).
``generate(size, outdir, seed)`` is the entry point for ``benchmarks/bench.py``;
``--verify`` reads the files back with python-calamine and checks the format invariants.
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import xlsxwriter

PERIOD = "2026-10"
FIRST_START = (2025, 7)           # contracts start between 2025-07 and PERIOD
N_START_MONTHS = 16               # 2025-07 .. 2026-10
SIZES = ("S", "M", "L", "many")
DEFAULT_SEED = 20261031

# contracts per size, and the month style of the single-workbook sizes
CONTRACT_COUNTS = {"S": 50, "M": 1_000, "L": 10_000}
MONTH_STYLE = {"S": "text", "M": "date", "L": "date"}
MANY_FILES = 200
MANY_CONTRACTS = (3, 7)           # contracts per workbook in `many` (mean 5)

# --------------------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------------------

COMPANY_SIZES = (("TPE", 0.25), ("PME", 0.40), ("ETI", 0.25), ("GE", 0.10))
# usual variable-share band (percent) and monthly fee range (EUR) per company size
SHARE_BAND = {"TPE": (20, 30), "PME": (30, 40), "ETI": (40, 55), "GE": (30, 60)}
FEE_RANGE = {"TPE": (1_500, 5_000), "PME": (5_000, 20_000), "ETI": (20_000, 80_000),
             "GE": (60_000, 300_000)}
CURRENCIES = (("EUR", 0.78), ("USD", 0.09), ("GBP", 0.06), ("CHF", 0.04), ("JPY", 0.03))
FX = {"EUR": 1.0, "USD": 1.1, "GBP": 0.85, "CHF": 0.95, "JPY": 160.0}
MINOR = {"EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "JPY": 0}
DURATIONS = (6, 12, 12, 12, 18, 24, 24, 24, 36)

# Weight sets whose decimal sum is exactly 1, by number of weighted KPIs.
WEIGHT_SETS = {
    2: ((0.5, 0.5), (0.6, 0.4), (0.7, 0.3), (0.55, 0.45)),
    3: ((0.4, 0.3, 0.3), (0.5, 0.25, 0.25), (0.34, 0.33, 0.33), (0.45, 0.35, 0.2)),
    4: ((0.25, 0.25, 0.25, 0.25), (0.35, 0.25, 0.2, 0.2), (0.4, 0.2, 0.2, 0.2),
        (0.3, 0.3, 0.2, 0.2)),
    5: ((0.2, 0.2, 0.2, 0.2, 0.2), (0.3, 0.2, 0.2, 0.15, 0.15), (0.25, 0.25, 0.2, 0.15, 0.15)),
    6: ((0.2, 0.2, 0.15, 0.15, 0.15, 0.15), (0.25, 0.15, 0.15, 0.15, 0.15, 0.15)),
}
WEIGHTED_COUNT = ((2, 0.06), (3, 0.24), (4, 0.40), (5, 0.20), (6, 0.10))


@dataclass(frozen=True)
class KpiKind:
    """A family of KPI: what it measures and how its targets are usually written."""
    kpi_id: str
    name_fr: str
    name_en: str
    category: str
    direction: str          # higher | lower
    unit: str
    baseline: tuple[float, float]
    decimals: int           # precision of baselines, levels and readings
    modes: tuple[str, ...]  # target modes seen for this KPI
    bounded: bool = False   # a rate in [0, 1]
    window: tuple[int, ...] = (1,)


KINDS = (
    KpiKind("detection", "Taux de détection d'anomalies", "Anomaly detection rate", "operational",
            "higher", "%", (0.55, 0.80), 2, ("relative", "points", "absolute"), True),
    KpiKind("manual_time", "Temps de traitement manuel", "Manual processing time", "operational",
            "lower", "h", (60, 200), 0, ("relative", "absolute"), False, (1, 1, 2)),
    KpiKind("automation", "Taux d'automatisation", "Automation rate", "operational",
            "higher", "%", (0.30, 0.55), 2, ("absolute", "points"), True),
    KpiKind("first_contact", "Résolution au premier contact", "First-contact resolution",
            "operational", "higher", "%", (0.45, 0.70), 2, ("points", "relative"), True),
    KpiKind("handling_time", "Durée moyenne de traitement", "Average handling time", "operational",
            "lower", "min", (8, 20), 1, ("relative", "absolute"), False),
    KpiKind("satisfaction", "Satisfaction métier", "Business satisfaction score", "operational",
            "higher", "/10", (5.5, 7.0), 1, ("absolute",), False, (1, 3)),
    KpiKind("stability", "Stabilité du modèle", "Model stability", "robustness",
            "higher", "%", (0.93, 0.96), 2, ("absolute",), True, (3, 4, 6)),
    KpiKind("uptime", "Disponibilité du service", "Service uptime", "robustness",
            "higher", "%", (0.980, 0.990), 3, ("absolute",), True, (1, 2, 3)),
    KpiKind("drift", "Dérive du modèle", "Model drift", "robustness",
            "lower", "%", (0.05, 0.08), 3, ("absolute",), True, (1, 3)),
    KpiKind("hallucination", "Taux d'hallucination", "Hallucination rate", "robustness",
            "lower", "%", (0.06, 0.12), 3, ("points", "absolute"), True, (1, 2)),
    KpiKind("false_positives", "Taux de faux positifs", "False positive rate", "robustness",
            "lower", "%", (0.10, 0.20), 3, ("relative", "points"), True),
    KpiKind("roi", "ROI sur le périmètre", "ROI on scope", "financial",
            "higher", "%", (0.05, 0.15), 2, ("relative", "absolute"), False),
    KpiKind("cost_per_case", "Coût par dossier", "Cost per case", "financial",
            "lower", "€", (12, 40), 2, ("relative",), False),
)
KIND = {k.kpi_id: k for k in KINDS}
ROBUSTNESS = tuple(k for k in KINDS if k.category == "robustness")
OTHERS = tuple(k for k in KINDS if k.category != "robustness")
PROFITABILITY = KpiKind("profitability", "Rentabilité IA", "AI profitability", "financial",
                        "higher", "%", (0.10, 0.20), 2, ("absolute",), False)
RETIRED = KpiKind("legacy_volume", "Volume traité (ancien indicateur)", "Processed volume (retired)",
                  "operational", "higher", "dossiers", (800, 1500), 0, ("absolute",), False)

CLIENT_HEADS = ("Boulangeries", "Transports", "Groupe", "Cabinet", "Laboratoires", "Hôtels",
                "Imprimerie", "Clinique", "Mutuelle", "Assurances", "Logistique", "Pharmacies",
                "Menuiserie", "Coopérative", "Librairies", "Caves", "Garages", "Distribution")
CLIENT_NAMES = ("Martin", "Girard", "Valmont", "Lefèvre", "Bernard", "Dubois", "Moreau", "Laurent",
                "Simon", "Michel", "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Muller",
                "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu", "Clément", "Gauthier",
                "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin", "Masson", "Sanchez", "Noël")
CLIENT_TAILS = ("SAS", "SA", "SARL", "& Fils", "Industries", "Services", "", "Holding")
EN_CLIENTS = ("Northwind", "Bluewater", "Highfield", "Ashford", "Kingsbridge", "Redwood",
              "Silverline", "Oakmont", "Harbor", "Lakeside", "Summit", "Brightstone")
EN_TAILS = ("Ltd", "plc", "Inc.", "Group", "Logistics", "Retail", "Health", "Foods")
PROVIDERS = ("Agence Lumen IA", "Cabinet Orion Data", "Synapse Conseil", "Nova Analytics",
             "Atelier Prisme IA", "Datacraft Partners", "Helios Intelligence", "Kairos Lab",
             "Quantix Studio", "Vega Automation", "Cortex & Associés", "Mistral Ops")
MEDIATORS = ("Mme Durand (CMAP)", "Jury indépendant Syntec", "M. Petit, médiateur des entreprises",
             "CMAP Paris", "Independent panel (CEDR)", "Me Caron, avocate médiatrice")
MANAGERS = ("A. Roux", "B. Lemoine", "C. Dupuis", "D. Marchand", "E. Colin", "F. Brun")
COMMENTS_DISPUTED = ("contesté par le client", "périmètre de mesure en discussion",
                     "client disputes the sampling", "écart avec le tableau de bord client")
COMMENTS_PROVISIONAL = ("en attente de validation", "awaiting client sign-off", "chiffre estimé")

# French spellings (SPEC §2 aliases) for the French-labelled workbooks
FR_SHEETS = {"Contracts": "Contrats", "KPIs": "Indicateurs", "Readings": "Mesures",
             "Invoiced": "Deja_facture", "Amendments": "Avenants", "Events": "Evenements"}
FR_VALUES = {"operational": "operationnel", "robustness": "robustesse", "financial": "financier",
             "higher": "hausse", "lower": "baisse", "absolute": "absolu", "relative": "relatif",
             "points": "points", "verified": "verifie", "provisional": "provisoire",
             "disputed": "conteste", True: "oui", False: "non"}

CONTRACT_COLUMNS = ("contract_id", "client", "provider", "company_size", "currency", "start_month",
                    "duration_months", "monthly_fee", "variable_share", "requires_verified",
                    "bonus_kpi", "bonus_target", "bonus_rate", "malus_rate", "exit_kpi",
                    "exit_threshold", "exit_month", "mediator", "contact_email", "language",
                    "bonus_base", "bonus_every", "bonus_band", "exit_window_months",
                    "hold_limit_months", "deemed_outcome", "vat_rate", "vat_category",
                    "payment_days", "client_siren", "client_address", "client_postcode",
                    "client_city")
KPI_COLUMNS = ("contract_id", "kpi_id", "name", "category", "direction", "unit", "baseline",
               "target_mode", "target", "floor", "weight", "window_months", "due_month",
               "window_agg", "min_coverage", "earnback_months", "chronic_misses", "chronic_months")
AMENDMENT_COLUMNS = ("contract_id", "kpi_id", "field", "value", "effective_month", "reason",
                     "reference")
EVENT_COLUMNS = ("contract_id", "event", "month", "reason")
OPTIONS_SHARE = 0.25              # share of contracts using the clause options of SPEC §2/§3
CITIES = (("75008", "Paris"), ("69002", "Lyon"), ("13001", "Marseille"), ("31000", "Toulouse"),
          ("33000", "Bordeaux"), ("59000", "Lille"), ("44000", "Nantes"), ("67000", "Strasbourg"))
STREETS = ("rue de la République", "avenue Jean Jaurès", "boulevard Victor Hugo", "rue Nationale",
           "place du Marché", "quai des Chartrons", "rue du Commerce")
READING_COLUMNS = ("contract_id", "kpi_id", "month", "value", "status", "comment")
INVOICED_COLUMNS = ("contract_id", "month", "amount")
FR_HEADERS = {
    "contract_id": "contrat", "provider": "prestataire", "company_size": "taille",
    "currency": "devise", "start_month": "mois_debut", "duration_months": "duree_mois",
    "monthly_fee": "honoraires_mensuels", "variable_share": "part_variable",
    "requires_verified": "verification_requise", "bonus_kpi": "kpi_bonus",
    "bonus_target": "objectif_bonus", "bonus_rate": "taux_bonus", "malus_rate": "taux_malus",
    "exit_kpi": "kpi_sortie", "exit_threshold": "seuil_sortie", "exit_month": "mois_sortie",
    "mediator": "mediateur", "contact_email": "email", "language": "langue",
    "kpi_id": "indicateur", "name": "nom", "category": "categorie", "direction": "sens",
    "unit": "unite", "baseline": "reference", "target_mode": "mode_objectif",
    "target": "objectif", "floor": "plancher", "weight": "poids", "window_months": "fenetre_mois",
    "due_month": "echeance_mois", "month": "mois", "value": "valeur", "status": "statut",
    "comment": "commentaire", "amount": "montant",
}


# --------------------------------------------------------------------------------------
# Model of a generated portfolio
# --------------------------------------------------------------------------------------

@dataclass
class Kpi:
    kind: KpiKind
    kpi_id: str
    name: str
    baseline: float | None
    mode: str
    target: float
    floor: float | None
    weight: float
    window: int
    due_month: int | None
    level: Decimal = Decimal(0)         # absolute target level
    floor_level: Decimal | None = None
    window_agg: str | None = None       # clause options (SPEC §2 KPIs), None = default
    min_coverage: int | None = None
    earnback: int | None = None
    chronic: tuple[int, int] | None = None


@dataclass
class Contract:
    contract_id: str
    client: str
    provider: str
    size: str
    currency: str
    start: int                          # month index, 0 = 2025-07
    duration: int
    fee: float
    share: float
    requires_verified: bool
    language: str
    kpis: list[Kpi] = field(default_factory=list)
    bonus_kpi: str | None = None
    bonus_target: float | None = None
    bonus_rate: float | None = None
    malus_rate: float | None = None
    exit_kpi: str | None = None
    exit_threshold: float | None = None
    exit_month: int | None = None
    mediator: str | None = None
    emails: str | None = None
    manager: str | None = None
    bonus_base: str | None = None       # clause options (SPEC §2 Contracts), None = default
    bonus_every: int | None = None
    bonus_band: float | None = None
    exit_window: int | None = None
    hold_limit: int | None = None
    deemed: str | None = None
    vat_rate: float = 0.2               # invoicing columns (SPEC §8)
    vat_category: str = "S"
    payment_days: int = 30
    siren: str = ""
    address: str = ""
    postcode: str = ""
    city: str = ""


@dataclass
class Portfolio:
    contracts: list[Contract] = field(default_factory=list)
    readings: list[tuple] = field(default_factory=list)   # (cid, kpi_id, month_idx, value, status, comment)
    invoiced: list[tuple] = field(default_factory=list)   # (cid, month_idx, amount)
    amendments: list[tuple] = field(default_factory=list) # (cid, kpi_id, field, value, month_idx, reason, ref)
    events: list[tuple] = field(default_factory=list)     # (cid, event, month_idx, reason)


def month_ym(idx: int) -> tuple[int, int]:
    n = FIRST_START[0] * 12 + FIRST_START[1] - 1 + idx
    return n // 12, n % 12 + 1


PERIOD_IDX = N_START_MONTHS - 1     # 2026-10


def _pick(rng: random.Random, weighted):
    x = rng.random()
    acc = 0.0
    for value, w in weighted:
        acc += w
        if x < acc:
            return value
    return weighted[-1][0]


def _q(x: float, decimals: int) -> float:
    """x rounded to `decimals`, with a shortest repr that is exactly that decimal."""
    return float(round(x, decimals)) if decimals else float(round(x))


def _level(baseline: float | None, mode: str, change: float) -> Decimal:
    c = Decimal(repr(change))
    if mode == "absolute":
        return c
    b = Decimal(repr(baseline))
    return b * (1 + c) if mode == "relative" else b + c


def _ascii(text: str) -> str:
    s = unicodedata.normalize("NFKD", text)
    return "".join(c for c in s if c.isascii() and c.isalnum()).lower()


# --------------------------------------------------------------------------------------
# Planning a portfolio (pure, seeded)
# --------------------------------------------------------------------------------------

def make_kpi(rng: random.Random, kind: KpiKind, weight: float, duration: int,
             kpi_id: str | None = None, language: str = "fr") -> Kpi:
    d = kind.decimals
    sg = 1 if kind.direction == "higher" else -1
    lo, hi = kind.baseline
    baseline = _q(rng.uniform(lo, hi), d)
    mode = rng.choice(kind.modes)
    # typical improvement asked for, as a fraction of the baseline
    if kind.bounded:
        room = (1 - baseline) if sg > 0 else baseline
        gain = room * rng.choice((0.3, 0.4, 0.5))
    else:
        gain = baseline * rng.choice((0.15, 0.2, 0.25, 0.3))
    step = 10 ** -d if d else 1
    gain = max(gain, 2 * step)
    if mode == "absolute":
        target = _q(baseline + sg * gain, d)
        floor = _q(baseline + sg * gain * 0.4, d) if rng.random() < 0.5 else None
        if floor is not None and floor == target:
            floor = None
        base_out = baseline if rng.random() < 0.5 else None
    elif mode == "points":
        target = _q(sg * gain, d)
        floor = _q(sg * gain * 0.4, d) if rng.random() < 0.5 else None
        if floor is not None and floor == target:
            floor = None
        base_out = baseline
    else:  # relative: a change as a fraction of the baseline, e.g. +0.15 or -0.3
        rel = rng.choice((0.05, 0.1, 0.15, 0.2, 0.25, 0.3))
        if kind.bounded and sg > 0:
            rel = min(rel, round((1 - baseline) / baseline * 0.8, 2)) or 0.05
        target = sg * rel
        floor = sg * round(rel / 3, 2) if rng.random() < 0.5 and rel >= 0.1 else None
        base_out = baseline
    if target == 0:                   # never a zero change
        target = sg * step if mode != "relative" else sg * 0.05
    window = min(rng.choice(kind.window), duration)
    due = None
    if kind.category == "financial" and rng.random() < 0.35:
        choices = [m for m in (3, 6, 9, 12) if m <= duration]
        due = rng.choice(choices) if choices else None
    kpi = Kpi(kind, kpi_id or kind.kpi_id, kind.name_fr if language == "fr" else kind.name_en,
              base_out, mode, target, floor, weight, window, due)
    kpi.level = _level(base_out, mode, target)
    kpi.floor_level = _level(base_out, mode, floor) if floor is not None else None
    return kpi


def _reference(kpi: Kpi) -> Decimal:
    """Where readings start from: the baseline, else a level below the target."""
    if kpi.baseline is not None:
        return Decimal(repr(kpi.baseline))
    if kpi.floor_level is not None:
        return kpi.floor_level - (kpi.level - kpi.floor_level)
    sg = 1 if kpi.kind.direction == "higher" else -1
    return kpi.level - sg * abs(kpi.level) * Decimal("0.1")


def plan_contract(rng: random.Random, cid: str) -> Contract:
    size = _pick(rng, COMPANY_SIZES)
    currency = _pick(rng, CURRENCIES)
    language = "en" if currency in ("USD", "GBP") or rng.random() < 0.2 else "fr"
    if language == "en":
        client = f"{rng.choice(EN_CLIENTS)} {rng.choice(EN_TAILS)}"
    else:
        client = f"{rng.choice(CLIENT_HEADS)} {rng.choice(CLIENT_NAMES)} {rng.choice(CLIENT_TAILS)}".strip()
    lo, hi = SHARE_BAND[size]
    share = rng.randint(lo, hi) / 100
    if share == 0.3 and size != "TPE" and rng.random() < 0.5:
        share = 0.325
    flo, fhi = FEE_RANGE[size]
    fee_eur = rng.uniform(flo, fhi)
    if currency == "JPY":
        fee = float(round(fee_eur * FX["JPY"] / 1000) * 1000)
    elif rng.random() < 0.2:
        fee = round(fee_eur * FX[currency], 2)                # an odd fee with cents
    else:
        fee = float(round(fee_eur * FX[currency] / 100) * 100)
    start = min(int(N_START_MONTHS * rng.random() ** 2.4), PERIOD_IDX)
    duration = rng.choice(DURATIONS)
    c = Contract(cid, client, rng.choice(PROVIDERS), size, currency, start, duration, fee, share,
                 rng.random() < 0.25, language)

    # weighted KPIs: at least one robustness KPI, distinct kinds
    n = _pick(rng, WEIGHTED_COUNT)
    weights = list(rng.choice(WEIGHT_SETS[n]))
    rng.shuffle(weights)
    kinds = [rng.choice(ROBUSTNESS)]
    pool = [k for k in KINDS if k is not kinds[0]]
    kinds += rng.sample(pool, n - 1)
    c.kpis = [make_kpi(rng, k, w, duration, language=language) for k, w in zip(kinds, weights)]

    if rng.random() < 0.5:                                      # bonus-malus on profitability
        k = make_kpi(rng, PROFITABILITY, 0.0, duration, language=language)
        k.mode, k.baseline, k.floor, k.due_month = "absolute", None, None, None
        k.target = rng.choice((0.2, 0.22, 0.25, 0.28, 0.3))
        k.level, k.floor_level = Decimal(repr(k.target)), None
        c.kpis.append(k)
        c.bonus_kpi, c.bonus_target = k.kpi_id, k.target
        if rng.random() < 0.6:
            c.bonus_rate = rng.choice((0.05, 0.1, 0.15))
            c.malus_rate = rng.choice((0.05, 0.1, 0.1))
    if rng.random() < 0.45:                                     # early-exit right
        present = {k.kpi_id for k in c.kpis}
        if "automation" not in present and rng.random() < 0.65:
            k = make_kpi(rng, KIND["automation"], 0.0, duration, language=language)
            k.due_month = None
            c.kpis.append(k)
        else:
            k = rng.choice([k for k in c.kpis if k.weight > 0])
        c.exit_kpi = k.kpi_id
        d = k.kind.decimals
        ref = _reference(k)
        c.exit_threshold = _q(float(ref + (k.level - ref) * Decimal("0.6")), d)
        if rng.random() < 0.4:
            c.exit_month = rng.randint(max(1, duration // 3), duration)
    if rng.random() < 0.05:                                     # a retired KPI
        c.kpis.append(make_kpi(rng, RETIRED, 0.0, duration, language=language))
    if rng.random() < 0.4:
        c.mediator = rng.choice(MEDIATORS)
    if rng.random() < 0.85:
        slug = _ascii(client.split()[1] if len(client.split()) > 1 else client) or "client"
        c.emails = f"finance@{slug}.example"
        if rng.random() < 0.3:
            c.emails += f", achats@{slug}.example"
    c.manager = rng.choice(MANAGERS)
    return c


def plan_readings(rng: random.Random, c: Contract, out: list) -> None:
    last = min(PERIOD_IDX, c.start + c.duration - 1)
    months = range(c.start, last + 1)
    for k in c.kpis:
        kind = k.kind
        d = kind.decimals
        sg = 1 if kind.direction == "higher" else -1
        ref = float(_reference(k))
        level = float(k.level)
        span = abs(level - ref) or abs(level) * 0.1 or 1.0
        final = rng.uniform(-1.1, 0.6)       # where this KPI ends up, in spans beyond target
        ramp = rng.randint(2, 8)
        for i, m in enumerate(months):
            progress = min(1.0, (i + 1) / ramp)
            x = -1.0 + (final + 1.0) * progress + rng.gauss(0, 0.15)
            v = level + sg * span * x
            if kind.bounded:
                v = min(max(v, 0.0), 1.0)
            else:
                v = max(v, 0.0)
            v = _q(v, d)
            r = rng.random()
            if r < 0.03:
                continue                                            # missing reading
            if r < 0.05:
                out.append((c.contract_id, k.kpi_id, m, v, "disputed", rng.choice(COMMENTS_DISPUTED)))
            elif r < 0.15:
                comment = rng.choice(COMMENTS_PROVISIONAL) if rng.random() < 0.3 else None
                out.append((c.contract_id, k.kpi_id, m, v, "provisional", comment))
            else:
                out.append((c.contract_id, k.kpi_id, m, v, "verified", None))


def plan_invoiced(rng: random.Random, c: Contract, out: list) -> None:
    elapsed = min(PERIOD_IDX, c.start + c.duration - 1) - c.start + 1
    if elapsed < 3 or rng.random() >= 0.1:
        return
    q = MINOR[c.currency]
    fixed = c.fee * (1 - c.share)
    for i in range(rng.randint(1, elapsed - 1)):
        if rng.random() < 0.05:
            amount = 0.0
        else:
            amount = round(fixed + c.fee * c.share * rng.uniform(0.3, 1.0), q)
        out.append((c.contract_id, c.start + i, float(amount)))


def plan_invoicing(rng: random.Random, c: Contract, i: int) -> None:
    """The buyer and VAT columns finalize needs (SPEC §8); every contract has them."""
    c.siren = f"{(732829320 + 7919 * i + rng.randrange(1000)) % 10**9:09d}"
    c.address = f"{rng.randint(1, 180)} {rng.choice(STREETS)}"
    c.postcode, c.city = rng.choice(CITIES)
    c.payment_days = rng.choice((30, 30, 30, 45, 60))


def _change(k: Kpi, factor: float) -> float | None:
    """A relative or points target moved towards the baseline, still better than the floor."""
    d = 2 if k.mode == "relative" else k.kind.decimals
    new = _q(k.target * factor, d)
    if new == 0 or new == k.target or (new > 0) != (k.target > 0):
        return None
    if k.floor is not None and abs(new) <= abs(k.floor):
        return None
    return new


def plan_options(rng: random.Random, c: Contract, p: Portfolio) -> None:
    """Put the clause options of SPEC §2/§3 on one contract, with an amendment or a termination."""
    fr = c.language == "fr"
    dur = c.duration
    last = min(PERIOD_IDX, c.start + dur - 1)
    elapsed = last - c.start + 1
    if c.bonus_kpi:
        c.bonus_base = "pool" if rng.random() < 0.6 else "earned"
        c.bonus_every = 3
        c.bonus_band = 0.01
    if c.exit_kpi:
        c.exit_window = rng.choice((1, 2, 3))
    c.hold_limit = rng.choice((2, 3))
    c.deemed = rng.choice(("missed", "missed", "met"))
    weighted = [k for k in c.kpis if k.weight > 0]
    k = rng.choice(weighted)
    if k.window == 1 and dur >= 3:
        k.window = 3
    if k.window > 1:
        k.window_agg, k.min_coverage = "mean", k.window - 1
    plain = [k for k in weighted if k.due_month is None]
    if plain:
        rng.choice(plain).earnback = rng.choice((1, 2))
    k = rng.choice(weighted)
    k.chronic = (2, 3) if dur >= 3 else (1, dur)

    eff = c.start + max(1, elapsed // 2)
    if elapsed >= 3 and dur >= 4:                       # amendments effective mid-term
        n = sum(1 for a in p.amendments if a[0] == c.contract_id) + 1
        ref = f"AV-{c.contract_id}-{n}"
        if rng.random() < 0.7:
            unit = 1000 if c.currency == "JPY" else 100
            fee = float(round(c.fee * rng.choice((1.05, 1.1, 1.15)) / unit) * unit)
            if fee != c.fee:
                p.amendments.append((c.contract_id, None, "monthly_fee", fee, eff,
                                     "révision des honoraires" if fr else "fee review", ref))
        moved = [(k, _change(k, 0.8)) for k in weighted if k.mode in ("relative", "points")]
        moved = [(k, t) for k, t in moved if t is not None]
        if moved:
            k, t = rng.choice(moved)
            p.amendments.append((c.contract_id, k.kpi_id, "target", t, eff,
                                 "objectif revu au comité de pilotage" if fr else
                                 "target revised by the steering committee", ref))
    if elapsed >= 2 and c.start + dur - 1 > eff and rng.random() < 0.3:   # a few terminations
        lo = min(eff, last)
        end = rng.randint(lo, max(lo, last - 1))  # mostly before the close period
        if end < c.start + dur - 1:
            p.events.append((c.contract_id, "terminated", end,
                             "exit_right" if c.exit_kpi and rng.random() < 0.5 else "mutual"))


def plan_portfolio(rng: random.Random, n_contracts: int, prefix: str) -> Portfolio:
    p = Portfolio()
    width = max(3, len(str(n_contracts)))
    for i in range(1, n_contracts + 1):
        c = plan_contract(rng, "")
        c.contract_id = f"{prefix}{c.size}-{i:0{width}d}"
        p.contracts.append(c)
        orng = random.Random(f"options:{c.contract_id}")    # the rest of the portfolio is unchanged
        plan_invoicing(orng, c, i)
        if i % 4 == 2:                                       # OPTIONS_SHARE of the contracts
            plan_options(orng, c, p)
        plan_readings(rng, c, p.readings)
        plan_invoiced(rng, c, p.invoiced)
    return p


# --------------------------------------------------------------------------------------
# Writing a workbook (xlsxwriter, constant memory)
# --------------------------------------------------------------------------------------

_EPOCH = dt.date(1899, 12, 30)
_CREATED = dt.datetime(2026, 11, 2, 8, 0, 0)


def write_workbook(path: Path, p: Portfolio, month_style: str = "date", french: bool = False,
                   extra_column: bool = False, notes_sheet: bool = False) -> None:
    """Write a portfolio as one workbook. month_style: 'date', 'text' (YYYY-MM) or 'fr' (MM/YYYY)."""
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"created": _CREATED, "title": "Portefeuille de contrats de performance IA"})
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    f_month = wb.add_format({"num_format": "yyyy-mm"})
    f_pct = wb.add_format({"num_format": "0.0%"})
    f_money = {2: wb.add_format({"num_format": "#,##0.00"}), 0: wb.add_format({"num_format": "#,##0"})}

    serial = {}
    text = {}
    for idx in range(-1, N_START_MONTHS + 1):
        y, m = month_ym(idx)
        serial[idx] = float((dt.date(y, m, 1) - _EPOCH).days)
        text[idx] = f"{m:02d}/{y}" if month_style == "fr" else f"{y}-{m:02d}"

    def header(ws, columns):
        names = [FR_HEADERS.get(c, c) if french else c for c in columns]
        for j, name in enumerate(names):
            ws.write_string(0, j, name, head)
        ws.freeze_panes(1, 0)

    def sheet(name):
        return wb.add_worksheet(FR_SHEETS[name] if french else name)

    val = (lambda v: FR_VALUES.get(v, v)) if french else (lambda v: v)
    yes_no = (lambda b: "oui" if b else "non") if french else (lambda b: "yes" if b else "no")

    def month_cell(ws, r, col, idx):
        if month_style == "date":
            ws.write_number(r, col, serial[idx], f_month)
        else:
            ws.write_string(r, col, text[idx])

    # Contracts
    ws = sheet("Contracts")
    cols = CONTRACT_COLUMNS + (("account_manager",) if extra_column else ())
    ws.set_column(0, 0, 16)
    ws.set_column(1, 2, 30)
    ws.set_column(7, 7, 14)
    header(ws, cols)
    for r, c in enumerate(p.contracts, 1):
        ws.write_string(r, 0, c.contract_id)
        ws.write_string(r, 1, c.client)
        ws.write_string(r, 2, c.provider)
        ws.write_string(r, 3, c.size)
        ws.write_string(r, 4, c.currency)
        month_cell(ws, r, 5, c.start)
        ws.write_number(r, 6, c.duration)
        ws.write_number(r, 7, c.fee, f_money[MINOR[c.currency]])
        ws.write_number(r, 8, c.share, f_pct)
        if c.requires_verified or r % 3 == 0:
            ws.write_string(r, 9, yes_no(c.requires_verified))
        if c.bonus_kpi:
            ws.write_string(r, 10, c.bonus_kpi)
            ws.write_number(r, 11, c.bonus_target)
            if c.bonus_rate is not None:
                ws.write_number(r, 12, c.bonus_rate, f_pct)
                ws.write_number(r, 13, c.malus_rate, f_pct)
        if c.exit_kpi:
            ws.write_string(r, 14, c.exit_kpi)
            ws.write_number(r, 15, c.exit_threshold)
            if c.exit_month is not None:
                ws.write_number(r, 16, c.exit_month)
        if c.mediator:
            ws.write_string(r, 17, c.mediator)
        if c.emails:
            ws.write_string(r, 18, c.emails)
        ws.write_string(r, 19, c.language)
        if c.bonus_base:
            ws.write_string(r, 20, c.bonus_base)
        if c.bonus_every:
            ws.write_number(r, 21, c.bonus_every)
        if c.bonus_band is not None:
            ws.write_number(r, 22, c.bonus_band)
        if c.exit_window:
            ws.write_number(r, 23, c.exit_window)
        if c.hold_limit:
            ws.write_number(r, 24, c.hold_limit)
        if c.deemed:
            ws.write_string(r, 25, c.deemed)
        ws.write_number(r, 26, c.vat_rate, f_pct)
        ws.write_string(r, 27, c.vat_category)
        ws.write_number(r, 28, c.payment_days)
        ws.write_string(r, 29, c.siren)
        ws.write_string(r, 30, c.address)
        ws.write_string(r, 31, c.postcode)
        ws.write_string(r, 32, c.city)
        if extra_column:
            ws.write_string(r, len(CONTRACT_COLUMNS), c.manager)

    # KPIs
    ws = sheet("KPIs")
    ws.set_column(0, 1, 16)
    ws.set_column(2, 2, 32)
    header(ws, KPI_COLUMNS)
    r = 0
    for c in p.contracts:
        for k in c.kpis:
            r += 1
            pct = k.kind.unit == "%" and k.mode != "relative"
            ws.write_string(r, 0, c.contract_id)
            ws.write_string(r, 1, k.kpi_id)
            ws.write_string(r, 2, k.name)
            ws.write_string(r, 3, val(k.kind.category))
            ws.write_string(r, 4, val(k.kind.direction))
            ws.write_string(r, 5, c.currency if k.kind.unit == "€" else k.kind.unit)
            if k.baseline is not None:
                ws.write_number(r, 6, k.baseline)
            ws.write_string(r, 7, val(k.mode))
            ws.write_number(r, 8, k.target, f_pct if pct else None)
            if k.floor is not None:
                ws.write_number(r, 9, k.floor, f_pct if pct else None)
            ws.write_number(r, 10, k.weight, f_pct)
            if k.window != 1 or r % 4 == 0:
                ws.write_number(r, 11, k.window)
            if k.due_month is not None:
                ws.write_number(r, 12, k.due_month)
            if k.window_agg:
                ws.write_string(r, 13, k.window_agg)
            if k.min_coverage:
                ws.write_number(r, 14, k.min_coverage)
            if k.earnback:
                ws.write_number(r, 15, k.earnback)
            if k.chronic:
                ws.write_number(r, 16, k.chronic[0])
                ws.write_number(r, 17, k.chronic[1])

    # Readings: the bulk of the workbook
    ws = sheet("Readings")
    ws.set_column(0, 1, 16)
    ws.set_column(2, 2, 10)
    ws.set_column(5, 5, 30)
    header(ws, READING_COLUMNS)
    w_str, w_num = ws.write_string, ws.write_number
    status_text = {s: val(s) for s in ("verified", "provisional", "disputed")}
    date_style = month_style == "date"
    for r, (cid, kid, m, v, status, comment) in enumerate(p.readings, 1):
        w_str(r, 0, cid)
        w_str(r, 1, kid)
        if date_style:
            w_num(r, 2, serial[m], f_month)
        else:
            w_str(r, 2, text[m])
        w_num(r, 3, v)
        w_str(r, 4, status_text[status])
        if comment:
            w_str(r, 5, comment)

    if p.invoiced:
        ws = sheet("Invoiced")
        ws.set_column(0, 0, 16)
        header(ws, INVOICED_COLUMNS)
        minor = {c.contract_id: MINOR[c.currency] for c in p.contracts}
        for r, (cid, m, amount) in enumerate(p.invoiced, 1):
            ws.write_string(r, 0, cid)
            month_cell(ws, r, 1, m)
            ws.write_number(r, 2, amount, f_money[minor[cid]])

    if p.amendments:
        ws = sheet("Amendments")
        ws.set_column(0, 0, 16)
        ws.set_column(5, 5, 36)
        header(ws, AMENDMENT_COLUMNS)
        for r, (cid, kid, fld, value, m, reason, ref) in enumerate(p.amendments, 1):
            ws.write_string(r, 0, cid)
            if kid:
                ws.write_string(r, 1, kid)
            ws.write_string(r, 2, fld)
            ws.write_number(r, 3, value)
            month_cell(ws, r, 4, m)
            ws.write_string(r, 5, reason)
            ws.write_string(r, 6, ref)

    if p.events:
        ws = sheet("Events")
        ws.set_column(0, 0, 16)
        header(ws, EVENT_COLUMNS)
        for r, (cid, event, m, reason) in enumerate(p.events, 1):
            ws.write_string(r, 0, cid)
            ws.write_string(r, 1, "resilie" if french else event)
            month_cell(ws, r, 2, m)
            ws.write_string(r, 3, reason)

    if notes_sheet:
        ws = wb.add_worksheet("Notes")
        ws.write_string(0, 0, "Portefeuille transmis par le contrôle de gestion")
        ws.write_string(1, 0, f"Clôture visée : {PERIOD}")
    wb.close()


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------

def generate(size: str, outdir: Path | str, seed: int = DEFAULT_SEED) -> list[Path]:
    """Write the workbooks of a benchmark size into outdir; return their paths in order."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected one of {', '.join(SIZES)}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"perfsettle-bench:{size}:{seed}")
    paths: list[Path] = []
    if size in CONTRACT_COUNTS:
        p = plan_portfolio(rng, CONTRACT_COUNTS[size], f"C{size}-")
        path = outdir / f"portfolio-{size}.xlsx"
        write_workbook(path, p, MONTH_STYLE[size], extra_column=(size == "M"))
        paths.append(path)
        return paths
    for i in range(1, MANY_FILES + 1):
        n = rng.randint(*MANY_CONTRACTS)
        p = plan_portfolio(rng, n, f"F{i:03d}-")
        provider = p.contracts[0].provider
        style = _pick(rng, (("date", 0.45), ("text", 0.45), ("fr", 0.10)))
        path = outdir / f"{i:03d}-{_ascii(provider)}.xlsx"
        write_workbook(path, p, style, french=rng.random() < 0.3,
                       extra_column=rng.random() < 0.2, notes_sheet=rng.random() < 0.2)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------------------
# Verification: read the files back and check the format invariants
# --------------------------------------------------------------------------------------

def _dec(x) -> Decimal:
    return Decimal(repr(float(x)))


def _month_of(x) -> str:
    if isinstance(x, (dt.date, dt.datetime)):
        return f"{x.year:04d}-{x.month:02d}"
    s = str(x).strip()
    if "/" in s:
        m, y = s.split("/")
        return f"{int(y):04d}-{int(m):02d}"
    y, m = s.split("-")
    return f"{int(y):04d}-{int(m):02d}"


def _midx(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def verify(paths: list[Path]) -> dict:
    """Read the workbooks back (python-calamine) and check SPEC §2 invariants.

    Returns counts; raises AssertionError on the first violation.
    """
    from python_calamine import CalamineWorkbook

    from perfsettle.core.schema import column_for, enum_value, sheet_for

    def table(wb, name):
        for sname in wb.sheet_names:
            spec = sheet_for(sname)
            if spec is not None and spec.name == name:
                rows = wb.get_sheet_by_name(sname).to_python(skip_empty_area=False)
                hdr = [column_for(spec, h) for h in rows[0]]
                out = []
                for row in rows[1:]:
                    out.append({col.name: v for col, v in zip(hdr, row) if col is not None and v != ""})
                return out
        return []

    counts = {"files": 0, "contracts": 0, "kpis": 0, "readings": 0, "invoiced": 0}
    status_mix: dict[str, int] = {}
    ccy_mix: dict[str, int] = {}
    size_mix: dict[str, int] = {}
    seen_contracts: set[str] = set()
    p_idx = _midx(PERIOD)
    feats = {"relative": 0, "points": 0, "absolute": 0, "floor": 0, "due": 0, "window>1": 0,
             "bonus": 0, "exit": 0, "weight0": 0, "requires_verified": 0}
    bands = {"TPE": ("0.20", "0.30"), "PME": ("0.30", "0.40"), "ETI": ("0.40", "0.55"),
             "GE": ("0.30", "0.60")}
    ident = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    for path in paths:
        wb = CalamineWorkbook.from_path(str(path))
        counts["files"] += 1
        contracts = table(wb, "Contracts")
        kpis = table(wb, "KPIs")
        readings = table(wb, "Readings")
        invoiced = table(wb, "Invoiced")
        terms = {}
        for c in contracts:
            cid = c["contract_id"]
            assert ident.match(cid), cid
            assert cid not in seen_contracts, f"duplicate contract {cid}"
            seen_contracts.add(cid)
            size = enum_value("company_size", c["company_size"])
            assert size, c
            size_mix[size] = size_mix.get(size, 0) + 1
            ccy = c.get("currency", "EUR")
            ccy_mix[ccy] = ccy_mix.get(ccy, 0) + 1
            share = _dec(c["variable_share"])
            lo, hi = bands[size]
            assert Decimal(lo) <= share <= Decimal(hi), (cid, share)
            fee = _dec(c["monthly_fee"])
            assert fee > 0 and fee == fee.quantize(Decimal(1).scaleb(-MINOR[ccy])), (cid, fee)
            dur = int(c["duration_months"])
            assert float(c["duration_months"]) == dur and 1 <= dur <= 120
            start = _midx(_month_of(c["start_month"]))
            assert _midx("2025-07") <= start <= p_idx, cid
            if "requires_verified" in c:
                assert str(c["requires_verified"]).lower() in ("yes", "no", "oui", "non")
                feats["requires_verified"] += str(c["requires_verified"]).lower() in ("yes", "oui")
            assert c.get("language", "fr") in ("fr", "en")
            if "exit_month" in c:
                assert 1 <= int(c["exit_month"]) <= dur
            terms[cid] = (start, dur, c, {})
        for k in kpis:
            cid, kid = k["contract_id"], k["kpi_id"]
            assert cid in terms, cid
            assert ident.match(kid)
            kp = terms[cid][3]
            assert kid not in kp, f"duplicate KPI {cid}/{kid}"
            assert enum_value("category", k["category"]), k
            direction = enum_value("direction", k["direction"])
            mode = enum_value("target_mode", k["target_mode"])
            assert direction and mode, k
            feats[mode] += 1
            sg = 1 if direction == "higher" else -1
            base = _dec(k["baseline"]) if "baseline" in k else None
            target = _dec(k["target"])

            def lvl(x):
                if mode == "absolute":
                    return x
                assert base is not None, k
                if mode == "relative":
                    assert base > 0, k
                    return base * (1 + x)
                return base + x
            level = lvl(target)
            if mode != "absolute":
                assert (level - base) * sg > 0, f"target not better than baseline: {k}"
            if "floor" in k:
                feats["floor"] += 1
                assert (level - lvl(_dec(k["floor"]))) * sg > 0, f"floor not worse than target: {k}"
            w = _dec(k["weight"])
            assert 0 <= w <= 1
            feats["weight0"] += w == 0
            win = int(k.get("window_months", 1))
            assert 1 <= win <= 6
            feats["window>1"] += win > 1
            if "due_month" in k:
                feats["due"] += 1
                assert 1 <= int(k["due_month"]) <= terms[cid][1]
            kp[kid] = (w, direction)
        for cid, (start, dur, c, kp) in terms.items():
            weights = [w for w, _ in kp.values()]
            assert sum(weights) == 1, f"weights of {cid} sum to {sum(weights)}"
            assert sum(1 for w in weights if w > 0) >= 2, cid
            assert any(True for kid, (w, _) in kp.items() if w > 0), cid
            if "bonus_kpi" in c:
                feats["bonus"] += 1
                assert c["bonus_kpi"] in kp and "bonus_target" in c, cid
            if "exit_kpi" in c:
                feats["exit"] += 1
                assert c["exit_kpi"] in kp and "exit_threshold" in c, cid
        keys = set()
        for r in readings:
            cid, kid = r["contract_id"], r["kpi_id"]
            assert cid in terms and kid in terms[cid][3], (cid, kid)
            m = _midx(_month_of(r["month"]))
            start, dur = terms[cid][0], terms[cid][1]
            assert start <= m < start + dur and m <= p_idx, ("month outside term", r)
            key = (cid, kid, m)
            assert key not in keys, f"duplicate reading {key}"
            keys.add(key)
            st = enum_value("status", r["status"])
            assert st in ("verified", "provisional", "disputed"), r
            status_mix[st] = status_mix.get(st, 0) + 1
            assert isinstance(r["value"], float)
        ikeys = set()
        for r in invoiced:
            cid = r["contract_id"]
            assert cid in terms
            m = _midx(_month_of(r["month"]))
            assert (cid, m) not in ikeys
            ikeys.add((cid, m))
            ccy = terms[cid][2].get("currency", "EUR")
            a = _dec(r["amount"])
            assert a == a.quantize(Decimal(1).scaleb(-MINOR[ccy])), r
        counts["contracts"] += len(contracts)
        counts["kpis"] += len(kpis)
        counts["readings"] += len(readings)
        counts["invoiced"] += len(invoiced)
    counts["statuses"] = status_mix
    counts["currencies"] = ccy_mix
    counts["company_sizes"] = size_mix
    counts["features"] = feats
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("size", choices=SIZES)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--verify", action="store_true",
                    help="read the files back and check the format invariants")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    paths = generate(args.size, args.outdir, args.seed)
    took = time.perf_counter() - t0
    mb = sum(p.stat().st_size for p in paths) / 1e6
    print(f"{args.size}: {len(paths)} workbook(s), {mb:.1f} MB in {args.outdir} ({took:.1f} s)")
    if args.verify:
        t0 = time.perf_counter()
        counts = verify(paths)
        print(f"verified in {time.perf_counter() - t0:.1f} s: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
