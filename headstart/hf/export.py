"""Write a headstart checkpoint as a Hugging Face model directory.

    config.json, model.safetensors            GPT2LMHeadModel / BertForMaskedLM / ViTModel
    tokenizer.json, tokenizer_config.json,    text models: load with AutoTokenizer
    special_tokens_map.json
    preprocessor_config.json                  ViTs: load with AutoImageProcessor
    README.md                                 where the weights came from
"""
from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file

from ..engine.checkpoint import read_state, resolve_checkpoint
from ..errors import HeadstartError
from ..text.tokenizer import special_token_ids
from . import bert, gpt2, vit


def export_checkpoint(source, out) -> Path:
    """Export the best (else latest) checkpoint of run ``source`` (or checkpoint ``source``) to ``out``."""
    checkpoint = resolve_checkpoint(source)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise HeadstartError(f"{out}: already exists and is not empty; choose a new --out directory")
    record = (read_state(checkpoint).get("config", {}).get("model") or {})
    if record.get("kind") is None:
        files, architecture = _text_files(checkpoint)
    else:
        files, architecture = _image_files(checkpoint, record.get("kind"))
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, dict) and name.endswith(".safetensors"):
            save_file({k: v.float().contiguous() for k, v in content.items()}, str(out / name),
                      metadata={"format": "pt"})  # transformers refuses safetensors without a format
        elif isinstance(content, dict):
            (out / name).write_text(json.dumps(content, indent=2) + "\n")
        else:
            (out / name).write_text(content)
    (out / "README.md").write_text(f"# {architecture} exported by headstart\n\nFrom checkpoint `{checkpoint}`.\n"
                                   f"Load it with `transformers.Auto*.from_pretrained(\"{out}\")`.\n")
    return out


def _refuse(checkpoint, architecture: str, problems: list[str], hint: str = "") -> None:
    if problems:
        raise HeadstartError(f"{checkpoint}: {', '.join(problems)} cannot be represented in transformers' "
                             f"{architecture}{hint}")


def _text_files(checkpoint) -> tuple[dict, str]:
    from ..text.pretrained import load_text_model

    model, tokenizer, checkpoint, _ = load_text_model(checkpoint)
    cfg, special = model.cfg, special_token_ids(tokenizer)
    mapping, architecture = (gpt2, "GPT2LMHeadModel") if cfg.causal else (bert, "BertForMaskedLM")
    hint = "" if cfg.causal else ("; BERT is post-norm: pre-train with a bert-classic-* preset "
                                  "(norm_position: post, embedding_norm, mlm_transform) to export a masked LM")
    _refuse(checkpoint, architecture, mapping.unsupported(cfg), hint)
    state = model.state_dict()
    tokens = {role: tokenizer.id_to_token(i) for role, i in special.items()}
    tokenizer_config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": cfg.context_length,
                        "eos_token": tokens["eos"], "pad_token": tokens["pad"], "unk_token": tokens["unk"],
                        "mask_token": tokens["mask"]}
    if not cfg.causal and tokenizer.token_to_id("[CLS]") is not None:  # a BERT vocabulary (imported)
        tokenizer_config.update(cls_token="[CLS]", sep_token=tokens["eos"])
    special_map = {k: v for k, v in tokenizer_config.items() if k.endswith("_token")}
    return {"config.json": mapping.hf_config(cfg, special), "model.safetensors": mapping.to_hf(state, cfg),
            "tokenizer.json": tokenizer.to_str(), "tokenizer_config.json": tokenizer_config,
            "special_tokens_map.json": special_map}, architecture


def _image_files(checkpoint, kind) -> tuple[dict, str]:
    from ..models.dual_encoder import KIND as DUAL_ENCODER
    from ..models.vision_presets import VISION_KINDS
    from ..models.vit import VisionTransformer
    from ..vision.pretrained import load_image_model

    if kind not in (*VISION_KINDS, DUAL_ENCODER):
        raise HeadstartError(f"{checkpoint}: a {kind} model has no Hugging Face export here "
                             f"(supported: causal LM -> GPT-2, masked LM -> BERT, ViT -> ViTModel)")
    model, checkpoint, _ = load_image_model(checkpoint)
    if not isinstance(model, VisionTransformer):
        raise HeadstartError(f"{checkpoint}: only ViT image models export to Hugging Face (this one is a "
                             f"{type(model).__name__}, which has no transformers equivalent)")
    _refuse(checkpoint, "ViTModel", vit.unsupported(model.cfg))
    state = model.state_dict()
    return {"config.json": vit.hf_config(model.cfg), "model.safetensors": vit.to_hf(state, model.cfg),
            "preprocessor_config.json": vit.image_processor_config(model.cfg)}, "ViTModel"


