"""Frozen records: contract terms, KPIs, readings, findings and settlement results.

Records are never mutated; use ``dataclasses.replace`` to derive a changed copy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cached_property

from perfsettle.core import months

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a value or finding comes from: a workbook cell (or row, or whole file)."""
    file: str = ""
    sheet: str = ""
    row: int | None = None      # Excel row number (1-based)
    column: str = ""            # Excel column letters, e.g. "F"
    header: str = ""            # the column's header as written in the file

    @property
    def cell(self) -> str:
        """A1 reference with its sheet, e.g. ``KPIs!F7`` ('' for a file-level source)."""
        if not self.sheet:
            return ""
        sheet = self.sheet
        if not sheet.replace("_", "").isalnum():
            sheet = "'" + sheet.replace("'", "''") + "'"
        if self.row is None:
            return sheet
        return f"{sheet}!{self.column}{self.row}" if self.column else f"{sheet}!{self.row}:{self.row}"

    def where(self) -> str:
        parts = [self.file] if self.file else []
        if self.cell:
            parts.append(self.cell)
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A finding about an input: a value, never an exception."""
    code: str                   # stable machine code, e.g. "weights-sum"
    severity: str               # ERROR or WARNING
    message: str                # English text
    source: Source = field(default_factory=Source)
    contract_id: str | None = None   # the contract it belongs to (None: the whole file)
    message_fr: str = ""        # French text, for annotated workbooks and statements
    scope: str = ""             # file | contract | cell | sheet (core.diagnostics: what it costs)
    data: tuple = ()            # (field, value) pairs: the facts the messages are rendered from

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    @property
    def rejects_file(self) -> bool:
        """An error whose scope is the whole workbook (the catalogue decides, not the code's name)."""
        return self.severity == ERROR and self.scope == "file"

    @property
    def fields(self) -> dict:
        return dict(self.data)

    def line(self) -> str:
        """One line, cell first: ``KPIs!K4 (book.xlsx): error [weights-sum] …``."""
        src = self.source
        if src.cell:
            where = f"{src.cell} ({src.file})" if src.file else src.cell
        else:
            where = src.file or "-"
        return f"{where}: {self.severity} [{self.code}] {self.message}"


@dataclass(frozen=True, slots=True)
class Contract:
    contract_id: str
    client: str
    provider: str
    company_size: str
    currency: str
    start_month: str            # 'YYYY-MM'
    duration_months: int
    monthly_fee: Decimal
    variable_share: Decimal
    requires_verified: bool = False
    bonus_kpi: str | None = None
    bonus_target: Decimal | None = None
    bonus_rate: Decimal = Decimal("0.10")
    malus_rate: Decimal = Decimal("0.10")
    exit_kpi: str | None = None
    exit_threshold: Decimal | None = None
    exit_month: int | None = None   # contract month number; None = ceil(duration / 2)
    mediator: str = ""
    contact_email: str = ""
    language: str = "fr"
    # Invoicing (SPEC §8): VAT, payment term, the buyer of the documents.
    vat_rate: Decimal = Decimal("0.20")
    vat_category: str = "S"
    payment_days: int = 30
    client_siren: str = ""
    client_vat_id: str = ""
    client_address: str = ""
    client_postcode: str = ""
    client_city: str = ""
    client_country: str = "FR"

    @property
    def last_month(self) -> str:
        return months.calendar_month(self.start_month, self.duration_months)

    @property
    def effective_exit_month(self) -> int:
        return self.exit_month if self.exit_month is not None else -(-self.duration_months // 2)


@dataclass(frozen=True, slots=True)
class Kpi:
    contract_id: str
    kpi_id: str
    name: str
    category: str               # operational | robustness | financial
    direction: str              # higher | lower
    target_mode: str            # absolute | relative | points
    target: Decimal
    weight: Decimal
    unit: str = ""
    baseline: Decimal | None = None
    floor: Decimal | None = None
    window_months: int = 1
    due_month: int | None = None

    def level(self, change: Decimal) -> Decimal:
        if self.target_mode == "relative":
            return self.baseline * (1 + change)
        if self.target_mode == "points":
            return self.baseline + change
        return change

    @property
    def target_level(self) -> Decimal:
        return self.level(self.target)

    @property
    def floor_level(self) -> Decimal | None:
        return None if self.floor is None else self.level(self.floor)

    def better(self, a: Decimal, b: Decimal) -> bool:
        """a is strictly better than b."""
        return a > b if self.direction == "higher" else a < b


@dataclass(frozen=True, slots=True)
class Terms:
    """A contract with its KPIs: what the settlement of one contract needs besides readings."""
    contract: Contract
    kpis: tuple[Kpi, ...]

    def kpi(self, kpi_id: str) -> Kpi | None:
        for k in self.kpis:
            if k.kpi_id == kpi_id:
                return k
        return None


@dataclass(frozen=True, slots=True)
class Reading:
    contract_id: str
    kpi_id: str
    month: str
    value: Decimal | None
    status: str = "provisional"   # verified | provisional | disputed | void
    comment: str = ""


@dataclass(frozen=True, slots=True)
class KpiResult:
    contract_id: str
    month: str
    kpi_id: str
    status: str                 # earned | held | deferred
    value: Decimal | None
    target_level: Decimal
    floor_level: Decimal | None
    attainment: Fraction | None
    pool_k: Decimal
    earned_k: Decimal
    forfeited_k: Decimal
    held_k: Decimal
    deferred_k: Decimal
    reason: str = ""
    evaluated_month: str = ""   # the calendar month whose window was evaluated
    window: tuple[str, ...] = ()  # calendar months of that window


@dataclass(frozen=True, slots=True)
class MonthResult:
    contract_id: str
    month: str
    currency: str
    fee: Decimal
    fixed: Decimal
    pool: Decimal
    earned: Decimal
    held: Decimal
    deferred: Decimal
    forfeited: Decimal
    bonus_malus: str            # bonus | malus | none | held | n/a
    bonus: Decimal
    malus: Decimal
    due: Decimal
    invoiced_before: Decimal
    invoice_now: Decimal
    kpis: tuple[KpiResult, ...] = ()
    bonus_value: Decimal | None = None   # the bonus KPI's evaluated value
    bonus_reason: str = ""               # why the bonus-malus is held
    in_term: bool = True


@dataclass(frozen=True, slots=True)
class ExitResult:
    status: str                 # ok | watch | exit_right | undetermined | n/a | ''
    month: str = ""             # calendar month of the exit right (E)
    evaluated_month: str = ""   # month whose evaluation was used
    value: Decimal | None = None
    threshold: Decimal | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ContractResult:
    contract_id: str
    status: str                 # settled | excluded | not_started
    currency: str
    exit: ExitResult
    months: tuple[MonthResult, ...] = ()
    terms: Terms | None = None

    @property
    def invoice_now(self) -> Decimal:
        return sum((m.invoice_now for m in self.months), Decimal(0))


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """One input workbook of a run and what became of it."""
    name: str                   # file name as dropped in the inbox
    sha256: str
    outcome: str                # accepted | partially_accepted | rejected | duplicate
    errors: int
    warnings: int
    diagnostics: tuple[Diagnostic, ...] = ()
    contracts: tuple[str, ...] = ()   # contract ids that appear in the workbook
    path: str = ""              # where the original was read from


@dataclass(frozen=True, slots=True)
class ReadingChange:
    """A stored reading that this run replaced, added or voided (explains adjustments)."""
    contract_id: str
    kpi_id: str
    month: str
    old_value: Decimal | None
    old_status: str | None      # None: there was no stored reading
    new_value: Decimal | None
    new_status: str
    file: str = ""
    cell: str = ""
    comment: str = ""


@dataclass(frozen=True)
class CloseReport:
    """Everything one close produced: what the renderers (CSV, workbooks, HTML, e-mail) read."""
    period: str
    run_id: str
    started_at: str             # ISO 8601, UTC
    results: tuple[ContractResult, ...]
    files: tuple[FileOutcome, ...] = ()
    changes: tuple[ReadingChange, ...] = ()
    contract_findings: dict = field(default_factory=dict)   # contract_id -> (errors, warnings)
    names: dict = field(default_factory=dict)               # contract_id -> (client, provider, currency)
    dry_run: bool = False
    skipped: tuple = ()         # Diagnostic per inbox file left for a later run, with why
    earlier: dict = field(default_factory=dict)   # contract_id -> {month: invoiced by earlier closes of the period}
    readings: dict = field(default_factory=dict)            # (cid, kid, month) -> Reading the close used
    openings: dict = field(default_factory=dict)            # (cid, month) -> amount invoiced outside perfsettle
    documents: dict = field(default_factory=dict)           # (contract_id, month) -> issued document numbers (SPEC §8)

    def result(self, contract_id: str) -> ContractResult | None:
        return self._results_by_id.get(contract_id)

    def changes_of(self, contract_id: str) -> tuple[ReadingChange, ...]:
        """The reading changes of one contract (indexed once per report)."""
        return self._changes_by_contract.get(contract_id, ())

    @cached_property
    def totals(self) -> dict:
        """currency -> ``core.totals.CurrencyTotals``, computed once per report."""
        from perfsettle.core.totals import per_currency
        return per_currency(self.period, self.results)

    @cached_property
    def _results_by_id(self) -> dict:
        return {r.contract_id: r for r in self.results}

    @cached_property
    def _changes_by_contract(self) -> dict:
        out: dict[str, list] = {}
        for c in self.changes:
            out.setdefault(c.contract_id, []).append(c)
        return {k: tuple(v) for k, v in out.items()}


@dataclass
class Intake:
    """What a run may store, and why the rest may not."""
    contracts: dict = field(default_factory=dict)   # cid -> (Contract, Source)
    kpis: dict = field(default_factory=dict)        # (cid, kid) -> (Kpi, Source)
    readings: dict = field(default_factory=dict)    # (cid, kid, month) -> (Reading, Source)
    invoiced: dict = field(default_factory=dict)    # (cid, month) -> (Decimal, Source)
    invoice_refs: dict = field(default_factory=dict)  # (cid, month) -> (invoice_number, invoice_date 'YYYY-MM-DD'), of invoiced
    excluded: set = field(default_factory=set)
    diagnostics: list = field(default_factory=list)
    outcomes: dict = field(default_factory=dict)    # file -> outcome
    findings: dict = field(default_factory=dict)    # cid -> [errors, warnings]
    names: dict = field(default_factory=dict)       # cid -> (client, provider, currency)
    file_contracts: dict = field(default_factory=dict)  # file -> sorted contract ids
