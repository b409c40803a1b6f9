"""Music whose emotion is a known function of what you hear.

A song follows two smooth latent curves, valence v(t) and arousal a(t) in -1..1. Every audible
cue is a fixed function of them, evaluated note by note, so the music changes as the curves drift:

- arousal: tempo (72..180 BPM), note density (chance of a note on each sixteenth), brightness
  (harmonic roll-off) and articulation (legato .. staccato), both in 24 steps, drums (kick and
  hi-hat density) and loudness;
- valence: register (tonic pitch rises with valence), mode (major scale and chords at v >= 0,
  natural minor below) and consonance (below v = 0 a dissonant, detuned tone joins the chords).

Synthesis is wavetable additive synthesis with numpy; no randomness touches the mapping, only
the choice of melody notes and drum hits (seeded per song).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache

import numpy as np
import soxr

CONTROL_RATE = 100  # Hz, the grid the latent curves are evaluated on
TABLE_SIZE = 4096  # samples in one period of a wavetable
BRIGHTNESS_LEVELS = 24  # distinct harmonic roll-offs
MAX_HARMONICS = 12
TOP_FREQUENCY = 7_500.0  # Hz, no partial above (below the front end's 8 kHz and Nyquist)
RENDER_RATE = 22_050  # Hz, synthesis rate; 44.1 kHz files are resampled from it
STEPS_PER_BEAT = 4  # sixteenth notes
STEPS_PER_BAR = 16
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = ((0, 3, 4, 0), (0, 5, 3, 4), (0, 4, 5, 3), (0, 3, 0, 4))  # scale degrees
MELODY_DEGREES = 10  # melody moves over scale degrees 0..9 above the tonic


# ---------------------------------------------------------------------------- the mapping


def _unit(x: np.ndarray) -> np.ndarray:
    """-1..1 -> 0..1."""
    return (np.clip(x, -1.0, 1.0) + 1.0) / 2.0


def tempo_bpm(arousal):
    return 72.0 + 108.0 * _unit(arousal)


def note_chance(arousal):
    """Chance of a melody note on each sixteenth."""
    return 0.15 + 0.8 * _unit(arousal)


def rolloff(arousal):
    """Harmonic k has amplitude k ** -rolloff: 2.4 (dull) .. 0.7 (bright)."""
    return 2.4 - 1.7 * _unit(arousal)


def decay_seconds(arousal):
    """Note decay time constant: legato when calm, staccato when excited."""
    return 0.45 - 0.37 * _unit(arousal)


def hat_chance(arousal):
    """Chance of a hi-hat on each sixteenth."""
    return np.clip(1.2 * _unit(arousal) - 0.2, 0.0, 1.0)


def kick_chance(arousal):
    """Chance of a kick drum on each beat."""
    return np.clip(1.5 * _unit(arousal) - 0.25, 0.0, 1.0)


def gain(arousal):
    return 0.35 + 0.65 * _unit(arousal)


def tonic_midi(valence):
    """Register: the tonic's (fractional) MIDI pitch, 45 (A2) .. 69 (A4)."""
    return 45.0 + 24.0 * _unit(valence)


def is_major(valence):
    return np.asarray(valence) >= 0.0


def dissonance(valence):
    """0 (consonant) .. 1: level of the clashing tone and the detuning of chord voices."""
    return np.clip(-np.asarray(valence, dtype=np.float64) * 1.25, 0.0, 1.0)


def cue_summary(valence: np.ndarray, arousal: np.ndarray) -> dict[str, float]:
    """Mean of each cue over a curve (what the manifest records per song)."""
    return {
        "tempo_bpm": float(np.mean(tempo_bpm(arousal))),
        "note_chance": float(np.mean(note_chance(arousal))),
        "rolloff": float(np.mean(rolloff(arousal))),
        "decay_seconds": float(np.mean(decay_seconds(arousal))),
        "hat_chance": float(np.mean(hat_chance(arousal))),
        "kick_chance": float(np.mean(kick_chance(arousal))),
        "gain": float(np.mean(gain(arousal))),
        "tonic_midi": float(np.mean(tonic_midi(valence))),
        "major_fraction": float(np.mean(is_major(valence))),
        "dissonance": float(np.mean(dissonance(valence))),
    }


CUES = {
    "arousal": "tempo_bpm = 72 + 108 u(a); note_chance = 0.15 + 0.8 u(a); "
    "rolloff = 2.4 - 1.7 u(a) and decay_seconds = 0.45 - 0.37 u(a) (both in 24 steps); "
    "hat_chance = clip(1.2 u(a) - 0.2); "
    "kick_chance = clip(1.5 u(a) - 0.25); gain = 0.35 + 0.65 u(a)",
    "valence": "tonic_midi = 45 + 24 u(v); major scale when v >= 0 else natural minor; "
    "dissonance = clip(-1.25 v)",
    "u": "u(x) = (x + 1) / 2",
}


# ---------------------------------------------------------------------------- latent curves


@dataclass(frozen=True)
class Drift:
    """A smooth latent curve: ``centre + sum_k amplitude_k sin(2 pi frequency_k t + phase_k)``,
    clipped to -1..1."""

    centre: float
    amplitudes: tuple[float, ...]
    frequencies: tuple[float, ...]  # Hz
    phases: tuple[float, ...]  # radians

    @classmethod
    def draw(cls, rng: np.random.Generator, centre: float) -> Drift:
        return cls(
            centre=float(centre),
            amplitudes=tuple(float(x) for x in rng.uniform(0.05, 0.16, 2)),
            frequencies=(float(rng.uniform(1 / 90, 1 / 30)), float(rng.uniform(1 / 30, 1 / 12))),
            phases=tuple(float(x) for x in rng.uniform(0.0, 2 * np.pi, 2)),
        )

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        value = np.full(t.shape, self.centre)
        for amp, freq, phase in zip(self.amplitudes, self.frequencies, self.phases, strict=True):
            value = value + amp * np.sin(2 * np.pi * freq * t + phase)
        return np.clip(value, -1.0, 1.0)

    def to_dict(self) -> dict:
        return asdict(self)


def clip_mean(drift: Drift, duration: float) -> float:
    """Mean of the curve over ``0 .. duration`` seconds."""
    t = np.arange(0.0, duration, 1.0 / CONTROL_RATE)
    return float(np.mean(drift(t)))


# ---------------------------------------------------------------------------- synthesis


def levels(arousal) -> np.ndarray:
    """Arousal quantised to the brightness/articulation steps the synthesiser renders."""
    return np.rint(_unit(arousal) * (BRIGHTNESS_LEVELS - 1)).astype(np.int64)


def _level_arousal(level: int) -> float:
    return 2.0 * level / (BRIGHTNESS_LEVELS - 1) - 1.0


@cache
def _table(level: int, harmonics: int) -> np.ndarray:
    """One period with ``harmonics`` partials rolling off as brightness ``level`` says."""
    slope = float(rolloff(_level_arousal(level)))
    phase = np.arange(TABLE_SIZE) / TABLE_SIZE
    k = np.arange(1, harmonics + 1)[:, None]
    wave = (k**-slope * np.sin(2 * np.pi * k * phase[None, :])).sum(axis=0)
    return (wave / np.abs(wave).max()).astype(np.float32)


@cache
def _pluck(level: int) -> np.ndarray:
    """Melody envelope: 4 ms attack, exponential decay over 3 time constants."""
    decay = float(decay_seconds(_level_arousal(level)))
    t = np.arange(int(3.0 * decay * RENDER_RATE), dtype=np.float32) / RENDER_RATE
    return (np.minimum(t / 0.004, 1.0) * np.exp(-t / decay)).astype(np.float32)


@cache
def _kick() -> np.ndarray:
    t = np.arange(int(0.18 * RENDER_RATE)) / RENDER_RATE
    freq = 45.0 + 75.0 * np.exp(-t / 0.03)
    phase = 2 * np.pi * np.cumsum(freq) / RENDER_RATE
    return (0.9 * np.sin(phase) * np.exp(-t / 0.06)).astype(np.float32)


def _hats(rng: np.random.Generator, count: int = 16) -> np.ndarray:
    """(count, samples) short high-passed noise bursts."""
    n = int(0.05 * RENDER_RATE)
    noise = np.diff(rng.standard_normal((count, n + 1)), axis=1)
    return (0.12 * noise * np.exp(-np.arange(n) / (0.012 * RENDER_RATE))).astype(np.float32)


def _midi_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


class _Track:
    """One mono output buffer that notes are added into."""

    def __init__(self, n_samples: int) -> None:
        self.out = np.zeros(n_samples, dtype=np.float32)

    def add(self, time: float, signal: np.ndarray) -> None:
        i = int(time * RENDER_RATE)
        n = min(len(signal), len(self.out) - i)
        if n > 0:
            self.out[i : i + n] += signal[:n]

    def tone(self, time: float, midi: float, level: int, envelope: np.ndarray) -> None:
        """Wavetable note at (fractional) MIDI pitch, shaped by ``envelope``."""
        self.add(time, _oscillator(midi, level, len(envelope)) * envelope)


def _oscillator(midi: float, level: int, n: int) -> np.ndarray:
    """``n`` samples of the wavetable for brightness ``level`` at (fractional) MIDI pitch."""
    freq = _midi_hz(midi)
    table = _table(level, int(np.clip(TOP_FREQUENCY // freq, 1, MAX_HARMONICS)))
    step = int(round(freq * TABLE_SIZE / RENDER_RATE * 65536))  # 16.16 fixed point
    return table[((np.arange(n, dtype=np.int64) * step) >> 16) & (TABLE_SIZE - 1)]


def _hold(length: float, amp: float) -> np.ndarray:
    """Pad envelope: 50 ms attack, held, 80 ms release."""
    n = max(int(length * RENDER_RATE), 1)
    env = np.full(n, amp, dtype=np.float32)
    rise, fall = min(int(0.05 * RENDER_RATE), n), min(int(0.08 * RENDER_RATE), n)
    env[:rise] *= np.linspace(0.0, 1.0, rise, dtype=np.float32)
    env[n - fall :] *= np.linspace(1.0, 0.0, fall, dtype=np.float32)
    return env


def step_times(arousal: Drift, duration: float) -> np.ndarray:
    """Sixteenth-note times: the tempo follows a(t), so the grid speeds up and slows down."""
    t = np.arange(0.0, duration + 1.0, 1.0 / CONTROL_RATE)
    rate = tempo_bpm(arousal(t)) / 60.0 * STEPS_PER_BEAT
    position = np.concatenate([[0.0], np.cumsum(rate[:-1]) / CONTROL_RATE])
    times = np.interp(np.arange(int(position[-1])), position, t)
    return times[times < duration]


def render(
    valence: Drift,
    arousal: Drift,
    duration: float,
    sample_rate: int,
    channels: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(samples, channels) float32 audio at ``sample_rate`` following the two latent curves."""
    n_samples = int(duration * RENDER_RATE)
    lead, band = _Track(n_samples), _Track(n_samples)
    times = step_times(arousal, duration)
    n = len(times)
    v, a = valence(times), arousal(times)
    major, tonic, level, amp = is_major(v), tonic_midi(v), levels(a), gain(a)
    beat = np.arange(n) % STEPS_PER_BEAT == 0
    notes = rng.random(n) < note_chance(a)
    moves = rng.choice((-2, -1, 1, 2), n)
    kicks = beat & (rng.random(n) < kick_chance(a))
    hats = rng.random(n) < hat_chance(a)
    hat_pick = rng.integers(0, 16, n)
    hat_bank = _hats(rng)
    progression = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    degree = int(rng.integers(0, 5))
    for i in range(n):
        time, scale, lv = times[i], MAJOR if major[i] else MINOR, int(level[i])
        root = progression[(i // STEPS_PER_BAR) % len(progression)]
        if i % STEPS_PER_BAR == 0:
            end = times[i + STEPS_PER_BAR] if i + STEPS_PER_BAR < n else duration
            _chord(band, time, end - time, scale, tonic[i], v[i], lv, amp[i], root)
        if i % (STEPS_PER_BAR // 2) == 0:
            band.tone(time, tonic[i] - 12 + scale[root], lv, 0.35 * amp[i] * _pluck(lv))
        if notes[i]:
            degree = int(np.clip(degree + moves[i], 0, MELODY_DEGREES - 1))
            pitch = tonic[i] + 12 * (degree // 7) + scale[degree % 7]
            lead.tone(time, pitch, lv, 0.5 * amp[i] * _pluck(lv))
        if kicks[i]:
            band.add(time, amp[i] * _kick())
        if hats[i]:
            band.add(time, amp[i] * hat_bank[hat_pick[i]])
    if channels == 1:
        out = (lead.out + band.out)[:, None]
    else:
        out = np.stack([0.7 * lead.out + band.out, 0.3 * lead.out + band.out], axis=1)
    if sample_rate != RENDER_RATE:
        out = soxr.resample(out, RENDER_RATE, sample_rate, quality="HQ")
    peak = float(np.abs(out).max(initial=0.0))
    return (out / max(peak / 0.95, 1.0)).astype(np.float32)


def _chord(track, time, length, scale, tonic, valence, level, amp, root) -> None:
    """A sustained triad on scale degree ``root``; below v = 0 detuned clashing tones join."""
    envelope = _hold(length, 0.16 * amp)
    n, rough = len(envelope), float(dissonance(valence))
    voices = [
        _oscillator(
            tonic + 12 * ((root + k) // 7) + scale[(root + k) % 7] + rough * 0.25 * j, level, n
        )
        for j, k in zip((-1, 0, 1), (0, 2, 4), strict=True)
    ]
    if rough > 0:
        base = tonic + scale[root]
        voices += [
            rough * _oscillator(base + 1.0, level, n),
            rough * 0.75 * _oscillator(base + 6.0, level, n),
        ]
    track.add(time, envelope * np.sum(voices, axis=0))
