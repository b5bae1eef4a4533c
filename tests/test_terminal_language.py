"""The terminal speaks the user's language: ``language`` of perfsettle.toml, ``--lang`` to
override; findings, counts, the close line, history and command errors, numbers with a
decimal comma in French."""
from __future__ import annotations

from builders import contract, kpis, readings, workbook
from conftest import EXAMPLES
from perfsettle.cli import main

PORTFOLIO = EXAMPLES / "portfolio-basic" / "step-1" / "inbox" / "portfolio.xlsx"


def _bad_book(root):
    k = kpis()
    k[1]["weight"] = 0.5
    return workbook(root / "book.xlsx", contracts=[contract(variable_share=0.6)], kpis=k, readings=readings())


def test_check_speaks_french_when_the_configuration_says_fr(ws, capsys):
    (ws.root / "perfsettle.toml").write_text('language = "fr"\n')
    assert main(["check", str(_bad_book(ws.root))]) == 1
    out, err = capsys.readouterr()
    assert "Contracts!I2 (book.xlsx) : avertissement [share-band]" in out
    assert "KPIs!K2 (book.xlsx) : erreur [weights-sum]" in out
    assert "1,1" in out and "1.1" not in out                  # a decimal comma in French
    assert "error" not in out and "warning" not in out
    assert err.strip() == "1 fichier vérifié : 1 erreur, 1 avertissement"
    assert "(s)" not in err


def test_lang_overrides_the_configuration(ws, capsys):
    (ws.root / "perfsettle.toml").write_text('language = "fr"\n')
    assert main(["check", str(_bad_book(ws.root)), "--lang", "en"]) == 1
    out, err = capsys.readouterr()
    assert "KPIs!K2 (book.xlsx): error [weights-sum]" in out
    assert err.strip() == "1 file checked: 1 error, 1 warning"
    (ws.root / "perfsettle.toml").write_text('language = "en"\n')
    assert main(["check", str(_bad_book(ws.root)), "--lang", "fr"]) == 1
    assert "erreur [weights-sum]" in capsys.readouterr().out


def test_the_run_and_history_speak_french(ws, capsys):
    (ws.root / "perfsettle.toml").write_text('language = "fr"\n')
    ws.drop(PORTFOLIO)
    assert ws.run("2026-10") == 0
    out, err = capsys.readouterr()
    assert "portfolio.xlsx : accepté (0 erreur, 0 avertissement)" in err
    assert "clôture 2026-10 : 2 contrats calculés, 0 exclu ; à facturer maintenant : " in out
    amount = out.split("à facturer maintenant : ")[1].splitlines()[0]
    assert "," in amount and "€" in amount and "." not in amount
    assert "settled" not in out and "accepted" not in err
    assert main(["history", "--store", str(ws.store)]) == 0
    out = capsys.readouterr().out
    assert "terminé" in out and "accepté" in out and "portfolio.xlsx" in out and "(Europe/Paris)" in out


def test_command_and_configuration_errors_speak_french(ws, capsys):
    (ws.root / "perfsettle.toml").write_text('language = "fr"\nmin_age = -1\n')
    assert main(["run", "--period", "2026-10"]) == 2
    assert "min_age doit valoir 0 seconde ou plus" in capsys.readouterr().err
    (ws.root / "perfsettle.toml").write_text('language = "fr"\ncolour = "bleu"\n')
    assert main(["run", "--period", "2026-10"]) == 2
    assert "clé inconnue « colour »" in capsys.readouterr().err
    (ws.root / "perfsettle.toml").write_text('language = "fr"\n')
    assert main(["check", str(ws.root / "absent.xlsx")]) == 2
    assert "fichier introuvable" in capsys.readouterr().err
    try:
        main(["run", "--period", "2026-13"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "pas une période AAAA-MM" in capsys.readouterr().err


def test_a_time_zone_is_a_setting(ws, capsys):
    (ws.root / "perfsettle.toml").write_text('timezone = "Mars/Olympus"\n')
    assert main(["history", "--lang", "en"]) == 2
    assert "timezone must be an IANA time zone" in capsys.readouterr().err


# ---- --help and usage, in the user's language ------------------------------------------------

COMMANDS = [[], ["run"], ["check"], ["template"], ["explain"], ["history"], ["send"], ["finalize"],
            ["documents"], ["store"], ["store", "copy"]]


def _help(argv, capsys) -> str:
    import pytest
    with pytest.raises(SystemExit) as stop:
        main(argv + ["--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_help_speaks_french_by_default_and_english_with_lang_en(ws, capsys):
    from perfsettle.cli import _HELP
    english = {en for fr, en in _HELP.values() if fr != en}
    french = {fr for fr, en in _HELP.values() if fr != en}
    for argv in COMMANDS:
        fr_text = _help(argv, capsys)
        assert fr_text.startswith("utilisation : perfsettle"), argv
        assert "show this help" not in fr_text and "usage:" not in fr_text, argv
        assert "positional arguments" not in fr_text, argv
        flat = " ".join(fr_text.split())
        assert not [e for e in english if len(e) > 12 and " ".join(e.split()) in flat], argv
    # English with --lang en, or with language = "en" in perfsettle.toml
    for argv in (["run"], ["check"], ["explain"], ["history"], ["send"], ["finalize"], ["documents"]):
        assert _help(argv + ["--lang", "en"], capsys).startswith(f"usage: perfsettle {argv[0]}")
    (ws.root / "perfsettle.toml").write_text('language = "en"\n')
    for argv in COMMANDS:
        en_text = _help(argv, capsys)
        assert en_text.startswith("usage: perfsettle"), argv
        flat = " ".join(en_text.split())
        assert not [f for f in french if len(f) > 12 and " ".join(f.split()) in flat], argv
    assert "show this help message and exit" in en_text


def test_every_option_has_help_in_both_languages():
    import argparse
    from perfsettle.cli import parser

    def walk(p):
        yield p
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for sp in a.choices.values():
                    yield from walk(sp)

    for lang in ("fr", "en"):
        for p in walk(parser(lang)):
            for a in p._actions:
                if isinstance(a, argparse._SubParsersAction):
                    continue
                assert a.help, (lang, p.prog, a.dest)


def test_usage_errors_are_french(ws, capsys):
    assert _usage_error(["check"], capsys).startswith("utilisation : perfsettle check")
    err = _usage_error(["check"], capsys)
    assert "perfsettle: arguments obligatoires manquants : CLASSEUR" in err
    err = _usage_error(["run", "--period", "2026-13"], capsys)
    assert "argument --period : pas une période AAAA-MM" in err


def _usage_error(argv, capsys) -> str:
    import pytest
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err
