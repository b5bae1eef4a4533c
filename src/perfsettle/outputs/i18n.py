"""The wording of statements and the summary, in French and English.

One line per phrase: key -> (French, English). Placeholders are filled with display text.
"""
from __future__ import annotations

PHRASES: dict[str, tuple[str, str]] = {
    "statement": ("Relevé de performance", "Performance statement"),
    "subject": ("Relevé de performance {month} — {client} ({cid})",
                "Performance statement {month} — {client} ({cid})"),
    "contract": ("Contrat", "Contract"), "client": ("Client", "Client"),
    "provider": ("Prestataire", "Provider"), "period": ("Période", "Period"),
    "term": ("Durée", "Term"),
    "term_value": ("{start} – {end} ({n} mois)", "{start} – {end} ({n} months)"),
    "month_of_term": ("mois {m} sur {n}", "month {m} of {n}"),
    "total_now": ("Total à facturer", "Total to invoice"),
    "for_month": ("Calcul de la période", "Settlement of the period"),
    "adjustments_total": ("Ajustements des mois antérieurs", "Adjustments of earlier months"),
    "credit_note": ("Montant négatif : un avoir est à établir.", "Negative amount: a credit note is due."),
    "nothing_due": ("Rien à facturer pour cette clôture.", "Nothing to invoice for this close."),
    "month_title": ("Calcul — {month}", "Settlement — {month}"),
    "no_month": ("Aucun calcul pour {month} : le contrat a pris fin en {end}. Ce relevé ne porte "
                 "que sur des ajustements.",
                 "No settlement for {month}: the contract ended in {end}. This statement only "
                 "covers adjustments."),
    "fee": ("Honoraires du mois", "Monthly fee"),
    "fixed": ("Part fixe ({pct})", "Fixed part ({pct})"),
    "pool": ("Part variable en jeu ({pct})", "Variable at stake ({pct})"),
    "pool_plain": ("Part variable en jeu", "Variable at stake"),
    "labelled": ("{label} : {value}", "{label}: {value}"),
    "earned": ("Variable acquis", "Variable earned"), "held": ("Variable retenu", "Variable held"),
    "deferred": ("Variable différé", "Variable deferred"),
    "forfeited": ("Variable perdu", "Variable forfeited"),
    "bonus": ("Bonus", "Bonus"), "malus": ("Malus", "Malus"),
    "due": ("Montant dû pour le mois", "Amount due for the month"),
    "invoiced_before": ("Déjà facturé", "Already invoiced"),
    "invoice_month": ("À facturer pour ce mois", "To invoice for this month"),
    "kpis": ("Indicateurs de performance", "Performance indicators"),
    "chart_title": ("Relevés depuis le début du contrat", "Readings since the contract began"),
    "chart_target": ("objectif du mois", "the month's target"),
    "chart_met": ("atteint", "met"), "chart_missed": ("manqué", "missed"),
    "chart_partly": ("entre plancher et objectif", "between floor and target"),
    "chart_none": ("non compté ({why})", "not counted ({why})"),
    "chart_missing": ("absent", "missing"), "chart_disputed": ("contesté", "disputed"),
    "chart_unverified": ("non vérifié", "unverified"),
    "chart_latest": ("les {n} derniers mois", "the latest {n} months"),
    "chart_cell": ("{month} : {value} — objectif {target} — {verdict}",
                   "{month}: {value} — target {target} — {verdict}"),
    "chart_caption": ("Relevés mois par mois ; le trait noir marque l'{target}.",
                      "Readings month by month; the black line marks {target}."),
    "weight": ("poids {pct} · {amount} en jeu", "weight {pct} · {amount} at stake"),
    "operational": ("opérationnel", "operational"), "robustness": ("robustesse", "robustness"),
    "financial": ("financier", "financial"),
    "higher": ("plus haut = mieux", "higher is better"),
    "lower": ("plus bas = mieux", "lower is better"),
    "reading": ("Relevé", "Reading"), "target": ("Objectif", "Target"),
    "floor": ("Plancher", "Floor"), "attainment": ("Atteinte", "Attainment"),
    "def_relative": ("{change} relatif sur {base} = {level}", "{change} relative to {base} = {level}"),
    "def_points": ("{change} sur {base} = {level}", "{change} on {base} = {level}"),
    "def_absolute": ("absolu : {level}", "absolute: {level}"),
    "linear": ("paiement linéaire entre plancher et objectif",
               "linear payout between floor and target"),
    "all_or_nothing": ("tout ou rien à l'objectif", "all or nothing at the target"),
    "window": ("pire relevé sur {n} mois ({first} – {last})",
               "worst reading over {n} months ({first} – {last})"),
    "window_mean": ("moyenne des mois payables sur {n} mois ({first} – {last})",
                    "mean of the payable months over {n} months ({first} – {last})"),
    "bonus_rule_pool": ("« {kpi} » ({direction}) comparé à {target} : mieux, bonus de {b} de la part "
                        "variable ; moins bien, malus de {m} ; à égalité, ni l'un ni l'autre.",
                        "“{kpi}” ({direction}) compared with {target}: better earns a bonus of {b} of "
                        "the variable part; worse costs a malus of {m}; equal, neither."),
    "bonus_band_note": ("Tolérance : ni bonus ni malus à moins de {band} de l'objectif.",
                        "Tolerance: neither bonus nor malus within {band} of the target."),
    "at_due": ("évalué à l'échéance : {month}", "evaluated at its due month: {month}"),
    "st_met": ("atteint", "met"), "st_partly": ("partiellement atteint", "partly met"),
    "st_missed": ("non atteint", "missed"), "st_held": ("retenu", "held"),
    "st_deferred": ("différé", "deferred"),
    "held_reading": ("{reading}, ne compte pas encore", "{reading}, does not count yet"),
    "held_why_unverified": ("{month} : relevé {value} provisoire, or le contrat exige des relevés vérifiés",
                            "{month}: reading {value} is provisional and the contract requires verified readings"),
    "held_why_disputed": ("{month} : relevé {value} contesté", "{month}: reading {value} is disputed"),
    "amt_earned": ("Acquis", "Earned"), "amt_forfeited": ("Perdu", "Forfeited"),
    "amt_held": ("Retenu", "Held"), "amt_deferred": ("Différé", "Deferred"),
    "r_missing": ("{month} : relevé manquant", "{month}: reading missing"),
    "r_disputed": ("{month} : relevé contesté", "{month}: reading disputed"),
    "r_unverified": ("{month} : relevé non vérifié (le contrat exige des relevés vérifiés)",
                     "{month}: reading not verified (the contract requires verified readings)"),
    "r_due": ("Évalué à l'échéance ({month}, mois {n} du contrat), puis facturé en ajustement.",
              "Evaluated at its due month ({month}, contract month {n}), then invoiced as an "
              "adjustment."),
    "held_note": ("Facturé en ajustement dès que ces relevés seront vérifiés ou fournis.",
                  "Invoiced as an adjustment once these readings are verified or delivered."),
    "bonus_title": ("Bonus-malus", "Bonus-malus"),
    "bonus_rule": ("« {kpi} » ({direction}) comparé à {target} : mieux, bonus de {b} du variable "
                   "acquis ; moins bien, malus de {m} ; à égalité, ni l'un ni l'autre.",
                   "“{kpi}” ({direction}) compared with {target}: better earns a bonus of {b} of "
                   "the earned variable; worse costs a malus of {m}; equal, neither."),
    "bonus_bonus": ("Valeur {value} : bonus de {amount}.", "Value {value}: bonus of {amount}."),
    "bonus_malus": ("Valeur {value} : malus de {amount}.", "Value {value}: malus of {amount}."),
    "bonus_none": ("Valeur {value}, égale au niveau : ni bonus ni malus.",
                   "Value {value}, equal to the level: neither bonus nor malus."),
    "bonus_held": ("En attente : {reason}.", "On hold: {reason}."),
    "adjustments": ("Ajustements des mois antérieurs", "Adjustments of earlier months"),
    "month": ("Mois", "Month"), "due_now": ("Dû recalculé", "Due (recalculated)"),
    "adjustment": ("Ajustement", "Adjustment"),
    "documented_by": ("Déjà facturé par : {numbers} ; l'ajustement sera facturé par une facture ou un avoir "
                      "complémentaire", "Already invoiced by: {numbers}; the adjustment will be invoiced by a "
                      "further invoice or credit note"),
    "change": ("« {kpi} », {month} : {old} → {new}", "“{kpi}”, {month}: {old} → {new}"),
    "no_reading": ("aucun relevé", "no reading"), "withdrawn": ("annulé", "withdrawn"),
    "verified": ("vérifié", "verified"), "provisional": ("provisoire", "provisional"),
    "disputed": ("contesté", "disputed"), "void": ("annulé", "void"),
    "out_of_term": ("Mois hors de la durée actuelle du contrat : le montant facturé est repris "
                    "en avoir.", "Month outside the contract's current term: what was invoiced "
                    "is credited back."),
    "first_invoice": ("Premier calcul de ce mois : rien n'avait encore été facturé.",
                      "First settlement of this month: nothing had been invoiced yet."),
    "recalculated": ("Recalcul avec les données connues à ce jour (déjà facturé : {amount}).",
                     "Recalculated with the data known today (already invoiced: {amount})."),
    "recalculated_opening": ("Premier calcul de ce mois par perfsettle, avec les données connues à ce jour ; "
                             "le déjà facturé ({amount}) vient de la feuille Déjà facturé (facturé hors "
                             "perfsettle{invoice}).",
                             "First settlement of this month by perfsettle, with the data known today; the "
                             "amount already invoiced ({amount}) comes from the Invoiced sheet (invoiced "
                             "outside perfsettle{invoice})."),
    "opening_invoice": (", facture {number}", ", invoice {number}"),
    "opening_before": ("Déjà facturé hors perfsettle (feuille Déjà facturé)",
                       "Already invoiced outside perfsettle (Invoiced sheet)"),
    "opening_and_closes": ("Déjà facturé (dont {opening} hors perfsettle, feuille Déjà facturé)",
                           "Already invoiced (of which {opening} outside perfsettle, Invoiced sheet)"),
    "moved": ("{change} : {amount}", "{change}: {amount}"),
    "moved_nothing": ("{change} : aucun montant facturé ne change ({what})",
                      "{change}: no invoiced amount moves ({what})"),
    "moved_nothing_in": ("aucun montant facturé ne change en {months} ({what})",
                         "no invoiced amount moves in {months} ({what})"),
    "held_to_forfeited": ("« {kpi} » passe de retenu à perdu : {amount} désormais perdus",
                          "“{kpi}” goes from held to forfeited: {amount} now lost"),
    "held_to_earned": ("« {kpi} » passe de retenu à acquis", "“{kpi}” goes from held to earned"),
    "to_held": ("« {kpi} » est désormais retenu : {amount}", "“{kpi}” is now held: {amount}"),
    "no_effect": ("sans effet sur ce mois", "no effect on this month"),
    "terms_causes": ("Le reste ({amount}) vient des termes corrigés : {terms}.",
                     "The rest ({amount}) comes from the corrected terms: {terms}."),
    "terms_only": ("Termes corrigés dans Contrats ou Indicateurs : {terms} ; ce mois est recalculé avec eux.",
                   "Terms corrected in Contracts or KPIs: {terms}; this month is recalculated with them."),
    "term_change": ("{column} : {old} → {new}", "{column}: {old} → {new}"),
    "other_causes": ("Le reste ({amount}) vient du recalcul des conditions avec les données connues à ce jour.",
                     "The rest ({amount}) comes from recalculating the terms with the data known today."),
    "exit_title": ("Clause de sortie anticipée", "Early-exit right"),
    "exit_rule": ("Au point de sortie ({month}, mois {n} du contrat), « {kpi} » doit être {cmp} "
                  "{threshold} ; sinon le client peut résilier sans pénalité.",
                  "At the exit point ({month}, contract month {n}), “{kpi}” must be {cmp} "
                  "{threshold}; otherwise the client may terminate without penalty."),
    "cmp_higher": ("d'au moins", "at least"), "cmp_lower": ("d'au plus", "at most"),
    "x_ok": ("Pas de droit de sortie", "No exit right"), "x_watch": ("Sous surveillance", "Watch"),
    "x_exit_right": ("Droit de sortie ouvert", "Exit right open"),
    "x_undetermined": ("Indéterminé", "Undetermined"), "x_n/a": ("Sans clause", "No clause"),
    "x_exercised": ("Droit de sortie exercé", "Exit right exercised"),
    "bonus_pending": ("En attente : ce mois appartient au bloc {first} – {last}, réglé sur son dernier mois.",
                      "Pending: this month belongs to the block {first} – {last}, settled on its last month."),
    "bonus_block": ("(Bloc {first} – {last}, sur une base de {base}.)", "(Block {first} – {last}, on a base of {base}.)"),
    "amendment_line": ("Avenant en vigueur depuis {month}{ref} : {term} = {value} — {reason}.",
                       "Amendment in force since {month}{ref}: {term} = {value} — {reason}."),
    "cleared": ("(effacé)", "(cleared)"), "yes": ("oui", "yes"), "no": ("non", "no"),
    "chronic_title": ("Échecs répétés", "Chronic failure"),
    "restated_title": ("Termes corrigés", "Terms restated"),
    "restated_detail": ("Des termes du contrat ont été corrigés dans Contrats ou Indicateurs : les mois déjà "
                        "facturés sont recalculés, pour {amount} facturés ou crédités par cette clôture.",
                        "Contract terms were corrected in Contracts or KPIs: the months already invoiced are "
                        "recalculated, {amount} invoiced or credited by this close."),
    "restated_rule": ("Pour un changement qui ne vaut qu'à partir d'un mois, utilisez la feuille Avenants.",
                      "For a change that applies only from a given month, use the Amendments sheet."),
    "chronic_line": ("« {kpi} » a été manqué {n} fois sur les {months} derniers mois ({missed}) : le client "
                     "peut résilier le contrat.",
                     "“{kpi}” was missed {n} times in the last {months} months ({missed}): the client may "
                     "terminate the contract."),
    "x_lapsed": ("Droit de sortie expiré", "Exit right lapsed"),
    "xd_exit_right_until": ("Valeur au point de sortie : {value} (seuil {threshold}). Le client peut "
                            "résilier le contrat sans pénalité jusqu'à fin {month}.",
                            "Value at the exit point: {value} (threshold {threshold}). The client may "
                            "terminate the contract without penalty until the end of {month}."),
    "xd_exercised": ("Valeur au point de sortie : {value} (seuil {threshold}). Le client a exercé son droit "
                     "de sortie : dernier mois servi {last}.",
                     "Value at the exit point: {value} (threshold {threshold}). The client used the exit "
                     "right: last month served {last}."),
    "xd_lapsed": ("Valeur au point de sortie : {value} (seuil {threshold}). Le droit de sortie n'a pas été "
                  "exercé avant fin {month} : il a expiré.",
                  "Value at the exit point: {value} (threshold {threshold}). The exit right was not used "
                  "by the end of {month}: it has lapsed."),
    "r_deemed_missed": ("Réputé non atteint : mesure non livrée dans le délai de blocage ({items}).",
                        "Deemed missed: the measure was not delivered within the hold limit ({items})."),
    "r_deemed_met": ("Réputé atteint : mesure non livrée dans le délai de blocage ({items}).",
                     "Deemed met: the measure was not delivered within the hold limit ({items})."),
    "r_earned_back": ("Rattrapé : {amount} regagnés grâce aux mois {first} à {last}, tous atteints.",
                      "Earned back: {amount} regained thanks to {first} to {last}, all met."),
    "x_": ("—", "—"),
    "xd_exit_right": ("Valeur au point de sortie : {value} (seuil {threshold}). Le client peut "
                      "résilier le contrat sans pénalité.",
                      "Value at the exit point: {value} (threshold {threshold}). The client may "
                      "terminate the contract without penalty."),
    "xd_ok_past": ("Valeur au point de sortie : {value} (seuil {threshold}) : seuil respecté.",
                   "Value at the exit point: {value} (threshold {threshold}): threshold met."),
    "xd_ok_future": ("Point de sortie à venir ; pas d'alerte à ce jour.",
                     "Exit point still ahead; no alert so far."),
    "xd_ok_future_value": ("Point de sortie à venir ; valeur en {month} : {value} (seuil "
                           "{threshold}).", "Exit point still ahead; value in {month}: {value} "
                           "(threshold {threshold})."),
    "xd_watch": ("En {month}, {value} est moins bien que le seuil de {threshold} à tenir au point "
                 "de sortie.", "In {month}, {value} is worse than the threshold of {threshold} "
                 "to be met at the exit point."),
    "xd_undetermined": ("Évaluation impossible au point de sortie : {reason}.",
                        "The exit point cannot be evaluated: {reason}."),
    "dispute_title": ("Relevé contesté", "Disputed reading"),
    "dispute": ("Relevé contesté ({items}). Conformément au contrat, le différend est soumis à "
                "{mediator}. La part concernée est retenue jusqu'à sa résolution.",
                "A reading is disputed ({items}). As the contract provides, the dispute goes to "
                "{mediator}. The amount concerned is held until it is resolved."),
    "dispute_no_mediator": ("Relevé contesté ({items}). Le contrat ne désigne pas de médiateur ; "
                            "la part concernée est retenue jusqu'à résolution du différend.",
                            "A reading is disputed ({items}). The contract names no mediator; "
                            "the amount concerned is held until the dispute is resolved."),
    "footer": ("Clôture {run} du {when} · montants en {currency}.",
               "Close {run} of {when} · amounts in {currency}."),
    "reply": ("Pour toute question sur ce relevé, répondez à ce message.",
              "Questions about this statement? Reply to this message."),
    "dry_run": ("Simulation : rien n'a été enregistré ni facturé.",
                "Dry run: nothing was recorded or invoiced."),
    "when": ("{day} MMMM yyyy 'à' HH:mm", "d MMMM yyyy 'at' HH:mm"),
    # summary
    "summary": ("Clôture — {month}", "Monthly close — {month}"),
    "summary_subject": ("Clôture {month} — synthèse", "Monthly close {month} — summary"),
    "counts": ("{settled}, {excluded}, {not_started} · {files}, dont {rejected}.",
               "{settled}, {excluded}, {not_started} · {files}, {rejected}."),
    "totals": ("Totaux par devise", "Totals per currency"),
    "of_which_month": ("dont {month}", "of which {month}"),
    "of_which_adjust": ("dont ajustements", "of which adjustments"),
    "period_amounts": ("Variable de {month}", "Variable of {month}"),
    "alerts": ("Droits de sortie et surveillances", "Exit rights and watches"),
    "no_alerts": ("Aucun droit de sortie ni surveillance.", "No exit right and nothing to watch."),
    "holds": ("Retenues et contestations", "Holds and disputes"),
    "no_holds": ("Aucune part variable retenue.", "No variable amount is held."),
    "mediator": ("Médiateur", "Mediator"), "reason": ("Motif", "Reason"),
    "no_mediator": ("non désigné", "none named"),
    "bonus_held_row": ("bonus-malus en attente", "bonus-malus on hold"),
    "adjust_explained": ("Ajustements expliqués", "Adjustments explained"),
    "no_adjust": ("Aucun ajustement de mois antérieur.", "No adjustment of earlier months."),
    "changed_readings": ("Relevés modifiés par cette clôture", "Readings changed by this close"),
    "moves": ("entre dans : {months}", "feeds: {months}"),
    "moves_nothing": ("sans effet sur les montants de cette clôture",
                      "no effect on this close's amounts"),
    "contracts": ("Contrats", "Contracts"), "status": ("Statut", "Status"),
    "exit": ("Sortie", "Exit"),
    "s_settled": ("clôturé", "settled"), "s_excluded": ("exclu", "excluded"),
    "s_not_started": ("non commencé", "not started"),
    "problems": ("Contrats exclus et fichiers rejetés", "Excluded contracts and rejected files"),
    "no_problems": ("Aucun contrat exclu, aucun fichier rejeté.",
                    "No contract excluded, no file rejected."),
    "excluded_row": ("Contrat exclu : {cid} — {client} ({errors})",
                     "Excluded contract: {cid} — {client} ({errors})"),
    "rejected_row": ("Fichier rejeté : {name} ({errors})",
                     "Rejected file: {name} ({errors})"),
    "more_findings": ("… et {more} dans le classeur annoté.",
                      "… and {more} in the annotated workbook."),
    "more_alerts": ("… et {more} en alerte : voir la colonne exit_status de contracts.csv.",
                    "… and {more} with an alert: see the exit_status column of contracts.csv."),
    "more_holds": ("… et {more} : voir kpi_results.csv et la feuille Alertes "
                   "des classeurs annotés.", "… and {more}: see kpi_results.csv and the "
                   "Flags sheet of the annotated workbooks."),
    "more_adjust": ("… et {more} : voir settlement.csv et la feuille Lignes de "
                    "facture de settlement-{period}.xlsx.", "… and {more}: see "
                    "settlement.csv and the Invoice lines sheet of settlement-{period}.xlsx."),
    "more_contracts": ("… et {more} : voir contracts.csv et la feuille Synthèse contrats "
                       "de settlement-{period}.xlsx.", "… and {more}: see contracts.csv and "
                       "the Contract status sheet of settlement-{period}.xlsx."),
    "scorecard": ("Tableau de bord par prestataire", "Provider scorecard"),
    "scorecard_note": ("Cumul des mois calculés jusqu'à {month} ; taux d'obtention = acquis / "
                       "(acquis + perdu).", "Months settled up to {month}; success rate = earned "
                       "/ (earned + forfeited)."),
    "at_stake": ("En jeu", "At stake"), "pending": ("Retenu + différé", "Held + deferred"),
    "exit_rights": ("Droits de sortie", "Exit rights"),
    "summary_footer": ("Clôture {run} du {when}.", "Close {run} of {when}."),
    # reruns of a closed period, statements not e-mailed, files left for a later run
    "earlier_part": ("dont {amount} par la clôture précédente de {month}",
                     "of which {amount} by the earlier close of {month}"),
    "period_total": ("Total de la période {month}", "Total for {month}"),
    "earlier_closes": ("Déjà facturé par la clôture précédente de {month}",
                       "Already invoiced by the earlier close of {month}"),
    "this_close_adds": ("Ajouté par cette clôture", "Added by this close"),
    "this_close_credits": ("Crédité par cette clôture", "Credited by this close"),
    "nothing_more": ("Rien de plus à facturer.", "Nothing more to invoice."),
    "rerun_why": ("Motif de la nouvelle clôture : {reasons}.", "Why this close: {reasons}."),
    "rerun_recalculated": ("Montants recalculés avec les conditions et relevés connus à ce jour.",
                           "Amounts recalculated from the terms and readings known today."),
    "unsent_title": ("Relevés non envoyés par e-mail", "Statements not e-mailed"),
    "unsent_none": ("pas de contact_email : brouillon sans destinataire dans statements/",
                    "no contact_email: a draft with no recipient is in statements/"),
    "unsent_bad": ("contact_email invalide : brouillon sans destinataire dans statements/",
                   "invalid contact_email: a draft with no recipient is in statements/"),
    "more_unsent": ("… et {n} autre(s) relevé(s) non envoyé(s) : voir les brouillons de statements/.",
                    "… and {n} more statement(s) not e-mailed: see the drafts in statements/."),
    "skipped_title": ("Fichiers laissés pour une prochaine clôture", "Files left for a later run"),
}


# Counted nouns: key -> (French one, French many, English one, English many). French takes the
# singular for 0 and 1 ("0 erreur", "1 contrat", "2 contrats"); English for 1 only.
PLURALS: dict[str, tuple[str, str, str, str]] = {
    "n_contracts": ("{n} contrat", "{n} contrats", "{n} contract", "{n} contracts"),
    "n_settled": ("{n} contrat clôturé", "{n} contrats clôturés", "{n} contract settled", "{n} contracts settled"),
    "n_excluded": ("{n} exclu", "{n} exclus", "{n} excluded", "{n} excluded"),
    "n_not_started": ("{n} non commencé", "{n} non commencés", "{n} not started", "{n} not started"),
    "n_files": ("{n} fichier reçu", "{n} fichiers reçus", "{n} file received", "{n} files received"),
    "n_rejected": ("{n} rejeté", "{n} rejetés", "{n} rejected", "{n} rejected"),
    "n_errors": ("{n} erreur", "{n} erreurs", "{n} error", "{n} errors"),
    "n_more_findings": ("{n} autre constat", "{n} autres constats", "{n} more finding", "{n} more findings"),
    "n_more_contracts": ("{n} autre contrat", "{n} autres contrats", "{n} more contract", "{n} more contracts"),
    "n_more_adjusted": ("{n} autre contrat ajusté", "{n} autres contrats ajustés",
                        "{n} more adjusted contract", "{n} more adjusted contracts"),
    "n_more_held": ("{n} autre montant retenu", "{n} autres montants retenus",
                    "{n} more held amount", "{n} more held amounts"),
}


def plural(key: str, n: int, lang: str) -> str:
    """``n`` with its noun in ``lang``: ``2 contrats``, ``1 contract``, ``0 erreur``."""
    fr_one, fr_many, en_one, en_many = PLURALS[key]
    if lang == "en":
        return (en_one if n == 1 else en_many).format(n=n)
    return (fr_one if abs(n) < 2 else fr_many).format(n=n)


def translator(lang: str):
    """``t(key, **values)`` in ``lang`` (English for "en", French otherwise); a counted noun
    (PLURALS) takes its count as ``n``."""
    col = 1 if lang == "en" else 0

    def t(key: str, **kw) -> str:
        if key in PLURALS:
            return plural(key, kw["n"], "en" if col else "fr")
        return PHRASES[key][col].format(**kw)
    return t
