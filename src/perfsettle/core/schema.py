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

SHEETS: tuple[SheetSpec, ...] = (CONTRACTS, KPIS, READINGS, INVOICED)


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
