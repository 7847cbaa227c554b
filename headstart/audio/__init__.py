"""Audio: prepare (log-mel features once, memory-mapped), batch with padding masks, pre-train (BEST-RQ),
fine-tune utterance classifiers."""
# Loaded on first use (PEP 562): registering the modality (plugin.py) imports this package, and that must
# not import its code (a text run imports no image decoder).
from ..lazy_api import lazy_getattr

_API = {
    "AudioArrays": ".arrays",
    "load_audio_manifest": ".arrays",
    "LogMel": ".features",
    "mel_filterbank": ".features",
    "prepare_audio": ".prepare",
    "load_audio_model": ".pretrained",
}
__all__ = sorted(_API)

__getattr__ = lazy_getattr(__name__, _API)
