"""`emotrack playlist`: an M3U8 playlist of a mood, or of a path between two moods."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from emotrack.library.playlist import MOOD_WORDS, along_path, by_mood, m3u8
from emotrack.library.scan_command import add_db_argument
from emotrack.library.store import Store, default_db
from emotrack.models.atomic import write_atomic
from emotrack.models.errors import UserError
from emotrack.shell import EXIT_FAILED, EXIT_OK

DEFAULT_LIMIT = 25


def add_playlist_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Write an M3U8 playlist from a library scanned with `emotrack scan`: the songs of "
        "one mood (the most typical first), or a path across the valence-arousal plane from "
        "one mood to another (--from/--to: the mood moves step by step). Songs no longer "
        "on disk are left out. Exit code 1 if no song fits."
    )
    add_db_argument(parser)
    choice = parser.add_mutually_exclusive_group(required=True)
    words = "|".join(MOOD_WORDS)
    choice.add_argument("--mood", choices=MOOD_WORDS, metavar=words, help="songs of this mood")
    choice.add_argument(
        "--from", dest="start", choices=MOOD_WORDS, metavar="MOOD", help="a path from MOOD..."
    )
    choice.add_argument(
        "--list", action="store_true", help="how many songs of each mood the library holds"
    )
    parser.add_argument("--to", dest="end", choices=MOOD_WORDS, metavar="MOOD", help="...to MOOD")
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N songs (default {DEFAULT_LIMIT})",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write the playlist to FILE (.m3u8) instead of stdout",
    )


def run_playlist(args: argparse.Namespace) -> int:
    if (args.start is None) != (args.end is None):
        raise UserError("--from and --to go together: --from sad --to happy")
    if args.limit < 1:
        raise UserError(f"--limit {args.limit}: give at least 1")
    if args.output is not None and args.output.is_dir():
        raise UserError(f"--output {args.output} is a folder; give a file name inside it")
    with Store.open(args.db or default_db(), write=False) as store:
        stored = list(store.songs())
    songs = [song for song in stored if os.path.exists(song.path)]
    missing = len(stored) - len(songs)
    if missing:
        print(f"playlist: {missing} songs in the database are no longer on disk", file=sys.stderr)
    models = Counter(song.model_id for song in songs)
    if len(models) > 1:
        mixed = ", ".join(f"{count} by {model}" for model, count in models.most_common())
        print(f"playlist: songs tracked by different models ({mixed})", file=sys.stderr)
    if args.list:
        counts = Counter(song.mood for song in songs)
        for word in MOOD_WORDS:
            print(f"{word:<10} {counts.get(word, 0)}")
        return EXIT_OK
    if args.mood is not None:
        chosen, wanted = by_mood(songs, args.mood, args.limit), args.mood
    else:
        chosen = along_path(songs, args.start, args.end, args.limit)
        wanted = f"{args.start} to {args.end}"
    if not chosen:
        print(f"playlist: no song in the library fits {wanted}", file=sys.stderr)
        return EXIT_FAILED
    text = m3u8(chosen)
    if args.output is None:
        sys.stdout.write(text)
    else:
        try:
            write_atomic(args.output, text)
        except OSError as exc:
            raise UserError(
                f"cannot write {args.output} ({exc.strerror}); choose another"
            ) from None
    where = "" if args.output is None else f" to {args.output}"
    print(f"playlist: {len(chosen)} songs, {wanted}{where}", file=sys.stderr)
    return EXIT_OK
