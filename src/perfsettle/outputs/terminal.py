"""What the terminal says, in the user's language (``language`` of perfsettle.toml, ``--lang``).

The commands (``check``, ``run``, ``history``, ``send``) print their lines through ``say``;
findings through ``finding_line`` (their ``message_fr`` in French); the run's log lines and
the errors raised with English text (configuration, usage) through ``translate``, which knows
the French of every such message (a message it does not know is printed as it is). Numbers
carry a decimal comma in French, amounts are written as statements write them.
"""
from __future__ import annotations

import datetime as _dt
import re
import zoneinfo
from decimal import Decimal, InvalidOperation

from perfsettle.core.model import Diagnostic
from perfsettle.outputs import formatting as fmt

LANGS = ("fr", "en")

_PLURALS = {            # key -> (fr one, fr many, en one, en many)
    "error": ("erreur", "erreurs", "error", "errors"),
    "invoice": ("facture", "factures", "invoice", "invoices"),
    "credit_note": ("avoir", "avoirs", "credit note", "credit notes"),
    "refused": ("refusé", "refusés", "refused", "refused"),
    "warning": ("avertissement", "avertissements", "warning", "warnings"),
    "file": ("fichier vérifié", "fichiers vérifiés", "file checked", "files checked"),
    "message": ("message n'a pas pu être envoyé", "messages n'ont pas pu être envoyés",
                "message could not be sent", "messages could not be sent"),
    "settled": ("contrat calculé", "contrats calculés", "settled", "settled"),
    "excluded": ("exclu", "exclus", "excluded", "excluded"),
    "retried": ("message non envoyé ; le prochain send le réessaiera",
                "messages non envoyés ; le prochain send les réessaiera",
                "message could not be sent; it will be retried by the next send",
                "messages could not be sent; they will be retried by the next send"),
}

PHRASES = {
    "file_line": ("{name} : {outcome} ({errors}, {warnings})", "{name}: {outcome} ({errors}, {warnings})"),
    "checked": ("{files} : {errors}, {warnings}", "{files}: {errors}, {warnings}"),
    "close_line": ("clôture {period}{tag} : {settled}, {excluded} ; à facturer maintenant : {money}",
                   "close {period}{tag}: {settled} settled, {excluded} excluded; to invoice now: {money}"),
    "dry_tag": (" (essai : rien n'est enregistré)", " (dry run: nothing stored)"),
    "nothing": ("rien", "nothing"),
    "outputs": ("sorties : {path}", "outputs: {path}"),
    "locked": ("une autre exécution détient le verrou {path} ; rien n'a été fait",
               "another run holds the lock {path}; nothing done"),
    "no_store": ("pas encore de base : aucune clôture enregistrée", "no store yet: no close recorded"),
    "history_run": ("{period}  {run_id}  {state:<9}  code {exit_code}  début {started}  fin {finished}  totaux {totals}",
                    "{period}  {run_id}  {state:<9}  exit {exit_code}  started {started}  finished {finished}  totals {totals}"),
    "history_file": ("    {outcome:<18} {name}  ({errors}, {warnings})",
                     "    {outcome:<18} {name}  ({errors}, {warnings})"),
    "send_failed": ("{messages} ; relancez send pour réessayer", "{messages}; run send again to retry"),
    "template_written": ("modèle écrit : {path}", "template written: {path}"),
    "interrupted": ("interrompu", "interrupted"),
    "internal": ("erreur interne : {kind} : {error} (détails dans {where})",
                 "internal error: {kind}: {error} (details in {where})"),
    "no_file": ("fichier introuvable : {path}", "no such file: {path}"),
    "explain_no_store": ("pas de base à {path} : lancez d'abord une clôture", "no store at {path}: run a close first"),
    "explain_no_contract": ("pas de contrat {cid} dans la base", "no contract {cid} in the store"),
    "explain_no_close": ("aucune clôture enregistrée : indiquez --period", "no close recorded yet: give --period"),
}

OUTCOMES = {"accepted": ("accepté", "accepted"), "rejected": ("rejeté", "rejected"),
            "partially_accepted": ("accepté en partie", "partially accepted"),
            "skipped": ("ignoré", "skipped")}
STATES = {"running": ("en cours", "running"), "committed": ("enregistré", "committed"),
          "done": ("terminé", "done"), "failed": ("échoué", "failed"), "aborted": ("abandonné", "aborted")}
SEVERITIES = {"error": ("erreur", "error"), "warning": ("avertissement", "warning")}

# The French of messages raised or logged with English text, by pattern: configuration errors
# (config), usage errors (argparse, pipeline) and the run's log lines. Groups are kept as they are.
_TRANSLATIONS: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(en), fr) for en, fr in (
    (r"configuration file (.+) not found", r"fichier de configuration \1 introuvable"),
    (r"another run holds the lock of the store (.+?)(?:: (.+))?; nothing done",
     lambda m: f"une autre exécution détient le verrou de la base {m.group(1)}"
               + (f" : {m.group(2)}" if m.group(2) else "") + " ; rien n'a été fait"),
    (r"another run holds the lock (.+); nothing done", r"une autre exécution détient le verrou \1 ; rien n'a été fait"),
    (r"no store at (.+): run a close first", r"pas de base à \1 : lancez d'abord une clôture"),
    (r"configuration file (.+) is not valid TOML: (.+)", r"le fichier de configuration \1 n'est pas du TOML valide : \2"),
    (r"limits must be a table \(\[limits\]\)", r"limits doit être une table ([limits])"),
    (r"\[limits\] in (.+?): (.+)", r"[limits] dans \1 : \2"),
    (r"unknown key '(.+?)' in (.+?) \(known: (.+)\)", r"clé inconnue « \1 » dans \2 (clés connues : \3)"),
    (r"unknown key '(.+?)' \(known: (.+)\)", r"clé inconnue « \1 » (clés connues : \2)"),
    (r"(\S+) must be a table \(\[(.+)\]\)", r"\1 doit être une table ([\2])"),
    (r"(\S+) must be a path \(text\)", r"\1 doit être un chemin (texte)"),
    (r"(\S+) must be a list of e-mail addresses", r"\1 doit être une liste d'adresses e-mail"),
    (r"(\S+) must be a number", r"\1 doit être un nombre"),
    (r"(\S+) must be a whole number", r"\1 doit être un nombre entier"),
    (r"(\S+) must be text", r"\1 doit être du texte"),
    (r"min_age must be 0 or more seconds", r"min_age doit valoir 0 seconde ou plus"),
    (r"language must be fr or en \(found (.+)\)", r"language doit valoir fr ou en (trouvé \1)"),
    (r"timezone must be an IANA time zone such as Europe/Paris \(found (.+)\)",
     r"timezone doit être un fuseau horaire IANA, comme Europe/Paris (trouvé \1)"),
    (r"smtp.security must be starttls, ssl or none \(found (.+)\)",
     r"smtp.security doit valoir starttls, ssl ou none (trouvé \1)"),
    (r"smtp.port must be between 1 and 65535 \(found (.+)\)", r"smtp.port doit être compris entre 1 et 65535 (trouvé \1)"),
    (r"not an e-mail address: (.+)", r"adresse e-mail invalide : \1"),
    (r"period (\S+) is before the latest closed period (\S+): (.*)",
     r"la période \1 précède la dernière période clôturée \2 : \3"),
    (r"sending needs an SMTP host: set \[smtp\] host in perfsettle.toml",
     r"l'envoi demande un serveur SMTP : renseignez host dans la section [smtp] de perfsettle.toml"),
    (r"completed the interrupted run (\S+)", r"exécution interrompue \1 menée à son terme"),
    (r"(\d+) message\(s\) could not be sent; they will be retried by the next send",
     lambda m: count(int(m.group(1)), "retried", "fr")),
    (r"(.+?): left for a later run \(the file looks incomplete: still being copied\?\)",
     r"\1 : laissé pour une prochaine exécution (le fichier semble incomplet : copie en cours ?)"),
    (r"(.+?): left for a later run \(it changed while it was being read\)",
     r"\1 : laissé pour une prochaine exécution (il a changé pendant sa lecture)"),
    (r"not sent: (.+)", r"non envoyé : \1"),
    (r"(.+?): the annotated copy could not be written \(details in run.log\)",
     r"\1 : la copie annotée n'a pas pu être écrite (détails dans run.log)"),
    (r"(.+?): no valid contact_email, statement not e-mailed",
     r"\1 : pas d'adresse contact_email valide, relevé non envoyé"),
    (r"(\S+): month (\S+) is not settled by this close \(settled months: (\S+) to (\S+)\)",
     r"\1 : le mois \2 n'est pas calculé par cette clôture (mois calculés : de \3 à \4)"),
    # argparse
    (r"the following arguments are required: (.+)", r"arguments obligatoires manquants : \1"),
    (r"unrecognized arguments: (.+)", r"arguments inconnus : \1"),
    (r"argument (\S+): invalid choice: (.+?) \(choose from (.+)\)", r"argument \1 : choix invalide : \2 (au choix : \3)"),
    (r"argument (\S+): not a period YYYY-MM: (.+)", r"argument \1 : pas une période AAAA-MM : \2"),
    (r"argument (\S+): expected one argument", r"argument \1 : une valeur est attendue"),
    (r"argument (\S+): invalid (\S+) value: (.+)", r"argument \1 : valeur invalide : \3"),
))


def language(lang: str | None) -> str:
    return lang if lang in LANGS else "fr"


def say(key: str, lang: str, **kw) -> str:
    fr, en = PHRASES[key]
    return (en if lang == "en" else fr).format(**kw)


def count(n: int, what: str, lang: str) -> str:
    """``2 erreurs``, ``1 erreur``, ``0 erreur`` (French takes the singular below 2); ``0 errors``."""
    fr_one, fr_many, en_one, en_many = _PLURALS[what]
    if lang == "en":
        return f"{n} {en_one if n == 1 else en_many}"
    return f"{n} {fr_one if abs(n) < 2 else fr_many}"


def word(table: dict, key: str, lang: str) -> str:
    pair = table.get(key)
    return key.replace("_", " ") if pair is None else pair[1 if lang == "en" else 0]


def number(value, lang: str) -> str:
    """A plain number for the terminal: a decimal comma in French (``0,35``), no grouping."""
    text = f"{Decimal(value):f}" if not isinstance(value, str) else value
    return text.replace(".", ",") if lang == "fr" else text


def amount(text: str, currency: str, lang: str) -> str:
    """A CSV amount (``12345.67``) as statements write it (``12 345,67 €``)."""
    try:
        return fmt.money(Decimal(text), currency, lang)
    except (InvalidOperation, ValueError):
        return f"{text} {currency}"


def finding_line(d: Diagnostic, lang: str) -> str:
    """One finding, cell first: ``KPIs!K4 (book.xlsx) : erreur [weights-sum] …``."""
    if lang == "en":
        return d.line()
    return f"{d.where} : {word(SEVERITIES, d.severity, lang)} [{d.code}] {d.message_fr or d.message}"


def translate(message: str, lang: str) -> str:
    """A message written in English by a lower layer, in the user's language."""
    if lang == "en" or not message:
        return message
    for pattern, fr in _TRANSLATIONS:
        m = pattern.fullmatch(message)
        if m:
            return fr(m) if callable(fr) else m.expand(fr)
    return message


def local_time(iso: str | None, timezone: str, lang: str) -> str:
    """An ISO 8601 UTC time as the reader reads it: ``1 nov. 2026, 07:00 (Europe/Paris)``."""
    if not iso:
        return "-"
    try:
        moment = _dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    local = moment.astimezone(zoneinfo.ZoneInfo(timezone))
    return local.strftime("%Y-%m-%d %H:%M:%S") + f" ({timezone})"
