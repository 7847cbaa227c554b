"""Settings of the training engine, shared by every objective and by fine-tuning."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(gt=0, description="optimizer steps (at most, with time_budget)")
    time_budget: Optional[float] = Field(
        default=None, gt=0, description="wall-clock seconds (or '20m', '1.5h') training may take: the run measures "
                                        "its speed early and plans as many steps as fit (at most steps), with the "
                                        "learning-rate schedule over those; evaluations count too")
    batch_size: int = Field(gt=0, description="sequences (or samples) per micro-batch")
    grad_accum: int = Field(default=1, gt=0, description="micro-batches per optimizer step")
    lr: float = Field(gt=0)
    min_lr: float = Field(default=0.0, ge=0, description="floor of the cosine decay")
    warmup_steps: int = Field(default=0, ge=0)
    schedule: Literal["cosine", "constant", "linear"] = "cosine"
    weight_decay: float = Field(default=0.1, ge=0)
    optimizer: Literal["adamw", "muon"] = Field(
        default="adamw", description="muon: Muon for the 2-D weights inside transformer blocks (no weight decay), "
                                     "AdamW for the rest")
    muon_lr: float = Field(default=0.02, gt=0, description="muon: peak learning rate of the Muon matrices "
                                                           "(the schedule scales it as it scales lr)")
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: Optional[float] = Field(default=1.0, gt=0, description="max global grad norm; null = off")
    seed: int = 1337
    device: str = Field(default="auto", description="auto, cpu, cuda, cuda:N or mps")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto", description="auto = bf16 autocast on CUDA, fp32 elsewhere")
    compile: bool = False
    parallel: Literal["ddp", "fsdp"] = Field(
        default="ddp", description="under torchrun: ddp (a full copy per process) or fsdp (FSDP2 fully_shard: "
                                   "parameters, gradients and optimizer state split across processes)")
    sync_batch_norm: bool = Field(
        default=True, description="under torchrun: BatchNorm layers normalise over every process's batch together, "
                                  "as one process would (SimCLR's global BN); false = per process, one all-reduce "
                                  "fewer per BatchNorm layer")
    eval_every: int = Field(default=250, gt=0)
    eval_batches: int = Field(default=20, gt=0)
    log_every: int = Field(default=10, gt=0)
    checkpoint_every: Optional[int] = Field(default=None, gt=0, description="default: eval_every")
    keep_last: int = Field(default=2, gt=0, description="checkpoints kept besides the best")
    patience: Optional[int] = Field(default=None, gt=0,
                                    description="early stopping: evaluations without improvement before stopping")
    max_nonfinite_steps: int = Field(default=10, ge=0, description="skipped non-finite steps before the run stops")
    progress: bool = True
    # The cost record (engine/energy.py): none of these changes what is computed.
    carbon_intensity: Optional[float] = Field(
        default=None, ge=0, description="grid g CO2e per kWh for the CO2 estimate; default: "
                                        "$HEADSTART_CARBON_INTENSITY, else 475 (world average, IEA 2019)")
    power_watts: Optional[float] = Field(
        default=None, gt=0, description="the hardware's average power draw, W: energy = this x wall time, "
                                        "instead of measuring or estimating it")
    device_tdp_watts: Optional[float] = Field(
        default=None, gt=0, description="TDP of the training device (the CPU package, or the GPU board), W, for "
                                        "the energy estimate where no counter can be read")

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, value):
        """"90s", "20m", "1.5h" or a number of seconds."""
        if isinstance(value, str):
            units = {"s": 1, "m": 60, "h": 3600}
            text = value.strip().lower()
            try:
                return float(text[:-1]) * units[text[-1]] if text[-1:] in units else float(text)
            except ValueError:
                raise ValueError(f"expected seconds or a duration such as 20m or 1.5h, got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "TrainConfig":
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")
        if self.warmup_steps > self.steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must not exceed steps ({self.steps})")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must lie in [0, 1), got {list(self.betas)}")
        return self
