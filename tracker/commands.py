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
from collections.abc import Callable
from pathlib import Path

from emotrack.models.audio import AUDIO_EXTENSIONS, TRACK_HOP_SECONDS
from emotrack.models.errors import UserError
from emotrack.models.shipped_model import DESCRIPTION, shipped_model
from emotrack.tracker.engine import BACKENDS, PRECISIONS, Engine
from emotrack.tracker.output import (
    FORMATS,
    describe,
    format_line,
    header_line,
    summary_table,
    write_csv,
    write_json,
)
from emotrack.tracker.session import (
    Tracker,
    TrackResult,
    check_hop,
    check_smoothing,
    result_of,
    track_file,
)
from emotrack.tracker.sources import FileSource, MicSource, list_devices

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


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
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        metavar="PATH",
        type=Path,
        help="training run folder, .pt checkpoint or exported model.onnx",
    )
    model.add_argument(
        "--device",
        default="auto",
        metavar="auto|cpu|cuda",
        help="where the model runs (default auto: the GPU if there is one)",
    )
    model.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="torch (run folder, .pt) or onnx (ONNX Runtime, model.onnx); auto picks by the "
        "file, a run folder uses its checkpoint (default auto)",
    )
    model.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="what a PyTorch model computes in; auto: bf16 on a GPU, and on a CPU with bf16 "
        "in hardware (AVX512-BF16/AMX) for every backbone but the CNN, else fp32; values "
        "differ from fp32 by about 0.01 on the 1..9 scale (default auto)",
    )
    tracking = parser.add_argument_group("tracking")
    tracking.add_argument(
        "--hop",
        type=float,
        default=TRACK_HOP_SECONDS,
        metavar="S",
        help=f"a new 5 s window every S seconds (default {TRACK_HOP_SECONDS})",
    )
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
        type=Path,
        help="write the timeline (time, valence, arousal on 1..9, mood) to FILE and a "
        "summary per file to FILE's name with .summary.csv",
    )
    out.add_argument(
        "--json",
        metavar="FILE",
        type=Path,
        help="write summary, speed and timeline of every file to one JSON file",
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
        "hop. One file plays in the live UI; several files, folders, --no-tui or output that "
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
        help="--fast: windows per model call (default: 64 on a GPU; on a CPU 16 for the CNN, "
        "4 otherwise)",
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
    check_hop(args.hop)
    smoothing = check_smoothing(args.smooth)
    if args.batch is not None and args.batch < 1:
        raise UserError(f"--batch {args.batch}: give at least 1")
    _check_outputs(args)
    engine = _load_engine(args)
    files = expand_paths(args.paths)
    if len(files) == 1 and files[0][1] is None and _want_tui(args):
        path = files[0][0]
        source = FileSource(path, realtime=not args.fast, play=not args.no_play)
        tracker = Tracker(source, engine, args.hop, smoothing, args.batch)
        return _run_tui(tracker, path.name, args, str(path))
    if len(files) > 1 and _want_tui(args):
        print("emotrack file: several files: tracking them headless", file=sys.stderr)
    results: list[TrackResult] = []
    printer = _Printer(args.format)
    for path, problem in files:
        if problem is not None:  # a path that is no audio file at all
            results.append(TrackResult(name=str(path), error=problem))
            print(f"emotrack file: error: {problem}", file=sys.stderr)
            continue
        if len(files) > 1:
            print(f"== {path}", file=sys.stderr)
        result = track_file(
            path,
            engine,
            hop_seconds=args.hop,
            fast=args.fast,
            play=not args.no_play,
            smoothing=smoothing,
            batch=args.batch,
            on_estimates=printer.bind(str(path)),
        )
        result.name = str(path)
        results.append(result)
        if result.error:
            print(f"emotrack file: error: {result.error}", file=sys.stderr)
        if result.interrupted:
            break
    _write_outputs(args, results, engine)
    print(summary_table(results) if len(results) > 1 else describe(results[0]), file=sys.stderr)
    if any(r.interrupted for r in results):
        return EXIT_INTERRUPTED
    return EXIT_FAILED if any(r.error for r in results) else EXIT_OK


def run_live(args: argparse.Namespace) -> int:
    if args.list_devices:
        print(devices_table())
        return EXIT_OK
    check_hop(args.hop)
    smoothing = check_smoothing(args.smooth)
    if args.duration is not None and args.duration <= 0:
        raise UserError(f"--duration {args.duration}: give a positive number of seconds")
    _check_outputs(args)
    engine = _load_engine(args)
    source = MicSource(args.device_in, duration_s=args.duration)
    tracker = Tracker(source, engine, args.hop, smoothing)
    name = f"microphone {source.name}"
    if _want_tui(args):
        tracker.start()  # a device that refuses to open is reported here, not inside the UI
        return _run_tui(tracker, name, args, name)
    printer = _Printer(args.format).bind(name)
    tracker.start()
    try:
        while not tracker.wait(0.05):
            printer(tracker.poll())
    except KeyboardInterrupt:
        print("emotrack live: stopped", file=sys.stderr)  # the usual way to end: not an error
    finally:
        tracker.stop()
    printer(tracker.poll())
    return _finish_single(args, result_of(tracker, name), engine)


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


def _run_tui(tracker: Tracker, title: str, args: argparse.Namespace, name: str) -> int:
    from emotrack.tracker.tui import run_tui

    try:
        run_tui(tracker, title, args.save_dir)
    finally:
        tracker.stop()
    return _finish_single(args, result_of(tracker, name), tracker.engine)


def _finish_single(args: argparse.Namespace, result: TrackResult, engine: Engine) -> int:
    _write_outputs(args, [result], engine)
    print(describe(result), file=sys.stderr)
    return EXIT_FAILED if result.error else EXIT_OK


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse unusable --csv/--json paths before any work is done."""
    for option, path in (("--csv", args.csv), ("--json", args.json)):
        if path is not None and path.is_dir():
            raise UserError(f"{option} {path} is a folder; give a file name inside it")


def _write_outputs(args: argparse.Namespace, results: list[TrackResult], engine: Engine) -> None:
    try:
        _write(args, results, engine)
    except OSError as exc:
        raise UserError(f"cannot write the results ({exc}); choose another output path") from None


def _write(args: argparse.Namespace, results: list[TrackResult], engine: Engine) -> None:
    if args.csv is not None:
        timeline, summary = write_csv(args.csv, results)
        print(f"wrote {timeline} and {summary}", file=sys.stderr)
    if args.json is not None:
        info = {
            "model": str(engine.path),
            "backbone": engine.backbone,
            "output_scale": engine.labels.output_scale,
            "values": engine.labels.meaning,
            "hop_seconds": args.hop,
        }
        write_json(args.json, results, info)
        print(f"wrote {args.json}", file=sys.stderr)


class _Printer:
    """Headless stdout: one line per window, flushed (so pipes see it at once). When the
    reader goes away (``| head``), printing stops and tracking goes on."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self._header_done = False
        self._closed = False

    def bind(self, name: str) -> Callable:
        def show(estimates) -> None:
            if self._closed or not estimates:
                return
            lines = [format_line(e, self.fmt, name) for e in estimates]
            if not self._header_done:
                self._header_done = True
                lines[:0] = [h for h in (header_line(self.fmt),) if h]
            try:
                sys.stdout.write("\n".join(lines) + "\n")
                sys.stdout.flush()
            except BrokenPipeError:
                self._closed = True
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())  # no second error at exit

        return show
