"""Text corpora: raw files -> cleaned, deduplicated, tokenized memory-mapped shards (``prepare_text``),
and the reader the training engine uses (``TokenShards``)."""
# Loaded on first use (PEP 562): registering the modality (plugin.py) imports this package, and that must
# not import its code (a text run imports no image decoder).
from ..lazy_api import lazy_getattr

_API = {
    "prepare_text": ".prepare",
    "TokenShards": ".shards",
    "load_manifest": ".shards",
    "load_tokenizer": ".tokenizer",
    "special_token_ids": ".tokenizer",
    "tokenizer_sha256": ".tokenizer",
}
__all__ = sorted(_API)

__getattr__ = lazy_getattr(__name__, _API)
