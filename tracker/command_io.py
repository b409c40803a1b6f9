"""What the tracking commands do around the tracker: the output files of a run (--csv,
--jsonl, --json; streamed as windows come, summaries at the end), the headless lines on
stdout, and SIGTERM taken as Ctrl+C."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable

from emotrack.models.target import OutputTarget, check_targets
from emotrack.tracker.engine import Engine
from emotrack.tracker.headless import TrackResult
from emotrack.tracker.output import (
    TimelineStreams,
    format_line,
    header_line,
    json_text,
    summary_csv_text,
    summary_path,
)


class Outputs:
    """--csv, --jsonl and --json of one run, checked before any work (exit 2 if unwritable):
    timelines stream as windows come, the summaries and JSON are written at the end, also
    after an interruption (the entries then say so)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.step = args.step
        self.csv = OutputTarget(args.csv, "--csv") if args.csv is not None else None
        self.jsonl = OutputTarget(args.jsonl, "--jsonl") if args.jsonl is not None else None
        self.json = OutputTarget(args.json, "--json") if args.json is not None else None
        self.summary = None
        if self.csv is not None and self.csv.kind == "file":
            self.summary = OutputTarget(summary_path(self.csv.path), "--csv (its summary)")
        targets = [t for t in (self.csv, self.jsonl, self.json, self.summary) if t is not None]
        check_targets(targets)
        self.stdout = any(t.is_stdout for t in targets)  # then no lines are printed there

    @contextlib.contextmanager
    def streaming(self):
        streams = TimelineStreams(self.csv, self.jsonl)
        try:
            yield streams
        finally:
            streams.close()

    def finish(self, results: list[TrackResult], engine: Engine) -> None:
        wrote = [str(t) for t in (self.csv, self.jsonl) if t is not None]
        if self.summary is not None:
            self.summary.write(summary_csv_text(results))
            wrote.append(str(self.summary))
        if self.json is not None:
            info = {
                "model": str(engine.path),
                "backbone": engine.backbone,
                "output_scale": engine.labels.output_scale,
                "values": engine.labels.meaning,
                "hop_seconds": self.step,  # the JSON field keeps its name
            }
            self.json.write(json_text(results, info))
            wrote.append(str(self.json))
        if wrote:
            print(f"wrote {', '.join(wrote)}", file=sys.stderr)


class Signals:
    """SIGTERM stops tracking as Ctrl+C does (what was tracked is kept and written), and is
    remembered for the exit code (143). In the UI, it quits the app."""

    def __init__(self, tui: bool = False) -> None:
        self.tui, self.terminated = tui, False

    def __enter__(self) -> Signals:
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGTERM, self._previous)

    def _handle(self, signum, frame) -> None:
        self.terminated = True
        if self.tui:
            from textual._context import active_app

            app = active_app.get(None)
            if app is not None:
                app.exit()
                return
        raise KeyboardInterrupt


class LinePrinter:
    """Headless stdout: one line per window, flushed (so pipes see it at once). When the
    reader goes away (``| head``), printing stops and tracking goes on. ``quiet``: an output
    option writes to stdout instead."""

    def __init__(self, fmt: str, quiet: bool = False) -> None:
        self.fmt = fmt
        self._header_done = False
        self._closed = quiet

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
