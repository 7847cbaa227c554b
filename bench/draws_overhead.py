"""What per-example draws (``headstart/engine/draws.py``) cost next to a training step, on this machine.

BEST-RQ draws its span-mask starts and its noise per clip, from a generator per row over the clip's own length
(so that padding elsewhere in the batch changes nothing under torchrun).  This times those draws for a batch of
64 clips of 40 mel bins at FSDD's lengths (60-100 frames) against plain ``torch.rand``/``torch.randn`` of the
padded shape (the draws before), and against one BEST-RQ training step of audio-tiny on the same batch.

    python bench/draws_overhead.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from headstart.engine import draws
from headstart.models.audio_encoder import AudioEncoder, audio_config
from headstart.objectives.best_rq import BestRQ

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predict_throughput import cpu_name  # noqa: E402


def best_of(fn, rounds: int = 5, repeat: int = 20) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        times.append((time.perf_counter() - t0) / repeat)
    return min(times)


def main() -> None:
    torch.manual_seed(0)
    b, t, m = 64, 100, 40
    lengths = torch.randint(60, t + 1, (b,))
    padding = torch.arange(t)[None, :] < lengths[:, None]
    frames = torch.randn(b, t, m)

    def per_example():
        with draws.batch_draws(0, draws.TRAIN, 7):
            draws.rand_rows(lengths, t)
            draws.randn_rows(lengths, t, m)

    def plain():
        torch.rand(b, t)
        torch.randn(b, t, m)

    model = AudioEncoder(audio_config("audio-tiny", n_mels=m))
    objective = BestRQ(model, codebook_size=1024, mask_prob=0.05, mask_span=10)
    optimizer = torch.optim.AdamW(objective.parameters(), lr=1e-3)
    batch = {"features": frames, "padding_mask": padding}

    def step():
        with draws.batch_draws(0, draws.TRAIN, 7):
            objective(batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    drawn, before = best_of(per_example), best_of(plain)
    step_s = best_of(step, rounds=3, repeat=5)
    print(f"CPU: {cpu_name()}, {torch.get_num_threads()} threads")
    print(f"per-example draws {1e3 * drawn:.2f} ms, plain torch draws {1e3 * before:.2f} ms "
          f"({drawn / before:.1f}x); one BEST-RQ step (audio-tiny, 64 clips) {1e3 * step_s:.1f} ms: the draws are "
          f"{100 * drawn / step_s:.1f}% of a step (plain draws {100 * before / step_s:.1f}%)")
    print("reproduce: python bench/draws_overhead.py")


if __name__ == "__main__":
    main()
