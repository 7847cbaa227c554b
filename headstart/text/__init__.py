"""Text corpora: raw files -> cleaned, deduplicated, tokenized memory-mapped shards (``prepare_text``),
and the reader the training engine uses (``TokenShards``)."""
# Loaded on first use (PEP 562): registering the modality (plugin.py) imports this package, and that must
# not import its code (a text run imports no image decoder).
from importlib import import_module

_API = {
    "prepare_text": ".prepare",
    "TokenShards": ".shards",
    "load_manifest": ".shards",
    "load_tokenizer": ".tokenizer",
    "special_token_ids": ".tokenizer",
    "tokenizer_sha256": ".tokenizer",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_API[name], __name__), name)
