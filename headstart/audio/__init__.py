"""Audio: prepare (log-mel features once, memory-mapped), batch with padding masks, pre-train (BEST-RQ),
fine-tune utterance classifiers."""
from .arrays import AudioArrays, load_audio_manifest
from .features import LogMel, mel_filterbank
from .prepare import prepare_audio
from .pretrained import load_audio_model

__all__ = ["AudioArrays", "LogMel", "load_audio_manifest", "load_audio_model", "mel_filterbank", "prepare_audio"]
