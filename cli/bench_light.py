"""`emotrack bench --light`: what the plain install (no extras) costs here.

- on disk: the files of every distribution `pip install emotrack` pulls (emotrack's
  requirements without extras, followed recursively), as installed in this environment;
- a tracker process of its own, `emotrack file SONG --fast --no-tui` with an ONNX model, in an
  interpreter where torch and the other `train` packages cannot be imported (as in the plain
  install): peak resident memory (the kernel's, for that process), the time from start to the
  first value, and the file-mode real-time factor; and the same paced in real time
  (`--no-play`), where the first value needs one 5 s window of audio.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

from emotrack.bench_shared import Row, machine_info, make_run, report, write_music
from emotrack.tracker.engine import Engine

BLOCKED = ("torch", "torchaudio", "torchvision", "onnx", "matplotlib", "librosa", "transformers")
TRACKER = (
    "import sys\n"
    f"for name in {BLOCKED!r}:\n"
    "    sys.modules[name] = None\n"
    "from emotrack.main import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
SPEED = re.compile(r"([\d.]+)x real time")


def light_distributions(name: str = "emotrack") -> dict[str, int]:
    """Bytes on disk of ``name`` and every distribution its plain requirements pull."""
    sizes: dict[str, int] = {}
    todo = [name]
    while todo:
        current = todo.pop()
        key = re.sub(r"[-_.]+", "-", current).lower()
        if key in sizes:
            continue
        try:
            dist = metadata.distribution(current)
        except metadata.PackageNotFoundError:
            continue  # a requirement for another platform or Python
        sizes[key] = sum(_size(dist, f) for f in dist.files or ())
        for requirement in dist.requires or ():
            spec, _, marker = requirement.partition(";")
            if "extra" in marker:
                continue
            todo.append(re.split(r"[\s<>=!~\[(]", spec.strip(), maxsplit=1)[0])
    return sizes


def _size(dist, file) -> int:
    try:
        return os.path.getsize(dist.locate_file(file))
    except OSError:
        return 0


def track_without_torch(song: Path, model: Path, paced: bool) -> dict:
    """Run one tracker process; its first value, peak memory and speed."""
    pace = ["--no-play"] if paced else ["--fast"]
    command = [sys.executable, "-c", TRACKER, "file", str(song), "--no-tui", *pace]
    command += ["--model", str(model), "--device", "cpu"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = _PeakMemory(process.pid)
    first = process.stdout.readline()
    first_value = time.monotonic() - started if first else None
    process.stdout.read()
    err = process.stderr.read()
    process.wait()
    peak.stop()
    if process.returncode != 0:
        raise RuntimeError(f"the light tracker failed: {err.strip().splitlines()[-1:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    speed = SPEED.search(err)
    return {
        "cpu_s": cpu,  # the whole process, start-up included: not slowed by a busy machine
        "first_value_s": first_value,
        "rss_peak_mb": peak.mb,
        "realtime_factor": float(speed.group(1)) if speed else None,
    }


class _PeakMemory:
    """The largest resident set of a process, sampled every 20 ms (the kernel's ru_maxrss of a
    child counts the parent's pages from before its exec, so it is not used)."""

    def __init__(self, pid: int) -> None:
        import psutil

        self._process, self.mb = psutil.Process(pid), 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.02):
            try:
                self.mb = max(self.mb, self._process.memory_info().rss / 2**20)
            except Exception:  # the process has ended
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def bench_light(song: Path, model: Path) -> list[tuple[str, dict]]:
    """Rows (what, numbers) for the plain install."""
    Engine.load(model, device="cpu")  # a model the light tracker can run, or UserError
    sizes = light_distributions()
    rows = [("light install on disk", {"mb": sum(sizes.values()) / 2**20, "packages": len(sizes)})]
    rows.append(("light tracker, file mode", track_without_torch(song, model, paced=False)))
    rows.append(("light tracker, real time", track_without_torch(song, model, paced=True)))
    return rows


def run_light_bench(args: argparse.Namespace) -> int:
    """`emotrack bench --light`: the measurements above on a generated song."""
    machine = machine_info(None)
    print(f"emotrack bench --light on {machine['summary']}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="emotrack-bench-") as tmp:
        tmp = Path(tmp)
        song = write_music(tmp / "song.wav", args.file_seconds)
        model = args.model
        if model is None:
            model = make_run(tmp / "cnn", "cnn", onnx=True) / "model.onnx"
        rows = [
            Row(what, "cnn" if args.model is None else str(model), "onnxruntime CPU", "cpu", n)
            for what, n in bench_light(song, model)
        ]
    report(rows, machine, args.json)
    return 0
