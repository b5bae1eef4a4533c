"""Frozen records: contract terms, KPIs, readings, findings and settlement results.

Records are never mutated; use ``dataclasses.replace`` to derive a changed copy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cached_property, lru_cache

from perfsettle.core import months

ERROR = "error"
WARNING = "warning"


@lru_cache(maxsize=256)
def _sheet_reference(sheet: str) -> str:
    """A sheet's name as an A1 reference writes it: quoted unless letters, digits and ``_``."""
    return sheet if sheet.replace("_", "").isalnum() else "'" + sheet.replace("'", "''") + "'"


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
        sheet = _sheet_reference(self.sheet)
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

    @property
    def where(self) -> str:
        """The cell first, then the file: ``KPIs!K4 (book.xlsx)``; the file alone, or ``-``."""
        src = self.source
        if src.cell:
            return f"{src.cell} ({src.file})" if src.file else src.cell
        return src.file or "-"

    def line(self) -> str:
        """One line, cell first: ``KPIs!K4 (book.xlsx): error [weights-sum] …``."""
        return f"{self.where}: {self.severity} [{self.code}] {self.message}"


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
    bonus_base: str = "earned"      # earned | pool
    bonus_every: int = 1            # contract months per bonus-malus block
    bonus_band: Decimal = Decimal(0)
    exit_window_months: int | None = None
    hold_limit_months: int | None = None
    deemed_outcome: str = "missed"  # missed | met
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
    client_einvoicing_address: str = ""   # default: client_siren

    @property
    def last_month(self) -> str:
        """The last calendar month of the term as signed (a termination is in ``Terms``)."""
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
    window_agg: str = "worst"       # worst | mean
    min_coverage: int | None = None  # None: the window length
    earnback_months: int | None = None
    chronic_misses: int | None = None
    chronic_months: int | None = None

    @property
    def coverage(self) -> int:
        """Payable months a full window needs."""
        return self.min_coverage if self.min_coverage is not None else self.window_months

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
class Amendment:
    """A signed change of one term from ``effective_month`` on (SPEC §2, sheet Amendments).

    ``kpi_id`` is '' for a contract term; ``value`` is typed by the field's column rule
    (None clears an optional term)."""
    contract_id: str
    kpi_id: str
    field: str
    value: object
    effective_month: str
    reason: str = ""
    reference: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.contract_id, self.kpi_id, self.field, self.effective_month)


@dataclass(frozen=True, slots=True)
class Event:
    """A contract event (SPEC §2, sheet Events): ``terminated`` with the last month served."""
    contract_id: str
    event: str
    month: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Terms:
    """A contract with its KPIs as signed, its amendments and events: what the settlement of
    one contract needs besides readings (``core.terms`` resolves the terms of a month)."""
    contract: Contract
    kpis: tuple[Kpi, ...]
    amendments: tuple[Amendment, ...] = ()
    events: tuple[Event, ...] = ()

    def kpi(self, kpi_id: str) -> Kpi | None:
        for k in self.kpis:
            if k.kpi_id == kpi_id:
                return k
        return None

    @property
    def termination(self) -> Event | None:
        for e in self.events:
            if e.event == "terminated" and e.month:
                return e
        return None

    @property
    def last_month(self) -> str:
        """The calendar month of L: the term's last month, or the termination's when earlier."""
        end = self.contract.last_month
        t = self.termination
        return min(end, t.month) if t is not None else end


@dataclass(frozen=True, slots=True)
class Reading:
    contract_id: str
    kpi_id: str
    month: str
    value: Decimal | None
    status: str = "provisional"   # verified | provisional | disputed | void
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Problem:
    """A window month that is not payable, and why: missing, disputed or unverified."""
    month: str
    why: str


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
    problems: tuple[Problem, ...] = ()   # held (or deemed): the window months not payable
    evaluated_month: str = ""   # the calendar month whose window was evaluated
    window: tuple[str, ...] = ()  # calendar months of that window
    due_month: str = ""         # deferred: the calendar month D' it will be judged at
    deemed: str = ""            # missed | met: settled by the hold limit
    earned_back_k: Decimal = Decimal(0)
    earned_back: tuple[str, ...] = ()   # (first, last) month that earned it back
    leftover_unit: bool = False  # the pool split gave this KPI one leftover minor unit
    own_attainment: Fraction | None = None  # before earnback (None: as attainment)


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
    bonus_problems: tuple[Problem, ...] = ()   # why the bonus-malus is held
    in_term: bool = True
    bonus_block: tuple[str, ...] = ()    # (first, last) calendar month of its bonus block
    bonus_base: Decimal | None = None    # on the block's last month: the base of the bonus-malus
    amendments: tuple[Amendment, ...] = ()   # the amendments in force this month


@dataclass(frozen=True, slots=True)
class ChronicRight:
    """A KPI missed often enough to give the client a termination right (SPEC §3)."""
    kpi_id: str
    missed: tuple[str, ...]     # the calendar months it was missed in
    window: tuple[str, ...]     # the months looked at
    misses: int                 # the clause: at least this many


@dataclass(frozen=True, slots=True)
class ExitResult:
    status: str                 # ok | watch | undetermined | exit_right | exercised | lapsed | n/a | ''
    month: str = ""             # calendar month of the exit right (E)
    evaluated_month: str = ""   # month whose evaluation was used
    value: Decimal | None = None
    threshold: Decimal | None = None
    problems: tuple[Problem, ...] = ()   # the evaluation was not available: why
    not_started: bool = False
    deadline: str = ""          # exit_right with a window: the last month to use it


@dataclass(frozen=True, slots=True)
class ContractResult:
    contract_id: str
    status: str                 # settled | excluded | not_started
    currency: str
    exit: ExitResult
    months: tuple[MonthResult, ...] = ()
    terms: Terms | None = None
    last_month: str = ""        # the calendar month of L ('' when excluded)
    chronic: tuple[ChronicRight, ...] = ()

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
    opening_invoices: dict = field(default_factory=dict)    # (cid, month) -> invoice_number of the Invoiced sheet

    def result(self, contract_id: str) -> ContractResult | None:
        return self._results_by_id.get(contract_id)

    def changes_of(self, contract_id: str) -> tuple[ReadingChange, ...]:
        """The reading changes of one contract (indexed once per report)."""
        return self._changes_by_contract.get(contract_id, ())

    def readings_of(self, contract_id: str) -> dict:
        """(kpi_id, month) -> the Reading the close used, of one contract (indexed once per report)."""
        return self._readings_by_contract.get(contract_id, {})

    @cached_property
    def totals(self) -> dict:
        """currency -> ``core.totals.CurrencyTotals``, computed once per report."""
        from perfsettle.core.totals import per_currency
        return per_currency(self.period, self.results)

    @cached_property
    def _results_by_id(self) -> dict:
        return {r.contract_id: r for r in self.results}

    @cached_property
    def _readings_by_contract(self) -> dict:
        out: dict[str, dict] = {}
        for (cid, kid, month), r in self.readings.items():
            out.setdefault(cid, {})[(kid, month)] = r
        return out

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
    amendments: dict = field(default_factory=dict)  # (cid, kid, field, month) -> (Amendment | None, Source); None withdraws
    events: dict = field(default_factory=dict)      # (cid, event) -> (Event | None, Source); None withdraws
    invoice_refs: dict = field(default_factory=dict)  # (cid, month) -> (invoice_number, invoice_date 'YYYY-MM-DD'), of invoiced
    excluded: set = field(default_factory=set)
    diagnostics: list = field(default_factory=list)
    outcomes: dict = field(default_factory=dict)    # file -> outcome
    findings: dict = field(default_factory=dict)    # cid -> [errors, warnings]
    names: dict = field(default_factory=dict)       # cid -> (client, provider, currency)
    file_contracts: dict = field(default_factory=dict)  # file -> sorted contract ids
