"""The blank input workbook of ``perfsettle template``.

One sheet per input table of SPEC §2 (headers in French or English, from ``schema``), an
instructions sheet that explains every column, Excel data validation (dropdowns, number
ranges, input messages), percent and month formats, frozen header rows, and one example
contract that passes ``perfsettle check`` without a finding and settles cleanly.

The guidance of the clause options, invoicing columns and the Amendments and Events sheets
(``GUIDANCE``), their dropdown values (``ENUM_DISPLAY``) and example rows are kept here,
keyed by the canonical names of SPEC §2. The template writes the sheets and columns that
``schema`` defines: a name it does not define (yet) is skipped, and appears as soon as the
schema has it.

The example contract is dated relative to today: it starts three months before the current
month and has readings for the three months up to the previous month (the default close
period), so that a close run on the fresh template settles those months at once.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

import xlsxwriter

from perfsettle.core import months, schema
from perfsettle.core.schema import Column, SheetSpec
from perfsettle.infra.files import atomic_path

LANGS = ("fr", "en")

# Rows covered by the validations and formats (header is row 1).
LAST_ROW = {"Contracts": 2000, "KPIs": 10000, "Readings": 100000, "Invoiced": 20000,
            "Amendments": 20000, "Events": 5000}
_DEFAULT_LAST_ROW = 10000

# Common ISO 4217 codes offered in the currency dropdown; any other ISO code is accepted
# (the dropdown only warns).
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "CAD", "AUD", "JPY", "CNY", "SEK", "NOK", "DKK",
              "PLN", "CZK", "HUF", "RON", "MAD", "TND", "XOF", "XAF")

# Enumerated values as the template writes them, per language (all read back by
# ``schema.enum_value``; canonical English values are accepted in either template).
ENUM_DISPLAY: dict[str, dict[str, dict[str, str]]] = {
    "fr": {
        "company_size": {"TPE": "TPE", "PME": "PME", "ETI": "ETI", "GE": "GE"},
        "category": {"operational": "opérationnel", "robustness": "robustesse",
                     "financial": "financier"},
        "direction": {"higher": "hausse", "lower": "baisse"},
        "target_mode": {"absolute": "absolu", "relative": "relatif", "points": "points"},
        "status": {"verified": "vérifié", "provisional": "provisoire",
                   "disputed": "contesté", "void": "annulé"},
        "language": {"fr": "fr", "en": "en"},
        "bonus_base": {"earned": "acquis", "pool": "part_variable"},
        "deemed_outcome": {"missed": "non_atteint", "met": "atteint"},
        "window_agg": {"worst": "pire", "mean": "moyenne"},
        "event": {"terminated": "résilié"},
        "vat_category": {c: c for c in ("S", "Z", "E", "AE", "K", "G", "O")},
    },
    "en": {
        "company_size": {"TPE": "TPE", "PME": "PME", "ETI": "ETI", "GE": "GE"},
        "category": {"operational": "operational", "robustness": "robustness",
                     "financial": "financial"},
        "direction": {"higher": "higher", "lower": "lower"},
        "target_mode": {"absolute": "absolute", "relative": "relative", "points": "points"},
        "status": {"verified": "verified", "provisional": "provisional",
                   "disputed": "disputed", "void": "void"},
        "language": {"fr": "fr", "en": "en"},
        "bonus_base": {"earned": "earned", "pool": "pool"},
        "deemed_outcome": {"missed": "missed", "met": "met"},
        "window_agg": {"worst": "worst", "mean": "mean"},
        "event": {"terminated": "terminated"},
        "vat_category": {c: c for c in ("S", "Z", "E", "AE", "K", "G", "O")},
    },
}
# Suggested values of a free-text column (the dropdown lets any other text through).
SUGGESTED = {"reason": ("exit_right", "chronic", "mutual")}
BOOL_DISPLAY = {"fr": {True: "oui", False: "non"}, "en": {True: "yes", False: "no"}}

INSTRUCTIONS_TITLE = {"fr": "Mode d'emploi", "en": "Instructions"}

# The columns of SPEC §2, per sheet (canonical names), as this template knows them.
SPEC_COLUMNS: dict[str, tuple[str, ...]] = {
    "Contracts": (
        "contract_id", "client", "provider", "company_size", "currency", "start_month",
        "duration_months", "monthly_fee", "variable_share", "requires_verified", "bonus_kpi",
        "bonus_target", "bonus_rate", "malus_rate", "exit_kpi", "exit_threshold", "exit_month",
        "mediator", "contact_email", "language", "bonus_base", "bonus_every", "bonus_band",
        "exit_window_months", "hold_limit_months", "deemed_outcome", "vat_rate", "vat_category",
        "payment_days", "client_siren", "client_vat_id", "client_address", "client_postcode",
        "client_city", "client_country", "client_einvoicing_address"),
    "KPIs": (
        "contract_id", "kpi_id", "name", "category", "direction", "unit", "baseline",
        "target_mode", "target", "floor", "weight", "window_months", "due_month", "window_agg",
        "min_coverage", "earnback_months", "chronic_misses", "chronic_months"),
    "Readings": ("contract_id", "kpi_id", "month", "value", "status", "comment"),
    "Invoiced": ("contract_id", "month", "amount", "invoice_number", "invoice_date"),
    "Amendments": ("contract_id", "kpi_id", "field", "value", "effective_month", "reason",
                   "reference"),
    "Events": ("contract_id", "event", "month", "reason"),
}

# The terms an amendment can change (SPEC §2, sheet Amendments), in the dropdown's order.
AMENDABLE: dict[str, tuple[str, ...]] = {
    "Contracts": ("monthly_fee", "variable_share", "requires_verified", "bonus_target",
                  "bonus_rate", "malus_rate", "bonus_band", "exit_threshold",
                  "hold_limit_months", "deemed_outcome", "vat_rate", "mediator",
                  "contact_email", "language"),
    "KPIs": ("name", "unit", "baseline", "target_mode", "target", "floor", "weight",
             "window_months", "window_agg", "min_coverage"),
}

# Plain-words guidance of a column: the input message of its cells and its line on the
# instructions sheet (it takes precedence over the schema's short help). Keyed by sheet and
# canonical column name. Kept short enough for Excel's 255-character input messages once the
# default and the example are added.
GUIDANCE: dict[str, dict[str, dict[str, str]]] = {
    "Contracts": {
        "bonus_rate": {
            "fr": "Bonus en fraction de la base du bonus (voir base_bonus), si l'indicateur "
                  "bonus dépasse l'objectif au-delà de la tolérance.",
            "en": "Bonus as a fraction of the bonus base (see bonus_base), when the bonus KPI "
                  "beats its target by more than the band.",
        },
        "malus_rate": {
            "fr": "Malus en fraction de la base du bonus (voir base_bonus), si l'indicateur "
                  "bonus manque l'objectif au-delà de la tolérance.",
            "en": "Malus as a fraction of the bonus base (see bonus_base), when the bonus KPI "
                  "misses its target by more than the band.",
        },
        "bonus_base": {
            "fr": "Base du bonus-malus : acquis = la part variable gagnée ; part_variable = "
                  "toute la part variable (« 10 % sur la part variable »).",
            "en": "Base of the bonus-malus: earned = the variable part earned; pool = the "
                  "whole variable part (\"10 % of the variable part\").",
        },
        "bonus_every": {
            "fr": "Le bonus-malus est jugé une fois par période de ce nombre de mois du "
                  "contrat (3 = chaque trimestre), au dernier mois ; les autres mois sont en "
                  "attente (pending).",
            "en": "The bonus-malus is judged once per block of this many contract months "
                  "(3 = each quarter), on its last month; the other months are pending.",
        },
        "bonus_band": {
            "fr": "Tolérance autour de objectif_bonus, dans l'unité de l'indicateur : ni bonus "
                  "ni malus tant que l'écart ne la dépasse pas (0,01 = 1 point).",
            "en": "Tolerance around bonus_target, in the KPI's unit: no bonus nor malus while "
                  "the gap does not exceed it (0.01 = 1 point).",
        },
        "exit_window_months": {
            "fr": "Nombre de mois après le mois de sortie pendant lesquels le client peut "
                  "exercer son droit de sortie ; ensuite le droit est caduc. Vide : sans limite.",
            "en": "Months after the exit month during which the client can use its exit "
                  "right; after that it lapses. Blank: no limit.",
        },
        "hold_limit_months": {
            "fr": "Un indicateur retenu (relevé manquant, contesté, non vérifié) depuis ce "
                  "nombre de mois est tranché selon issue_reputee. Vide : retenu sans limite.",
            "en": "A KPI held (reading missing, disputed, unverified) for this many months is "
                  "settled as deemed_outcome says. Blank: held with no limit.",
        },
        "deemed_outcome": {
            "fr": "Issue d'une mesure non livrée dans le délai de blocage : non_atteint (la "
                  "part est perdue) ou atteint (la part est payée).",
            "en": "Outcome of a measure not delivered within the hold limit: missed (the "
                  "share is forfeited) or met (the share is paid).",
        },
        "vat_rate": {
            "fr": "Taux de TVA des factures du contrat, en fraction (20 % = 0,20). Doit être 0 "
                  "si la catégorie de TVA n'est pas S.",
            "en": "VAT rate of the contract's invoices, as a fraction (20 % = 0.20). Must be 0 "
                  "unless the VAT category is S.",
        },
        "vat_category": {
            "fr": "Catégorie de TVA (EN 16931) : S taux normal, Z taux zéro, E exonération, AE "
                  "autoliquidation, K intracommunautaire, G export, O hors champ.",
            "en": "VAT category (EN 16931): S standard rate, Z zero rate, E exempt, AE reverse "
                  "charge, K intra-EU supply, G export, O outside the scope of VAT.",
        },
        "payment_days": {
            "fr": "Délai de paiement en jours (0 à 60) : l'échéance d'une facture est sa date "
                  "d'émission plus ce délai.",
            "en": "Payment terms in days (0 to 60): an invoice is due this many days after its "
                  "issue date.",
        },
        "client_siren": {
            "fr": "SIREN du client (9 chiffres), imprimé sur les factures.",
            "en": "Client's SIREN (9 digits), printed on invoices.",
        },
        "client_einvoicing_address": {
            "fr": "Adresse électronique de facturation du client dans l'annuaire des factures "
                  "électroniques : son SIREN, éventuellement suivi d'un suffixe (SIRET, code routage). "
                  "Vide : son SIREN.",
            "en": "Client's electronic invoicing address in the French directory: its SIREN, possibly "
                  "followed by a suffix (SIRET, routing code). Blank: its SIREN.",
        },
        "client_vat_id": {
            "fr": "Numéro de TVA intracommunautaire du client (FR + 11 caractères).",
            "en": "Client's VAT identification number (FR + 11 characters).",
        },
        "client_address": {
            "fr": "Adresse de facturation du client : numéro et voie.",
            "en": "Client's billing address: number and street.",
        },
        "client_postcode": {
            "fr": "Code postal de l'adresse de facturation (saisi en texte : 01000).",
            "en": "Postcode of the billing address (typed as text: 01000).",
        },
        "client_city": {
            "fr": "Ville de l'adresse de facturation.",
            "en": "City of the billing address.",
        },
        "client_country": {
            "fr": "Pays de l'adresse de facturation, code ISO à deux lettres.",
            "en": "Country of the billing address, two-letter ISO code.",
        },
    },
    "KPIs": {
        "window_months": {
            "fr": "Nombre de mois jugés ensemble (1 = le mois seul) ; leurs relevés se "
                  "combinent selon agregation.",
            "en": "Months judged together (1 = the month alone); their readings combine as "
                  "window_agg says.",
        },
        "window_agg": {
            "fr": "Comment la fenêtre se juge : pire (le plus mauvais relevé compte) ou "
                  "moyenne (moyenne exacte des mois payables).",
            "en": "How the window is judged: worst (the worst reading counts) or mean (the "
                  "exact mean of the payable months).",
        },
        "min_coverage": {
            "fr": "Mois payables nécessaires dans la fenêtre (1 à fenetre_mois). Avec 2 sur 3, "
                  "un mois manquant ou contesté ne bloque pas la part.",
            "en": "Payable months the window needs (1 to window_months). With 2 of 3, one "
                  "missing or disputed month does not hold the share.",
        },
        "earnback_months": {
            "fr": "Rattrapage : un mois manqué est regagné si l'indicateur est atteint chacun "
                  "des N mois suivants. Vide : pas de rattrapage.",
            "en": "Earnback: a missed month is earned back when the KPI is met in each of the "
                  "next N months. Blank: no earnback.",
        },
        "chronic_misses": {
            "fr": "Échecs répétés : manqué au moins ce nombre de fois sur les fenetre_echecs "
                  "derniers mois, l'indicateur ouvre au client un droit de résiliation.",
            "en": "Repeated misses: missed at least this many times in the last "
                  "chronic_months months, the KPI gives the client a termination right.",
        },
        "chronic_months": {
            "fr": "Nombre de mois observés pour les échecs répétés (au moins echecs_repetes) ; "
                  "à remplir avec echecs_repetes.",
            "en": "Months looked at for repeated misses (at least chronic_misses); fill in "
                  "together with chronic_misses.",
        },
    },
    "Invoiced": {
        "invoice_number": {
            "fr": "Numéro de la facture émise hors perfsettle pour ce mois. Un avoir sur ce "
                  "mois la cite : sans numéro, il ne peut pas être émis.",
            "en": "Number of the invoice issued outside perfsettle for this month. A credit "
                  "note on this month cites it: without it, none can be issued.",
        },
        "invoice_date": {
            "fr": "Date de cette facture (une date, ou AAAA-MM-JJ).",
            "en": "Date of that invoice (a date, or YYYY-MM-DD).",
        },
    },
    "Amendments": {
        "contract_id": {
            "fr": "Contrat modifié par l'avenant.",
            "en": "Contract the amendment changes.",
        },
        "kpi_id": {
            "fr": "Vide pour une clause du contrat ; sinon l'indicateur modifié.",
            "en": "Blank for a contract term; else the KPI changed.",
        },
        "field": {
            "fr": "La colonne modifiée (liste) : une clause de Contrats (honoraires_mensuels, "
                  "part_variable…) ou d'Indicateurs (objectif, poids…).",
            "en": "The column changed (list): a Contracts term (monthly_fee, "
                  "variable_share…) or a KPIs one (target, weight…).",
        },
        "value": {
            "fr": "Nouvelle valeur, saisie comme dans sa colonne ; vide efface une clause "
                  "facultative ; « annulé » retire cette ligne d'avenant.",
            "en": "New value, typed as in its column; blank clears an optional term; \"void\" "
                  "withdraws this amendment row.",
        },
        "effective_month": {
            "fr": "Premier mois où la nouvelle valeur s'applique ; les mois d'avant gardent "
                  "leurs conditions. Dans la durée du contrat.",
            "en": "First month the new value applies; the months before keep their terms. "
                  "Inside the term.",
        },
        "reason": {
            "fr": "Motif de l'avenant, imprimé sur les relevés.",
            "en": "Reason for the amendment, printed on statements.",
        },
        "reference": {
            "fr": "Référence de l'avenant (facultative).",
            "en": "Reference of the amendment (optional).",
        },
    },
    "Events": {
        "contract_id": {
            "fr": "Contrat concerné.",
            "en": "Contract concerned.",
        },
        "event": {
            "fr": "résilié : le contrat prend fin avant son terme (la durée reste celle signée).",
            "en": "terminated: the contract ends before its term (the duration stays as "
                  "signed).",
        },
        "month": {
            "fr": "Dernier mois servi ; les mois facturés après lui sont repris par avoir. Vide "
                  "retire la résiliation.",
            "en": "Last month served; months invoiced after it are credited back. Blank "
                  "withdraws the termination.",
        },
        "reason": {
            "fr": "exit_right (droit de sortie), chronic (échecs répétés), mutual (d'un commun "
                  "accord) ou texte libre.",
            "en": "exit_right (exit right used), chronic (repeated misses), mutual (by mutual "
                  "agreement) or free text.",
        },
    },
}

# Whole-number ranges fixed by SPEC §2 (exit_month and due_month are also capped by the
# contract's duration, which validation checks).
_INT_RANGES = {
    "duration_months": (1, 120),
    "exit_month": (1, 120),
    "due_month": (1, 120),
    "payment_days": (0, 60),
    "min_coverage": (1, 120),
}
# Whole numbers bounded by another column of the row (validation checks the bound).
_INT_BOUNDED_BY = {"exit_month": "duration_months", "due_month": "duration_months",
                   "min_coverage": "window_months"}
# Numbers that cannot be negative.
_NON_NEGATIVE = {"bonus_band"}

_T = {
    "fr": {
        "title": "perfsettle — classeur de saisie des contrats de performance",
        "intro": [
            "Ce classeur alimente la clôture mensuelle : déposez-le dans le dossier inbox/ "
            "et la prochaine clôture le lit.",
            "1. Remplissez les feuilles Contrats, Indicateurs et Mesures (et, si des mois ont "
            "déjà été facturés hors perfsettle, Deja_facture). Une ligne par enregistrement ; "
            "la première ligne (en-têtes) ne se modifie pas.",
            "2. Les lignes d'exemple (contrat C-PME-01) montrent un contrat complet : "
            "remplacez-les par les vôtres, ou gardez-les pour un essai.",
            "   Les feuilles Avenants et Evenements sont facultatives : un avenant signé change "
            "une clause à partir d'un mois (les mois d'avant gardent leurs conditions) ; une "
            "résiliation fixe le dernier mois servi. Corriger une ligne de Contrats ou "
            "d'Indicateurs, au contraire, recalcule tous les mois déjà facturés.",
            "3. Pourcentages = fractions : 35 % s'écrit 0,35 (ou 35 % dans une cellule au "
            "format pourcentage, ce qui revient au même).",
            "4. Mois : une date (seul le mois compte) ou le texte AAAA-MM (2026-03) ou "
            "MM/AAAA (03/2026).",
            "5. Nombres : saisissez des nombres, pas du texte. Un nombre saisi en texte "
            "(« 12,5 ») est accepté avec un avertissement ; « 1,234 » est ambigu et refusé.",
            "6. Montants : au plus les décimales de la devise (EUR 2, JPY 0).",
            "7. Vérifiez le classeur avant de le déposer : perfsettle check FICHIER.xlsx "
            "(aucune écriture ; chaque constat est donné avec sa cellule).",
            "8. Un classeur peut ne contenir qu'une partie des feuilles : par exemple, chaque "
            "mois, seulement la feuille Mesures avec les relevés du mois.",
            "Les en-têtes en gras sur fond foncé sont obligatoires ; les autres sont "
            "facultatifs. Les noms de colonnes français et anglais sont acceptés "
            "indifféremment, sans tenir compte des majuscules, accents, espaces, _ et -.",
        ],
        "sheet_heading": "Feuille {sheet} — {what}",
        "what": {
            "Contracts": "une ligne par contrat",
            "KPIs": "une ligne par indicateur d'un contrat",
            "Readings": "une ligne par relevé (contrat × indicateur × mois)",
            "Invoiced": "facultative : ce qui a déjà été facturé hors perfsettle, par contrat et mois",
            "Amendments": "facultative : les avenants signés, une ligne par clause modifiée",
            "Events": "facultative : les résiliations anticipées, une ligne par contrat",
        },
        "amendable_heading": "Clauses modifiables par avenant (colonne champ de la feuille "
                             "Avenants)",
        "amendable_cols": ("Champ", "Feuille", "Explication"),
        "amend_example": {"reason": "Extension du périmètre au service client",
                          "reference": "Avenant n° 1"},
        "cols": ("Colonne", "Autres noms acceptés", "Obligatoire", "Par défaut",
                 "Valeurs admises", "Explication", "Exemple"),
        "yes": "oui", "no": "non",
        "cond": "si {other} est rempli",
        "values_heading": "Valeurs admises (listes déroulantes)",
        "values_cols": ("Colonne", "Valeurs en français", "Valeurs en anglais"),
        "bands_heading": "Part variable usuelle par taille d'entreprise (hors de ces bornes : "
                         "un avertissement)",
        "bands": "{size} : {lo} à {hi}",
        "example": "Ex. : {v}",
        "required": "Obligatoire.",
        "default": "Par défaut : {v}.",
        "list_error_title": "Valeur non proposée",
        "list_error": "Valeurs attendues : {values}. Une autre écriture admise reste "
                      "possible ; perfsettle check la contrôlera.",
        "currency_error": "Code ISO 4217 attendu (EUR, USD, CHF…). Un autre code ISO reste "
                          "possible.",
        "int_error_title": "Nombre entier attendu",
        "int_error": "Un nombre entier de {lo} à {hi}.",
        "int_min_error": "Un nombre entier supérieur ou égal à {lo}.",
        "nonneg_error": "Un nombre positif ou nul.",
        "range_nonneg": "nombre ≥ 0",
        "range_date": "date (AAAA-MM-JJ)",
        "range_field": "un nom de colonne de la liste",
        "range_amend_value": "selon la colonne modifiée",
        "suggest_error_title": "Valeur libre",
        "suggest_error": "Valeurs proposées : {values}. Un texte libre est aussi accepté.",
        "frac_error_title": "Fraction attendue",
        "frac_error": "Une fraction de 0 à 1 (35 % = 0,35).",
        "num_error_title": "Nombre attendu",
        "num_error": "Saisissez un nombre (pas du texte).",
        "fee_error": "Un montant supérieur à 0.",
        "range_int": "entier de {lo} à {hi}",
        "range_int_min": "entier ≥ {lo}",
        "range_frac": "fraction de 0 à 1",
        "range_month": "mois (date, AAAA-MM ou MM/AAAA)",
        "range_money": "montant",
        "range_money_pos": "montant > 0",
        "range_number": "nombre",
        "range_currency": "code ISO 4217",
        "range_bool": "oui / non",
        "range_text": "texte",
        "range_id": "lettres, chiffres, . _ -",
        "range_email": "adresses séparées par des virgules",
        "kpi_names": {
            "detection": "Taux de détection d'anomalies",
            "manual_time": "Temps de traitement manuel",
            "stability": "Stabilité du modèle",
            "roi": "Rentabilité IA",
            "automation": "Taux d'automatisation",
        },
        "mediator": "Mme Durand (CMAP)",
        "comments": {"provisional": "chiffre provisoire, à confirmer"},
    },
    "en": {
        "title": "perfsettle — input workbook for performance contracts",
        "intro": [
            "This workbook feeds the monthly close: drop it into the inbox/ folder and the "
            "next close reads it.",
            "1. Fill in the sheets Contracts, KPIs and Readings (and, when months were already "
            "invoiced outside perfsettle, Invoiced). One row per record; do not change the "
            "first row (headers).",
            "2. The example rows (contract C-PME-01) show a complete contract: replace them "
            "with yours, or keep them for a trial run.",
            "   The Amendments and Events sheets are optional: a signed amendment changes a "
            "term from a month on (the months before keep their terms); a termination sets the "
            "last month served. Correcting a Contracts or KPIs row, by contrast, restates every "
            "month already invoiced.",
            "3. Percentages are fractions: 35 % is 0.35 (or 35 % in a cell formatted as a "
            "percentage, which is the same).",
            "4. Months: a date (only its month counts) or the text YYYY-MM (2026-03) or "
            "MM/YYYY (03/2026).",
            "5. Numbers: type numbers, not text. A number typed as text (\"12.5\") is accepted "
            "with a warning; \"1,234\" is ambiguous and refused.",
            "6. Amounts: at most the currency's minor-unit digits (EUR 2, JPY 0).",
            "7. Check the workbook before dropping it: perfsettle check FILE.xlsx (writes "
            "nothing; every finding comes with its cell).",
            "8. A workbook may hold only some of the sheets: for instance, each month, only the "
            "Readings sheet with that month's readings.",
            "Bold headers on a dark fill are required; the others are optional. French and "
            "English column names are both accepted, ignoring case, accents, spaces, _ and -.",
        ],
        "sheet_heading": "Sheet {sheet} — {what}",
        "what": {
            "Contracts": "one row per contract",
            "KPIs": "one row per KPI of a contract",
            "Readings": "one row per reading (contract × KPI × month)",
            "Invoiced": "optional: what was already invoiced outside perfsettle, per contract and month",
            "Amendments": "optional: signed amendments, one row per term changed",
            "Events": "optional: early terminations, one row per contract",
        },
        "amendable_heading": "Terms an amendment can change (column field of the Amendments "
                             "sheet)",
        "amendable_cols": ("Field", "Sheet", "Explanation"),
        "amend_example": {"reason": "Scope extended to customer service",
                          "reference": "Amendment no. 1"},
        "cols": ("Column", "Other accepted names", "Required", "Default",
                 "Accepted values", "Explanation", "Example"),
        "yes": "yes", "no": "no",
        "cond": "when {other} is set",
        "values_heading": "Accepted values (dropdowns)",
        "values_cols": ("Column", "French values", "English values"),
        "bands_heading": "Usual variable share per company size (outside these bounds: a warning)",
        "bands": "{size}: {lo} to {hi}",
        "example": "E.g. {v}",
        "required": "Required.",
        "default": "Default: {v}.",
        "list_error_title": "Value not offered",
        "list_error": "Expected values: {values}. Another accepted spelling is still "
                      "possible; perfsettle check will verify it.",
        "currency_error": "ISO 4217 code expected (EUR, USD, CHF…). Another ISO code is still "
                          "possible.",
        "int_error_title": "Whole number expected",
        "int_error": "A whole number from {lo} to {hi}.",
        "int_min_error": "A whole number of at least {lo}.",
        "nonneg_error": "A number of 0 or more.",
        "range_nonneg": "number ≥ 0",
        "range_date": "date (YYYY-MM-DD)",
        "range_field": "a column name from the list",
        "range_amend_value": "as the column changed",
        "suggest_error_title": "Free value",
        "suggest_error": "Suggested values: {values}. Free text is accepted too.",
        "frac_error_title": "Fraction expected",
        "frac_error": "A fraction from 0 to 1 (35 % = 0.35).",
        "num_error_title": "Number expected",
        "num_error": "Type a number (not text).",
        "fee_error": "An amount above 0.",
        "range_int": "whole number {lo} to {hi}",
        "range_int_min": "whole number ≥ {lo}",
        "range_frac": "fraction 0 to 1",
        "range_month": "month (date, YYYY-MM or MM/YYYY)",
        "range_money": "amount",
        "range_money_pos": "amount > 0",
        "range_number": "number",
        "range_currency": "ISO 4217 code",
        "range_bool": "yes / no",
        "range_text": "text",
        "range_id": "letters, digits, . _ -",
        "range_email": "comma-separated addresses",
        "kpi_names": {
            "detection": "Anomaly detection rate",
            "manual_time": "Manual processing time",
            "stability": "Model stability",
            "roi": "AI profitability",
            "automation": "Automation rate",
        },
        "mediator": "Ms Durand (CMAP)",
        "comments": {"provisional": "provisional figure, to be confirmed"},
    },
}

# Columns required only together with another one.
_CONDITIONAL = {"bonus_target": "bonus_kpi", "exit_threshold": "exit_kpi",
                "chronic_months": "chronic_misses", "chronic_misses": "chronic_months"}


def sheet_title(spec: SheetSpec, lang: str) -> str:
    """The name of an input sheet in the template of ``lang``."""
    return spec.label_fr if lang == "fr" else spec.name


def header(col: Column, lang: str) -> str:
    """The header of a column in the template of ``lang``."""
    return (col.label_fr or col.name) if lang == "fr" else col.name


def help_text(col: Column, lang: str, sheet: str = "") -> str:
    """The plain-words explanation of a column: this module's guidance, else the schema's."""
    guidance = GUIDANCE.get(sheet, {}).get(col.name)
    if guidance:
        return guidance[lang]
    return col.help_fr if lang == "fr" else col.help_en


def input_sheets() -> tuple[SheetSpec, ...]:
    """The input sheets the template writes: those of the schema, in its order."""
    return tuple(schema.SHEETS)


# Defaults of SPEC §2 shown when the schema's column carries none of its own.
SPEC_DEFAULTS: dict[str, object] = {
    "bonus_base": "earned", "bonus_every": 1, "bonus_band": 0, "deemed_outcome": "missed",
    "vat_rate": 0.2, "vat_category": "S", "payment_days": 30, "client_country": "FR",
    "window_agg": "worst",
}

# Examples of the instructions sheet and the input messages (canonical values), per sheet;
# they take precedence over the schema's examples.
EXAMPLES: dict[str, dict[str, object]] = {
    "Contracts": {
        "bonus_base": "pool", "bonus_every": 3, "bonus_band": 0.01, "exit_window_months": 2,
        "hold_limit_months": 2, "deemed_outcome": "missed", "vat_rate": 0.2,
        "vat_category": "S", "payment_days": 30, "client_siren": "412345670",
        "client_vat_id": "FR96412345670", "client_address": "18 rue des Tanneurs",
        "client_postcode": "69002", "client_city": "Lyon", "client_country": "FR",
        "client_einvoicing_address": "412345670",
    },
    "KPIs": {
        "window_agg": "mean", "min_coverage": 2, "earnback_months": 2, "chronic_misses": 2,
        "chronic_months": 3,
    },
    "Invoiced": {"invoice_number": "FM-2026-118", "invoice_date": "2026-09-05"},
    "Amendments": {
        "contract_id": "C-PME-01", "field": "monthly_fee", "value": 11000,
        "effective_month": "2026-07",
    },
    "Events": {"contract_id": "C-PME-01", "event": "terminated", "month": "2026-09",
               "reason": "mutual"},
}

# Free-text columns with suggested values (the dropdown lets any other text through).
SUGGESTED: dict[str, dict[str, tuple[str, ...]]] = {
    "Events": {"reason": ("exit_right", "chronic", "mutual")},
}


def example_rows(lang: str = "fr", today: _dt.date | None = None) -> dict[str, list[dict]]:
    """The example contract, keyed by canonical sheet and column names (canonical values).

    Months are 'YYYY-MM'; booleans are bool; numbers are int or float as written. Columns
    and sheets the schema does not define are left out when the workbook is written.
    """
    t = _T[lang]
    today = today or _dt.date.today()
    current = months.from_date(today)
    start = months.add(current, -3)
    cid = schema.CONTRACTS.column("contract_id").example
    contract = {
        "contract_id": cid,
        "client": schema.CONTRACTS.column("client").example,
        "provider": schema.CONTRACTS.column("provider").example,
        "company_size": "PME",
        "currency": "EUR",
        "start_month": start,
        "duration_months": 12,
        "monthly_fee": 10000,
        "variable_share": 0.35,
        "requires_verified": False,
        "bonus_kpi": "roi",
        "bonus_target": 0.25,
        "bonus_rate": 0.1,
        "malus_rate": 0.1,
        "exit_kpi": "automation",
        "exit_threshold": 0.7,
        "exit_month": 6,
        "mediator": t["mediator"],
        "contact_email": schema.CONTRACTS.column("contact_email").example,
        "language": lang,
        # The bonus-malus as the seed writes it: monthly, on the variable part earned, with
        # no tolerance (the defaults, written out so that they can be seen and changed).
        "bonus_base": "earned",
        "bonus_every": 1,
        "bonus_band": 0,
        # The exit right can be used during the two months after the exit month.
        "exit_window_months": 2,
        # What the invoices need.
        "vat_rate": 0.2,
        "vat_category": "S",
        "payment_days": 30,
        "client_siren": "412345670",
        "client_vat_id": "FR96412345670",
        "client_address": "18 rue des Tanneurs",
        "client_postcode": "69002",
        "client_city": "Lyon",
        "client_country": "FR",
    }
    names = t["kpi_names"]

    def kpi(kid, category, direction, unit, mode, target, weight, **more):
        row = {"contract_id": cid, "kpi_id": kid, "name": names[kid], "category": category,
               "direction": direction, "unit": unit, "target_mode": mode, "target": target,
               "weight": weight}
        row.update(more)
        return row

    kpis = [
        # +15 % relative on 0.70: target level 0.805, paid linearly from the floor 0.735.
        kpi("detection", "operational", "higher", "%", "relative", 0.15, 0.4,
            baseline=0.7, floor=0.05, window_months=1),
        # −30 % of 120 h: target level 84 h.
        kpi("manual_time", "operational", "lower", "h", "relative", -0.3, 0.3,
            baseline=120, window_months=1),
        # > 98 % held over 6 months (the worst month of the window counts).
        kpi("stability", "robustness", "higher", "%", "absolute", 0.98, 0.3, window_months=6,
            window_agg="worst"),
        # Bonus-malus KPI (weight 0: pays nothing by itself).
        kpi("roi", "financial", "higher", "%", "absolute", 0.25, 0),
        # Early-exit KPI (weight 0).
        kpi("automation", "operational", "higher", "%", "absolute", 0.7, 0),
    ]
    series = {
        "detection": (0.74, 0.79, 0.81),
        "manual_time": (110, 95, 82),
        "stability": (0.985, 0.99, 0.991),
        "roi": (0.18, 0.22, 0.26),
        "automation": (0.62, 0.68, 0.72),
    }
    readings = []
    for kid, values in series.items():
        for i, value in enumerate(values):
            status = "provisional" if i == len(values) - 1 else "verified"
            readings.append({
                "contract_id": cid, "kpi_id": kid, "month": months.add(start, i),
                "value": value, "status": status,
                "comment": t["comments"][status] if status == "provisional" else "",
            })
    # A signed amendment that raises the fee from the contract's 7th month (in the future:
    # the months already closed keep their terms).
    amendments = [{
        "contract_id": cid, "field": "monthly_fee", "value": 11000,
        "effective_month": months.add(start, 6), "reason": t["amend_example"]["reason"],
        "reference": t["amend_example"]["reference"],
    }]
    # A termination by mutual agreement after 9 months (notified ahead: its last month is
    # in the future, so no month closed so far changes).
    events = [{"contract_id": cid, "event": "terminated", "month": months.add(start, 8),
               "reason": "mutual"}]
    return {"Contracts": [contract], "KPIs": kpis, "Readings": readings, "Invoiced": [],
            "Amendments": amendments, "Events": events}


def write_template(path: Path, lang: str = "fr", *, today: _dt.date | None = None,
                   sheets: tuple[SheetSpec, ...] | None = None) -> Path:
    """Write the blank input workbook for ``lang`` ('fr' or 'en') to ``path``; return it.

    ``sheets`` defaults to the schema's input sheets (``input_sheets()``).
    """
    if lang not in LANGS:
        raise ValueError(f"unknown template language {lang!r} (expected 'fr' or 'en')")
    path = Path(path)
    sheets = tuple(sheets) if sheets is not None else input_sheets()
    with atomic_path(path) as tmp:
        _write_book(tmp, lang, today, sheets)
    return path


def _write_book(path: Path, lang: str, today: _dt.date | None, sheets: tuple[SheetSpec, ...]) -> None:
    t = _T[lang]
    wb = xlsxwriter.Workbook(str(path), {
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
    })
    try:
        wb.set_properties({
            "title": t["title"],
            "subject": "perfsettle",
            "comments": "perfsettle template" + (" (fr)" if lang == "fr" else " (en)"),
        })
        fmt = _Formats(wb)
        data = example_rows(lang, today)
        instructions = wb.add_worksheet(INSTRUCTIONS_TITLE[lang])
        field_source = _write_instructions(instructions, fmt, lang, sheets)
        for spec in sheets:
            _write_input_sheet(wb, fmt, spec, lang, data.get(spec.name, []), field_source,
                               sheets)
        instructions.activate()
    finally:
        wb.close()


class _Formats:
    def __init__(self, wb: xlsxwriter.Workbook):
        base = {"font_name": "Calibri", "font_size": 11}
        self.required = wb.add_format({**base, "bold": True, "font_color": "#FFFFFF",
                                       "bg_color": "#1F4E78", "border": 1, "text_wrap": True,
                                       "valign": "top"})
        self.optional = wb.add_format({**base, "bold": False, "font_color": "#1F2937",
                                       "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                                       "valign": "top"})
        self.text = wb.add_format({**base, "num_format": "@"})
        self.general = wb.add_format(base)
        self.percent = wb.add_format({**base, "num_format": "0.00%"})
        self.month = wb.add_format({**base, "num_format": "yyyy-mm"})
        self.date = wb.add_format({**base, "num_format": "yyyy-mm-dd"})
        self.money = wb.add_format({**base, "num_format": "#,##0.00"})
        self.integer = wb.add_format({**base, "num_format": "0"})
        self.title = wb.add_format({"font_name": "Calibri", "bold": True, "font_size": 16,
                                    "font_color": "#1F4E78"})
        self.heading = wb.add_format({"font_name": "Calibri", "bold": True, "font_size": 13,
                                      "font_color": "#1F4E78"})
        self.para = wb.add_format({**base, "text_wrap": False})
        self.th = wb.add_format({**base, "bold": True, "bg_color": "#DDEBF7", "border": 1,
                                 "text_wrap": True, "valign": "top"})
        self.td = wb.add_format({**base, "border": 1, "text_wrap": True, "valign": "top"})
        self.td_code = wb.add_format({**base, "border": 1, "text_wrap": True, "valign": "top",
                                      "font_name": "Consolas"})

    def for_column(self, col: Column, sheet: str = ""):
        if _is_amendment_value(sheet, col):
            return self.general         # a number, a fraction or a text, by the field
        if col.kind == "fraction":
            return self.percent
        if col.kind == "month":
            return self.month
        if _is_date(col):
            return self.date
        if col.kind == "money":
            return self.money
        if col.kind == "int":
            return self.integer
        if col.kind in ("number", "raw"):    # raw: a value read by another column's rule
            return self.general
        return self.text


def _is_amendment_value(sheet: str, col: Column) -> bool:
    return sheet == "Amendments" and col.name == "value"


def _is_date(col: Column) -> bool:
    return col.kind == "date" or col.name == "invoice_date"


def _enum_name(col: Column) -> str | None:
    """The enumeration a column's cells take their values from, if any."""
    if col.name in ENUM_DISPLAY["en"] and col.kind not in ("int", "number", "money",
                                                          "fraction", "month"):
        return col.name
    return None


def _write_input_sheet(wb, fmt: _Formats, spec: SheetSpec, lang: str, rows: list[dict],
                       field_source: str | None = None,
                       sheets: tuple[SheetSpec, ...] | None = None) -> None:
    ws = wb.add_worksheet(sheet_title(spec, lang))
    last = LAST_ROW.get(spec.name, _DEFAULT_LAST_ROW)
    ws.set_row(0, 30)
    for c, col in enumerate(spec.columns):
        title = header(col, lang)
        ws.write_string(0, c, title, fmt.required if col.required else fmt.optional)
        ws.set_column(c, c, _width(col, lang, spec.name), fmt.for_column(col, spec.name))
        # Input message on the header cell.
        ws.data_validation(0, c, 0, c, {
            "validate": "any",
            "input_title": _clip(title, 32),
            "input_message": _clip(_header_message(col, lang, spec.name), 255),
        })
        dv = _validation(col, lang, spec.name, field_source)
        if dv is not None:
            ws.data_validation(1, c, last - 1, c, dv)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, 0, len(spec.columns) - 1)
    _print_layout(ws, header_row=True)
    for r, row in enumerate(rows, start=1):
        for c, col in enumerate(spec.columns):
            _write_value(ws, fmt, r, c, col, row.get(col.name), lang, spec.name, sheets)


def _field_display(name: str, lang: str, sheets: tuple[SheetSpec, ...]) -> str:
    """An amendable field as the template of ``lang`` names it (its column's header)."""
    for spec in sheets:
        if spec.name in AMENDABLE and name in AMENDABLE[spec.name]:
            for col in spec.columns:
                if col.name == name:
                    return header(col, lang)
    return name


def _write_value(ws, fmt: _Formats, r: int, c: int, col: Column, value, lang: str,
                 sheet: str = "", sheets: tuple[SheetSpec, ...] | None = None) -> None:
    if value is None or value == "":
        return
    if sheet == "Amendments" and col.name == "field":
        shown = _field_display(str(value), lang, sheets if sheets is not None else input_sheets())
        ws.write_string(r, c, shown, fmt.text)
    elif col.kind == "month":
        y, m = int(value[:4]), int(value[5:7])
        ws.write_datetime(r, c, _dt.datetime(y, m, 1), fmt.month)
    elif _is_date(col) and isinstance(value, str):
        ws.write_datetime(r, c, _dt.datetime.strptime(value[:10], "%Y-%m-%d"), fmt.date)
    elif col.kind == "bool":
        ws.write_string(r, c, BOOL_DISPLAY[lang][bool(value)], fmt.text)
    elif _enum_name(col):
        shown = ENUM_DISPLAY[lang][col.name].get(str(value), str(value))
        ws.write_string(r, c, shown, fmt.text)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        ws.write_number(r, c, value, fmt.for_column(col, sheet))
    else:
        ws.write_string(r, c, str(value), fmt.text)


def _width(col: Column, lang: str, sheet: str = "") -> float:
    longest = max(len(header(col, lang)), len(str(_example(col, sheet) or "")))
    if col.kind == "month":
        longest = max(longest, 8)
    return min(max(longest + 3, 10), 34)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _enum_values(col: Column, lang: str, sheet: str = "") -> list[str]:
    if col.kind == "bool":
        return [BOOL_DISPLAY[lang][True], BOOL_DISPLAY[lang][False]]
    if col.kind == "currency":
        return list(CURRENCIES)
    if _enum_name(col):
        return list(ENUM_DISPLAY[lang][col.name].values())
    if col.name in SUGGESTED.get(sheet, {}):
        return list(SUGGESTED[sheet][col.name])
    return []


def _int_bound_text(name: str, lang: str) -> str:
    other = _INT_BOUNDED_BY[name]
    labels = {"duration_months": "duree_mois", "window_months": "fenetre_mois"}
    return labels[other] if lang == "fr" else other


def accepted_values(col: Column, lang: str, sheet: str = "") -> str:
    """Short description of what a column accepts, for the instructions sheet."""
    t = _T[lang]
    if sheet == "Amendments" and col.name == "field":
        return t["range_field"]
    if _is_amendment_value(sheet, col):
        return t["range_amend_value"]
    if col.kind in ("enum", "bool") or _enum_name(col) or col.name in SUGGESTED.get(sheet, {}):
        return ", ".join(_enum_values(col, lang, sheet))
    if col.kind == "currency":
        return t["range_currency"] + " (" + ", ".join(CURRENCIES[:6]) + "…)"
    if col.kind == "int":
        if col.name in _INT_RANGES:
            lo, hi = _INT_RANGES[col.name]
            if col.name in _INT_BOUNDED_BY:
                hi = _int_bound_text(col.name, lang)
            return t["range_int"].format(lo=lo, hi=hi)
        return t["range_int_min"].format(lo=1)
    if col.kind == "fraction":
        if col.name == "variable_share":
            return "0 < x ≤ 1"
        return t["range_frac"]
    if col.kind == "month":
        return t["range_month"]
    if _is_date(col):
        return t["range_date"]
    if col.kind == "money":
        return t["range_money_pos"] if col.name == "monthly_fee" else t["range_money"]
    if col.kind == "number":
        return t["range_nonneg"] if col.name in _NON_NEGATIVE else t["range_number"]
    if col.kind == "id":
        return t["range_id"]
    if col.kind == "email":
        return t["range_email"]
    return t["range_text"]


def _default_text(col: Column, lang: str) -> str:
    default = col.default if col.default is not None else SPEC_DEFAULTS.get(col.name)
    if default is None:
        if col.name == "exit_month":
            return "ceil(duree_mois / 2)" if lang == "fr" else "ceil(duration_months / 2)"
        if col.name == "min_coverage":
            return _int_bound_text(col.name, lang)
        if col.name == "status":
            return ENUM_DISPLAY[lang]["status"]["provisional"]
        return ""
    if col.kind == "bool":
        return BOOL_DISPLAY[lang][bool(default)]
    if _enum_name(col):
        return ENUM_DISPLAY[lang][col.name].get(str(default), str(default))
    if col.kind == "fraction":
        return _number_text(float(default), lang)
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        return _number_text(default, lang)
    return str(default)


def _number_text(value, lang: str) -> str:
    text = repr(value) if isinstance(value, float) else str(value)
    if text.endswith(".0"):
        text = text[:-2]
    return text.replace(".", ",") if lang == "fr" else text


def _example(col: Column, sheet: str = ""):
    """The example value of a column (canonical): this module's, else the schema's."""
    own = EXAMPLES.get(sheet, {})
    return own[col.name] if col.name in own else col.example


def _canonical_enum(name: str, value) -> str | None:
    """The canonical value of an enumerated example, written in English or French."""
    for lang in LANGS:
        for canonical, shown in ENUM_DISPLAY[lang][name].items():
            if schema.key(value) in (schema.key(canonical), schema.key(shown)):
                return canonical
    return None


def _example_text(col: Column, lang: str, sheet: str = "") -> str:
    v = _example(col, sheet)
    if v is None or v == "":
        return ""
    if sheet == "Amendments" and col.name == "field":
        return _field_display(str(v), lang, input_sheets())
    if _enum_name(col):
        canonical = _canonical_enum(col.name, v) or str(v)
        return ENUM_DISPLAY[lang][col.name].get(canonical, str(v))
    if col.kind == "bool":
        return BOOL_DISPLAY[lang][schema.BOOLS.get(schema.key(v), False)]
    if isinstance(v, float) and col.kind == "fraction":
        pct = _number_text(round(v * 100, 6), lang)
        return f"{_number_text(v, lang)} ({pct} %)"
    if isinstance(v, (int, float)):
        return _number_text(v, lang)
    return str(v)


def _header_message(col: Column, lang: str, sheet: str = "") -> str:
    t = _T[lang]
    parts = [help_text(col, lang, sheet)]
    if col.required:
        parts.append(t["required"])
    else:
        d = _default_text(col, lang)
        if d:
            parts.append(t["default"].format(v=d))
    ex = _example_text(col, lang, sheet)
    if ex:
        parts.append(t["example"].format(v=ex))
    return " ".join(parts)


def _validation(col: Column, lang: str, sheet: str = "",
                field_source: str | None = None) -> dict | None:
    """The data validation of a column's data cells (None: input message only)."""
    t = _T[lang]
    message = _clip(_header_message(col, lang, sheet), 255)
    title = _clip(header(col, lang), 32)
    base = {"input_title": title, "input_message": message, "ignore_blank": True}
    if sheet == "Amendments" and col.name == "field" and field_source:
        return {**base, "validate": "list", "source": field_source, "dropdown": True,
                "error_type": "warning", "error_title": t["list_error_title"],
                "error_message": _clip(t["list_error"].format(values=t["range_field"]), 255)}
    if _is_amendment_value(sheet, col):
        return {**base, "validate": "any"}
    if col.name in SUGGESTED.get(sheet, {}) and not _enum_name(col):
        values = _enum_values(col, lang, sheet)
        return {**base, "validate": "list", "source": values, "dropdown": True,
                "error_type": "information", "error_title": t["suggest_error_title"],
                "error_message": _clip(t["suggest_error"].format(values=", ".join(values)), 255)}
    if col.kind in ("enum", "bool", "currency") or _enum_name(col):
        values = _enum_values(col, lang, sheet)
        error = (t["currency_error"] if col.kind == "currency"
                 else t["list_error"].format(values=", ".join(values)))
        return {**base, "validate": "list", "source": values, "dropdown": True,
                "error_type": "warning", "error_title": t["list_error_title"],
                "error_message": _clip(error, 255)}
    if col.kind == "int":
        if col.name in _INT_RANGES:
            lo, hi = _INT_RANGES[col.name]
            return {**base, "validate": "integer", "criteria": "between", "minimum": lo,
                    "maximum": hi, "error_title": t["int_error_title"],
                    "error_message": t["int_error"].format(lo=lo, hi=hi)}
        return {**base, "validate": "integer", "criteria": ">=", "value": 1,
                "error_title": t["int_error_title"],
                "error_message": t["int_min_error"].format(lo=1)}
    if col.kind == "fraction":
        return {**base, "validate": "decimal", "criteria": "between", "minimum": 0,
                "maximum": 1, "error_title": t["frac_error_title"],
                "error_message": t["frac_error"]}
    if col.kind == "money" and col.name == "monthly_fee":
        return {**base, "validate": "decimal", "criteria": ">", "value": 0,
                "error_title": t["num_error_title"], "error_message": t["fee_error"]}
    if col.kind == "number" and col.name in _NON_NEGATIVE:
        return {**base, "validate": "decimal", "criteria": ">=", "value": 0,
                "error_title": t["num_error_title"], "error_message": t["nonneg_error"]}
    if col.kind in ("money", "number"):
        return {**base, "validate": "decimal", "criteria": "between",
                "minimum": -1e15, "maximum": 1e15,
                "error_title": t["num_error_title"], "error_message": t["num_error"]}
    return {**base, "validate": "any"}


def _row_height(cells, widths) -> float:
    """Height of a wrapped table row (Excel does not size rows written by a program)."""
    lines = 1
    for text, width in zip(cells, widths):
        per_line = max(1, int(width * 1.1))
        lines = max(lines, -(-len(text) // per_line))
    return 15 * lines


def _print_layout(ws, header_row: bool) -> None:
    """Landscape, one page wide, as many pages down as needed; the header row on every page."""
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    if header_row:
        ws.repeat_rows(0)


def _sheet_ref(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _write_instructions(ws, fmt: _Formats, lang: str,
                        sheets: tuple[SheetSpec, ...] | None = None) -> str | None:
    """Write the instructions sheet; return the range of the amendable fields' list (the
    source of the Amendments sheet's field dropdown), or None without that sheet."""
    sheets = tuple(sheets) if sheets is not None else input_sheets()
    t = _T[lang]
    widths = (22, 26, 22, 16, 26, 60, 26)
    for c, w in enumerate(widths):
        ws.set_column(c, c, w)
    ws.set_landscape()
    ws.set_paper(9)                 # A4
    ws.fit_to_pages(1, 0)           # one page wide when printed
    ws.hide_gridlines(2)
    r = 0
    ws.write_string(r, 0, t["title"], fmt.title)
    r += 2
    for line in t["intro"]:
        ws.write_string(r, 0, line, fmt.para)
        r += 1
    for spec in sheets:
        r += 1
        what = t["what"].get(spec.name, "")
        heading = t["sheet_heading"].format(sheet=sheet_title(spec, lang), what=what)
        ws.write_string(r, 0, heading if what else sheet_title(spec, lang), fmt.heading)
        r += 1
        for c, h in enumerate(t["cols"]):
            ws.write_string(r, c, h, fmt.th)
        r += 1
        names_in_sheet = {c.name for c in spec.columns}
        for col in spec.columns:
            names = [col.name] + [a for a in ((col.label_fr,) + col.aliases) if a]
            other = [n for n in dict.fromkeys(names) if n != header(col, lang)]
            if col.required:
                req = t["yes"]
            elif col.name in _CONDITIONAL and _CONDITIONAL[col.name] in names_in_sheet:
                req = t["cond"].format(other=header(spec.column(_CONDITIONAL[col.name]), lang))
            else:
                req = t["no"]
            cells = (header(col, lang), ", ".join(other), req, _default_text(col, lang),
                     accepted_values(col, lang, spec.name), help_text(col, lang, spec.name),
                     _example_text(col, lang, spec.name))
            for c, v in enumerate(cells):
                ws.write_string(r, c, v, fmt.td_code if c == 0 else fmt.td)
            ws.set_row(r, _row_height(cells, widths))
            r += 1
    field_source = None
    if any(spec.name == "Amendments" for spec in sheets):
        fields = [(spec, col) for spec in sheets if spec.name in AMENDABLE
                  for name in AMENDABLE[spec.name] for col in spec.columns if col.name == name]
        if fields:
            r += 1
            ws.write_string(r, 0, t["amendable_heading"], fmt.heading)
            r += 1
            for c, h in enumerate(t["amendable_cols"]):
                ws.write_string(r, c, h, fmt.th)
            r += 1
            first = r
            for spec, col in fields:
                cells = (header(col, lang), sheet_title(spec, lang),
                         help_text(col, lang, spec.name))
                for c, v in enumerate(cells):
                    ws.write_string(r, c, v, fmt.td_code if c == 0 else fmt.td)
                r += 1
            field_source = (f"={_sheet_ref(INSTRUCTIONS_TITLE[lang])}"
                            f"!$A${first + 1}:$A${r}")
    r += 1
    ws.write_string(r, 0, t["values_heading"], fmt.heading)
    r += 1
    for c, h in enumerate(t["values_cols"]):
        ws.write_string(r, c, h, fmt.th)
    r += 1
    for name in ENUM_DISPLAY["en"]:
        col = next((c for spec in sheets for c in spec.columns
                    if c.name == name and _enum_name(c)), None)
        if col is None:
            continue
        ws.write_string(r, 0, header(col, lang), fmt.td_code)
        ws.write_string(r, 1, ", ".join(ENUM_DISPLAY["fr"][name].values()), fmt.td)
        ws.write_string(r, 2, ", ".join(ENUM_DISPLAY["en"][name].values()), fmt.td)
        r += 1
    ws.write_string(r, 0, "verification_requise" if lang == "fr" else "requires_verified",
                    fmt.td_code)
    ws.write_string(r, 1, "oui, non (vrai/faux, 1/0)", fmt.td)
    ws.write_string(r, 2, "yes, no (true/false, 1/0)", fmt.td)
    r += 2
    ws.write_string(r, 0, t["bands_heading"], fmt.heading)
    r += 1
    for size, (lo, hi) in schema.BANDS.items():
        lo_pct = f"{int(round(float(lo) * 100))} %"
        hi_pct = f"{int(round(float(hi) * 100))} %"
        ws.write_string(r, 0, t["bands"].format(size=size, lo=lo_pct, hi=hi_pct), fmt.para)
        r += 1
    return field_source
