"""`prepare_audio`: sound files -> log-mel features + manifest.json, and the batches read from them.

Each test writes its sound files in tmp_path with soundfile; the Free Spoken Digits test uses
../shared/data and skips when it is absent (a fresh checkout).
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile as sf

from headstart.audio import AudioArrays, LogMel, mel_filterbank, prepare_audio
from headstart.audio.batches import AudioBatches
from headstart.audio.prepare import name_pattern
from headstart.errors import HeadstartError

from helpers import shared, write
from test_pretrain_cli import run_cli


def tone(path, hz=440.0, seconds=0.5, rate=16000, level=0.3, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    wave = (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.stack([wave] * channels, 1) if channels > 1 else wave, rate)
    return path


@pytest.fixture
def folder_with_bad_files(tmp_path):
    """Eight good clips, a zero-length WAV, a WAV with a corrupt header and an MP3 renamed .wav."""
    folder = tmp_path / "clips"
    for i in range(8):
        tone(folder / f"good_{i}.wav", hz=300 + 50 * i)
    sf.write(folder / "zero_length.wav", np.zeros(0, np.float32), 16000)
    header = bytearray(tone(tmp_path / "whole.wav").read_bytes())
    header[8:16] = b"GARBAGE!"  # where "WAVEfmt " belongs
    write(folder / "corrupt_header.wav", bytes(header))
    sf.write(tmp_path / "song.mp3", np.zeros(8000, np.float32) + 0.1, 16000, format="MP3")
    (tmp_path / "song.mp3").rename(folder / "renamed_mp3.wav")
    return folder


def test_a_folder_of_clips_becomes_log_mels_with_offsets_and_statistics(tmp_path):
    tone(tmp_path / "in" / "a.wav", seconds=0.5)
    tone(tmp_path / "in" / "sub" / "b.flac", seconds=1.0)
    tone(tmp_path / "in" / "c.ogg", seconds=0.25, rate=44100, channels=2)  # resampled, mixed to mono
    write(tmp_path / "in" / "README.txt", "not audio: ignored")
    manifest = prepare_audio(tmp_path / "in", tmp_path / "out", n_mels=32, val_fraction=0, progress=False)

    train = AudioArrays(tmp_path / "out", "train")
    assert (len(train), train.n_mels, train.frame_rate, train.class_names) == (3, 32, 100.0, None)
    # Centred 10 ms frames: 1 + samples // hop, whatever the file's own rate was.
    assert sorted(train.lengths.tolist()) == [26, 51, 101]
    clips, labels = train.read([0, 1])
    assert labels is None and all(c.dtype == np.float32 and c.shape[1] == 32 for c in clips)
    assert manifest["stats"]["audio_seconds"] == pytest.approx(1.75, abs=0.01)
    # The training split's per-bin statistics are in the manifest, for normalising batches.
    frames = np.concatenate(train.read(range(3))[0])
    assert np.allclose(train.feature_mean, frames.mean(0), atol=0.01)
    assert np.allclose(train.feature_std, frames.std(0), atol=0.01)
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["options"]["n_mels"] == 32


def test_log_mel_puts_a_tone_in_the_bin_whose_filter_is_centred_on_it():
    logmel = LogMel(sample_rate=8000, n_mels=40)
    t = np.arange(8000) / 8000
    for hz in (250, 1000, 3000):
        frames = logmel(0.5 * np.sin(2 * np.pi * hz * t))
        filters = mel_filterbank(8000, logmel.n_fft, 40)
        bin_hz = np.linspace(0, 4000, logmel.n_fft // 2 + 1)
        nearest = np.argmin(np.abs(bin_hz - hz))
        assert frames.mean(0).argmax() == filters[:, nearest].argmax()


def test_zero_length_corrupt_and_renamed_mp3_files_are_skipped_and_counted(folder_with_bad_files, tmp_path, caplog):
    manifest = prepare_audio(folder_with_bad_files, tmp_path / "out", max_bad_fraction=0.5, progress=False)
    stats = manifest["stats"]
    assert (stats["files_found"], stats["kept"], stats["skipped"]) == (11, 8, 3)
    assert stats["skipped_by_reason"] == {"empty": 1, "unreadable": 1, "wrong_format": 1}
    reasons = {entry["file"].rsplit("/", 1)[-1]: entry["reason"] for entry in stats["skipped_files"]}
    assert reasons == {"zero_length.wav": "empty", "corrupt_header.wav": "unreadable",
                       "renamed_mp3.wav": "wrong_format"}
    assert "renamed_mp3.wav" in caplog.text and "MP3 data in a .wav file" in caplog.text


def test_too_many_bad_files_fail_with_one_line_naming_them(folder_with_bad_files, tmp_path):
    with pytest.raises(HeadstartError, match=r"more than 1.0% of the 11 sound files .*corrupt_header.wav"):
        prepare_audio(folder_with_bad_files, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_silent_clips_are_skipped_by_their_peak_level(tmp_path):
    tone(tmp_path / "in" / "speech.wav")
    tone(tmp_path / "in" / "hiss.wav", level=10 ** (-70 / 20))
    manifest = prepare_audio(tmp_path / "in", tmp_path / "out", val_fraction=0, max_bad_fraction=1, progress=False)
    assert manifest["stats"]["skipped_by_reason"] == {"silent": 1}
    assert re.fullmatch(r"peak -(69|70) dBFS, below silence_db -60", manifest["stats"]["skipped_files"][0]["detail"])


def test_labels_from_file_names_with_a_pattern(tmp_path):
    for digit in (2, 10, 7):
        for take in range(3):
            tone(tmp_path / "in" / f"{digit}_jackson_{take}.wav", hz=200 + 20 * digit)
    prepare_audio(tmp_path / "in", tmp_path / "out", label_from_name="{label}_{speaker}_{take}", val_fraction=0,
                  progress=False)
    train = AudioArrays(tmp_path / "out", "train")
    assert train.class_names == ["2", "7", "10"]  # numbers in numeric order
    assert np.bincount(train.labels).tolist() == [3, 3, 3]
    assert name_pattern("{label}/{name}").fullmatch("cat/take_1").group("label") == "cat"


def test_labels_from_a_csv(tmp_path):
    tone(tmp_path / "in" / "yes_1.wav")
    tone(tmp_path / "in" / "no_1.wav", hz=300)
    write(tmp_path / "in" / "labels.csv", "file,label\nyes_1.wav,yes\nno_1.wav,no\n")
    prepare_audio(tmp_path / "in", tmp_path / "out", labels=tmp_path / "in" / "labels.csv", val_fraction=0,
                  progress=False)
    train = AudioArrays(tmp_path / "out", "train")
    assert [train.class_names[i] for i in train.labels] == ["no", "yes"]  # files in sorted order


@pytest.mark.parametrize("kwargs, message", [
    (dict(label_from_name="{label}-{take}"), r"good_0.wav: name 'good_0' does not match label_from_name"),
    (dict(label_from_name="{digit}_{take}"), r"must contain \{label\}"),
    (dict(labels="missing.csv"), r"missing.csv: cannot read the labels"),
    (dict(n_mels=0), r"n_mels 0"),
])
def test_labeling_and_option_mistakes_are_one_line_errors(tmp_path, kwargs, message):
    tone(tmp_path / "in" / "good_0.wav")
    with pytest.raises(HeadstartError, match=message):
        prepare_audio(tmp_path / "in", tmp_path / "out", progress=False, **kwargs)


def test_a_csv_without_a_files_label_names_the_file(tmp_path):
    tone(tmp_path / "in" / "a.wav")
    tone(tmp_path / "in" / "b.wav")
    write(tmp_path / "labels.csv", "file,label\na.wav,x\n")
    with pytest.raises(HeadstartError, match=r"b.wav: no label in .*labels.csv"):
        prepare_audio(tmp_path / "in", tmp_path / "out", labels=tmp_path / "labels.csv", progress=False)


def test_batches_pad_clips_with_a_mask_and_normalise_them(tmp_path):
    for i, seconds in enumerate((0.2, 0.5, 0.3, 0.9)):
        tone(tmp_path / "in" / f"{i}.wav", seconds=seconds, hz=300 + 100 * i)
    prepare_audio(tmp_path / "in", tmp_path / "out", n_mels=16, val_fraction=0, progress=False)
    train = AudioArrays(tmp_path / "out", "train")
    batch = AudioBatches(train, batch_size=4, seed=0, max_frames=60).batch(0)
    assert batch["features"].shape == (4, 60, 16)  # the 91-frame clip is cut to max_frames
    assert sorted(batch["padding_mask"].sum(1).tolist()) == [21, 31, 51, 60]
    assert batch["features"][~batch["padding_mask"]].abs().sum() == 0  # padding is zeros
    assert AudioBatches(train, batch_size=4, seed=0, max_frames=60).batch(3)["features"].equal(
        AudioBatches(train, batch_size=4, seed=0, max_frames=60).batch(3)["features"])


def test_the_cli_prints_what_it_kept_and_skipped(folder_with_bad_files, tmp_path):
    code, output = run_cli("prepare", "audio", folder_with_bad_files, "--out", tmp_path / "out",
                           "--max-bad-fraction", "0.5", "--sample-rate", "8000", "--n-mels", "40")
    assert code == 0, output
    assert "11 found, 8 kept" in output
    assert "skipped 3 file(s): 1 unreadable, 1 wrong_format, 1 empty" in output


def test_a_damaged_folder_is_refused_with_the_file_named(tmp_path):
    tone(tmp_path / "in" / "a.wav")
    prepare_audio(tmp_path / "in", tmp_path / "out", val_fraction=0, progress=False)
    np.save(tmp_path / "out" / "features_train.npy", np.zeros((3, 80), np.float16))
    with pytest.raises(HeadstartError, match=r"features_train.npy: holds float16 \(3, 80\), but the manifest says"):
        AudioArrays(tmp_path / "out", "train")


def test_free_spoken_digits_prepare_with_labels_from_their_names(tmp_path):
    recordings = shared("fsdd/recordings")
    files = sorted(recordings.glob("*_jackson_*.wav"))[:60]
    manifest = prepare_audio(files, tmp_path / "fsdd", sample_rate=8000, n_mels=40,
                             label_from_name="{label}_{speaker}_{take}", progress=False)
    assert manifest["stats"]["kept"] == 60 and manifest["class_names"] == ["0", "1"]
    clips = AudioArrays(tmp_path / "fsdd", "train")
    assert 10 < clips.lengths.mean() < 100  # digits last a fraction of a second
