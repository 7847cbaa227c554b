"""``headstart generate``: sample text from a causal-LM checkpoint.

Options are checked before the model is loaded: ``--temperature nan`` reached ``torch.multinomial`` as a
probability tensor of NaNs.  A prompt character the tokenizer does not know (a character-level
vocabulary has only the corpus's characters) would become ``<unk>`` and the sample would continue
something other than what was typed: that is an error, or with ``unknown_chars="replace"`` a warning
that counts them, and the printed prompt shows the ``<unk>`` the model saw.
"""
from __future__ import annotations

import logging
import math
from typing import Optional

import torch

from ..errors import HeadstartError
from .pretrained import load_text_model
from ..tokenizer import SPECIAL_TOKENS, special_token_ids

log = logging.getLogger("headstart")

UNKNOWN_CHARS = ("error", "replace")


@torch.no_grad()
def sample(model, tokens: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
           top_k: Optional[int] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Extend ``tokens`` (B, T) by ``max_new_tokens`` sampled tokens, cropping to the model's context."""
    context = model.cfg.context_length
    for _ in range(max_new_tokens):
        logits = model(tokens[:, -context:])[:, -1, :].float()
        if not torch.isfinite(logits).all():
            raise HeadstartError("the model's next-token scores are NaN or infinite: its weights are not finite "
                                 "numbers (a pre-training run that diverged?)")
        if temperature == 0:
            nxt = logits.argmax(-1, keepdim=True)
        else:
            logits = logits / temperature
            if top_k:
                kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            # A tiny temperature overflows the scaled scores to inf, and softmax makes NaN of them:
            # the limit of sampling as the temperature goes to 0 is the argmax.
            probabilities = logits.softmax(-1)
            if torch.isfinite(probabilities).all():
                nxt = torch.multinomial(probabilities, 1, generator=generator)
            else:
                nxt = logits.argmax(-1, keepdim=True)
        tokens = torch.cat([tokens, nxt], dim=1)
    return tokens


def check_sampling(temperature: float, top_k: Optional[int], max_new_tokens: int, num_samples: int) -> None:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        raise HeadstartError(f"--temperature {temperature}: expected a finite number >= 0 (0 = greedy)")
    if top_k is not None and not (isinstance(top_k, int) and top_k >= 1):
        raise HeadstartError(f"--top-k {top_k}: expected a whole number >= 1, or none (0 on the command line) "
                             f"for no limit")
    if not (isinstance(max_new_tokens, int) and max_new_tokens >= 1):
        raise HeadstartError(f"--max-new-tokens {max_new_tokens}: expected a whole number >= 1")
    if not (isinstance(num_samples, int) and num_samples >= 1):
        raise HeadstartError(f"--num-samples {num_samples}: expected a whole number >= 1")


def encode_prompt(tokenizer, prompt: str, unknown_chars: str = "error") -> tuple[list[int], str]:
    """(the prompt's ids, the prompt as the model sees it: unknown characters shown as ``<unk>``)."""
    if unknown_chars not in UNKNOWN_CHARS:
        raise HeadstartError(f"--unknown-chars {unknown_chars}: expected one of {', '.join(UNKNOWN_CHARS)}")
    encoding = tokenizer.encode(prompt)
    unk = special_token_ids(tokenizer)["unk"]
    spans = [span for token_id, span in zip(encoding.ids, encoding.offsets) if token_id == unk]
    unknown = [prompt[start:end] for start, end in spans if prompt[start:end] != SPECIAL_TOKENS["unk"]]
    if not unknown:
        return encoding.ids, prompt
    listed = ", ".join(repr(char) for char in dict.fromkeys(unknown))
    if unknown_chars == "error":
        raise HeadstartError(f"--prompt: {len(unknown)} character(s) the model's tokenizer does not know ({listed}); "
                             f"remove them, or pass --unknown-chars replace to feed them as <unk>")
    log.warning("replaced %d prompt character(s) the tokenizer does not know (%s) with <unk>", len(unknown), listed)
    seen, end = [], 0
    for start, stop in spans:
        seen += [prompt[end:start], SPECIAL_TOKENS["unk"]]
        end = stop
    return encoding.ids, "".join(seen) + prompt[end:]


def generate(checkpoint, prompt: str = "", *, max_new_tokens: int = 200, temperature: float = 0.8,
             top_k: Optional[int] = 200, num_samples: int = 1, seed: int = 0,
             unknown_chars: str = "error") -> list[str]:
    """Sample ``num_samples`` continuations of ``prompt``; an empty prompt starts a new document.
    ``unknown_chars``: "error" (a prompt character the tokenizer lacks is an error) or "replace"."""
    check_sampling(temperature, top_k, max_new_tokens, num_samples)
    model, tokenizer, path, _ = load_text_model(checkpoint)
    if not model.cfg.causal:
        raise HeadstartError(f"{path} holds a masked (bidirectional) LM; generate needs a causal-LM checkpoint")
    ids, shown = encode_prompt(tokenizer, prompt, unknown_chars) if prompt else (
        [special_token_ids(tokenizer)["eos"]], "")
    start = torch.tensor([ids] * num_samples, dtype=torch.long)
    try:
        out = sample(model, start, max_new_tokens, temperature=temperature, top_k=top_k,
                     generator=torch.Generator().manual_seed(seed))
    except HeadstartError as error:
        raise HeadstartError(f"{path}: {error}") from None
    return [shown + tokenizer.decode(row[len(ids):].tolist(), skip_special_tokens=False) for row in out]
