"""``perfsettle explain``: one contract month's settlement, in words and numbers.

The text retraces SPEC §3 step by step from a ``ContractResult`` (and, when given, the
readings the close used): fee, fixed part, variable pool and its split over the KPIs, each
KPI's levels, window, value, attainment and earned amount, the bonus-malus, the amount due,
what was invoiced before and what is invoiced now, and the early-exit rule. It is the answer
to "why was I paid this?" for a finance reader, in French or English.
"""
from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction

from perfsettle.outputs import formatting as fmt
from perfsettle.core import months
from perfsettle.core.model import ContractResult, ExitResult, Kpi, KpiResult, MonthResult, Problem, Reading, Terms
from perfsettle.core.money import format_number, minor_digits, round_fraction
from perfsettle.core.terms import Schedule

LANGS = ("fr", "en")


def explain(result: ContractResult, month: str | None = None, lang: str = "fr", *,
            readings: Iterable[Reading] | None = None, openings: dict | None = None) -> str:
    """The settlement of one contract month, explained as plain text.

    ``month`` ('YYYY-MM') defaults to the latest settled month of the result; a month after
    it (a close period past the contract's end) explains that latest month. ``readings``
    (optional) are the contract's readings as the close used them; with them, every month of
    each KPI's window is listed with its value and status.

    Raises ``ValueError`` for an unknown language or a month the result does not settle.
    """
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r} (expected 'fr' or 'en')")
    return _Explainer(result, lang, readings, openings).run(month)


class _Explainer:
    def __init__(self, result: ContractResult, lang: str, readings: Iterable[Reading] | None,
                 openings: dict | None = None):
        self.openings = dict(openings or {})     # month -> amount of the Invoiced sheet
        self.r = result
        self.lang = lang
        self.cur = result.currency
        self.terms: Terms | None = result.terms
        self.readings: dict[tuple[str, str], Reading] | None = None
        if readings is not None:
            self.readings = {}
            for rd in readings:
                if rd.contract_id == result.contract_id and rd.status != "void":
                    self.readings[(rd.kpi_id, rd.month)] = rd
        self.lines: list[str] = []

    # -- helpers -----------------------------------------------------------------------
    def t(self, fr: str, en: str) -> str:
        return fr if self.lang == "fr" else en

    def out(self, text: str = "", indent: int = 0) -> None:
        self.lines.append(("  " * indent + text) if text else "")

    def money(self, amount: Decimal | None) -> str:
        return fmt.money(amount, self.cur, self.lang)

    def num(self, value) -> str:
        return fmt.number(value, self.lang)

    def operand(self, value) -> str:
        """A number inside a formula: negative ones in parentheses."""
        text = self.num(value)
        return f"({text})" if value is not None and value < 0 else text

    def pct(self, value) -> str:
        return fmt.percent(value, self.lang)

    def level(self, value: Decimal | None, kpi: Kpi | None) -> str:
        """A level or reading as written in the workbook, with its percentage for % KPIs."""
        if value is None:
            return fmt.DASH
        text = self.num(value)
        if kpi is not None and kpi.unit.strip() == "%":
            return f"{text} ({self.pct(value)})"
        if kpi is not None and kpi.unit.strip():
            unit = kpi.unit.strip()
            return text + (unit if unit.startswith("/") else " " + unit)
        return text

    def month_label(self, month: str) -> str:
        return f"{month} ({fmt.month(month, self.lang)})"

    def contract_month(self, month: str) -> int | None:
        if self.terms is None:
            return None
        return months.contract_month(self.terms.contract.start_month, month)

    def kpi(self, kpi_id: str) -> Kpi | None:
        return self.terms.kpi(kpi_id) if self.terms is not None else None

    def exact_money(self, value: Fraction) -> str:
        """An exact amount: all its digits when it has a finite decimal form, else ≈ 8 places."""
        d = _terminating(value)
        if d is not None:
            return self.num(d)
        return "≈ " + self.num(_round(value, minor_digits(self.cur) + 6))

    # -- sections ----------------------------------------------------------------------
    def run(self, month: str | None) -> str:
        r = self.r
        self.header()
        if not r.months:
            self.out()
            if r.status == "excluded":
                self.out(self.t(
                    "Ce contrat est exclu de la clôture : une erreur dans les classeurs de ce "
                    "passage le concerne. Rien n'est calculé ni facturé ; corrigez l'erreur "
                    "(perfsettle check) et relancez.",
                    "This contract is excluded from the close: an error in this run's "
                    "workbooks concerns it. Nothing is computed or invoiced; fix the error "
                    "(perfsettle check) and run again."))
            elif r.status == "not_started":
                self.out(self.t(
                    "Ce contrat n'a pas encore commencé à la période de clôture : aucun mois "
                    "n'est calculé.",
                    "This contract has not started by the close period: no month is settled."))
            else:
                self.out(self.t("Aucun mois calculé pour ce contrat.",
                                "No settled month for this contract."))
            self.exit_section(r.exit)
            return "\n".join(self.lines).rstrip() + "\n"
        m = self.pick(month)
        if self.terms is not None and self.terms.amendments:
            self.terms = Schedule(self.terms).at(m.month)   # the terms in force in the month
        self.month_intro(m)
        self.amendments_text(m)
        if not m.in_term:
            self.out_of_term(m)
        else:
            self.fee_section(m)
            self.split_section(m)
            self.kpi_section(m)
            self.bonus_section(m)
            self.due_section(m)
        self.exit_section(r.exit)
        return "\n".join(self.lines).rstrip() + "\n"

    def pick(self, month: str | None) -> MonthResult:
        settled = sorted(self.r.months, key=lambda x: x.month)
        if month is None:
            return settled[-1]
        wanted = months.parse(month) or month
        for m in settled:
            if m.month == wanted:
                return m
        if wanted > settled[-1].month:
            # A close period after the contract's last settled month: explain that month.
            self.out()
            self.out(self.t(
                f"{wanted} est après le dernier mois calculé de ce contrat : explication du "
                f"mois {settled[-1].month}.",
                f"{wanted} is after this contract's last settled month: explaining "
                f"{settled[-1].month}."))
            return settled[-1]
        raise ValueError(
            f"{self.r.contract_id}: month {month} is not settled by this close "
            f"(settled months: {settled[0].month} to {settled[-1].month})")

    def header(self) -> None:
        r = self.r
        c = self.terms.contract if self.terms is not None else None
        title = self.t("Contrat", "Contract") + f" {r.contract_id}"
        if c is not None:
            title += f" — {c.client} / {c.provider}"
        self.out(title)
        self.out("=" * min(len(title), 78))
        if c is not None:
            self.out(self.t(
                f"Taille : {c.company_size} · devise : {c.currency} · début : {c.start_month} · "
                f"durée : {c.duration_months} mois (dernier mois {c.last_month})",
                f"Size: {c.company_size} · currency: {c.currency} · start: {c.start_month} · "
                f"duration: {c.duration_months} months (last month {c.last_month})"))
        status = {
            "settled": self.t("clôturé", "settled"),
            "excluded": self.t("exclu", "excluded"),
            "not_started": self.t("pas commencé", "not started"),
        }.get(r.status, r.status)
        self.out(self.t(f"Statut à cette clôture : {status} ({r.status})",
                        f"Status at this close: {status}"))

    def month_intro(self, m: MonthResult) -> None:
        self.out()
        n = self.contract_month(m.month)
        dur = self.terms.contract.duration_months if self.terms is not None else None
        label = self.month_label(m.month)
        if n is not None and m.in_term:
            self.out(self.t(f"Mois expliqué : {label}, mois {n} du contrat sur {dur}.",
                            f"Month explained: {label}, contract month {n} of {dur}."))
        else:
            self.out(self.t(f"Mois expliqué : {label}.", f"Month explained: {label}."))

    def amendments_text(self, m: MonthResult) -> None:
        """The amendments in force in the month (none: the terms as signed)."""
        for a in m.amendments:
            what = f"{a.kpi_id}.{a.field}" if a.kpi_id else a.field
            value = fmt.DASH if a.value is None else (self.num(a.value) if isinstance(a.value, (Decimal, int))
                                                      and not isinstance(a.value, bool) else str(a.value))
            ref = f" ({a.reference})" if a.reference else ""
            self.out(self.t(f"Avenant en vigueur depuis {a.effective_month}{ref} : {what} = {value} — {a.reason}",
                            f"Amendment in force since {a.effective_month}{ref}: {what} = {value} — {a.reason}"), 1)

    def out_of_term(self, m: MonthResult) -> None:
        self.out()
        self.out(self.t(
            "Ce mois ne fait plus partie de la durée du contrat (début ou durée modifiés, par "
            "exemple après un droit de sortie exercé). Il est calculé avec tous les montants à 0 "
            "et sans bonus-malus, pour reprendre ce qui avait déjà été facturé.",
            "This month no longer belongs to the contract term (start or duration changed, for "
            "instance after an exit right was used). It is settled with every amount at 0 and "
            "no bonus-malus, so as to credit back what was already invoiced."))
        self.out(self.t(f"Déjà facturé pour ce mois : {self.money(m.invoiced_before)}",
                        f"Invoiced before for this month: {self.money(m.invoiced_before)}"), 1)
        self.out(self.t(
            f"À facturer maintenant = 0 − {self.money(m.invoiced_before)} = "
            f"{self.money(m.invoice_now)} (avoir)",
            f"Invoice now = 0 − {self.money(m.invoiced_before)} = "
            f"{self.money(m.invoice_now)} (credit)"), 1)

    def fee_section(self, m: MonthResult) -> None:
        self.out()
        self.out(self.t("1. Honoraires : fixe et enveloppe variable",
                        "1. Fee: fixed part and variable pool"))
        self.out(self.t(f"Honoraires du mois : {self.money(m.fee)}",
                        f"Monthly fee: {self.money(m.fee)}"), 1)
        share = self.terms.contract.variable_share if self.terms is not None else None
        if share is not None:
            exact = Decimal(m.fee) * (1 - share)
            self.out(self.t(f"Part variable : {self.num(share)} ({self.pct(share)})",
                            f"Variable share: {self.num(share)} ({self.pct(share)})"), 1)
            rounded = ""
            if exact != m.fixed:
                unit = (self.t("au centime", "to the cent") if minor_digits(self.cur) == 2
                        else self.t("à l'unité de la devise", "to the currency's minor unit"))
                rounded = self.t(f" = {self.num(exact)}, arrondi {unit} (,5 vers le haut)",
                                 f" = {self.num(exact)}, rounded half up {unit}")
            self.out(self.t(
                f"Fixe = {self.money(m.fee)} × (1 − {self.num(share)}){rounded} = "
                f"{self.money(m.fixed)}",
                f"Fixed = {self.money(m.fee)} × (1 − {self.num(share)}){rounded} = "
                f"{self.money(m.fixed)}"), 1)
        else:
            self.out(self.t(f"Fixe : {self.money(m.fixed)}", f"Fixed: {self.money(m.fixed)}"), 1)
        self.out(self.t(
            f"Enveloppe variable = {self.money(m.fee)} − {self.money(m.fixed)} = "
            f"{self.money(m.pool)}",
            f"Variable pool = {self.money(m.fee)} − {self.money(m.fixed)} = {self.money(m.pool)}"),
            1)

    def split_section(self, m: MonthResult) -> None:
        self.out()
        self.out(self.t("2. Répartition de l'enveloppe entre les indicateurs",
                        "2. Split of the pool over the KPIs"))
        self.out(self.t(
            "Chaque indicateur de poids > 0 reçoit l'enveloppe × poids / somme des poids, en "
            "centimes ; les centimes restants vont un par un aux plus fortes parties "
            "décimales (à égalité, par identifiant croissant).",
            "Each KPI with weight > 0 gets pool × weight / sum of weights, in minor units; the "
            "leftover units go one each to the largest fractional parts (ties by kpi_id "
            "ascending)."), 1)
        weights = {}
        for k in m.kpis:
            kpi = self.kpi(k.kpi_id)
            if kpi is not None:
                weights[k.kpi_id] = kpi.weight
        total = sum(weights.values(), Decimal(0))
        extra = {k.kpi_id for k in m.kpis if k.leftover_unit}
        sep = " : " if self.lang == "fr" else ": "
        for k in m.kpis:
            w = weights.get(k.kpi_id)
            if w is None or total <= 0:
                self.out(f"{k.kpi_id}{sep}{self.money(k.pool_k)}", 1)
                continue
            exact = Fraction(m.pool) * Fraction(w) / Fraction(total)
            ratio = self.num(w) if total == 1 else f"{self.num(w)} / {self.num(total)}"
            line = f"{k.kpi_id}{sep}{self.money(m.pool)} × {ratio} = "
            if Fraction(k.pool_k) == exact:
                line += self.money(k.pool_k)
            else:
                line += f"{self.exact_money(exact)} → {self.money(k.pool_k)}"
                if k.kpi_id in extra:
                    line += self.t(" (reçoit une unité restante)", " (gets a leftover unit)")
            self.out(line, 1)
        retired = []
        if self.terms is not None:
            retired = [k.kpi_id for k in self.terms.kpis if k.weight == 0]
        if retired:
            self.out(self.t(
                f"Indicateurs de poids 0 (ne paient rien ; servent au bonus-malus ou à la sortie) : "
                f"{', '.join(retired)}",
                f"KPIs with weight 0 (pay nothing; used for the bonus-malus or the exit right): "
                f"{', '.join(retired)}"), 1)

    def kpi_section(self, m: MonthResult) -> None:
        self.out()
        self.out(self.t("3. Indicateurs", "3. KPIs"))
        for k in m.kpis:
            self.kpi_block(m, k)
        self.out(self.t(
            f"Total : acquis {self.money(m.earned)} · retenu {self.money(m.held)} · différé "
            f"{self.money(m.deferred)} · perdu {self.money(m.forfeited)}",
            f"Total: earned {self.money(m.earned)} · held {self.money(m.held)} · deferred "
            f"{self.money(m.deferred)} · forfeited {self.money(m.forfeited)}"), 1)

    def kpi_block(self, m: MonthResult, k: KpiResult) -> None:
        kpi = self.kpi(k.kpi_id)
        self.out()
        if kpi is not None:
            cat = {"operational": self.t("opérationnel", "operational"),
                   "robustness": self.t("robustesse", "robustness"),
                   "financial": self.t("financier", "financial")}.get(kpi.category, kpi.category)
            sense = (self.t("plus haut = mieux", "higher is better") if kpi.direction == "higher"
                     else self.t("plus bas = mieux", "lower is better"))
            self.out(f"{k.kpi_id} — {kpi.name} ({cat}, {sense})", 1)
        else:
            self.out(k.kpi_id, 1)
        self.out(self.t("Part de l'enveloppe : ", "Share of the pool: ") + self.money(k.pool_k), 2)
        self.out(self.target_text(kpi, k), 2)
        floor_text = self.floor_text(kpi, k)
        if floor_text:
            self.out(floor_text, 2)
        if k.status == "deferred":
            self.deferred(m, k, kpi)
            return
        self.window_text(m, k, kpi)
        if k.status == "held":
            self.held(k)
            return
        self.earned(k, kpi)

    def target_text(self, kpi: Kpi | None, k: KpiResult) -> str:
        lvl = self.level(k.target_level, kpi)
        if kpi is None or kpi.target_mode == "absolute" or kpi.baseline is None:
            return self.t(f"Objectif (niveau absolu) : {lvl}", f"Target (absolute level): {lvl}")
        return self.t("Objectif : ", "Target: ") + self._mode_text(kpi, kpi.target, k.target_level)

    def floor_text(self, kpi: Kpi | None, k: KpiResult) -> str:
        if k.floor_level is None:
            return self.t(
                "Pas de plancher : tout ou rien (atteinte 1 au niveau de l'objectif ou mieux, "
                "sinon 0).",
                "No floor: all or nothing (attainment 1 at the target level or better, else 0).")
        head = self.t("Plancher : ", "Floor: ")
        if kpi is None or kpi.target_mode == "absolute" or kpi.baseline is None or kpi.floor is None:
            body = self.t(f"niveau absolu {self.level(k.floor_level, kpi)}",
                          f"absolute level {self.level(k.floor_level, kpi)}")
        else:
            body = self._mode_text(kpi, kpi.floor, k.floor_level)
        return head + body + self.t(" (paiement linéaire entre plancher et objectif)",
                                    " (linear payout between floor and target)")

    def _mode_text(self, kpi: Kpi, change: Decimal, level: Decimal) -> str:
        base = self.num(kpi.baseline)
        if kpi.target_mode == "relative":
            change_txt = fmt.signed(self.pct(change), change)
            return self.t(
                f"{change_txt} relatif sur la référence {base} → {base} × (1 "
                f"{'+' if change >= 0 else '−'} {self.num(abs(change))}) = {self.level(level, kpi)}",
                f"{change_txt} relative to the baseline {base} → {base} × (1 "
                f"{'+' if change >= 0 else '−'} {self.num(abs(change))}) = {self.level(level, kpi)}")
        change_txt = fmt.kpi_change(change, kpi.unit, "points", self.lang)
        return self.t(
            f"{change_txt} sur la référence {base} → {base} {'+' if change >= 0 else '−'} "
            f"{self.num(abs(change))} = {self.level(level, kpi)}",
            f"{change_txt} on the baseline {base} → {base} {'+' if change >= 0 else '−'} "
            f"{self.num(abs(change))} = {self.level(level, kpi)}")

    def deferred(self, m: MonthResult, k: KpiResult, kpi: Kpi | None) -> None:
        due_month = k.due_month or k.evaluated_month
        n = kpi.due_month if kpi is not None else None
        where = due_month
        if n is not None:
            where = self.t(f"mois {n} du contrat ({due_month})", f"contract month {n} ({due_month})")
        self.out(self.t(
            f"Statut : différé. Cet indicateur est jugé à son échéance, {where}, qui tombe après "
            f"la période de clôture : ses {self.money(k.deferred_k)} restent en attente et "
            f"seront payés (ou perdus) à la clôture qui couvrira l'échéance.",
            f"Status: deferred. This KPI is judged at its due month, {where}, which falls after "
            f"the close period: its {self.money(k.deferred_k)} wait and will be paid (or "
            f"forfeited) by the close that reaches the due month."), 2)

    def window_text(self, m: MonthResult, k: KpiResult, kpi: Kpi | None) -> None:
        ev = k.evaluated_month or m.month
        if ev != m.month:
            n = self.contract_month(ev)
            self.out(self.t(
                f"Jugé à son échéance (mois {n} du contrat, {ev}) : l'évaluation de {ev} "
                f"s'applique à ce mois.",
                f"Judged at its due month (contract month {n}, {ev}): the evaluation of {ev} "
                f"applies to this month."), 2)
        window = tuple(k.window) or (ev,)
        size = kpi.window_months if kpi is not None else len(window)
        if len(window) == 1:
            span = window[0]
        else:
            span = f"{window[0]} → {window[-1]}"
        self.out(self.t(
            f"Fenêtre évaluée : {span} ({len(window)} mois ; fenêtre contractuelle {size} mois)",
            f"Window evaluated: {span} ({len(window)} month{'s' if len(window) > 1 else ''}; "
            f"contract window {size} month{'s' if size > 1 else ''})"), 2)
        if self.readings is not None:
            sep = " : " if self.lang == "fr" else ": "
            for mo in window:
                rd = self.readings.get((k.kpi_id, mo))
                if rd is None:
                    self.out(mo + sep + self.t("aucun relevé", "no reading"), 3)
                else:
                    st = _status_name(rd.status, self.lang)
                    value = self.level(rd.value, kpi) if rd.value is not None else fmt.DASH
                    self.out(f"{mo}{sep}{value} — {st}", 3)

    def held(self, k: KpiResult) -> None:
        reason = self.problems(k.problems)
        self.out(self.t(
            f"Statut : retenu — {reason}. Chaque mois de la fenêtre doit avoir un relevé "
            f"payable. Les {self.money(k.held_k)} ne sont ni payés ni perdus : ils le seront à "
            f"la clôture qui suivra le relevé manquant ou la résolution du différend.",
            f"Status: held — {reason}. Every month of the window needs a payable reading. "
            f"The {self.money(k.held_k)} are neither paid nor forfeited: that is decided by the "
            f"close that follows the missing or resolved reading."), 2)
        if any(p.why == "disputed" for p in k.problems) and self.terms is not None \
                and self.terms.contract.mediator:
            self.out(self.t(f"Médiateur prévu au contrat : {self.terms.contract.mediator}",
                            f"Mediator named in the contract: {self.terms.contract.mediator}"), 2)

    def problems(self, problems: tuple[Problem, ...]) -> str:
        why = {"missing": self.t("relevé manquant", "reading missing"),
               "disputed": self.t("relevé contesté", "reading disputed"),
               "unverified": self.t("relevé non vérifié (le contrat exige des relevés vérifiés)",
                                    "reading not verified (the contract requires verified readings)")}
        return "; ".join(f"{p.month} {why.get(p.why, p.why)}" for p in problems)

    def earned(self, k: KpiResult, kpi: Kpi | None) -> None:
        v = k.value
        a = k.attainment if k.attainment is not None else Fraction(0)
        a_txt = _fraction_text(a, self.lang)
        if k.deemed:
            outcome = self.t("atteint", "met") if k.deemed == "met" else self.t("non atteint", "missed")
            self.out(self.t(
                f"Réputé {outcome} : la mesure n'a pas été livrée dans le délai de blocage "
                f"({self.problems(k.problems)}) → atteinte {a_txt}",
                f"Deemed {outcome}: the measure was not delivered within the hold limit "
                f"({self.problems(k.problems)}) → attainment {a_txt}"), 2)
        elif kpi is not None and kpi.window_agg == "mean":
            self.out(self.t(f"Valeur retenue (moyenne des mois payables de la fenêtre) : {self.level(v, kpi)}",
                            f"Value used (the mean of the window's payable months): {self.level(v, kpi)}"), 2)
        else:
            self.out(self.t(f"Valeur retenue (la pire de la fenêtre) : {self.level(v, kpi)}",
                            f"Value used (the worst of the window): {self.level(v, kpi)}"), 2)
        if k.deemed:
            pass
        elif k.floor_level is None:
            at_or_better = a == 1
            if kpi is not None:
                op = ("≥" if kpi.direction == "higher" else "≤") if at_or_better else \
                     ("<" if kpi.direction == "higher" else ">")
            else:
                op = "vs"
            verdict = (self.t("au niveau de l'objectif ou mieux", "at the target level or better")
                       if at_or_better else self.t("moins bien que l'objectif", "worse than the target"))
            self.out(self.t(
                f"{self.num(v)} {op} {self.num(k.target_level)} : {verdict} → atteinte {a_txt}",
                f"{self.num(v)} {op} {self.num(k.target_level)}: {verdict} → attainment {a_txt}"), 2)
        else:
            raw = (Fraction(v) - Fraction(k.floor_level)) / \
                  (Fraction(k.target_level) - Fraction(k.floor_level))
            formula = (f"({self.operand(v)} − {self.operand(k.floor_level)}) / "
                       f"({self.operand(k.target_level)} − {self.operand(k.floor_level)})")
            if raw == a:
                self.out(self.t(f"Atteinte = {formula} = {a_txt}",
                                f"Attainment = {formula} = {a_txt}"), 2)
            else:
                bound = self.t("ramenée entre 0 et 1", "clamped to 0..1")
                self.out(self.t(
                    f"Atteinte = {formula} = {_fraction_text(raw, self.lang)}, {bound} → {a_txt}",
                    f"Attainment = {formula} = {_fraction_text(raw, self.lang)}, {bound} → {a_txt}"),
                    2)
        if k.earned_back:
            self.out(self.t(
                f"Rattrapé : atteint chaque mois de {k.earned_back[0]} à {k.earned_back[-1]} → "
                f"{self.money(k.earned_back_k)} regagnés, acquis = {self.money(k.pool_k)}",
                f"Earned back: met in every month from {k.earned_back[0]} to {k.earned_back[-1]} → "
                f"{self.money(k.earned_back_k)} regained, earned = {self.money(k.pool_k)}"), 2)
            return
        exact = Fraction(k.pool_k) * a
        if exact == Fraction(k.earned_k):
            calc = f"{self.money(k.pool_k)} × {_fraction_short(a, self.lang)} = {self.money(k.earned_k)}"
        else:
            calc = (f"{self.money(k.pool_k)} × {_fraction_short(a, self.lang)} = "
                    f"{self.exact_money(exact)} → {self.money(k.earned_k)}"
                    + self.t(" (arrondi une seule fois, ,5 vers le haut)",
                             " (rounded once, half up)"))
        self.out(self.t(f"Acquis = {calc}", f"Earned = {calc}"), 2)
        if k.forfeited_k:
            self.out(self.t(
                f"Perdu = {self.money(k.pool_k)} − {self.money(k.earned_k)} = "
                f"{self.money(k.forfeited_k)} (définitivement, pour ce mois)",
                f"Forfeited = {self.money(k.pool_k)} − {self.money(k.earned_k)} = "
                f"{self.money(k.forfeited_k)} (for good, for this month)"), 2)

    def bonus_section(self, m: MonthResult) -> None:
        self.out()
        self.out(self.t("4. Bonus-malus", "4. Bonus-malus"))
        c = self.terms.contract if self.terms is not None else None
        if m.bonus_malus == "n/a" or c is None or not c.bonus_kpi:
            self.out(self.t("Pas de bonus-malus dans ce contrat (n/a).",
                            "No bonus-malus in this contract (n/a)."), 1)
            return
        kpi = self.kpi(c.bonus_kpi)
        name = f" ({kpi.name})" if kpi is not None else ""
        target = self.level(c.bonus_target, kpi)
        self.out(self.t(
            f"Indicateur {c.bonus_kpi}{name}, seuil absolu {target} ; bonus {self.pct(c.bonus_rate)} "
            f"{'de la part variable' if c.bonus_base == 'pool' else 'du variable acquis'} au-dessus "
            f"(strictement mieux), malus {self.pct(c.malus_rate)} "
            f"en dessous (strictement moins bien), rien à égalité.",
            f"KPI {c.bonus_kpi}{name}, absolute threshold {target}; bonus {self.pct(c.bonus_rate)} "
            f"of the {'variable pool' if c.bonus_base == 'pool' else 'earned variable'} when strictly better, "
            f"malus {self.pct(c.malus_rate)} when "
            f"strictly worse, nothing when equal."), 1)
        if kpi is not None and kpi.window_months > 1:
            self.out(self.t(
                f"Évalué au mois {m.month} sur sa fenêtre de {kpi.window_months} mois (son "
                f"échéance éventuelle ne s'applique pas).",
                f"Evaluated at {m.month} over its {kpi.window_months}-month window (its due "
                f"month, if any, does not apply)."), 1)
        v = self.level(m.bonus_value, kpi)
        if m.bonus_block and m.bonus_block[0] != m.bonus_block[-1]:
            first, last = m.bonus_block[0], m.bonus_block[-1]
            if m.bonus_malus == "pending":
                self.out(self.t(
                    f"En attente (pending) : ce mois appartient au bloc {first} → {last}, réglé en {last}.",
                    f"Pending: this month belongs to the block {first} → {last}, settled in {last}."), 1)
                return
            self.out(self.t(
                f"Bloc {first} → {last} réglé ce mois-ci sur une base de {self.money(m.bonus_base)} "
                f"({'enveloppe variable' if c.bonus_base == 'pool' else 'variable acquis'} du bloc).",
                f"Block {first} → {last} settled this month on a base of {self.money(m.bonus_base)} "
                f"(the block's {'variable pool' if c.bonus_base == 'pool' else 'earned variable'})."), 1)
        base = m.bonus_base if m.bonus_base is not None else m.earned
        if m.bonus_malus == "held":
            reason = self.problems(m.bonus_problems)
            self.out(self.t(
                f"Statut : retenu (held) — {reason}. Ni bonus ni malus ce mois-ci tant que le "
                f"relevé manque.",
                f"Status: held — {reason}. Neither bonus nor malus this month until the reading "
                f"is there."), 1)
        elif m.bonus_malus == "bonus":
            self.out(self.t(
                f"Valeur {v} strictement meilleure que {target} → bonus = {self.money(base)} × "
                f"{self.num(c.bonus_rate)} = {self.money(m.bonus)}",
                f"Value {v} strictly better than {target} → bonus = {self.money(base)} × "
                f"{self.num(c.bonus_rate)} = {self.money(m.bonus)}"), 1)
        elif m.bonus_malus == "malus":
            self.out(self.t(
                f"Valeur {v} strictement moins bonne que {target} → malus = {self.money(base)} × "
                f"{self.num(c.malus_rate)} = {self.money(m.malus)}",
                f"Value {v} strictly worse than {target} → malus = {self.money(base)} × "
                f"{self.num(c.malus_rate)} = {self.money(m.malus)}"), 1)
        elif c.bonus_band:
            band = self.num(c.bonus_band)
            self.out(self.t(f"Valeur {v} à moins de {band} du seuil (tolérance) → ni bonus ni malus (none).",
                            f"Value {v} within {band} of the threshold (tolerance) → neither bonus nor malus (none)."),
                     1)
        else:
            self.out(self.t(f"Valeur {v} égale au seuil → ni bonus ni malus (none).",
                            f"Value {v} equal to the threshold → neither bonus nor malus (none)."),
                     1)

    def due_section(self, m: MonthResult) -> None:
        self.out()
        self.out(self.t("5. Montant dû et facturation", "5. Amount due and invoicing"))
        self.out(self.t(
            f"Dû = fixe + acquis + bonus − malus = {self.money(m.fixed)} + {self.money(m.earned)} "
            f"+ {self.money(m.bonus)} − {self.money(m.malus)} = {self.money(m.due)}",
            f"Due = fixed + earned + bonus − malus = {self.money(m.fixed)} + {self.money(m.earned)} "
            f"+ {self.money(m.bonus)} − {self.money(m.malus)} = {self.money(m.due)}"), 1)
        total = m.fixed + m.earned + m.held + m.deferred + m.forfeited
        check = "✓" if total == m.fee else "✗"
        self.out(self.t(
            f"Contrôle : fixe + acquis + retenu + différé + perdu = {self.money(m.fixed)} + "
            f"{self.money(m.earned)} + {self.money(m.held)} + {self.money(m.deferred)} + "
            f"{self.money(m.forfeited)} = {self.money(total)} = honoraires {check}",
            f"Check: fixed + earned + held + deferred + forfeited = {self.money(m.fixed)} + "
            f"{self.money(m.earned)} + {self.money(m.held)} + {self.money(m.deferred)} + "
            f"{self.money(m.forfeited)} = {self.money(total)} = fee {check}"), 1)
        opening = self.openings.get(m.month)
        if opening is not None and opening == m.invoiced_before:
            self.out(self.t(
                f"Déjà facturé pour ce mois : {self.money(m.invoiced_before)}, facturés hors perfsettle "
                f"(feuille Déjà facturé)",
                f"Invoiced before for this month: {self.money(m.invoiced_before)}, invoiced outside "
                f"perfsettle (Invoiced sheet)"), 1)
        elif opening:
            self.out(self.t(
                f"Déjà facturé pour ce mois : {self.money(m.invoiced_before)}, dont {self.money(opening)} "
                f"facturés hors perfsettle (feuille Déjà facturé) et le reste par les clôtures précédentes",
                f"Invoiced before for this month: {self.money(m.invoiced_before)}, of which "
                f"{self.money(opening)} invoiced outside perfsettle (Invoiced sheet) and the rest by "
                f"earlier closes"), 1)
        else:
            self.out(self.t(
                f"Déjà facturé pour ce mois (clôtures précédentes et solde d'ouverture) : "
                f"{self.money(m.invoiced_before)}",
                f"Invoiced before for this month (earlier closes and opening balance): "
                f"{self.money(m.invoiced_before)}"), 1)
        kind = ""
        if m.invoiced_before != 0:
            if m.invoice_now > 0:
                kind = self.t(" (complément)", " (top-up)")
            elif m.invoice_now < 0:
                kind = self.t(" (avoir)", " (credit)")
            else:
                kind = self.t(" (rien de nouveau)", " (nothing new)")
        self.out(self.t(
            f"À facturer maintenant = {self.money(m.due)} − {self.money(m.invoiced_before)} = "
            f"{self.money(m.invoice_now)}{kind}",
            f"Invoice now = {self.money(m.due)} − {self.money(m.invoiced_before)} = "
            f"{self.money(m.invoice_now)}{kind}"), 1)
        if m.held or m.deferred:
            self.out(self.t(
                f"Les montants retenus ({self.money(m.held)}) et différés "
                f"({self.money(m.deferred)}) ne sont pas facturés : une clôture ultérieure les "
                f"facturera (ou les déclarera perdus) dès que les relevés ou l'échéance le "
                f"permettront.",
                f"The held ({self.money(m.held)}) and deferred ({self.money(m.deferred)}) "
                f"amounts are not invoiced: a later close invoices them (or forfeits them) once "
                f"the readings or the due month allow."), 1)

    def exit_section(self, e: ExitResult) -> None:
        self.out()
        self.out(self.t("6. Droit de sortie anticipée", "6. Early-exit right"))
        c = self.terms.contract if self.terms is not None else None
        if e.status in ("n/a", "") or c is None or not c.exit_kpi:
            if e.status == "" and self.r.status == "excluded":
                self.out(self.t("Non évalué (contrat exclu).", "Not evaluated (contract excluded)."), 1)
            else:
                self.out(self.t("Pas de clause de sortie dans ce contrat (n/a).",
                                "No exit clause in this contract (n/a)."), 1)
            return
        kpi = self.kpi(c.exit_kpi)
        name = f" ({kpi.name})" if kpi is not None else ""
        threshold = self.level(e.threshold if e.threshold is not None else c.exit_threshold, kpi)
        n = c.effective_exit_month
        e_month = e.month or months.calendar_month(c.start_month, n)
        default = "" if c.exit_month is not None else self.t(" (par défaut : mi-parcours)",
                                                            " (default: mid-term)")
        self.out(self.t(
            f"Indicateur {c.exit_kpi}{name}, seuil {threshold}, mois de sortie {n}{default} = "
            f"{e_month}.",
            f"KPI {c.exit_kpi}{name}, threshold {threshold}, exit month {n}{default} = {e_month}."),
            1)
        self.out(self.t(
            "Règle : une fois le mois de sortie atteint par la clôture, l'indicateur y est évalué "
            "(fenêtre et règles de retenue comme plus haut) : au seuil ou mieux → ok ; moins bien "
            "→ droit de sortie ; relevé manquant → indéterminé. Avant : « à surveiller » si la "
            "dernière évaluation est sous le seuil.",
            "Rule: once the close reaches the exit month, the KPI is evaluated there (window and "
            "hold rules as above): at the threshold or better → ok; worse → exit right; reading "
            "missing → undetermined. Before that: 'watch' when the latest evaluation is below "
            "the threshold."), 1)
        value = self.level(e.value, kpi) if e.value is not None else None
        at = e.evaluated_month
        msg = {
            "ok": self.t("ok — le seuil est tenu", "ok — the threshold is met"),
            "watch": self.t("à surveiller (watch) — la dernière évaluation est sous le seuil, "
                            "avant le mois de sortie",
                            "watch — the latest evaluation is below the threshold, before the "
                            "exit month"),
            "exit_right": self.t("droit de sortie (exit_right) — le client peut résilier sans "
                                 "pénalité",
                                 "exit_right — the client may terminate without penalty"),
            "undetermined": self.t("indéterminé (undetermined) — l'évaluation au mois de sortie "
                                   "est retenue faute de relevé payable",
                                   "undetermined — the evaluation at the exit month is held for "
                                   "lack of a payable reading"),
            "exercised": self.t("exercé (exercised) — le client a résilié après le mois de sortie",
                                "exercised — the client terminated after the exit month"),
            "lapsed": self.t("expiré (lapsed) — le droit de sortie n'a pas été exercé dans son délai",
                             "lapsed — the exit right was not used within its window"),
        }.get(e.status, e.status)
        self.out(self.t(f"Statut à cette clôture : {msg}.", f"Status at this close: {msg}."), 1)
        if value is not None and at:
            self.out(self.t(f"Valeur évaluée en {at} : {value} (seuil {threshold}).",
                            f"Value evaluated at {at}: {value} (threshold {threshold})."), 1)
        if e.deadline and e.status == "exit_right":
            self.out(self.t(f"Le client peut l'exercer jusqu'à fin {e.deadline}.",
                            f"The client may use it until the end of {e.deadline}."), 1)
        if e.not_started:
            self.out(self.t("Le contrat n'a pas commencé : rien à évaluer encore.",
                            "The contract has not started: nothing to evaluate yet."), 1)
        elif e.problems:
            reason = "; ".join(f"{p.month} {_why(p.why, self.lang)}" for p in e.problems)
            if e.status == "ok":
                self.out(self.t(
                    f"L'évaluation en {at or fmt.DASH} n'est pas disponible ({reason}) : ok "
                    f"tant que le mois de sortie n'est pas atteint.",
                    f"The evaluation at {at or fmt.DASH} is not available ({reason}): ok until "
                    f"the exit month is reached."), 1)
            else:
                self.out(self.t(f"Motif : {reason}", f"Reason: {reason}"), 1)

def _why(what: str, lang: str) -> str:
    fr = {"missing": "relevé manquant", "disputed": "relevé contesté",
          "unverified": "relevé non vérifié"}
    en = {"missing": "reading missing", "disputed": "reading disputed",
          "unverified": "reading not verified"}
    return (fr if lang == "fr" else en).get(what, what)


def _status_name(status: str, lang: str) -> str:
    if lang == "en":
        return status
    return {"verified": "vérifié", "provisional": "provisoire", "disputed": "contesté",
            "void": "annulé"}.get(status, status)


def _terminating(value: Fraction) -> Decimal | None:
    """The exact decimal form of a fraction, or None when it does not terminate."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return None
    places = max(twos, fives)
    return (Decimal(value.numerator) * Decimal(10 ** places // value.denominator)).scaleb(-places)


def _round(value: Fraction, places: int) -> Decimal:
    return round_fraction(value, places)


def _fraction_short(a: Fraction, lang: str) -> str:
    """An attainment as a factor: '1', '0', '0,5' or '13/14'."""
    d = _terminating(a)
    if d is not None:
        text = format_number(d)
        return text.replace(".", ",") if lang == "fr" else text
    return f"{a.numerator}/{a.denominator}"


def _fraction_text(a: Fraction, lang: str) -> str:
    """Exact fraction with its 6-place display: '13/14 ≈ 0,928571', or '0,5', or '1'."""
    d = _terminating(a)
    six = format_number(a, 6)
    if lang == "fr":
        six = six.replace(".", ",")
    if d is not None:
        text = format_number(d)
        text = text.replace(".", ",") if lang == "fr" else text
        if text == six:
            return text
        return f"{text} ({six} " + ("à l'affichage" if lang == "fr" else "displayed") + ")"
    return f"{a.numerator}/{a.denominator} ≈ {six}"


__all__ = ["explain"]
