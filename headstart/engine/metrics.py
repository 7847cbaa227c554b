"""Metrics go to ``metrics.jsonl`` (one JSON object a line, easy to plot or grep) and TensorBoard."""
from __future__ import annotations

import json
import logging
import math
import os
import threading
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
        try:  # a disk that is full (or read-only) before the first step: one line, not a traceback
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if history_until is not None and self.path.exists():
                _drop_rows_after(self.path, history_until)
            self._file = open(self.path, "a", buffering=1)
        except OSError as e:
            raise HeadstartError(f"could not write {self.path}: {e.strerror or e}") from None
        self._tb, self._tb_error = None, None
        self.tb_dir = Path(run_dir) / "tensorboard"
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                purge = None if history_until is None else history_until + 1
                _report_writer_errors_once()
                self._tb = SummaryWriter(log_dir=str(self.tb_dir), purge_step=purge)
            except ImportError:  # tensorboard is a dependency, but keep training if a user removed it
                log.warning("tensorboard is not installed: metrics go to metrics.jsonl only")
            except OSError as e:
                self._file.close()
                raise HeadstartError(f"could not write {self.tb_dir}: {e.strerror or e}") from None

    def log(self, step: int, split: str, values: dict[str, float]) -> None:
        clean = {k: (float(v) if math.isfinite(float(v)) else str(float(v))) for k, v in values.items()}
        try:
            self._file.write(json.dumps({"step": step, "split": split, **clean}) + "\n")
        except OSError as e:
            raise HeadstartError(f"could not write {self.path}: {e.strerror or e}") from None
        if self._tb is not None:
            try:  # the writer's thread writes the file: its OSError (a full disk) surfaces at the next call
                for k, v in values.items():
                    self._tb.add_scalar(f"{split}/{k}", float(v), step)
            except OSError as e:
                self._tb_error = e  # reported here: close() need not say it again
                raise HeadstartError(f"could not write {self.tb_dir}: {e.strerror or e} (metrics.jsonl holds "
                                     f"the rows up to step {step})") from None

    def close(self) -> None:
        """Called as training ends, also by an error: raising here would hide that error behind this one."""
        try:
            self._file.close()
            if self._tb is not None:
                self._tb.close()
        except OSError as e:
            if self._tb_error is None:
                log.warning("could not finish writing the metrics in %s: %s", self.path.parent, e.strerror or e)


def _report_writer_errors_once() -> None:
    """Keep TensorBoard's writer thread from printing a traceback for an OSError (a full disk): the same
    error is raised again in the training thread at the next write, where ``log`` makes it one line."""
    previous = threading.excepthook
    if getattr(previous, "headstart_quiet_writer", False):
        return

    def hook(args) -> None:
        if not (isinstance(args.exc_value, OSError) and type(args.thread).__name__ == "_AsyncWriterThread"):
            previous(args)

    hook.headstart_quiet_writer = True
    threading.excepthook = hook


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
