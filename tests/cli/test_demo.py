"""`emotrack demo`: generate, train, track, with no download."""

import csv

from emotrack.main import main


def test_demo_trains_then_tracks_a_generated_song_headless(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--no-tui", "--out", str(out), "--songs", "24", "--seconds", "16"]
    assert main([*args, "--epochs", "1"]) == 0
    printed = capsys.readouterr()
    assert "synthetic" in printed.err  # says plainly what the model knows
    assert "agreement with the song's planted trajectory: r = " in printed.err
    lines = printed.out.strip().splitlines()
    assert len(lines) == 111  # 60 s song, a window every 0.5 s from 5 s on
    assert (out / "run" / "best.pt").is_file() and (out / "run" / "report.md").is_file()
    with open(out / "demo_timeline.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 111
    assert all(1 <= float(r["valence"]) <= 9 and 1 <= float(r["arousal"]) <= 9 for r in rows)

    assert main(args) == 0  # a second run reuses the trained model
    assert "already trained" in capsys.readouterr().err


def test_agreement_is_pearson_r_against_the_planted_curves(tmp_path):
    import numpy as np

    from emotrack.demo import agreement, planted

    ends = np.arange(5.0, 60.01, 0.5)
    valence, arousal = planted()
    path = tmp_path / "t.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "raw_valence", "raw_arousal"])
        for end in ends:
            inside = end - np.linspace(0, 5, 51)
            writer.writerow([end, 5 + 4 * valence(inside).mean(), 5 - 4 * arousal(inside).mean()])
    r = agreement(path)
    assert r["windows"] == len(ends)
    assert r["valence"] > 0.999 and r["arousal"] < -0.999  # tracked upside down: r = -1
