"""Hugging Face interoperability: export headstart checkpoints as ``transformers`` model directories
(GPT-2, Llama, Qwen3, BERT, ViT) and import GPT-2 / BERT / Llama / Qwen2 / Qwen3 directories as headstart runs.

Both directions read and write only ``config.json``, ``model.safetensors`` and tokenizer files, so
neither needs ``transformers`` installed (the tests use it to prove the round trip) and neither
loads a pickle.
"""
from .export import export_checkpoint
from .importer import import_checkpoint

__all__ = ["export_checkpoint", "import_checkpoint"]
