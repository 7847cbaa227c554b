"""What every Hugging Face export writes: a new directory of config JSON, safetensors, tokenizer files and a
README, and the one-line refusal for what a transformers class cannot represent.  Shared by the checkpoint
export (export.py) and the classifier export (classifier_export.py)."""
from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file

from ..errors import HeadstartError
from ..tokenizer import special_token_ids

BERT_HINT = ("; BERT is post-norm: pre-train with a bert-classic-* preset "
             "(norm_position: post, embedding_norm, mlm_transform)")


def check_new_directory(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise HeadstartError(f"{out}: already exists and is not empty; choose a new --out directory")


def write_directory(out: Path, files: dict, readme: str) -> None:
    """``files`` (name -> tensors, a JSON-ready dict or text) and README.md into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, dict) and name.endswith(".safetensors"):
            save_file({k: v.float().contiguous() for k, v in content.items()}, str(out / name),
                      metadata={"format": "pt"})  # transformers refuses safetensors without a format
        elif isinstance(content, dict):
            (out / name).write_text(json.dumps(content, indent=2) + "\n")
        else:
            (out / name).write_text(content)
    (out / "README.md").write_text(readme)


def refuse(checkpoint, architecture: str, problems: list[str], hint: str = "") -> None:
    if problems:
        raise HeadstartError(f"{checkpoint}: {', '.join(problems)} cannot be represented in transformers' "
                             f"{architecture}{hint}")


def tokenizer_files(tokenizer, cfg, max_length: int) -> dict:
    """tokenizer.json and the settings ``AutoTokenizer`` reads with it (texts are cut at ``max_length``
    tokens, padded on the right as headstart pads them)."""
    tokens = {role: tokenizer.id_to_token(i) for role, i in special_token_ids(tokenizer).items()}
    tokenizer_config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_length,
                        "padding_side": "right", "eos_token": tokens["eos"], "pad_token": tokens["pad"],
                        "unk_token": tokens["unk"], "mask_token": tokens["mask"]}
    if not cfg.causal and tokenizer.token_to_id("[CLS]") is not None:  # a BERT vocabulary (imported)
        tokenizer_config.update(cls_token="[CLS]", sep_token=tokens["eos"])
    special_map = {k: v for k, v in tokenizer_config.items() if k.endswith("_token")}
    return {"tokenizer.json": tokenizer.to_str(), "tokenizer_config.json": tokenizer_config,
            "special_tokens_map.json": special_map}
