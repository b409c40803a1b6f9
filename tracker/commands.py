"""`emotrack file` and `emotrack live`: the tracker's command line.

With a terminal, one file (or the microphone) is shown in the live UI; ``--no-tui`` prints
one line per window on stdout instead. Several files (or folders) run one after the other,
headless, and end with a summary table on stderr; a file that cannot be tracked is reported
and the batch goes on (exit code 1 if any failed).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from emotrack.models.audio import AUDIO_EXTENSIONS
from emotrack.models.errors import UserError
from emotrack.models.shipped_model import DESCRIPTION, shipped_model
from emotrack.options import add_model_options, add_step_option
from emotrack.shell import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, EXIT_USAGE
from emotrack.tracker.audio_devices import list_devices
from emotrack.tracker.command_io import LinePrinter, Outputs, Signals
from emotrack.tracker.engine import Engine, default_batches
from emotrack.tracker.file_source import FileSource
from emotrack.tracker.headless import TrackResult, result_of, track_file
from emotrack.tracker.mic_source import MicSource
from emotrack.tracker.output import FORMATS, describe, summary_table
from emotrack.tracker.session import Tracker, check_smoothing, check_step

MODEL_ENV = "EMOTRACK_MODEL"  # a default for --model


def default_model() -> Path:
    """``--model`` when not given: ``$EMOTRACK_MODEL``, else the model shipped in the package
    (trained on real music, 4Q). `emotrack demo` uses its own synthetic model."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV]).expanduser()
    shipped = shipped_model()
    if shipped is not None:
        print(f"using {DESCRIPTION}", file=sys.stderr)
        return shipped
    raise UserError(
        "no model given and this copy of emotrack ships none: pass --model RUN_FOLDER (or a "
        f".pt / model.onnx file) or set {MODEL_ENV}; `emotrack-train` trains one"
    )


# ---------------------------------------------------------------------------- arguments


def _add_common(parser: argparse.ArgumentParser) -> None:
    add_model_options(parser)
    tracking = parser.add_argument_group("tracking")
    add_step_option(tracking)
    tracking.add_argument(
        "--smooth",
        type=float,
        default=0.0,
        metavar="A",
        help="smooth the shown values: each is A x the previous + (1-A) x the new one, "
        "0 <= A < 1 (default 0, off; raw values are always saved too)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--no-tui", action="store_true", help="no UI: print one line per window on stdout"
    )
    out.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="--no-tui line format: text (readable), csv or jsonl (default text)",
    )
    out.add_argument(
        "--csv",
        metavar="FILE",
        help="write the timeline (time, valence, arousal on 1..9, mood, flags) to FILE as "
        "windows come, and a summary per file to FILE's name with .summary.csv; - is stdout "
        "(the timeline only)",
    )
    out.add_argument(
        "--jsonl",
        metavar="FILE",
        help="write the timeline as JSON lines (one object per window) as windows come; - is "
        "stdout",
    )
    out.add_argument(
        "--json",
        metavar="FILE",
        help="write summary, warnings, speed and timeline of every file to one JSON file at "
        "the end (also when interrupted); - is stdout",
    )
    out.add_argument(
        "--save-dir",
        metavar="DIR",
        type=Path,
        default=Path("."),
        help="where the UI's save key writes (default: the current folder)",
    )


def add_file_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Track the emotion (valence and arousal, 1..9) of audio files, a 5 s window every "
        "step. One file plays in the live UI; several files, folders, --no-tui or output that "
        "is not a terminal run headless. Exit code 1 if any file could not be tracked."
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        type=Path,
        help=f"audio files ({', '.join(AUDIO_EXTENSIONS)}) or folders holding them",
    )
    _add_common(parser)
    pace = parser.add_argument_group("pace")
    pace.add_argument(
        "--fast",
        action="store_true",
        help="as fast as possible instead of in real time (no playback, no dropped windows)",
    )
    pace.add_argument(
        "--no-play",
        action="store_true",
        help="real time but silent (the clock paces the file instead of the sound card)",
    )
    pace.add_argument(
        "--batch",
        type=int,
        metavar="N",
        help=f"--fast: windows per model call (default: {default_batches()})",
    )


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Track the microphone in real time. Ctrl+C (or q in the UI) ends it; what was "
        "tracked is kept and written to --csv/--json."
    )
    mic = parser.add_argument_group("microphone")
    mic.add_argument(
        "--device-in",
        "--input",
        dest="device_in",
        metavar="N|NAME",
        help="input device: index or part of its name (default: the system's default input)",
    )
    mic.add_argument(
        "--list-devices", action="store_true", help="list audio devices on stdout and exit"
    )
    mic.add_argument(
        "--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl+C)"
    )
    _add_common(parser)


# ---------------------------------------------------------------------------- commands


def run_file(args: argparse.Namespace) -> int:
    check_step(args.step)
    smoothing = check_smoothing(args.smooth)
    if args.batch is not None and args.batch < 1:
        raise UserError(f"--batch {args.batch}: give at least 1")
    outputs = Outputs(args)
    files = expand_paths(args.paths)
    if len(files) == 1 and files[0][1] is not None and _want_tui(args):
        raise UserError(files[0][1])  # one bad path: exit 2, as headless (before the model)
    engine = _load_engine(args)
    if len(files) == 1 and files[0][1] is None and _want_tui(args) and not outputs.stdout:
        path = files[0][0]
        source = FileSource(path, realtime=not args.fast, play=not args.no_play)
        tracker = Tracker(source, engine, args.step, smoothing, args.batch)
        return _run_tui(tracker, path.name, args, str(path), outputs)
    if len(files) > 1 and _want_tui(args):
        print("emotrack file: several files: tracking them headless", file=sys.stderr)
    results: list[TrackResult] = []
    printer = LinePrinter(args.format, quiet=outputs.stdout)
    with outputs.streaming() as streams, Signals() as signals:
        for path, problem in files:
            if problem is not None:  # a path that is no audio file at all
                results.append(TrackResult(name=str(path), error=problem, unopened=True))
                print(f"emotrack file: error: {problem}", file=sys.stderr)
                continue
            if len(files) > 1:
                print(f"== {path}", file=sys.stderr)
            name = str(path)
            show = printer.bind(name)

            def on_estimates(estimates, name=name, show=show) -> None:
                streams.add(name, estimates)  # first: what is printed is already kept
                show(estimates)

            result = track_file(
                path,
                engine,
                step_seconds=args.step,
                fast=args.fast,
                play=not args.no_play,
                smoothing=smoothing,
                batch=args.batch,
                on_estimates=on_estimates,
            )
            result.name = name
            results.append(result)
            if result.error:
                print(f"emotrack file: error: {result.error}", file=sys.stderr)
            if result.interrupted:
                break
    outputs.finish(results, engine)
    print(summary_table(results) if len(results) > 1 else describe(results[0]), file=sys.stderr)
    return _exit_code(results, signals)


def _exit_code(results: list[TrackResult], signals: Signals) -> int:
    if any(r.interrupted for r in results):
        return EXIT_TERMINATED if signals.terminated else EXIT_INTERRUPTED
    if results and all(r.unopened for r in results):
        return EXIT_USAGE  # nothing could even be opened: bad input, as one bad file
    return EXIT_FAILED if any(r.error for r in results) else EXIT_OK


def run_live(args: argparse.Namespace) -> int:
    if args.list_devices:
        print(devices_table())
        return EXIT_OK
    check_step(args.step)
    smoothing = check_smoothing(args.smooth)
    if args.duration is not None and args.duration <= 0:
        raise UserError(f"--duration {args.duration}: give a positive number of seconds")
    outputs = Outputs(args)
    engine = _load_engine(args)
    source = MicSource(args.device_in, duration_s=args.duration)
    tracker = Tracker(source, engine, args.step, smoothing)
    name = f"microphone {source.name}"
    if _want_tui(args) and not outputs.stdout:
        tracker.start()  # a device that refuses to open is reported here, not inside the UI
        return _run_tui(tracker, name, args, name, outputs)
    printer = LinePrinter(args.format, quiet=outputs.stdout).bind(name)
    with outputs.streaming() as streams, Signals() as signals:
        tracker.start()
        try:
            while not tracker.wait(0.05):
                new = tracker.poll()
                streams.add(name, new)
                printer(new)
        except KeyboardInterrupt:
            stopped = "terminated" if signals.terminated else "stopped"
            print(f"emotrack live: {stopped}", file=sys.stderr)  # the usual end: not an error
        finally:
            tracker.stop()
        new = tracker.poll()
        printer(new)
        streams.add(name, new)
    result = result_of(tracker, name)
    outputs.finish([result], engine)
    print(describe(result), file=sys.stderr)
    if signals.terminated:
        return EXIT_TERMINATED
    return EXIT_FAILED if result.error else EXIT_OK


# ---------------------------------------------------------------------------- helpers


def expand_paths(paths: list[Path]) -> list[tuple[Path, str | None]]:
    """Audio files named, or inside the folders named (sorted, recursive), each with None;
    a path that cannot be tracked comes with the message saying why (a batch goes on)."""
    found: list[tuple[Path, str | None]] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
            )
            if not inside:
                kinds = ", ".join(AUDIO_EXTENSIONS)
                found.append((path, f"{path}: folder holds no audio files ({kinds})"))
            found.extend((p, None) for p in inside)
        elif not path.exists():
            found.append((path, f"{path}: no such file; check the path"))
        else:
            found.append((path, None))
    return found


def devices_table() -> str:
    """`--list-devices`: one line per device, the defaults marked."""
    lines = [f"{'index':>5}  {'in':>3}  {'out':>3}  {'rate':>6}  name"]
    for d in list_devices():
        mark = " (default input)" if d["default_input"] else ""
        mark += " (default output)" if d["default_output"] else ""
        counts = f"{d['index']:>5}  {d['inputs']:>3}  {d['outputs']:>3}  {d['rate']:>6}"
        lines.append(f"{counts}  {d['name']}{mark}")
    if len(lines) == 1:
        lines.append("(no audio devices: PortAudio sees none on this machine)")
    return "\n".join(lines)


def _load_engine(args: argparse.Namespace) -> Engine:
    model = args.model if args.model is not None else default_model()
    engine = Engine.load(model, device=args.device, backend=args.backend, precision=args.precision)
    print(f"model: {engine.describe()}", file=sys.stderr)
    return engine


def _want_tui(args: argparse.Namespace) -> bool:
    return not args.no_tui and sys.stdout.isatty() and sys.stdin.isatty()


def _run_tui(
    tracker: Tracker, title: str, args: argparse.Namespace, name: str, outputs: Outputs
) -> int:
    from emotrack.tracker.tui import run_tui

    with Signals(tui=True) as signals:
        try:
            run_tui(tracker, title, args.save_dir)
        finally:
            tracker.stop()
    result = result_of(tracker, name)
    result.interrupted = signals.terminated
    with outputs.streaming() as streams:
        streams.add(name, result.timeline)
    outputs.finish([result], tracker.engine)
    print(describe(result), file=sys.stderr)
    if signals.terminated:
        return EXIT_TERMINATED
    return EXIT_FAILED if result.error else EXIT_OK
