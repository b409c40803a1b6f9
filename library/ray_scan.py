"""`emotrack scan --ray`: the same pipeline on Ray Data, for more than one machine.

Decoding runs as Ray tasks (one CPU each; the same ``decode`` as the local workers), the model
in actors (one per GPU, or one on the CPU when the cluster has none) that batch windows from
many songs exactly as the local scan does, and the results either stream back to this process,
which writes them into the database through the same writer, or (``--parquet DIR``) are
written by the cluster as Parquet shards. Without an address a local Ray is started with
``--workers`` + 1 CPUs. On a cluster every node must see the music and the model at the same
paths (shared storage), and have emotrack installed with the ``ray`` extra.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from emotrack.library.batching import SongWindows, batch_runner, hand_out, plans
from emotrack.library.decode import Decoded, Task, decode
from emotrack.library.results import failed_row, ok_row
from emotrack.library.store import SongRow, Store, default_db
from emotrack.library.writer import RowWriter, ScanReport
from emotrack.models.audio import SAMPLE_RATE
from emotrack.models.errors import UserError

SONGS_PER_CALL = 8  # songs handed to a model actor at once
DECODE_MEMORY = 512 * 2**20  # bytes a decode task may need: a 10-minute song, decoded
LOCAL = "local"
RESULT_COLUMNS = (
    "kind",  # "ok", "failed" or "unchanged"
    "path",
    "size",
    "mtime_ns",
    "content_hash",
    "duration",
    "error",
    "summary",  # JSON of the tracker's summary
    "timeline",  # float32 (windows, 2), little-endian bytes
    "hop_seconds",
    "model_id",
)


def run_ray_scan(args: argparse.Namespace, step: float) -> int:
    from emotrack.library.scan_command import (
        describe_report,
        exit_code,
        find_work,
        tag_done_songs,
    )

    ray = _import_ray(local=args.ray == LOCAL)
    parquet = None if args.parquet is None else Path(args.parquet)
    if parquet is not None and parquet.is_file():
        raise UserError(f"--parquet {parquet} is a file; give a folder for the shards")
    with ExitStack() as stack:
        if parquet is None:
            store = stack.enter_context(Store.open(args.db or default_db()))
        else:  # nothing is known about any song: a throwaway database answers that
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="emotrack-ray-"))
            store = stack.enter_context(Store.open(Path(folder) / "plan.db"))
        _start(ray, args.ray, args.workers + (args.actors or 1))
        stack.callback(ray.shutdown)
        model = _identify(ray, args, step)
        print(f"model: {model['description']}", file=sys.stderr)
        store.add_model(model["id"], model["path"], model["description"], step)
        todo = find_work(args.paths, store, model["id"], args)
        report = ScanReport()
        if todo.tasks and parquet is None:
            report = write_database(track(ray, todo.tasks, args, step, model["id"]), store, args)
        elif todo.tasks:
            report = write_parquet(track(ray, todo.tasks, args, step, model["id"]), parquet)
        if parquet is None and todo.to_tag and not report.interrupted:
            tag_done_songs(store, todo.to_tag, report)
        print(describe_report(report, None if parquet else store), file=sys.stderr)
        if parquet is not None:
            print(f"results: Parquet shards in {parquet}", file=sys.stderr)
    return exit_code(report)


def _import_ray(local: bool):
    if local:  # Ray reads this on import: local workers run this Python, not `uv run` again
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UserError(
            "--ray needs Ray Data: install the ray extra (uv sync --extra ray, or "
            "pip install 'emotrack[ray]')"
        ) from None
    return ray


def _start(ray, address: str, cpus: int) -> None:
    """Start a local Ray with ``cpus`` CPUs (decoding workers and model actors), or join one."""
    ray_logs = {"log_to_driver": False, "include_dashboard": False}
    try:
        if address == LOCAL:
            ray.init(num_cpus=cpus, **ray_logs)
        else:
            ray.init(address=address, **ray_logs)
    except Exception as exc:
        raise UserError(f"--ray {address}: cannot start or reach Ray ({exc})") from None


def _identify(ray, args: argparse.Namespace, step: float) -> dict:
    """The model as the actors will load it (same device and resources): its id."""

    @ray.remote
    def identify(model, device, backend, precision):
        from emotrack.library.identity import model_id
        from emotrack.tracker.commands import default_model
        from emotrack.tracker.engine import Engine

        engine = Engine.load(model or default_model(), device, backend, precision=precision)
        identity = model_id(engine.path, engine.backbone, step, engine.precision)
        return {"id": identity, "path": str(engine.path), "description": engine.describe()}

    _, gpus = _actors(ray, args)
    task = identify.options(num_gpus=gpus, num_cpus=1)
    try:
        return ray.get(task.remote(args.model, args.device, args.backend, args.precision))
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, UserError):
            raise exc.cause from None
        raise
    except ray.exceptions.RaySystemError as exc:
        raise UserError(
            f"--ray: Ray could not start a worker ({str(exc).splitlines()[-1][:200]}); every "
            "node needs this emotrack installed with the ray extra"
        ) from None


def _actors(ray, args: argparse.Namespace) -> tuple[int, float]:
    """How many model actors, and the share of a GPU each takes: ``--actors`` (default one per
    GPU, or one without GPUs); more actors than GPUs share them evenly."""
    gpus = 0 if args.device == "cpu" else int(ray.cluster_resources().get("GPU", 0))
    count = args.actors or max(1, gpus)
    return count, (min(1.0, gpus / count) if gpus else 0.0)


def track(ray, tasks: list[Task], args: argparse.Namespace, step: float, model_id: str):
    """The lazy Ray Dataset of result rows (RESULT_COLUMNS)."""
    items = [{"path": t.path, "known_hash": t.known_hash or ""} for t in tasks]
    actors, gpus = _actors(ray, args)
    # decoding states its memory, the actors do not: so Ray Data never fuses the two (the
    # actors would then decode too, one song at a time)
    decoding = {"num_cpus": 1, "memory": DECODE_MEMORY}
    blocks = max(1, math.ceil(len(items) / SONGS_PER_CALL))  # small blocks: decoding spreads
    dataset = ray.data.from_items(items, override_num_blocks=blocks)
    dataset = dataset.map(_decode_row, **decoding)
    return dataset.map_batches(
        Tracker,
        fn_constructor_kwargs={
            "model": None if args.model is None else str(args.model),
            "device": args.device,
            "backend": args.backend,
            "precision": args.precision,
            "threads": args.threads,
            "step_seconds": step,
            "model_id": model_id,
            "batch": args.batch,
        },
        batch_size=SONGS_PER_CALL,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_gpus=gpus,
        num_cpus=0 if gpus else 1,
    )


def _decode_row(item: dict) -> dict:
    result = decode(Task(item["path"], item["known_hash"] or None))
    row = {
        "path": result.path,
        "size": result.size,
        "mtime_ns": result.mtime_ns,
        "content_hash": result.content_hash or "",
        "error": result.error or "",
        "unchanged": result.unchanged,
        "samples": np.zeros(0, np.float32) if result.samples is None else result.samples,
    }
    return row


class Tracker:
    """A Ray actor: the engine, loaded once; songs in, result rows out."""

    def __init__(self, model, device, backend, precision, threads, step_seconds, model_id, batch):
        from emotrack.tracker.commands import default_model
        from emotrack.tracker.engine import Engine

        self.engine = Engine.load(
            model or default_model(),
            device,
            backend,
            threads=threads,
            cuda_graph=False,  # for one window at a time; the actor runs batches
            precision=precision,
        )
        self.step, self.model_id = step_seconds, model_id
        self.batch = batch or 4 * self.engine.batch_size
        self.engine.prepare(self.batch)
        self.run = batch_runner(self.engine, self.batch)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        rows: list[dict] = []
        songs: list[SongWindows] = []
        for i in range(len(batch["path"])):
            samples = batch["samples"][i]
            decoded = Decoded(
                path=str(batch["path"][i]),
                size=int(batch["size"][i]),
                mtime_ns=int(batch["mtime_ns"][i]),
                content_hash=str(batch["content_hash"][i]) or None,
                error=str(batch["error"][i]) or None,
                unchanged=bool(batch["unchanged"][i]),
            )
            if decoded.error or decoded.unchanged:
                kind = "unchanged" if decoded.unchanged else "failed"
                rows.append(_result(kind, failed_row(decoded, self.model_id)))
                continue
            decoded.samples = np.asarray(samples, np.float32)
            decoded.duration = len(decoded.samples) / SAMPLE_RATE
            songs.append(SongWindows(decoded, self.step))
        for plan in plans(songs, self.batch):
            hand_out(plan, self.run(plan))
        for song in songs:
            rows.append(
                _result(
                    "ok", ok_row(song.decoded, song.values, self.step, self.model_id, song.flags)
                )
            )
        return {name: [row[name] for row in rows] for name in RESULT_COLUMNS}


def _result(kind: str, row: SongRow) -> dict:
    timeline = b"" if row.timeline is None else np.asarray(row.timeline, "<f4").tobytes()
    return {
        "kind": kind,
        "path": row.path,
        "size": row.size,
        "mtime_ns": row.mtime_ns,
        "content_hash": row.content_hash or "",
        "duration": row.duration or 0.0,
        "error": row.error or "",
        "summary": "" if row.summary is None else json.dumps(row.summary),
        "timeline": timeline,
        "hop_seconds": row.hop_seconds or 0.0,
        "model_id": row.model_id,
    }


def row_of(result: dict) -> SongRow:
    """A result row back as the database's SongRow."""
    ok = result["kind"] == "ok"
    return SongRow(
        path=result["path"],
        size=int(result["size"]),
        mtime_ns=int(result["mtime_ns"]),
        content_hash=result["content_hash"] or None,
        model_id=result["model_id"],
        status="ok" if ok else "failed",
        error=result["error"] or None,
        duration=float(result["duration"]) if ok else None,
        summary=json.loads(result["summary"]) if ok else None,
        hop_seconds=float(result["hop_seconds"]) if ok else None,
        timeline=np.frombuffer(result["timeline"], "<f4").reshape(-1, 2) if ok else None,
    )


def write_database(dataset, store: Store, args: argparse.Namespace) -> ScanReport:
    """Results as they stream in -> the database, in transactions (Ctrl+C keeps what came)."""
    report = ScanReport()
    writer = RowWriter(store, report, args.write_tags)
    began = time.monotonic()
    try:
        for result in dataset.iter_rows():
            if result["kind"] == "unchanged":
                writer.unchanged(result["path"], int(result["size"]), int(result["mtime_ns"]))
            elif result["kind"] == "ok":
                writer.ok(row_of(result))
            else:
                writer.failed(row_of(result))
    except KeyboardInterrupt:
        report.interrupted = "interrupted"
    finally:
        writer.flush()
        report.wall_seconds = time.monotonic() - began
    return report


def write_parquet(dataset, folder: Path) -> ScanReport:
    """The cluster writes the results as Parquet shards; the report is read back from them."""
    import pyarrow.parquet as pq

    began = time.monotonic()
    dataset.write_parquet(str(folder))
    table = pq.read_table(folder, columns=["kind", "duration", "error", "timeline"])
    report = ScanReport(wall_seconds=time.monotonic() - began)
    for kind, duration, error, timeline in zip(
        *(c.to_pylist() for c in table.columns), strict=True
    ):
        if kind == "ok":
            report.ok += 1
            report.audio_seconds += duration
            report.windows += len(timeline) // 8
        else:
            report.failed += 1
            report.failures.append(error)
    return report
