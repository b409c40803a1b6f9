"""`emotrack scan`: a music library into the database, resumable and incremental."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from emotrack.library.discovery import find_audio
from emotrack.library.identity import model_id
from emotrack.library.pipeline import ScanConfig, Terminated
from emotrack.library.pool import default_workers
from emotrack.library.store import DB_ENV, Store, default_db
from emotrack.library.todo import Todo, plan
from emotrack.library.writer import ScanReport
from emotrack.models.audio import AUDIO_EXTENSIONS
from emotrack.models.errors import UserError
from emotrack.options import add_model_options, add_step_option
from emotrack.shell import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED
from emotrack.tracker.engine import GPU_BATCH, cpu_batches

LOCAL_RAY = "local"  # `--ray` without an address
GPU_BATCHES = 4  # on a GPU a scan batch is this many of the engine's own batches


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        metavar="FILE",
        help=f"the library database (default ${DB_ENV}, else {default_db()})",
    )


def add_scan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Track every audio file under the paths into the library database: one row per song "
        "with its summary (valence, arousal, quadrant shares, mood) and its timeline. "
        "Rerunning skips songs done with the same file and model, tracks new and changed "
        "ones, and removes nothing. Killed at any moment, a rerun goes on where it stopped. "
        "Exit code 1 if a song failed (it is recorded with the reason)."
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        type=Path,
        help=f"folders (searched recursively, symbolic links followed once, hidden files "
        f"skipped) or files; audio is {', '.join(AUDIO_EXTENSIONS)}",
    )
    add_db_argument(parser)
    add_model_options(parser)
    work = parser.add_argument_group("work")
    add_step_option(work, "; a coarser step is a quicker pass, with other numbers")
    work.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        metavar="N",
        help=f"decoding processes (default {default_workers()}: every core but one)",
    )
    work.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="threads for the model on a CPU (default: every core; with few cores, fewer "
        "threads leave the decoding workers a core of their own)",
    )
    work.add_argument(
        "--batch",
        type=int,
        metavar="N",
        help="windows per model call, from as many songs as it takes (default: "
        f"{GPU_BATCHES * GPU_BATCH} on a GPU; the engine's own {cpu_batches()})",
    )
    work.add_argument(
        "--retry-failed", action="store_true", help="try songs that failed before again"
    )
    work.add_argument(
        "--write-tags",
        action="store_true",
        help="also write valence, arousal and mood into each file's own tags "
        "(EMOTRACK_VALENCE, EMOTRACK_AROUSAL, EMOTRACK_MOOD; the audio is not touched)",
    )
    cluster = parser.add_argument_group("Ray")
    cluster.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL_RAY,
        metavar="ADDRESS",
        help="run the pipeline on Ray Data (decoding as CPU tasks, the model in actors): a "
        "cluster's address (ray://HOST:10001, or auto), or none to start a local Ray; needs "
        "the `ray` extra",
    )
    cluster.add_argument(
        "--actors",
        type=int,
        metavar="N",
        help="with --ray: N model actors (default: one per GPU, or one on a cluster without "
        "GPUs); more actors than GPUs share them, each taking GPUs/N, which keeps a GPU busier "
        "when one process cannot feed it",
    )
    cluster.add_argument(
        "--parquet",
        type=Path,
        metavar="DIR",
        help="with --ray: write the results as Parquet shards into DIR instead of the "
        "database (catalogues; the cluster writes them)",
    )


def run_scan(args: argparse.Namespace) -> int:
    from emotrack.tracker.session import check_step

    step = check_step(args.step)
    if args.workers < 1:
        raise UserError(f"--workers {args.workers}: give at least 1")
    for option in ("batch", "threads", "actors"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise UserError(f"--{option} {value}: give at least 1")
    if args.parquet is not None and args.ray is None:
        raise UserError("--parquet needs --ray (the local scan writes the database)")
    if args.actors is not None and args.ray is None:
        raise UserError("--actors needs --ray (the local scan runs the model in this process)")
    if args.ray is not None:
        from emotrack.library.ray_scan import run_ray_scan

        return run_ray_scan(args, step)
    store = Store.open(args.db or default_db())
    with store:
        engine = load_engine(args)
        identity = model_id(engine.path, engine.backbone, step, engine.precision)
        store.add_model(identity, str(engine.path), engine.describe(), step)
        todo = find_work(args.paths, store, identity, args)
        config = ScanConfig(
            step_seconds=step,
            workers=max(1, min(args.workers, len(todo.tasks))),
            batch=args.batch or (GPU_BATCHES if engine.on_gpu else 1) * engine.batch_size,
            lanes=2 if engine.on_gpu else 1,
            write_tags=args.write_tags,
        )
        report = ScanReport()
        if todo.tasks:
            report = scan_with_progress(engine, store, identity, config, todo)
        if todo.to_tag and not report.interrupted:
            tag_done_songs(store, todo.to_tag, report)
        print(describe_report(report, store), file=sys.stderr)
    return exit_code(report)


def load_engine(args: argparse.Namespace):
    from emotrack.tracker.commands import default_model
    from emotrack.tracker.engine import Engine

    model = args.model if args.model is not None else default_model()
    began = time.monotonic()
    engine = Engine.load(
        model,
        device=args.device,
        backend=args.backend,
        threads=args.threads,
        cuda_graph=False,  # for one window at a time; the scan runs batches
        precision=args.precision,
    )
    loaded = time.monotonic() - began  # PyTorch's import and a GPU's start included
    print(f"model: {engine.describe()} (loaded in {loaded:.1f} s)", file=sys.stderr)
    return engine


def find_work(paths: list[Path], store: Store, identity: str, args: argparse.Namespace) -> Todo:
    todo = plan(find_audio(paths), store, identity, args.retry_failed, args.write_tags)
    for problem in todo.problems:
        print(f"emotrack scan: {problem}", file=sys.stderr)
    if todo.found == 0:
        raise UserError("no audio files found; give folders or files that hold music")
    print(
        f"scan: {todo.found} audio files, {len(todo.tasks)} to track, {todo.done} already "
        f"done with this model ({store.path})",
        file=sys.stderr,
    )
    return todo


def scan_with_progress(engine, store: Store, identity: str, config: ScanConfig, todo: Todo):
    from tqdm import tqdm

    from emotrack.library.pipeline import Scan

    bar = tqdm(total=len(todo.tasks), desc="scanning", unit="song", file=sys.stderr)

    def on_song(report: ScanReport) -> None:
        bar.update(1)
        elapsed = bar.format_dict["elapsed"]
        if elapsed > 0:
            bar.set_postfix_str(f"{report.audio_seconds / elapsed:.0f}x real time", refresh=False)

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        with bar:
            return Scan(engine, store, identity, config, on_song).run(todo.tasks)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(signum, frame) -> None:
    raise Terminated()


def tag_done_songs(store: Store, paths: list[str], report: ScanReport) -> None:
    """--write-tags for songs tracked by an earlier scan (their values come from the database)."""
    from emotrack.library.tags import TagError, write_tags

    for path in paths:
        row = store.row(path)
        try:
            after = write_tags(path, row["summary"])
        except TagError as exc:
            report.tag_errors.append(str(exc))
            continue
        store.touch(path, after.size, after.mtime_ns, tagged_hash=after.content_hash)
        report.tagged += 1


def describe_report(report: ScanReport, store: Store | None) -> str:
    lines = []
    if report.interrupted:
        lines.append(f"scan {report.interrupted}: every song finished so far is saved")
    lines.append(
        f"scan: {report.songs} songs in {report.wall_seconds:.1f} s: {report.ok} ok, "
        f"{report.failed} failed, {report.unchanged} unchanged"
        + (f"; {report.tagged} tagged" if report.tagged else "")
    )
    if report.ok:
        lines.append(
            f"  {report.audio_seconds / 3600:.2f} h of audio, {report.windows} windows: "
            f"{report.songs_per_hour:,.0f} songs/hour, {report.realtime_factor:,.0f}x real time"
        )
    lines += [f"  failed: {reason}" for reason in report.failures]
    if report.failed > len(report.failures):
        lines.append(f"  ... and {report.failed - len(report.failures)} more failed")
    lines += [f"  tags: {reason}" for reason in report.tag_errors]
    if store is not None:
        counts = store.counts()
        summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        lines.append(f"database: {store.path} ({summary or 'empty'})")
    return "\n".join(lines)


def exit_code(report: ScanReport) -> int:
    if report.interrupted == "terminated":
        return EXIT_TERMINATED
    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if report.failed or report.tag_errors else EXIT_OK
