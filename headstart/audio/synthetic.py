"""Synthetic spoken "words", written as WAV files: the built-in audio for the demo and the tests.

No speech corpus ships with Python or the packages headstart installs, so the demo synthesises one
with numpy, in the spirit of a formant synthesiser: a word is a sequence of three vowel-like phones,
each a harmonic series (the voice) shaped by two resonances (formants F1, F2) and gliding into the
next; a speaker is a pitch, a vocal-tract length (which scales every formant) and a speaking rate;
a take varies all three a little and adds noise.  Files are named ``{word}_{speaker}_{take}.wav`` like
Free Spoken Digits, so ``label_from_name="{label}_{speaker}_{take}"`` labels them.

Limits: this is not speech.  Ten words of three steady vowels each are far easier to tell apart
than real words, there are no consonants, and the speaker differences are three numbers.  It
exercises every step of the pipeline and shows a head start, but its figures say nothing about
real recordings: for those, see bench/fsdd_transfer.py on Free Spoken Digits.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

# (F1, F2) in Hz of an adult male voice, after Peterson & Barney (1952): i, I, E, ae, a, O, U, u, V, 3.
VOWELS = [(270, 2290), (390, 1990), (530, 1840), (660, 1720), (730, 1090), (570, 840), (440, 1020),
          (300, 870), (640, 1190), (490, 1350)]


def word_phones(n_words: int, seed: int = 0) -> list[tuple[int, int, int]]:
    """Each word's three vowels, distinct sequences drawn once."""
    rng = np.random.default_rng(seed)
    words: list[tuple[int, int, int]] = []
    while len(words) < n_words:
        phones = tuple(int(v) for v in rng.choice(len(VOWELS), 3, replace=False))
        if phones not in words:
            words.append(phones)
    return words


def speaker_voices(n_speakers: int, seed: int = 1) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    return [{"pitch": float(rng.uniform(90, 240)), "tract": float(rng.uniform(0.85, 1.25)),
             "rate": float(rng.uniform(0.8, 1.25))} for _ in range(n_speakers)]


def synthesise(phones: tuple[int, ...], voice: dict[str, float], rng: np.random.Generator,
               sample_rate: int = 8000) -> np.ndarray:
    """One take of a word, float32 in [-1, 1]."""
    pitch = voice["pitch"] * rng.uniform(0.92, 1.08)
    tract = voice["tract"] * rng.uniform(0.97, 1.03)
    phone_s = 0.12 / (voice["rate"] * rng.uniform(0.9, 1.1))
    n = int(len(phones) * phone_s * sample_rate)
    t = np.arange(n) / sample_rate
    # Formant tracks: each phone's targets, linearly interpolated between phone centres (coarticulation).
    centres = (np.arange(len(phones)) + 0.5) * phone_s
    f1 = np.interp(t, centres, [VOWELS[p][0] * tract for p in phones])
    f2 = np.interp(t, centres, [VOWELS[p][1] * tract for p in phones])
    f0 = pitch * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(2, 5) * t))  # a little intonation
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    signal = np.zeros(n)
    for k in range(1, int(sample_rate / 2 / pitch)):
        harmonic = k * f0
        resonance = np.exp(-0.5 * ((harmonic - f1) / 80) ** 2) + 0.6 * np.exp(-0.5 * ((harmonic - f2) / 120) ** 2)
        gain = resonance / k ** 0.5
        signal += gain * np.sin(k * phase)
    envelope = np.minimum(1, np.minimum(t, t[-1] - t) / 0.02)  # 20 ms fade in and out
    signal = signal * envelope + rng.normal(0, 0.01, n)
    signal *= rng.uniform(0.3, 0.8) / np.abs(signal).max()
    silence = np.zeros(int(rng.uniform(0.02, 0.1) * sample_rate))
    return np.concatenate([silence, signal, silence]).astype(np.float32)


def write_synthetic_words(out: str | Path, *, n_words: int = 10, speakers: int = 6, takes: int = 20,
                          sample_rate: int = 8000, seed: int = 0) -> list[Path]:
    """Write ``n_words * speakers * takes`` WAVs named ``{word}_s{speaker}_{take}.wav`` into ``out``."""
    import soundfile as sf

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    words, voices = word_phones(n_words, seed), speaker_voices(speakers, seed + 1)
    rng = np.random.default_rng(seed + 2)
    paths = []
    for s, voice in enumerate(voices):
        for w, phones in enumerate(words):
            for take in range(takes):
                path = out / f"{w}_s{s}_{take}.wav"
                sf.write(path, synthesise(phones, voice, rng, sample_rate), sample_rate, subtype="PCM_16")
                paths.append(path)
    return paths
