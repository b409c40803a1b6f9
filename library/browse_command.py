"""`emotrack library`: browse a library scanned with `emotrack scan` in the terminal."""

from __future__ import annotations

import argparse
import sys

from emotrack.library.scan_command import add_db_argument
from emotrack.library.store import Store, default_db
from emotrack.models.errors import UserError
from emotrack.shell import EXIT_OK


def add_library_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Browse a library scanned with `emotrack scan`: every song's mean on the "
        "valence-arousal plane, the songs in a table (mood, means, length), and the selected "
        "song's path across the plane and its timelines. Up/down select, q quits. Reads the "
        "database only. For machine output use `emotrack playlist`."
    )
    add_db_argument(parser)


def run_library(args: argparse.Namespace) -> int:
    with Store.open(args.db or default_db(), write=False) as store:
        songs = list(store.songs())
        if not songs:
            raise UserError(
                f"{store.path}: no tracked songs yet; scan music into it first with "
                f"`emotrack scan FOLDER --db {store.path}`"
            )
        if not (sys.stdout.isatty() and sys.stdin.isatty()):
            raise UserError(
                "emotrack library needs a terminal; for output a program can read use "
                "`emotrack playlist --list` or `emotrack playlist --mood MOOD`"
            )
        from emotrack.library.browser import LibraryApp

        LibraryApp(store, songs).run()
    return EXIT_OK
