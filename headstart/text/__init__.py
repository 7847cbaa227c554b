"""Text corpora: raw files -> cleaned, deduplicated, tokenized memory-mapped shards (``prepare_text``),
and the reader the training engine uses (``TokenShards``)."""

from headstart.text.prepare import prepare_text
from headstart.text.shards import TokenShards, load_manifest
from headstart.text.tokenizer import load_tokenizer, special_token_ids, tokenizer_sha256

__all__ = ["prepare_text", "TokenShards", "load_manifest", "load_tokenizer", "special_token_ids",
           "tokenizer_sha256"]
