"""The workbook format of SPEC §2: sheets, columns, aliases, enumerations.

Names match case-insensitively, ignoring accents, spaces, '_' and '-' (see ``key``).
This table is the single source used by intake, validation and the template.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass


def key(text: object) -> str:
    """Matching key of a sheet name, header or enumerated value."""
    s = unicodedata.normalize("NFKD", str(text))
    s = "".join(c for c in s if not unicodedata.combining(c))
    return "".join(c for c in s.casefold() if c not in " _-\u00a0\u202f\t\r\n")


# Column kinds, converted by validate.convert_cell:
#   id       identifier (contract_id charset)     text     free text
#   enum     one of ENUMS[column]                  money    Decimal on the currency grid
#   fraction Decimal (percent text ÷ 100)          number   Decimal
#   int      whole number                          month    'YYYY-MM'
#   bool     yes/no                                email    comma-separated addresses
@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    default: object = None
    label_fr: str = ""          # header used by the French template
    help_en: str = ""
    help_fr: str = ""
    example: object = None


@dataclass(frozen=True)
class SheetSpec:
    name: str
    aliases: tuple[str, ...]
    columns: tuple[Column, ...]
    label_fr: str

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


ENUMS: dict[str, dict[str, str]] = {
    "company_size": {"tpe": "TPE", "pme": "PME", "eti": "ETI", "ge": "GE"},
    "category": {
        "operational": "operational", "operationnel": "operational", "operationnelle": "operational",
        "robustness": "robustness", "robustesse": "robustness",
        "financial": "financial", "financier": "financial", "financiere": "financial",
    },
    "direction": {"higher": "higher", "hausse": "higher", "lower": "lower", "baisse": "lower"},
    "target_mode": {
        "absolute": "absolute", "absolu": "absolute",
        "relative": "relative", "relatif": "relative",
        "points": "points", "point": "points",
    },
    "status": {
        "verified": "verified", "verifie": "verified", "verifiee": "verified",
        "provisional": "provisional", "provisoire": "provisional",
        "disputed": "disputed", "conteste": "disputed", "contestee": "disputed",
        "void": "void", "annule": "void", "annulee": "void",
    },
    "language": {"fr": "fr", "francais": "fr", "french": "fr", "en": "en", "anglais": "en", "english": "en"},
    "bonus_base": {"earned": "earned", "acquis": "earned", "pool": "pool", "partvariable": "pool"},
    "deemed_outcome": {"missed": "missed", "nonatteint": "missed", "met": "met", "atteint": "met"},
    "window_agg": {"worst": "worst", "min": "worst", "pire": "worst", "mean": "mean", "moyenne": "mean"},
    "event": {"terminated": "terminated", "resilie": "terminated", "resiliation": "terminated"},
    # EN 16931 VAT category codes (UNTDID 5305 subset) of SPEC §8
    "vat_category": {c.lower(): c for c in ("S", "Z", "E", "AE", "K", "G", "O")},
}
BOOLS = {"yes": True, "oui": True, "true": True, "vrai": True, "1": True, "y": True, "o": True,
         "no": False, "non": False, "false": False, "faux": False, "0": False, "n": False}

CONTRACTS = SheetSpec("Contracts", ("contrats",), (
    Column("contract_id", "id", ("contrat", "id_contrat"), True, label_fr="contrat",
           help_en="Unique contract reference: letters, digits, '.', '_' or '-'.",
           help_fr="Référence unique du contrat : lettres, chiffres, '.', '_' ou '-'.", example="C-PME-01"),
    Column("client", "text", (), True, label_fr="client", help_en="Client company.",
           help_fr="Société cliente.", example="Boulangeries Martin SAS"),
    Column("provider", "text", ("prestataire", "agence"), True, label_fr="prestataire",
           help_en="AI agency or provider.", help_fr="Agence ou prestataire IA.", example="Agence Lumen IA"),
    Column("company_size", "enum", ("taille", "type_societe"), True, label_fr="taille",
           help_en="TPE, PME, ETI or GE.", help_fr="TPE, PME, ETI ou GE.", example="PME"),
    Column("currency", "currency", ("devise",), False, "EUR", label_fr="devise",
           help_en="ISO 4217 code (EUR by default).", help_fr="Code ISO 4217 (EUR par défaut).", example="EUR"),
    Column("start_month", "month", ("mois_debut", "debut"), True, label_fr="mois_debut",
           help_en="First month of the contract (a date or YYYY-MM).",
           help_fr="Premier mois du contrat (une date ou AAAA-MM).", example="2026-01"),
    Column("duration_months", "int", ("duree_mois", "duree"), True, label_fr="duree_mois",
           help_en="Duration in months, 1 to 120.", help_fr="Durée en mois, de 1 à 120.", example=12),
    Column("monthly_fee", "money", ("honoraires_mensuels", "honoraires"), True, label_fr="honoraires_mensuels",
           help_en="Total monthly fee (fixed + variable), > 0.",
           help_fr="Honoraires mensuels totaux (fixe + variable), > 0.", example=10000),
    Column("variable_share", "fraction", ("part_variable",), True, label_fr="part_variable",
           help_en="Variable share of the fee, as a fraction (35 % = 0.35).",
           help_fr="Part variable des honoraires, en fraction (35 % = 0,35).", example=0.35),
    Column("requires_verified", "bool", ("verification_requise",), False, False, label_fr="verification_requise",
           help_en="yes: only verified readings pay.", help_fr="oui : seuls les relevés vérifiés paient.",
           example="non"),
    Column("bonus_kpi", "id", ("kpi_bonus",), label_fr="kpi_bonus",
           help_en="KPI driving the bonus-malus (optional).",
           help_fr="Indicateur du bonus-malus (facultatif).", example="roi"),
    Column("bonus_target", "number", ("objectif_bonus",), label_fr="objectif_bonus",
           help_en="Absolute level of the bonus KPI; above it a bonus, below it a malus.",
           help_fr="Niveau absolu de l'indicateur bonus ; au-dessus bonus, en dessous malus.", example=0.25),
    Column("bonus_rate", "fraction", ("taux_bonus",), False, "0.10", label_fr="taux_bonus",
           help_en="Bonus as a fraction of the earned variable (default 0.10).",
           help_fr="Bonus en fraction du variable acquis (0,10 par défaut).", example=0.1),
    Column("malus_rate", "fraction", ("taux_malus",), False, "0.10", label_fr="taux_malus",
           help_en="Malus as a fraction of the earned variable (default 0.10).",
           help_fr="Malus en fraction du variable acquis (0,10 par défaut).", example=0.1),
    Column("exit_kpi", "id", ("kpi_sortie",), label_fr="kpi_sortie",
           help_en="KPI of the early-exit right (optional).",
           help_fr="Indicateur de la clause de sortie anticipée (facultatif).", example="automation"),
    Column("exit_threshold", "number", ("seuil_sortie",), label_fr="seuil_sortie",
           help_en="Minimum level of the exit KPI at the exit month.",
           help_fr="Niveau minimal de l'indicateur de sortie au mois de sortie.", example=0.7),
    Column("exit_month", "int", ("mois_sortie",), label_fr="mois_sortie",
           help_en="Contract month of the exit check (default: mid-term).",
           help_fr="Mois du contrat du point de sortie (par défaut : mi-parcours).", example=6),
    Column("mediator", "text", ("mediateur",), label_fr="mediateur",
           help_en="Mediator named when readings are disputed.",
           help_fr="Médiateur cité en cas de relevé contesté.", example="Mme Durand (CMAP)"),
    Column("contact_email", "email", ("email",), label_fr="email",
           help_en="Statement recipients, comma-separated.",
           help_fr="Destinataires des relevés, séparés par des virgules.", example="finance@client.example"),
    Column("language", "enum", ("langue",), False, "fr", label_fr="langue",
           help_en="Statement language: fr or en.", help_fr="Langue des relevés : fr ou en.", example="fr"),
    Column("bonus_base", "enum", ("base_bonus",), False, "earned", label_fr="base_bonus",
           help_en="What the bonus-malus rate applies to: earned (the variable part earned) or pool (the whole variable part).",
           help_fr="Assiette du bonus-malus : acquis (le variable acquis) ou part_variable (toute la part variable).",
           example="earned"),
    Column("bonus_every", "int", ("periodicite_bonus",), False, 1, label_fr="periodicite_bonus",
           help_en="Bonus-malus settled once per block of this many months (1 = every month, 3 = each quarter).",
           help_fr="Bonus-malus réglé une fois par bloc de ce nombre de mois (1 = chaque mois, 3 = chaque trimestre).",
           example=1),
    Column("bonus_band", "number", ("tolerance_bonus",), False, "0", label_fr="tolerance_bonus",
           help_en="Tolerance: no bonus nor malus while the bonus KPI is within this distance of its target.",
           help_fr="Tolérance : ni bonus ni malus tant que l'indicateur bonus reste à cette distance de l'objectif.",
           example=0),
    Column("exit_window_months", "int", ("delai_sortie",), label_fr="delai_sortie",
           help_en="Months after the exit month during which the exit right can be used (optional).",
           help_fr="Mois après le point de sortie pendant lesquels la sortie peut être exercée (facultatif).",
           example=None),
    Column("hold_limit_months", "int", ("delai_blocage",), label_fr="delai_blocage",
           help_en="A KPI held this many months is settled as deemed_outcome (optional).",
           help_fr="Un indicateur retenu pendant ce nombre de mois est réglé selon issue_reputee (facultatif).",
           example=None),
    Column("deemed_outcome", "enum", ("issue_reputee",), False, "missed", label_fr="issue_reputee",
           help_en="How a measure never delivered counts after the hold limit: missed or met.",
           help_fr="Comment compte une mesure jamais livrée après le délai de blocage : non_atteint ou atteint.",
           example="missed"),
    # Invoicing columns (SPEC §8): VAT, payment term and the buyer of the documents.
    Column("vat_rate", "fraction", ("taux_tva",), False, "0.20", label_fr="taux_tva",
           help_en="VAT rate as a fraction (20 % = 0.20; default 0.20).",
           help_fr="Taux de TVA en fraction (20 % = 0,20 ; 0,20 par défaut).", example=0.2),
    Column("vat_category", "enum", ("categorie_tva",), False, "S", label_fr="categorie_tva",
           help_en="EN 16931 VAT category: S (standard, default), Z, E, AE, K, G or O; rate 0 unless S.",
           help_fr="Catégorie de TVA EN 16931 : S (normale, par défaut), Z, E, AE, K, G ou O ; taux 0 sauf S.",
           example="S"),
    Column("payment_days", "int", ("delai_paiement",), False, 30, label_fr="delai_paiement",
           help_en="Days from the invoice date to the due date, 0 to 60 (default 30).",
           help_fr="Jours entre la date de facture et l'échéance, de 0 à 60 (30 par défaut).", example=30),
    Column("client_siren", "text", ("siren_client",), label_fr="siren_client",
           help_en="Client's SIREN (9 digits); required to finalise invoices.",
           help_fr="SIREN du client (9 chiffres) ; requis pour émettre les factures.", example="552100554"),
    Column("client_vat_id", "text", ("tva_client",), label_fr="tva_client",
           help_en="Client's VAT identification number (optional).",
           help_fr="Numéro de TVA intracommunautaire du client (facultatif).", example="FR40552100554"),
    Column("client_address", "text", ("adresse_client",), label_fr="adresse_client",
           help_en="Client's street address; required to finalise invoices.",
           help_fr="Adresse du client ; requise pour émettre les factures.", example="4 quai des Chartrons"),
    Column("client_postcode", "text", ("code_postal_client",), label_fr="code_postal_client",
           help_en="Client's postcode; required to finalise invoices.",
           help_fr="Code postal du client ; requis pour émettre les factures.", example="33000"),
    Column("client_city", "text", ("ville_client",), label_fr="ville_client",
           help_en="Client's city; required to finalise invoices.",
           help_fr="Ville du client ; requise pour émettre les factures.", example="Bordeaux"),
    Column("client_country", "text", ("pays_client",), False, "FR", label_fr="pays_client",
           help_en="Client's country, ISO 3166 alpha-2 code (default FR).",
           help_fr="Pays du client, code ISO 3166 alpha-2 (FR par défaut).", example="FR"),
    Column("client_einvoicing_address", "text", ("adresse_electronique_client",),
           label_fr="adresse_electronique_client",
           help_en="Client's electronic address in the French directory of e-invoicing addresses "
                   "(optional; default: its SIREN).",
           help_fr="Adresse électronique de facturation du client dans l'annuaire (facultative ; par défaut "
                   "son SIREN).", example="412345670_00023"),
), "Contrats")

KPIS = SheetSpec("KPIs", ("indicateurs",), (
    Column("contract_id", "id", ("contrat",), True, label_fr="contrat",
           help_en="Contract of this KPI.", help_fr="Contrat de cet indicateur.", example="C-PME-01"),
    Column("kpi_id", "id", ("indicateur", "id_kpi"), True, label_fr="indicateur",
           help_en="KPI reference, unique within the contract.",
           help_fr="Référence de l'indicateur, unique dans le contrat.", example="detection"),
    Column("name", "text", ("nom", "libelle"), True, label_fr="nom",
           help_en="KPI name as printed on statements.", help_fr="Libellé imprimé sur les relevés.",
           example="Taux de détection"),
    Column("category", "enum", ("categorie",), True, label_fr="categorie",
           help_en="operational, robustness or financial.",
           help_fr="operationnel, robustesse ou financier.", example="operational"),
    Column("direction", "enum", ("sens",), True, label_fr="sens",
           help_en="higher (higher is better) or lower.", help_fr="hausse (plus haut = mieux) ou baisse.",
           example="higher"),
    Column("unit", "text", ("unite",), label_fr="unite", help_en="Display unit (optional).",
           help_fr="Unité affichée (facultative).", example="%"),
    Column("baseline", "number", ("reference", "base"), label_fr="reference",
           help_en="Starting level; required for relative and points targets.",
           help_fr="Niveau de départ ; requis pour les objectifs relatifs et en points.", example=0.7),
    Column("target_mode", "enum", ("mode_objectif",), True, label_fr="mode_objectif",
           help_en="absolute (level), relative (+15 % of baseline) or points (+0.15 on baseline).",
           help_fr="absolu (niveau), relatif (+15 % de la référence) ou points (+0,15 sur la référence).",
           example="relative"),
    Column("target", "number", ("objectif",), True, label_fr="objectif",
           help_en="Target, read according to target_mode.", help_fr="Objectif, lu selon mode_objectif.",
           example=0.15),
    Column("floor", "number", ("plancher",), label_fr="plancher",
           help_en="Optional floor (same mode): pays linearly between floor and target.",
           help_fr="Plancher facultatif (même mode) : paiement linéaire entre plancher et objectif.",
           example=0.05),
    Column("weight", "fraction", ("poids",), True, label_fr="poids",
           help_en="Share of the variable pool, 0 to 1; a contract's weights sum to 1.",
           help_fr="Part de l'enveloppe variable, de 0 à 1 ; les poids d'un contrat font 1.", example=0.4),
    Column("window_months", "int", ("fenetre_mois",), False, 1, label_fr="fenetre_mois",
           help_en="Months the KPI must hold (worst reading of the window counts).",
           help_fr="Nombre de mois à tenir (le pire relevé de la fenêtre compte).", example=1),
    Column("due_month", "int", ("echeance_mois",), label_fr="echeance_mois",
           help_en="Contract month when the KPI is judged (optional).",
           help_fr="Mois du contrat où l'indicateur est jugé (facultatif).", example=None),
    Column("window_agg", "enum", ("agregation",), False, "worst", label_fr="agregation",
           help_en="How the window's readings combine: worst (default) or mean.",
           help_fr="Combinaison des relevés de la fenêtre : pire (par défaut) ou moyenne.", example="worst"),
    Column("min_coverage", "int", ("couverture_min",), label_fr="couverture_min",
           help_en="Payable months the window needs (default: all of them).",
           help_fr="Mois payables exigés dans la fenêtre (par défaut : tous).", example=None),
    Column("earnback_months", "int", ("rattrapage_mois",), label_fr="rattrapage_mois",
           help_en="A missed month is earned back when the KPI is met in each of the next this many months (optional).",
           help_fr="Un mois manqué est rattrapé quand l'indicateur est atteint chacun des mois suivants, en ce nombre (facultatif).",
           example=None),
    Column("chronic_misses", "int", ("echecs_repetes",), label_fr="echecs_repetes",
           help_en="Missed in at least this many of the last chronic_months months: a termination right (optional).",
           help_fr="Manqué au moins ce nombre de fois sur les fenetre_echecs derniers mois : droit de résiliation (facultatif).",
           example=None),
    Column("chronic_months", "int", ("fenetre_echecs",), label_fr="fenetre_echecs",
           help_en="The months looked at for chronic failure (with chronic_misses).",
           help_fr="Les mois examinés pour les échecs répétés (avec echecs_repetes).", example=None),
), "Indicateurs")

READINGS = SheetSpec("Readings", ("mesures", "releves"), (
    Column("contract_id", "id", ("contrat",), True, label_fr="contrat",
           help_en="Contract.", help_fr="Contrat.", example="C-PME-01"),
    Column("kpi_id", "id", ("indicateur",), True, label_fr="indicateur",
           help_en="KPI of the contract.", help_fr="Indicateur du contrat.", example="detection"),
    Column("month", "month", ("mois",), True, label_fr="mois",
           help_en="Month measured (a date or YYYY-MM).", help_fr="Mois mesuré (une date ou AAAA-MM).",
           example="2026-01"),
    Column("value", "number", ("valeur",), label_fr="valeur",
           help_en="Measured value (fractions for percentages).",
           help_fr="Valeur mesurée (fractions pour les pourcentages).", example=0.71),
    Column("status", "enum", ("statut",), False, "provisional", label_fr="statut",
           help_en="verified, provisional, disputed or void (blank = provisional).",
           help_fr="verifie, provisoire, conteste ou annule (vide = provisoire).", example="verified"),
    Column("comment", "text", ("commentaire",), label_fr="commentaire",
           help_en="Free comment.", help_fr="Commentaire libre.", example=""),
), "Mesures")

INVOICED = SheetSpec("Invoiced", ("deja_facture", "facture"), (
    Column("contract_id", "id", ("contrat",), True, label_fr="contrat",
           help_en="Contract.", help_fr="Contrat.", example="C-PME-01"),
    Column("month", "month", ("mois",), True, label_fr="mois",
           help_en="Month invoiced outside perfsettle.", help_fr="Mois facturé hors perfsettle.",
           example="2025-12"),
    Column("amount", "money", ("montant",), True, label_fr="montant",
           help_en="Amount invoiced (may be 0 or negative).", help_fr="Montant facturé (peut être 0 ou négatif).",
           example=9000),
    Column("invoice_number", "text", ("numero_facture",), label_fr="numero_facture",
           help_en="Number of the invoice that invoiced it (credit notes cite it).",
           help_fr="Numéro de la facture qui l'a facturé (les avoirs le citent).", example="FM-2025-118"),
    Column("invoice_date", "date", ("date_facture",), label_fr="date_facture",
           help_en="Date of that invoice.", help_fr="Date de cette facture.", example="2026-01-05"),
), "Deja_facture")

AMENDMENTS = SheetSpec("Amendments", ("avenants",), (
    Column("contract_id", "id", ("contrat",), True, label_fr="contrat",
           help_en="Contract amended.", help_fr="Contrat modifié.", example="C-PME-01"),
    Column("kpi_id", "id", ("indicateur",), label_fr="indicateur",
           help_en="Blank for a contract term, else the KPI amended.",
           help_fr="Vide pour un terme du contrat, sinon l'indicateur modifié.", example=None),
    Column("field", "field", ("champ",), True, label_fr="champ",
           help_en="The term changed (its column name).", help_fr="Le terme modifié (son nom de colonne).",
           example="monthly_fee"),
    Column("value", "raw", ("valeur",), label_fr="valeur",
           help_en="The new value (blank clears an optional term; void withdraws the amendment).",
           help_fr="La nouvelle valeur (vide efface un terme facultatif ; annule retire l'avenant).", example=12000),
    Column("effective_month", "month", ("mois_effet",), True, label_fr="mois_effet",
           help_en="First month under the new value.", help_fr="Premier mois sous la nouvelle valeur.",
           example="2026-07"),
    Column("reason", "text", ("motif",), True, label_fr="motif",
           help_en="Why (printed in statements).", help_fr="Motif (imprimé sur les relevés).",
           example="Extension du périmètre"),
    Column("reference", "text", ("reference",), label_fr="reference",
           help_en="The amendment's number (optional).", help_fr="Numéro de l'avenant (facultatif).",
           example="Avenant n°1"),
), "Avenants")

EVENTS = SheetSpec("Events", ("evenements",), (
    Column("contract_id", "id", ("contrat",), True, label_fr="contrat",
           help_en="Contract.", help_fr="Contrat.", example="C-PME-01"),
    Column("event", "enum", ("evenement",), True, label_fr="evenement",
           help_en="terminated: the contract ends early.", help_fr="resilie : le contrat prend fin avant terme.",
           example="terminated"),
    Column("month", "month", ("mois",), label_fr="mois",
           help_en="The last month served (blank withdraws the event).",
           help_fr="Le dernier mois servi (vide retire l'événement).", example="2026-09"),
    Column("reason", "text", ("motif",), label_fr="motif",
           help_en="exit_right, chronic, mutual or free text (optional).",
           help_fr="exit_right, chronic, mutual ou texte libre (facultatif).", example="mutual"),
), "Evenements")

SHEETS: tuple[SheetSpec, ...] = (CONTRACTS, KPIS, READINGS, INVOICED, AMENDMENTS, EVENTS)


def sheet_for(name: str) -> SheetSpec | None:
    k = key(name)
    for spec in SHEETS:
        if k == key(spec.name) or k in {key(a) for a in spec.aliases}:
            return spec
    return None


def column_for(spec: SheetSpec, header: object) -> Column | None:
    k = key(header)
    if not k:
        return None
    for col in spec.columns:
        if k == key(col.name) or k in {key(a) for a in col.aliases}:
            return col
    return None


def enum_value(column: str, text: object) -> str | None:
    return ENUMS[column].get(key(text))


# Usual variable-share bands per company size (SPEC §2): a warning outside them.
BANDS = {"TPE": ("0.20", "0.30"), "PME": ("0.30", "0.40"), "ETI": ("0.40", "0.55"), "GE": ("0.30", "0.60")}
