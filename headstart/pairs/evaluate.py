"""What an image–text model is judged on without any fine-tuning: retrieval and zero-shot classification.

* **Retrieval** (image->text and text->image Recall@K): embed N held-out pairs; for each image, is its
  own caption among the K captions closest to it (and the other way round)?  Each query has exactly
  one right answer, so when several pairs share a caption (as in a data set of digit captions) an
  equally good neighbour counts as a miss: R@1 is then bounded by the duplicates, which the report says.
* **Zero-shot classification** (CLIP's protocol): each class name is put into prompt templates ("a
  photo of a {}."), the prompts' text embeddings are averaged into one unit vector per class, and each
  image gets the class whose vector is closest.  No label is used.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.dual_encoder import DualEncoder
from ..tokenizer import special_token_ids
from ..vision.batches import pixels_to_images
from .arrays import PairArrays
from .batches import pair_batch

RECALL_AT = (1, 5, 10)
DEFAULT_TEMPLATES = ("a photo of a {}.", "a picture of a {}.", "an image of a {}.", "a photo of the {}.", "{}")


@contextmanager
def evaluating(model: nn.Module) -> Iterator[torch.device]:
    """Eval mode and no gradients inside, the model's previous mode after; yields its device."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield next(model.parameters()).device
    finally:
        model.train(was_training)


def embed_pairs(model: DualEncoder, pairs: PairArrays, limit: Optional[int] = None,
                batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(image embeddings, caption embeddings) of the first ``limit`` pairs, in eval mode, on the model's device."""
    count = len(pairs) if limit is None else min(limit, len(pairs))
    images, texts = [], []
    with evaluating(model) as device:
        for start in range(0, count, batch_size):
            batch = pair_batch(*pairs.read(np.arange(start, min(start + batch_size, count))))
            batch = {k: v.to(device) for k, v in batch.items()}
            images.append(model.encode_image(batch["images"]).float())
            texts.append(model.encode_text(batch["tokens"], batch["lengths"]).float())
    return torch.cat(images), torch.cat(texts)


def retrieval_recall(image_emb: torch.Tensor, text_emb: torch.Tensor, ks: Iterable[int] = RECALL_AT) -> dict[str, float]:
    """``{"i2t_R@1": ..., "t2i_R@1": ..., ...}``: the share of queries whose partner ranks in the top K."""
    sims = image_emb @ text_emb.T
    own = sims.diagonal()
    # Rank = how many candidates score strictly higher than the partner (ties go the query's way).
    i2t_rank = (sims > own[:, None]).sum(1)
    t2i_rank = (sims > own[None, :]).sum(0)
    out = {}
    for k in ks:
        out[f"i2t_R@{k}"] = (i2t_rank < k).float().mean().item()
        out[f"t2i_R@{k}"] = (t2i_rank < k).float().mean().item()
    return out


def tokenize_prompts(tokenizer, prompts: Sequence[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts -> (tokens (n, T) int64, lengths (n,)), tokenised as ``prepare pairs`` tokenised captions."""
    pad = special_token_ids(tokenizer)["pad"]
    ids = [enc.ids[:max_len] or [pad] for enc in tokenizer.encode_batch(list(prompts), add_special_tokens=False)]
    longest = max(len(i) for i in ids)
    tokens = torch.full((len(ids), longest), pad, dtype=torch.long)
    for row, i in enumerate(ids):
        tokens[row, :len(i)] = torch.tensor(i)
    return tokens, torch.tensor([len(i) for i in ids])


def class_embeddings(model: DualEncoder, tokenizer, class_names: Sequence[str],
                     templates: Sequence[str] = DEFAULT_TEMPLATES) -> torch.Tensor:
    """(classes, embed_dim): each class's prompts embedded, averaged and re-normalised (CLIP's ensemble)."""
    prompts = [template.format(name) for name in class_names for template in templates]
    tokens, lengths = tokenize_prompts(tokenizer, prompts, model.text.cfg.context_length)
    with evaluating(model) as device:  # every prompt of every class in one pass
        embedded = model.encode_text(tokens.to(device), lengths.to(device))
    return F.normalize(embedded.view(len(class_names), len(templates), -1).mean(1), dim=-1)


def zero_shot_predict(model: DualEncoder, pixels: np.ndarray, classes: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Predicted class of each image in ``pixels`` (N, H, W, C) uint8 against ``class_embeddings``."""
    predictions = []
    with evaluating(model) as device:
        for start in range(0, len(pixels), batch_size):
            images = pixels_to_images(np.asarray(pixels[start: start + batch_size])).to(device)
            predictions.append((model.encode_image(images).float() @ classes.T.float()).argmax(1).cpu())
    return torch.cat(predictions).numpy() if predictions else np.zeros(0, dtype=np.int64)


def zero_shot_accuracy(model: DualEncoder, tokenizer, pixels: np.ndarray, labels: np.ndarray,
                       class_names: Sequence[str], templates: Sequence[str] = DEFAULT_TEMPLATES) -> float:
    """Share of ``pixels`` whose zero-shot prediction is their label (class ids index ``class_names``)."""
    predictions = zero_shot_predict(model, pixels, class_embeddings(model, tokenizer, class_names, templates))
    return float((predictions == np.asarray(labels)).mean())
