"""The tokenizers moved to ``headstart.tokenizer``: text, image-caption pairs and the Hugging Face interop share
them, and a modality never imports another.  This name stays so that existing imports keep working."""
from ..tokenizer import (BYTE_ALPHABET_SIZE, ROLE_ALIASES, SPECIAL_TOKENS, WORD_PATTERN,  # noqa: F401
                         build_char_tokenizer, load_tokenizer, special_token_ids, tokenizer_from_json,
                         tokenizer_sha256, train_bpe, train_word_level, with_special_tokens)
