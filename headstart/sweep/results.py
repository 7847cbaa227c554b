"""A sweep's outputs: trials.json and trials.csv (every trial), best.yaml (a config ``pretrain`` or
``finetune`` runs as it is), report.html and report.md."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Optional

import yaml

from ..engine.checkpoint import write_json_atomic
from .config import Sweep, trial_dir

STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}


def trial_rows(sweep: Sweep, study) -> list[dict]:
    """One row per trial, in order: its params (the default trial's are the base config's values), state,
    value, the last intermediate value (what a pruned trial was stopped at), steps and seconds."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        last = max(trial.intermediate_values.items()) if trial.intermediate_values else (None, None)
        rows.append({
            "number": trial.number, "default": bool(attrs.get("default")),
            "params": dict(attrs["values"]) if attrs.get("default") else dict(trial.params),
            "state": STATES.get(trial.state.name, trial.state.name.lower()),
            # Optuna gives a pruned trial its last reported value: kept apart, as last_value.
            "value": _finite(trial.value) if trial.state.name == "COMPLETE" else None, "last_step": last[0], "last_value": _finite(last[1]),
            "steps": attrs.get("steps"), "seconds": attrs.get("seconds"),
            "intermediate": {int(k): _finite(v) for k, v in sorted(trial.intermediate_values.items())},
            "error": attrs.get("error"), "interrupted": bool(attrs.get("interrupted")),
            "retry_of": attrs.get("retry_of"), "run_dir": str(trial_dir(sweep, trial.number))})
    return rows


def best_row(sweep: Sweep, rows: list[dict]) -> Optional[dict]:
    """The best complete trial; on a tie the earlier one (the default trial first)."""
    done = [r for r in rows if r["state"] == "complete" and r["value"] is not None]
    if not done:
        return None
    sign = 1 if sweep.direction == "maximize" else -1
    return max(done, key=lambda r: (sign * r["value"], -r["number"]))


def write_results(sweep: Sweep, study, command: str) -> dict:
    from .report import write_report

    out = sweep.cfg.run_dir
    rows = trial_rows(sweep, study)
    best = best_row(sweep, rows)
    default = next((r for r in rows if r["default"]), None)
    paths = {"json": out / "trials.json", "csv": out / "trials.csv"}
    document = {"metric": sweep.metric, "direction": sweep.direction, "kind": sweep.kind, "base": str(sweep.cfg.base),
                "params": list(sweep.cfg.params), "best": best and best["number"],
                "default": default and default["number"], "trials": rows}
    write_json_atomic(paths["json"], document)
    _write_csv(paths["csv"], sweep, rows)
    best_config = None
    if best is not None:
        paths["best"] = out / "best.yaml"
        best_config = write_best_config(paths["best"], sweep, best, command)
    paths.update(write_report(out, sweep=sweep, rows=rows, best=best, best_config=best_config, command=command))
    return {"sweep": sweep, "rows": rows, "best": best, "default": default, "paths": paths}


def best_params(sweep: Sweep, best: dict) -> dict:
    """The params to set on the base config for the best trial: none when it is the default trial."""
    return {} if best["default"] else best["params"]


def write_best_config(path: Path, sweep: Sweep, best: dict, command: str) -> dict:
    """The base config with the best trial's params, run_dir a fresh folder next to the trials: exactly
    the config that trial ran, so running it again reproduces the trial's score."""
    data = sweep.trial_data(best_params(sweep, best), sweep.cfg.run_dir / "best")
    header = (f"# headstart sweep: trial {best['number']} of {sweep.cfg.run_dir}, {sweep.metric} "
              f"{best['value']:.6g} ({'higher' if sweep.direction == 'maximize' else 'lower'} is better)\n"
              f"# reproduce: headstart {sweep.kind} {path}\n")
    path.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return data


def _write_csv(path: Path, sweep: Sweep, rows: list[dict]) -> None:
    keys = list(sweep.cfg.params)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["number", *keys, "state", sweep.metric, "last_step", "last_value", "steps", "seconds",
                         "default", "error"])
        for r in rows:
            writer.writerow([r["number"], *(_cell(r["params"].get(k)) for k in keys), r["state"], _cell(r["value"]),
                             _cell(r["last_step"]), _cell(r["last_value"]), _cell(r["steps"]),
                             _cell(r["seconds"]), r["default"], r["error"] or ""])


def _cell(value: Any) -> str:
    return "" if value is None else (repr(value) if isinstance(value, float) else str(value))


def _finite(value) -> Optional[float]:
    return float(value) if value is not None and math.isfinite(value) else None
