"""Write a headstart checkpoint as a Hugging Face model directory.

    config.json, model.safetensors            GPT2LMHeadModel / LlamaForCausalLM / Qwen3ForCausalLM /
                                              BertForMaskedLM / ViTModel, or for a fine-tuned classifier
                                              (classifier_export.py) GPT2/Llama/Qwen3/BertForSequence-
                                              Classification / ViTForImageClassification
    tokenizer.json, tokenizer_config.json,    text models: load with AutoTokenizer
    special_tokens_map.json
    preprocessor_config.json                  ViTs: load with AutoImageProcessor
    README.md                                 where the weights came from

``export`` is what ``headstart export`` calls: a fine-tuning run (or its classifier/ folder) exports its
classifier, to Hugging Face or to ONNX; a pre-training run exports its checkpoint to Hugging Face.
"""
from __future__ import annotations

from pathlib import Path

from ..classifier.saved import CLASSIFIER_DIR
from ..engine.checkpoint import read_state, resolve_checkpoint
from ..errors import HeadstartError
from ..modality import checkpoint_kind, load_pretrained
from ..tokenizer import special_token_ids
from . import bert, gpt2, llama, vit
from .directory import BERT_HINT, check_new_directory, refuse, tokenizer_files, write_directory

FORMATS = ("hf", "onnx")
GPT2_HINT = ("; a rotary decoder (positions: rope, norm: rmsnorm, activation: swiglu, as the modern-* presets) "
             "exports to LlamaForCausalLM instead")
# ModernBERT is transformers' rotary encoder, but not headstart's layout: said rather than approximated.
ROTARY_ENCODER = ("no transformers class holds a rotary headstart encoder exactly: ModernBERT normalises the "
                  "embeddings and has no norm before its first attention")

def export(source, out, fmt: str = "hf") -> Path:
    """Export ``source`` to the new directory ``out`` in format ``fmt`` (``hf`` or ``onnx``): a fine-tuning
    run's classifier, else a pre-training checkpoint (Hugging Face only)."""
    source, out = Path(source), Path(out)
    if fmt not in FORMATS:
        raise HeadstartError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    check_new_directory(out)
    is_classifier = any((folder / "classifier.json").is_file() for folder in (source, source / CLASSIFIER_DIR))
    if fmt == "onnx":
        if not is_classifier:
            raise HeadstartError(f"{source}: --format onnx exports fine-tuned classifiers and this is no fine-tuning "
                                 f"run; fine-tune it first, or export the pre-trained model with --format hf")
        from ..classifier.onnx_export import export_onnx
        return export_onnx(source, out)
    if is_classifier:
        from .classifier_export import export_classifier
        return export_classifier(source, out)
    return export_checkpoint(source, out)


def export_checkpoint(source, out) -> Path:
    """Export the best (else latest) checkpoint of run ``source`` (or checkpoint ``source``) to ``out``."""
    checkpoint = resolve_checkpoint(source)
    out = Path(out)
    check_new_directory(out)
    kind = checkpoint_kind(read_state(checkpoint).get("config", {}).get("model") or {})
    if kind == "transformer":
        files, architecture = _text_files(checkpoint)
    else:
        files, architecture = _image_files(checkpoint, kind)
    write_directory(out, files, f"# {architecture} exported by headstart\n\nFrom checkpoint `{checkpoint}`.\n"
                                f"Load it with `transformers.Auto*.from_pretrained(\"{out}\")`.\n")
    return out


def _text_files(checkpoint) -> tuple[dict, str]:
    loaded = load_pretrained(checkpoint)
    model, tokenizer, checkpoint = loaded.model, loaded.tokenizer, loaded.checkpoint
    cfg, special, state = model.cfg, special_token_ids(tokenizer), model.state_dict()
    if cfg.causal and cfg.positions == "rope":  # Llama, or Qwen3 with QK-norm
        architecture = llama.architecture(cfg)
        problems = llama.unsupported(cfg, state)
        refuse(checkpoint, architecture, problems, llama.nearest(problems) if problems else "")
        return {"config.json": llama.hf_config(cfg, special), "model.safetensors": llama.to_hf(state, cfg),
                **tokenizer_files(tokenizer, cfg, cfg.context_length)}, architecture
    mapping, architecture = (gpt2, "GPT2LMHeadModel") if cfg.causal else (bert, "BertForMaskedLM")
    hint = GPT2_HINT if cfg.causal else BERT_HINT + " to export a masked LM"
    if not cfg.causal and cfg.positions == "rope":
        hint = f"{hint} ({ROTARY_ENCODER})"
    refuse(checkpoint, architecture, mapping.unsupported(cfg), hint)
    return {"config.json": mapping.hf_config(cfg, special), "model.safetensors": mapping.to_hf(state, cfg),
            **tokenizer_files(tokenizer, cfg, cfg.context_length)}, architecture


def _image_files(checkpoint, kind) -> tuple[dict, str]:
    from ..models.dual_encoder import KIND as DUAL_ENCODER
    from ..models.vision_presets import VISION_KINDS
    from ..models.vit import VisionTransformer

    if kind not in (*VISION_KINDS, DUAL_ENCODER):
        raise HeadstartError(f"{checkpoint}: a {kind} model has no Hugging Face export here "
                             f"(supported: causal LM -> GPT-2, masked LM -> BERT, ViT -> ViTModel)")
    loaded = load_pretrained(checkpoint)
    # An image-text model exports its image tower.
    model, checkpoint = (loaded.model.image if kind == DUAL_ENCODER else loaded.model), loaded.checkpoint
    if not isinstance(model, VisionTransformer):
        raise HeadstartError(f"{checkpoint}: only ViT image models export to Hugging Face (this one is a "
                             f"{type(model).__name__}, which has no transformers equivalent)")
    refuse(checkpoint, "ViTModel", vit.unsupported(model.cfg))
    state = model.state_dict()
    return {"config.json": vit.hf_config(model.cfg), "model.safetensors": vit.to_hf(state, model.cfg),
            "preprocessor_config.json": vit.image_processor_config(model.cfg)}, "ViTModel"


