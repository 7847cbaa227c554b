"""``headstart generate``: sample text from a causal-LM checkpoint."""
from __future__ import annotations

from typing import Optional

import torch

from ..errors import HeadstartError
from .pretrained import load_text_model
from .tokenizer import special_token_ids


@torch.no_grad()
def sample(model, tokens: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
           top_k: Optional[int] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Extend ``tokens`` (B, T) by ``max_new_tokens`` sampled tokens, cropping to the model's context."""
    context = model.cfg.context_length
    for _ in range(max_new_tokens):
        logits = model(tokens[:, -context:])[:, -1, :].float()
        if temperature == 0:
            nxt = logits.argmax(-1, keepdim=True)
        else:
            logits = logits / temperature
            if top_k:
                kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            nxt = torch.multinomial(logits.softmax(-1), 1, generator=generator)
        tokens = torch.cat([tokens, nxt], dim=1)
    return tokens


def generate(checkpoint, prompt: str = "", *, max_new_tokens: int = 200, temperature: float = 0.8,
             top_k: Optional[int] = 200, num_samples: int = 1, seed: int = 0) -> list[str]:
    """Sample ``num_samples`` continuations of ``prompt``; an empty prompt starts a new document."""
    if temperature < 0:
        raise HeadstartError(f"--temperature must be >= 0 (got {temperature})")
    model, tokenizer, path, _ = load_text_model(checkpoint)
    if not model.cfg.causal:
        raise HeadstartError(f"{path} holds a masked (bidirectional) LM; generate needs a causal-LM checkpoint")
    ids = tokenizer.encode(prompt).ids if prompt else [special_token_ids(tokenizer)["eos"]]
    start = torch.tensor([ids] * num_samples, dtype=torch.long)
    out = sample(model, start, max_new_tokens, temperature=temperature, top_k=top_k,
                 generator=torch.Generator().manual_seed(seed))
    return [prompt + tokenizer.decode(row[len(ids):].tolist(), skip_special_tokens=False) for row in out]
