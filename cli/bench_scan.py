"""`emotrack bench --scan`: how fast `emotrack scan` tracks a library on this machine.

Each measurement runs the real command in a fresh process on a folder of songs (generated
MP3s, or ``--scan-dir``), into a new database, and times it from process start to exit:
songs/hour and x real time, with the scan's own rate (its scanning phase, without process
start and model loading) beside them, the seconds of scanning and of loading the model (the
rest is start-up: Python, finding the songs), the machine's CPU use and, on a GPU, its utilisation
(sampled with nvidia-smi). ``--compare CMD`` times another command on the same folder the same
way (``{dir}`` stands for the folder), e.g. another tagger, or `emotrack file DIR --fast`.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import soundfile as sf

SCAN_RATE = re.compile(r"([\d,]+) songs/hour, ([\d,]+)x real time")
SCAN_SECONDS = re.compile(r"scan: \d+ songs in ([\d.]+) s")
MODEL_LOAD = re.compile(r"\(loaded in ([\d.]+) s\)")
DISTINCT_SONGS = 8  # generated songs; the folder holds copies of them (each decoded anew)
SONG_RATE = 44_100


def library_folder(folder: Path, songs: int, seconds: float) -> Path:
    """``songs`` MP3 files of ``seconds`` each (44.1 kHz stereo, as a library's would be):
    copies of a few generated songs with different moods."""
    from emotrack.offline.synth_music import Drift, render
    from emotrack.offline.synth_writer import encode_mp3

    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(min(songs, DISTINCT_SONGS)):
        angle = 2 * np.pi * i / DISTINCT_SONGS
        valence = Drift(0.6 * np.cos(angle), (0.2,), (1 / 40,), (0.0,))
        arousal = Drift(0.6 * np.sin(angle), (0.2,), (1 / 50,), (1.0,))
        audio = render(valence, arousal, seconds, SONG_RATE, 2, np.random.default_rng(i))
        path = folder / f"song{i:05d}.mp3"
        path.write_bytes(encode_mp3(audio, SONG_RATE))
        made.append(path)
    for i in range(len(made), songs):
        shutil.copyfile(made[i % len(made)], folder / f"song{i:05d}.mp3")
    return folder


def audio_seconds(folder: Path) -> tuple[int, float]:
    """(songs, seconds of audio) of the audio files in ``folder``."""
    from emotrack.library.discovery import find_audio

    songs, seconds = 0, 0.0
    for found in find_audio([folder]):
        if found.problem is None:
            with open(found.path, "rb") as handle:
                info = sf.info(handle)
            songs, seconds = songs + 1, seconds + info.frames / info.samplerate
    return songs, seconds


def scan_command(folder: Path, db: Path, model: Path, device: str, backend: str, args) -> list:
    command = [
        sys.executable,
        "-m",
        "emotrack",
        "scan",
        str(folder),
        "--db",
        str(db),
        "--model",
        str(model),
        "--device",
        device,
        "--backend",
        backend,
        "--step",
        str(args.step),
    ]
    if args.precision != "auto" and backend == "torch":
        command += ["--precision", args.precision]
    if args.workers:
        command += ["--workers", str(args.workers)]
    if args.batch:
        command += ["--batch", str(args.batch)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    return command


def timed(command: list[str], songs: int, seconds: float, gpu: bool) -> dict:
    """Run ``command`` to its end; wall time from start to exit and what it used meanwhile."""
    cpu = CpuSampler()
    gpu_sampler = GpuSampler() if gpu else None
    began = time.perf_counter()
    with cpu, gpu_sampler or _Nothing():
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        with MemorySampler(process.pid) as memory:
            _, stderr = process.communicate()
    wall = time.perf_counter() - began
    if process.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"{shlex.join(command)} failed ({process.returncode}):\n{tail}")
    numbers = {
        "songs": songs,
        "audio_s": seconds,
        "wall_s": wall,
        "songs_per_hour": 3600 * songs / wall,
        "realtime_factor": seconds / wall,
        "cpu_util_pct": cpu.mean(),
        **memory.summary(),
    }
    match = SCAN_RATE.search(stderr)
    if match:  # the scan's own rate, over its scanning phase
        numbers["scan_songs_per_hour"] = float(match.group(1).replace(",", ""))
        numbers["scan_realtime_factor"] = float(match.group(2).replace(",", ""))
    for key, pattern in (("scan_s", SCAN_SECONDS), ("model_load_s", MODEL_LOAD)):
        match = pattern.search(stderr)
        if match:  # where the rest of the wall time went: scanning, loading the model
            numbers[key] = float(match.group(1))
    if gpu_sampler is not None:
        numbers.update(gpu_sampler.summary())
    return numbers


class _Sampler:
    """Takes ``sample()`` every 0.5 s in a thread while active (None: nothing this time)."""

    def __enter__(self):
        self.samples: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            value = self.sample()
            if value is not None:
                self.samples.append(value)

    def sample(self):
        raise NotImplementedError

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class CpuSampler(_Sampler):
    """The whole machine's CPU use (percent of all cores) while active."""

    def __enter__(self) -> CpuSampler:
        psutil.cpu_percent()  # the first call starts the count
        return super().__enter__()

    def sample(self) -> float:
        return psutil.cpu_percent()

    def mean(self) -> float | None:
        return float(np.mean(self.samples)) if self.samples else None


class MemorySampler(_Sampler):
    """Resident memory of a process and of its children (a scan's decoding workers) while
    active: (the process, its children) in bytes."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def sample(self) -> tuple[int, int] | None:
        try:
            process = psutil.Process(self.pid)
            children = process.children(recursive=True)
            return process.memory_info().rss, sum(c.memory_info().rss for c in children)
        except psutil.Error:  # ended, or a child ended while being read
            return None

    def summary(self) -> dict:
        """The peak of process and children together, and how much the process itself grew
        after the first quarter of the run (its later peak minus its size then): memory
        that grows with the library shows here."""
        if not self.samples:
            return {}
        own = [sample[0] for sample in self.samples]
        quarter = len(own) // 4
        return {
            "rss_peak_mb": max(a + b for a, b in self.samples) / 2**20,
            "rss_growth_mb": (max(own[quarter:]) - own[quarter]) / 2**20,
        }


class GpuSampler:
    """GPU utilisation from ``nvidia-smi`` every 200 ms (nothing where there is none)."""

    def __enter__(self) -> GpuSampler:
        self.samples: list[float] = []
        self._process = None
        if shutil.which("nvidia-smi"):
            self._process = subprocess.Popen(
                [
                    "nvidia-smi",
                    "--query-gpu=utilization.gpu",
                    "--format=csv,noheader,nounits",
                    "-lms",
                    "200",
                    "-i",
                    "0",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
        return self

    def _read(self) -> None:
        for line in self._process.stdout:
            try:
                self.samples.append(float(line.strip()))
            except ValueError:
                continue

    def __exit__(self, *exc) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait()
            self._reader.join(timeout=2)

    def summary(self) -> dict:
        """Mean over the whole run, and over the busy part (first to last sample above 0)."""
        if not self.samples:
            return {}
        values = np.array(self.samples)
        busy = np.flatnonzero(values > 0)
        active = values[busy[0] : busy[-1] + 1] if len(busy) else values
        return {"gpu_util_pct": float(values.mean()), "gpu_util_busy_pct": float(active.mean())}


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def run_scan_bench(args, device, machine: dict) -> int:
    """`emotrack bench --scan`: one scan per backbone and runtime, then each --compare."""
    import tempfile

    from emotrack.bench_shared import Row, make_run, onnx_has_cuda, report, say

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="emotrack-bench-scan-") as tmp:
        tmp = Path(tmp)
        folder = args.scan_dir
        if folder is None:
            say(f"writing {args.scan_songs} songs of {args.scan_seconds:g} s")
            folder = library_folder(tmp / "library", args.scan_songs, args.scan_seconds)
        songs, seconds = audio_seconds(folder)
        if songs == 0:
            raise RuntimeError(f"{folder}: no audio files to scan")
        say(f"{songs} songs, {seconds / 3600:.2f} h of audio in {folder}")
        on_gpu = device.type == "cuda"
        models = (
            [(name, make_run(tmp / name, name, "onnx" in args.runtimes)) for name in args.backbones]
            if args.scan_model is None
            else [("given", args.scan_model)]
        )
        for name, model in models:
            for runtime in args.runtimes:
                where = str(device) if runtime == "torch" or onnx_has_cuda() else "cpu"
                path = model / "model.onnx" if runtime == "onnx" and model.is_dir() else model
                for what, command in _commands(
                    args, folder, tmp / f"{name}-{runtime}.db", path, where, runtime
                ):
                    say(f"{what}: {name} / {runtime} on {where}")
                    numbers = timed(command, songs, seconds, on_gpu)
                    rows.append(Row(what, name, runtime, where, numbers))
        for template in args.compare:
            command = shlex.split(template.replace("{dir}", shlex.quote(str(folder))))
            say(f"compare: {shlex.join(command)}")
            rows.append(
                Row(
                    "compare",
                    Path(command[0]).name,
                    template[:60],
                    "-",
                    timed(command, songs, seconds, on_gpu),
                )
            )
    report(rows, machine, args.json)
    return 0


def _commands(args, folder: Path, db: Path, model: Path, device: str, runtime: str):
    yield "scan", scan_command(folder, db, model, device, runtime, args)
    for actors in args.ray_actors:
        ray_db = db.with_name(f"{db.stem}-ray{actors}.db")
        command = scan_command(folder, ray_db, model, device, runtime, args)
        yield f"scan --ray x{actors}", [*command, "--ray", "--actors", str(actors)]
    if args.scan_file_mode:
        yield (
            "file --fast",
            [
                sys.executable,
                "-m",
                "emotrack",
                "file",
                str(folder),
                "--fast",
                "--no-tui",
                "--model",
                str(model),
                "--device",
                device,
                "--backend",
                runtime,
                "--step",
                str(args.step),
                "--csv",
                str(db.with_suffix(".csv")),
            ],
        )
