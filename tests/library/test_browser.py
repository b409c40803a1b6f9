"""`emotrack library`: a real scanned database browsed in the real Textual app (Pilot)."""

from __future__ import annotations

import asyncio

import pytest

from emotrack.library.browser import LibraryApp
from emotrack.library.store import Store
from emotrack.main import main

SIZE = (120, 36)


@pytest.fixture
def scanned(tmp_path, library, onnx_model, capsys):
    """A database holding the 4-song library, scanned with the small CNN."""
    db = tmp_path / "lib.db"
    code = main(["scan", str(library), "--db", str(db), "--model", str(onnx_model)])
    assert code == 0, capsys.readouterr().err
    return db


def test_the_browser_lists_every_song_and_shows_the_selected_ones_timeline(scanned):
    async def browse() -> None:
        with Store.open(scanned, write=False) as store:
            songs = list(store.songs())
            app = LibraryApp(store, songs)
            async with app.run_test(size=SIZE) as pilot:
                await pilot.pause()
                assert app.table.row_count == len(songs) == 4
                assert app.plane.dots == [(s.valence, s.arousal) for s in songs]
                for index in (0, 1, 2):
                    song = songs[index]
                    assert app.selected == song
                    times, values = store.timeline(song.path)
                    assert len(times) >= 2
                    assert app.plane.points == [tuple(pair) for pair in values.tolist()]
                    assert app.arousal.samples == list(
                        zip(times.tolist(), values[:, 1].tolist(), strict=True)
                    )
                    assert app.valence.span == pytest.approx(times[-1])
                    assert song.path.rsplit("/", 1)[-1] in app.plane.border_subtitle
                    await pilot.press("down")
                    await pilot.pause()
                await pilot.press("q")
                await pilot.pause()

    asyncio.run(asyncio.wait_for(browse(), timeout=60))


def test_library_says_what_to_do_without_a_database_songs_or_terminal(tmp_path, scanned, capsys):
    def library(db) -> tuple[int, str]:
        return main(["library", "--db", str(db)]), capsys.readouterr().err

    code, err = library(tmp_path / "none.db")
    assert code == 2 and "no library database here" in err and "emotrack scan" in err
    with Store.open(tmp_path / "empty.db"):
        pass
    code, err = library(tmp_path / "empty.db")
    assert code == 2 and "no tracked songs yet" in err
    code, err = library(scanned)  # pytest's stdout is not a terminal
    assert code == 2 and "needs a terminal" in err and "emotrack playlist" in err
