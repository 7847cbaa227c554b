"""Audio: prepare (log-mel features once, memory-mapped), batch with padding masks, pre-train (BEST-RQ),
fine-tune utterance classifiers."""
# Loaded on first use (PEP 562): registering the modality (plugin.py) imports this package, and that must
# not import its code (a text run imports no image decoder).
from importlib import import_module

_API = {
    "AudioArrays": ".arrays",
    "load_audio_manifest": ".arrays",
    "LogMel": ".features",
    "mel_filterbank": ".features",
    "prepare_audio": ".prepare",
    "load_audio_model": ".pretrained",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_API[name], __name__), name)
