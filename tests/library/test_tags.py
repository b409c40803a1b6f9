"""`emotrack scan --write-tags`: valence, arousal and mood in the files' own tags (ID3 TXXX,
Vorbis comments, MP4 freeform atoms), read back with mutagen, the audio bytes unchanged."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf

from emotrack.library.tags import TagError, read_tags, write_tags
from emotrack.main import main

from .conftest import RATE, tone, write_song

SUMMARY = {"valence_mean": 6.4321, "arousal_mean": 3.21, "mood": "calm"}


def _mp3_audio(data: bytes) -> bytes:
    """The MPEG frames: what follows the ID3v2 tag (its size is syncsafe)."""
    if data[:3] != b"ID3":
        return data
    size = 0
    for byte in data[6:10]:
        size = (size << 7) | byte
    return data[10 + size :]


def _flac_audio(data: bytes) -> bytes:
    """The FLAC frames: what follows the last metadata block."""
    position = 4
    while True:
        header = data[position]
        length = int.from_bytes(data[position + 1 : position + 4], "big")
        position += 4 + length
        if header & 0x80:
            return data[position:]


def _riff_chunk(data: bytes, name: bytes, start: int = 12) -> bytes:
    """One chunk of a RIFF (WAV) or FORM (AIFF, big-endian) file."""
    big = data[:4] == b"FORM"
    position = start
    while position + 8 <= len(data):
        size = struct.unpack(">I" if big else "<I", data[position + 4 : position + 8])[0]
        if data[position : position + 4] == name:
            return data[position + 8 : position + 8 + size]
        position += 8 + size + (size & 1)
    raise AssertionError(f"no {name!r} chunk")


AUDIO_BYTES = {
    ".mp3": _mp3_audio,
    ".flac": _flac_audio,
    ".wav": lambda data: _riff_chunk(data, b"data"),
    ".aiff": lambda data: _riff_chunk(data, b"SSND"),
    ".ogg": None,  # Ogg pages are renumbered around a new comment packet: compare the samples
}


@pytest.mark.parametrize("suffix", sorted(AUDIO_BYTES))
def test_tags_are_written_and_read_back_and_the_audio_is_unchanged(tmp_path, suffix):
    path = write_song(tmp_path / f"song{suffix}", 6.0)
    before, samples_before = path.read_bytes(), sf.read(path)[0]
    after = write_tags(path, SUMMARY)
    assert read_tags(path) == {
        "EMOTRACK_VALENCE": "6.43",
        "EMOTRACK_AROUSAL": "3.21",
        "EMOTRACK_MOOD": "calm",
    }
    data = path.read_bytes()
    assert data != before and after.size == len(data)
    audio_bytes = AUDIO_BYTES[suffix]
    if audio_bytes is not None:
        assert audio_bytes(data) == audio_bytes(before)
    np.testing.assert_array_equal(sf.read(path)[0], samples_before)
    write_tags(path, {**SUMMARY, "mood": "sad"})  # written again: replaced, not repeated
    assert read_tags(path)["EMOTRACK_MOOD"] == "sad"
    if suffix == ".mp3":
        from mutagen.id3 import ID3

        assert len(ID3(path).getall("TXXX:EMOTRACK_MOOD")) == 1


def test_m4a_gets_freeform_atoms_and_keeps_its_audio(tmp_path):
    av = pytest.importorskip("av", reason="PyAV writes the AAC file")
    path = tmp_path / "song.m4a"
    with av.open(str(path), "w", format="ipod") as container:
        stream = container.add_stream("aac", rate=RATE)
        frame = av.AudioFrame.from_ndarray(tone(6.0, 440.0, channels=1).T, format="flt")
        frame.sample_rate = RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    before = path.read_bytes()
    write_tags(path, SUMMARY)
    assert read_tags(path)["EMOTRACK_AROUSAL"] == "3.21"
    from mutagen.mp4 import MP4

    assert MP4(path).tags["----:com.apple.iTunes:EMOTRACK_MOOD"][0] == b"calm"
    assert _mdat(path.read_bytes()) == _mdat(before)


def _mdat(data: bytes) -> bytes:
    position = 0
    while position < len(data):
        size, name = struct.unpack(">I4s", data[position : position + 8])
        if name == b"mdat":
            return data[position + 8 : position + size]
        position += size
    raise AssertionError("no mdat atom")


def test_a_file_without_a_tag_format_is_a_clear_error(tmp_path):
    path = tmp_path / "noise.raw"
    path.write_bytes(b"\x00\x01" * 1000)
    with pytest.raises(TagError, match="no tag format known"):
        write_tags(path, SUMMARY)


def test_scan_write_tags_tags_every_song_it_tracks(tmp_path, library, onnx_model, capsys):
    db = tmp_path / "lib.db"
    argv = ["scan", str(library), "--db", str(db), "--model", str(onnx_model), "--write-tags"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "4 ok, 0 failed, 0 unchanged; 4 tagged" in err
    for path in library.rglob("*.*"):
        assert set(read_tags(path)) == {"EMOTRACK_VALENCE", "EMOTRACK_AROUSAL", "EMOTRACK_MOOD"}
    assert main(argv) == 0
    assert "0 to track, 4 already done" in capsys.readouterr().err
