"""Capture and restore every random-number generator, so a resumed run continues bit for bit.

Torch states are byte tensors (saved in safetensors); Python's and NumPy's are lists of ints (JSON).
"""
from __future__ import annotations

import random

import numpy as np
import torch

from ..errors import HeadstartError


def capture() -> tuple[dict, dict[str, torch.Tensor]]:
    """Return ``(json_part, tensor_part)``."""
    np_state = np.random.get_state()
    version, internal, gauss = random.getstate()
    json_part = {
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
        "numpy": {"kind": np_state[0], "keys": np_state[1].tolist(), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
    }
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = state
    return json_part, tensors


class RNGStateError(HeadstartError):
    """A checkpoint's saved generator state is not what ``capture`` wrote (edited, or from elsewhere).
    The message names the checkpoint's file; the caller that knows the checkpoint adds its folder."""


def restore(json_part: dict, tensors: dict[str, torch.Tensor]) -> None:
    try:
        py = json_part["python"]
        if not (py["gauss"] is None or isinstance(py["gauss"], float)):  # setstate keeps anything, gauss() fails
            raise TypeError(f"python.gauss is {py['gauss']!r}, expected a number or null")
        python_state = (py["version"], tuple(py["internal"]), py["gauss"])
        n = json_part["numpy"]
        numpy_state = (n["kind"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"],
                       n["cached_gaussian"])
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    except (KeyError, IndexError, TypeError, ValueError, OverflowError) as error:
        raise RNGStateError(f"state.json: 'rng' is not the generator state headstart writes "
                            f"({_what_is_wrong(error)}); the checkpoint was edited or damaged") from None
    try:
        torch.set_rng_state(tensors["torch_cpu"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise RNGStateError(f"rng.safetensors: no usable torch_cpu generator state ({_what_is_wrong(error)}); "
                            f"the checkpoint was edited or damaged") from None
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("torch_cuda_"))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


def _what_is_wrong(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"no {error.args[0]!r}"
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
