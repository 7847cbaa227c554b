"""Metrics go to ``metrics.jsonl`` (one JSON object a line, easy to plot or grep) and TensorBoard."""
from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Optional

from ..errors import HeadstartError

log = logging.getLogger("headstart.engine")


class MetricsLogger:
    """Appends to ``metrics.jsonl``, one line per write (nothing kept in memory).  ``history_until``:
    the step training continues from; rows logged after it, by an earlier attempt that died before its
    next checkpoint, are dropped first (TensorBoard hides its own with ``purge_step``)."""

    def __init__(self, run_dir: Path, tensorboard: bool = True, history_until: Optional[int] = None):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if history_until is not None and self.path.exists():
            _drop_rows_after(self.path, history_until)
        self._file = open(self.path, "a", buffering=1)
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                purge = None if history_until is None else history_until + 1
                self._tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"), purge_step=purge)
            except ImportError:  # tensorboard is a dependency, but keep training if a user removed it
                log.warning("tensorboard is not installed: metrics go to metrics.jsonl only")

    def log(self, step: int, split: str, values: dict[str, float]) -> None:
        clean = {k: (float(v) if math.isfinite(float(v)) else str(float(v))) for k, v in values.items()}
        try:
            self._file.write(json.dumps({"step": step, "split": split, **clean}) + "\n")
        except OSError as e:
            raise HeadstartError(f"could not write {self.path}: {e.strerror or e}") from None
        if self._tb is not None:
            for k, v in values.items():
                self._tb.add_scalar(f"{split}/{k}", float(v), step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


class NullMetrics:
    """What processes other than rank 0 log to: nothing (their numbers are rank 0's, all-reduced)."""

    def log(self, step: int, split: str, values: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


def _parse(line: str) -> Optional[dict]:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None


def _drop_rows_after(path: Path, step: int) -> None:
    lines = path.read_text().splitlines()
    # An unparsable line is one a kill cut short: dropped too.
    kept = [line for line in lines if (row := _parse(line)) is not None and row.get("step", 0) <= step]
    if len(kept) < len(lines):
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, path)
        log.info("%s: dropped %d rows logged after step %d, where training continues",
                 path, len(lines) - len(kept), step)


def read_metrics(run_dir: Path, split: Optional[str] = None) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows, lines = [], path.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        row = _parse(line)
        if row is None:
            if number == len(lines):  # cut short by a kill mid-write: the run ends before it
                break
            raise HeadstartError(f"{path}, line {number}: not a metrics row: {line[:80]!r}")
        rows.append(row)
    return [r for r in rows if split is None or r["split"] == split]
