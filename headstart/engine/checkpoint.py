"""Checkpoints: one directory per saved step, written atomically, no pickle anywhere.

    checkpoints/step_000500/
        model.safetensors       the model alone (what fine-tuning and export read)
        objective.safetensors   other trained parameters of the objective (heads), if any
        optimizer.safetensors   optimizer tensors; optimizer.json holds its hyper-parameters
        rng.safetensors         torch RNG states
        state.json              step, python/numpy RNG, data position, metrics, full run config
        + extra files (tokenizer.json, ...)
    checkpoints/best.json       which step is best, by which metric

The invariant: a directory named ``step_*`` is always a complete checkpoint.  A checkpoint is first
written to a hidden ``.step_000500.tmp-PID`` directory, ``state.json`` last (it lists every other file
and its size), flushed to disk, then renamed; one is deleted by renaming it to a hidden
``.trash-step_000500-PID`` first.  Both renames are atomic, so a crash (kill -9, a full disk) at any
moment leaves whole checkpoints only, and the previous one as the latest.  Hidden leftovers of a crash
are removed by the next save.  ``latest()`` and ``best()`` still check each candidate against its
``state.json`` and skip (with a warning) one that was damaged from outside, by hand or by a copy.

The directory holds one history: saving step N first removes checkpoints of steps N and above, left
by a run that was later resumed from an earlier checkpoint.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Optional

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import HeadstartError

log = logging.getLogger("headstart.engine")

STEP_DIR = re.compile(r"^step_(\d{6,})$")
COMPILE_PREFIX = "_orig_mod."
# What a checkpoint written before state.json listed its files must hold.
REQUIRED_FILES = ("model.safetensors", "optimizer.safetensors", "optimizer.json", "rng.safetensors")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, obj) -> None:
    """Write ``path`` whole or not at all (the old content stays if the disk is full)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise HeadstartError(f"could not write {path}: {e.strerror or e}") from None


def step_of(path: Path) -> int:
    return int(STEP_DIR.match(Path(path).name).group(1))


def incomplete(path: Path) -> Optional[str]:
    """Why step directory ``path`` is not a whole checkpoint, or None when it is one."""
    try:
        state = json.loads((Path(path) / "state.json").read_text())
    except FileNotFoundError:
        return "no state.json"
    except (OSError, ValueError) as e:
        return f"state.json unreadable ({e})"
    if STEP_DIR.match(Path(path).name) and state.get("step") != step_of(path):
        return f"state.json is for step {state.get('step')}"
    for name, size in (state.get("files") or dict.fromkeys(REQUIRED_FILES)).items():
        try:
            actual = (Path(path) / name).stat().st_size
        except FileNotFoundError:
            return f"{name} is missing"
        if size is not None and actual != size:
            return f"{name} has {actual} bytes instead of {size}"
    return None


def unwrap(module: nn.Module) -> nn.Module:
    """The module under ``torch.compile`` (and later DDP) wrappers, so saved keys carry no prefix."""
    while hasattr(module, "_orig_mod") or hasattr(module, "module"):
        module = getattr(module, "_orig_mod", None) or module.module
    return module


def optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    return optimizer_state_to_tensors(opt.state_dict())


def optimizer_state_to_tensors(sd: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer state dict as safetensors-ready tensors ("index.name") and JSON metadata."""
    tensors = {f"{idx}.{name}": value.contiguous() for idx, state in sd["state"].items()
               for name, value in state.items() if torch.is_tensor(value)}
    scalars = {f"{idx}.{name}": value for idx, state in sd["state"].items()
               for name, value in state.items() if not torch.is_tensor(value)}
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_tensors(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in list(tensors.items()) + list(meta.get("scalars", {}).items()):
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


class Checkpointer:
    def __init__(self, directory: Path, keep_last: int = 2):
        self.dir = Path(directory)
        self.keep_last = keep_last

    # ---- finding -------------------------------------------------------------------------------
    def steps(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        found = [p for p in self.dir.iterdir() if p.is_dir() and STEP_DIR.match(p.name)]
        return sorted(found, key=step_of)

    def latest(self) -> Optional[Path]:
        """The complete checkpoint of the highest step."""
        return next((p for p in reversed(self.steps()) if self._complete(p)), None)

    def best(self) -> Optional[Path]:
        info = self.dir / "best.json"
        try:
            name = json.loads(info.read_text())["checkpoint"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("%s: unreadable (%s); ignoring it", info, e)
            return None
        path = self.dir / str(name)
        return path if STEP_DIR.match(path.name) and path.is_dir() and self._complete(path) else None

    @staticmethod
    def _complete(path: Path) -> bool:
        problem = incomplete(path)
        if problem:
            log.warning("skipping checkpoint %s: incomplete (%s)", path, problem)
        return problem is None

    # ---- saving --------------------------------------------------------------------------------
    def save(self, step: int, *, model: nn.Module, objective: nn.Module, optimizer: torch.optim.Optimizer,
             rng_tensors: dict[str, torch.Tensor], state: dict, extra_files: dict[str, Path] = (),
             best_metric: Optional[tuple[str, float]] = None, gathered: Optional[dict] = None) -> Path:
        """``gathered``: the full tensors of a sharded (FSDP) run, already collected from every rank:
        ``{"model": ..., "objective": ..., "optimizer": (tensors, meta)}``, saved instead of the modules'."""
        final = self.dir / f"step_{step:06d}"
        tmp = self.dir / f".{final.name}.tmp-{os.getpid()}"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            if gathered is None:
                tensors = model_tensors(unwrap(model))
                extra = {k: v.contiguous() for k, v in unwrap(objective).state_dict().items()
                         if not k.startswith("model.")}
                opt_tensors, opt_meta = optimizer_to_tensors(optimizer)
            else:
                tensors, extra, (opt_tensors, opt_meta) = gathered["model"], gathered["objective"], gathered["optimizer"]
            save_file(tensors, str(tmp / "model.safetensors"))
            if extra:
                save_file(extra, str(tmp / "objective.safetensors"))
            save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
            (tmp / "optimizer.json").write_text(json.dumps(opt_meta))
            save_file({k: v.contiguous() for k, v in rng_tensors.items()}, str(tmp / "rng.safetensors"))
            for name, src in dict(extra_files).items():
                shutil.copyfile(src, tmp / name)
            # state.json last, listing what came before it: a directory whose files do not match
            # its state.json is not a checkpoint (see incomplete()).
            files = {f.name: f.stat().st_size for f in sorted(tmp.iterdir())}
            (tmp / "state.json").write_text(json.dumps({**state, "files": files}, indent=2))
            for f in tmp.iterdir():
                with open(f, "rb+") as fh:
                    os.fsync(fh.fileno())
            # Steps N and above are from a run later resumed from an earlier checkpoint (or this very
            # step, saved before): out of the way, each in one atomic rename, and best.json first if
            # it names one of them (it would name the new step N otherwise).
            best = self.best()
            if best is not None and step_of(best) >= step:
                (self.dir / "best.json").unlink()
            for stale in reversed(self.steps()):
                if step_of(stale) >= step:
                    self._discard(stale)
            os.rename(tmp, final)
            _fsync_dir(self.dir)
        except (OSError, SafetensorError) as e:  # safetensors reports a full disk as SafetensorError
            shutil.rmtree(tmp, ignore_errors=True)
            previous = self.latest()
            reason = getattr(e, "strerror", None) or str(e).removeprefix("Error while serializing: ")
            raise HeadstartError(f"could not write checkpoint {final}: {reason}; "
                                 + (f"the previous checkpoint is intact: {previous}" if previous
                                    else "no earlier checkpoint")) from None
        if best_metric is not None:
            write_json_atomic(self.dir / "best.json", {"checkpoint": final.name, "step": step,
                                                       "metric": best_metric[0], "value": best_metric[1]})
        self._prune()
        return final

    def _prune(self) -> None:
        best = self.best()
        complete = []
        for path in self.steps():
            problem = incomplete(path)
            if problem:  # damaged from outside: it can never be resumed from
                log.warning("removing incomplete checkpoint %s (%s)", path, problem)
                self._discard(path)
            else:
                complete.append(path)
        for old in complete[: -self.keep_last]:
            if best is None or old.name != best.name:
                self._discard(old)
        for leftover in [*self.dir.glob(".step_*.tmp-*"), *self.dir.glob(".trash-*")]:  # a crashed writer's
            shutil.rmtree(leftover, ignore_errors=True)

    def _discard(self, path: Path) -> None:
        """Delete a step directory without a moment where a partial ``step_*`` exists: a kill during
        the slow part (rmtree) leaves a hidden ``.trash-*`` directory, which the next save removes."""
        trash = self.dir / f".trash-{path.name}-{os.getpid()}"
        shutil.rmtree(trash, ignore_errors=True)
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)


def save_fitted(checkpointer: Checkpointer, step: int, objective: nn.Module, state: dict,
                extra_files: dict[str, Path] = (), best_metric: Optional[tuple[str, float]] = None) -> Path:
    """A checkpoint of weights fitted outside the engine's loop (gensim's word vectors, a probe's closed-form
    head): the same layout and atomicity as a training checkpoint, with an empty optimizer state."""
    from .rng import capture
    rng_json, rng_tensors = capture()
    no_state = torch.optim.SGD(objective.parameters(), lr=0.0)  # nothing to resume an optimizer from
    return checkpointer.save(step, model=objective.model, objective=objective, optimizer=no_state,
                             rng_tensors=rng_tensors, state={"nonfinite_steps": 0, "world_size": 1, "rng": rng_json,
                                                             "torch_version": torch.__version__, **state, "step": step},
                             extra_files=extra_files, best_metric=best_metric)


# ---- loading (no pickle: safetensors + JSON only) ----------------------------------------------
def read_state(path: Path) -> dict:
    try:
        return json.loads((Path(path) / "state.json").read_text())
    except FileNotFoundError:
        raise HeadstartError(f"{path}: not a headstart checkpoint (no state.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HeadstartError(f"{path}/state.json: not valid JSON ({e})") from None


def _tied_aliases(model: nn.Module) -> dict[str, str]:
    """{alias: first name} for state-dict entries that share storage with an earlier one (tied weights)."""
    first, aliases = {}, {}
    for name, t in model.state_dict(keep_vars=True).items():
        key = (t.data_ptr(), tuple(t.shape), tuple(t.stride()))
        if key in first:
            aliases[name] = first[key]
        else:
            first[key] = name
    return aliases


def model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict with each tied tensor once, under its first name (``tok_emb.weight``)."""
    aliases = _tied_aliases(model)
    return {k: v.detach().contiguous() for k, v in model.state_dict().items() if k not in aliases}


def load_model_weights(model: nn.Module, path: Path, strict: bool = True, prefix: str = "") -> None:
    """Load checkpoint ``path``'s weights into ``model``; ``prefix`` picks one part of a larger model
    (``"image."``: the image tower of a dual encoder)."""
    file = Path(path) / "model.safetensors"
    if not file.exists():
        raise HeadstartError(f"{path}: no model.safetensors in this checkpoint")
    model = unwrap(model)
    tensors = strip_compile_prefix(load_tensors(file))
    if prefix:
        tensors = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as e:
        reason = next((line.strip() for line in str(e).splitlines() if "size mismatch" in line), str(e).splitlines()[0])
        raise HeadstartError(f"{file}: weights do not fit this model ({reason})") from None
    missing = [k for k in missing if k not in _tied_aliases(model)]
    if strict and (missing or unexpected):
        raise HeadstartError(f"{file}: weights do not fit this model "
                             f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")


def load_objective_weights(objective: nn.Module, path: Path) -> None:
    """The model's weights and the objective's own (task heads, projections) from checkpoint ``path``.

    The objective's own weights must match its state dict name for name: a head that silently kept its
    random init would fine-tune (or be scored) from the wrong start with no sign of it."""
    objective = unwrap(objective)
    load_model_weights(objective.model, path)
    extra_file = Path(path) / "objective.safetensors"
    saved = strip_compile_prefix(load_tensors(extra_file)) if extra_file.exists() else {}
    # The model's entries came from model.safetensors; a weight tied to another one is saved once (sharded
    # runs save it under its first name only), so it need not be in the file.
    aliases = _tied_aliases(objective)
    own = [k for k in objective.state_dict() if not k.startswith("model.")]
    missing = sorted(k for k in own if k not in saved and k not in aliases)
    unexpected = sorted(k for k in saved if k not in own)
    if missing or unexpected:
        raise HeadstartError(f"{extra_file}: the objective's weights do not fit this {type(objective).__name__} "
                             f"(missing {_some(missing)}; unexpected {_some(unexpected)})")
    try:
        objective.load_state_dict(saved, strict=False)  # not strict: the model's entries are not in this file
    except RuntimeError as e:
        reason = next((line.strip() for line in str(e).splitlines() if "size mismatch" in line), str(e).splitlines()[0])
        raise HeadstartError(f"{extra_file}: the objective's weights do not fit this "
                             f"{type(objective).__name__} ({reason})") from None


def _some(keys: list[str], shown: int = 3) -> str:
    """"2 (head.bias, head.weight)": a count and the first few names, for a one-line message."""
    if not keys:
        return "0"
    return f"{len(keys)} ({', '.join(keys[:shown])}{', ...' if len(keys) > shown else ''})"


def load_tensors(file: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(file))
    except (SafetensorError, OSError) as e:
        raise HeadstartError(f"{file}: unreadable ({e})") from None


def strip_compile_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k.replace(COMPILE_PREFIX, ""): v for k, v in state.items()}


def resolve_checkpoint(path, prefer: str = "best") -> Path:
    """A step directory from a run directory, a checkpoints directory, or a step directory itself."""
    path = Path(path)
    if (path / "state.json").exists():
        return path
    for directory in (path / "checkpoints", path):
        ck = Checkpointer(directory)
        found = (ck.best() or ck.latest()) if prefer == "best" else (ck.latest() or ck.best())
        if found is not None:
            return found
    raise HeadstartError(f"{path}: no checkpoint found (expected a run directory or a checkpoints/step_* directory)")
