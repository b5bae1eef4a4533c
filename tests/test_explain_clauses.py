"""``explain`` reads the engine's facts for the clause options: deemed outcomes, earned-back
months, bonus blocks, the amendments in force, exit deadlines (the worked examples)."""
from __future__ import annotations

from conftest import EXAMPLES
from perfsettle.cli import main


def close_steps(ws, scenario, steps):
    for n in steps:
        step = EXAMPLES / scenario / f"step-{n}"
        ws.drop(*sorted((step / "inbox").iterdir()))
        assert ws.run((step / "period").read_text().strip()) == 0


def explained(ws, capsys, *args):
    capsys.readouterr()
    assert main(["explain", *args, "--store", str(ws.store)]) == 0
    return capsys.readouterr().out.replace("\u202f", " ").replace("\u00a0", " ")


def test_deemed_outcome_earnback_and_bonus_blocks(ws, capsys):
    close_steps(ws, "bonus-blocks", (1, 2, 3))
    may = explained(ws, capsys, "C-TRI-06", "--month", "2026-05", "--lang", "en")
    assert "Deemed missed: the measure was not delivered within the hold limit (2026-05 reading missing)" in may
    assert "Pending: this month belongs to the block 2026-04 → 2026-06, settled in 2026-06." in may
    feb = explained(ws, capsys, "C-TRI-06", "--month", "2026-02", "--lang", "en")
    assert "Earned back: met in every month from 2026-03 to 2026-04 → €2,700.00 regained" in feb
    june = explained(ws, capsys, "C-TRI-06", "--month", "2026-06", "--lang", "fr")
    assert "Bloc 2026-04 → 2026-06 réglé ce mois-ci sur une base de 27 000,00 € (enveloppe variable du bloc)." in june
    assert "à moins de 0,01 du seuil (tolérance) → ni bonus ni malus (none)" in june
    assert "Valeur retenue (moyenne des mois payables de la fenêtre)" in june


def test_amendments_in_force_and_the_exit_deadline(ws, capsys):
    close_steps(ws, "amendment-exit", (1, 2, 3))
    march = explained(ws, capsys, "C-AVN-05", "--month", "2026-03", "--lang", "en")
    assert "Amendment in force" not in march and "Monthly fee: €8,000.00" in march
    may = explained(ws, capsys, "C-AVN-05", "--month", "2026-05", "--lang", "en")
    assert "Amendment in force since 2026-04 (Avenant n°1): monthly_fee = 9,000 — Extension du périmètre" in may
    assert "Amendment in force since 2026-04 (Avenant n°1): reclamations.target = 0.8" in may
    assert "Target (absolute level): 0.8 (80%)" in may
    assert "The client may use it until the end of 2026-08." in may
