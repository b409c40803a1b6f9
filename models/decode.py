"""Decoding every common audio format, block by block: libsndfile first, FFmpeg (PyAV) for the
rest (AAC and ALAC in MP4/M4A, Opus, WMA, WebM/Matroska, the audio track of a video).

:func:`open_audio` gives an :class:`AudioReader` whose :meth:`~AudioReader.blocks` yield
(frames, channels) float32 blocks at the file's own rate. Damage is survived where a decoder
can resynchronise: FFmpeg skips packets it cannot decode, and the audio they held comes back as
silence so times stay true; when libsndfile stops early or fails mid-file, FFmpeg decodes on
from where it stopped. :class:`DecodeReport` says what was skipped, and whether the file ended
before the length its header states (truncation). Messages never hold Python object reprs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from emotrack.models.errors import AudioError, one_line

TRUNCATION_SECONDS = 0.5  # ending this much before the stated length is reported
GAP_SECONDS = 0.005  # a timestamp jump larger than this is audio lost to damage
MAX_GAP_SECONDS = 600.0  # a larger jump is a broken timestamp, not lost audio
FORMATS_HINT = "use MP3, WAV, FLAC, OGG/Opus, M4A/AAC/ALAC, WMA, WebM or a video with sound"
log = logging.getLogger("emotrack.audio")


@dataclass(frozen=True)
class AudioInfo:
    """A file's header: rate, channels, stated length (frames; 0 when unknown), decoder."""

    samplerate: int
    channels: int
    frames: int
    decoder: str  # "libsndfile" or "ffmpeg"

    @property
    def duration(self) -> float:
        return self.frames / self.samplerate if self.samplerate else 0.0


@dataclass
class DecodeReport:
    """What decoding a file met: damaged data skipped, and the length reached."""

    path: str
    rate: int
    stated_frames: int = 0
    decoded_frames: int = 0
    damaged_packets: int = 0
    skipped_frames: int = 0  # audio lost to damage (given back as silence)
    handed_over_at: float | None = None  # seconds where libsndfile stopped and FFmpeg took over
    notes: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        short = self.stated_frames - self.decoded_frames
        return self.stated_frames > 0 and short > TRUNCATION_SECONDS * self.rate

    def problems(self) -> list[str]:
        """One line per problem (empty when the file decoded cleanly)."""
        lines = list(self.notes)
        if self.damaged_packets or self.skipped_frames:
            short = self.stated_frames - self.decoded_frames if self.stated_frames else 0
            lost = max(self.skipped_frames, short, 0) / self.rate
            lines.append(
                f"damaged: {self.damaged_packets} undecodable packets skipped, about {lost:.1f} s "
                f"of audio lost; decoded on to {self.decoded_frames / self.rate:.1f} s"
            )
        elif self.truncated:
            lines.append(
                f"truncated: the audio ends at {self.decoded_frames / self.rate:.1f} s of the "
                f"{self.stated_frames / self.rate:.1f} s its header states"
            )
        return lines


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")


def _sndfile_info(path: Path) -> AudioInfo | None:
    try:  # a file object: libsndfile would take a macOS `._name` beside it for a resource fork
        with open(path, "rb") as handle:
            info = sf.info(handle)
    except Exception:  # soundfile raises several types for data it cannot read
        return None
    return AudioInfo(info.samplerate, info.channels, max(int(info.frames), 0), "libsndfile")


def _open_av(path: Path):
    """(container, first audio stream) through FFmpeg, or AudioError naming the problem."""
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception as exc:
        raise AudioError(f"{path}: not readable audio ({one_line(exc)}); {FORMATS_HINT}") from None
    streams = [s for s in container.streams if s.type == "audio"]
    if not streams:
        container.close()
        raise AudioError(f"{path}: holds no audio stream (video or data only); {FORMATS_HINT}")
    stream = streams[0]
    if not stream.codec_context or not stream.rate:
        container.close()
        raise AudioError(f"{path}: its audio stream has no decodable codec; {FORMATS_HINT}")
    return container, stream


def _av_info(path: Path) -> AudioInfo:
    container, stream = _open_av(path)
    try:
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            seconds = container.duration / 1_000_000  # av.time_base
        else:
            seconds = 0.0
        channels = stream.codec_context.channels or 1
        return AudioInfo(int(stream.rate), int(channels), int(seconds * stream.rate), "ffmpeg")
    finally:
        container.close()


def audio_info(path: str | Path) -> AudioInfo:
    """Header of an audio file (libsndfile, else FFmpeg), or AudioError naming the file."""
    path = Path(path)
    _check_path(path)
    return _sndfile_info(path) or _av_info(path)


class AudioReader:
    """Blocks of a file's audio at its own rate; :attr:`report` fills in as it decodes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.info = audio_info(self.path)
        self.rate, self.channels = self.info.samplerate, self.info.channels
        self.report = DecodeReport(str(self.path), self.rate, stated_frames=self.info.frames)

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        """(n, channels) float32 blocks of about ``frames`` frames, in order, to the end.
        NaN and inf are left in (the tracker flags them); AudioError if nothing decodes."""
        if self.info.decoder == "libsndfile":
            yield from self._sndfile_blocks(frames)
        else:
            yield from self._av_blocks(frames, skip=0)

    def _sndfile_blocks(self, frames: int) -> Iterator[np.ndarray]:
        done, failure = 0, None
        with open(self.path, "rb") as handle, sf.SoundFile(handle) as sound:
            while True:
                try:
                    data = sound.read(frames, dtype="float32", always_2d=True)
                except Exception as exc:  # libsndfile cannot resynchronise: FFmpeg may
                    failure = one_line(exc)
                    break
                if len(data) == 0:
                    break
                done += len(data)
                self.report.decoded_frames = done
                yield data
        stopped_early = self.report.truncated
        if failure is None and not stopped_early:
            return
        where = f"{done / self.rate:.1f} s"
        try:
            more = self._av_blocks(frames, skip=done)
            first = next(more, None)
        except AudioError:
            first = None
        if first is None:
            if failure is not None:
                raise AudioError(
                    f"{self.path}: decoding failed at {where} ({failure}); the file may be corrupt"
                )
            return  # FFmpeg found no more either: the report says it is truncated
        yield first
        yield from more
        added = (self.report.decoded_frames - done) / self.rate
        if failure is not None or added >= 0.1:
            self.report.handed_over_at = done / self.rate
            reason = f"libsndfile failed ({failure})" if failure else "libsndfile stopped"
            self.report.notes.append(f"{reason} at {where}; FFmpeg decoded {added:.1f} s more")

    def _av_blocks(self, frames: int, skip: int) -> Iterator[np.ndarray]:
        """FFmpeg's decode from the start, the first ``skip`` frames dropped (a hand-over)."""
        import av

        container, stream = _open_av(self.path)
        resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout)
        clock = _Clock(self.rate)
        pending: list[np.ndarray] = []
        held = 0
        try:
            for packet in [*_packets(container, stream, self.report), None]:
                if packet is None:  # the end: what the resampler still holds
                    decoded, gap = [None], 0
                else:
                    decoded, gap = _decode(packet, self.report), 0
                for frame in decoded:
                    if frame is not None:
                        gap = clock.missing(frame)
                        self.report.skipped_frames += gap
                    chunks = [np.zeros((gap, self.channels), np.float32)] if gap else []
                    chunks += [r.to_ndarray().T for r in resampler.resample(frame)]
                    for chunk in chunks:
                        begin = clock.position
                        clock.position += len(chunk)
                        if clock.position <= skip:
                            continue
                        pending.append(np.ascontiguousarray(chunk[max(skip - begin, 0) :]))
                        held += len(pending[-1])
                    self.report.decoded_frames = max(self.report.decoded_frames, clock.position)
                    if held >= frames or (packet is None and held):
                        yield np.concatenate(pending).astype(np.float32, copy=False)
                        pending, held = [], 0
        finally:
            container.close()
        if clock.position == 0:
            raise AudioError(f"{self.path}: FFmpeg decoded no audio from it; the file is corrupt")


class _Clock:
    """Frames produced so far, and audio missing before a frame by its timestamp (lost to
    damage) measured from the first frame's (encoders may start late: priming)."""

    def __init__(self, rate: int) -> None:
        self.rate, self.position = rate, 0
        self._origin: float | None = None

    def missing(self, frame) -> int:
        if frame.pts is None or frame.time_base is None:
            return 0
        seconds = float(frame.pts * frame.time_base)
        if self._origin is None:
            self._origin = seconds - self.position / self.rate
        gap = int(round((seconds - self._origin) * self.rate)) - self.position
        if gap <= GAP_SECONDS * self.rate or gap > MAX_GAP_SECONDS * self.rate:
            return 0
        return gap


def _packets(container, stream, report: DecodeReport):
    """Demuxed packets; a demuxer that gives up mid-file ends the stream (reported)."""
    try:
        yield from container.demux(stream)
    except Exception as exc:  # the container itself is damaged past this point
        report.notes.append(f"the container is damaged after the audio so far ({one_line(exc)})")


def _decode(packet, report: DecodeReport) -> list:
    try:
        return packet.decode()
    except Exception:  # FFmpeg could not decode this packet: skip it, resynchronise on the next
        report.damaged_packets += 1
        return []


def decode_audio(path: str | Path) -> tuple[np.ndarray, int, DecodeReport]:
    """The whole file: ((frames, channels) float32, rate, report)."""
    reader = AudioReader(path)
    blocks = list(reader.blocks(reader.rate * 10))
    if not blocks:
        return np.zeros((0, reader.channels), np.float32), reader.rate, reader.report
    return np.concatenate(blocks), reader.rate, reader.report


def log_problems(report: DecodeReport) -> None:
    """Whole-file decoding (training, batch work) logs what it survived."""
    for problem in report.problems():
        log.warning("%s: %s", report.path, problem)
