"""What a training run costs: wall time, energy and estimated CO2e, labelled measured or estimated.

``EnergyMeter`` runs beside the training loop; where each figure comes from (NVML, RAPL, or an
estimate from CPU time and resident memory), and the constants, are in ``energy_sources``.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import torch

from .energy_sources import (DEFAULT_CARBON_INTENSITY, PART_ORDER, POWERCAP, WATTS_PER_CORE,  # noqa: F401
                             _Constant, _CpuTime, _gpu_board_watts, _nvml_part, _Part, _rapl_parts,
                             _ResidentMemory, device_label, resolve_carbon_intensity)

log = logging.getLogger("headstart.engine")


# ---- the meter ----------------------------------------------------------------------------------------
class EnergyMeter:
    """Started before training and stopped after it; ``record(wall_s)`` is the run's cost so far,
    ``previous`` (the record in a resumed checkpoint's state) included.  A thread polls the counters
    every ``interval_s``: RAPL's wrap and memory sampling need it."""

    def __init__(self, device: torch.device, *, power_watts: Optional[float] = None,
                 device_tdp_watts: Optional[float] = None, carbon_intensity: Optional[float] = None,
                 previous: Optional[dict] = None, scope: str = "", interval_s: float = 5.0,
                 powercap: Path = POWERCAP, clock: Callable[[], float] = time.monotonic):
        self.device, self.power_watts, self.device_tdp_watts = device, power_watts, device_tdp_watts
        self.intensity, self.intensity_source = resolve_carbon_intensity(carbon_intensity)
        self.previous = list((previous or {}).get("parts") or [])
        self.scope, self.interval_s, self.powercap, self.clock = scope, interval_s, Path(powercap), clock
        self.parts: list[_Part] = []
        self.not_counted: list[str] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "EnergyMeter":
        now = self.clock()
        self.parts = self._choose_parts(now)
        self._thread = threading.Thread(target=self._run, name="headstart-energy", daemon=True)
        self._thread.start()
        return self

    def _choose_parts(self, now: float) -> list[_Part]:
        if self.power_watts is not None:
            return [_Constant("all", f"estimated (train.power_watts {self.power_watts:g} W × wall time)",
                              self.power_watts, now)]
        parts = []
        tdp = self.device_tdp_watts
        if self.device.type == "cuda":
            gpu = _nvml_part(self.device, now)
            watts = tdp or _gpu_board_watts(self.device)
            if gpu is None and watts:
                how = "train.device_tdp_watts" if tdp else "board power"
                gpu = _Constant("gpu", f"estimated ({how} {watts:g} W × wall time)", watts, now)
            if gpu is None:
                self.not_counted.append("GPU (no NVML and an unknown board power: pip install nvidia-ml-py, "
                                        "or set train.device_tdp_watts)")
            parts += [gpu] if gpu else []
        elif self.device.type != "cpu":
            self.not_counted.append(f"{self.device.type} GPU (no energy reading for it)")
        rapl = _rapl_parts(self.powercap)
        if "cpu" in rapl:
            parts.append(rapl["cpu"])
        else:
            cores = os.cpu_count() or 1
            own = tdp is not None and self.device.type == "cpu"
            parts.append(_CpuTime(tdp / cores if own else WATTS_PER_CORE,
                                  f": train.device_tdp_watts {tdp:g} W / {cores} cores" if own else ""))
        parts.append(rapl.get("memory") or _ResidentMemory(now))
        return parts

    def _run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            self.poll()

    def poll(self) -> None:
        with self._lock:
            if self._stopped.is_set() and self._thread is None:
                return  # stopped: the figures are final
            now = self.clock()
            for part in self.parts:
                part.poll(now)

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stopped.set()
        self._thread.join()
        self.poll()
        with self._lock:
            self._thread = None
            for part in self.parts:
                part.close()

    def record(self, wall_s: float) -> dict:
        """The cost so far: {"energy_kwh", "co2_kg", "carbon_intensity_g_per_kwh", "kind", "source", ...}."""
        self.poll()
        merged: dict[tuple[str, str], float] = {}
        for p in self.previous:
            key = (p["part"], p["source"])
            merged[key] = merged.get(key, 0.0) + float(p["kwh"])
        with self._lock:
            for part in self.parts:
                key = (part.name, part.source)
                merged[key] = merged.get(key, 0.0) + part.joules / 3.6e6
        parts = [{"part": name, "source": source, "kwh": kwh} for (name, source), kwh in
                 sorted(merged.items(), key=lambda kv: PART_ORDER.index(kv[0][0]))]
        kind, source = summarize_sources(parts)
        if self.not_counted:
            source += "; not counted: " + ", ".join(self.not_counted)
        energy = sum(p["kwh"] for p in parts)
        out = {"energy_kwh": energy, "co2_kg": energy * self.intensity / 1000, "kind": kind, "source": source,
               "carbon_intensity_g_per_kwh": self.intensity, "carbon_intensity_source": self.intensity_source,
               "device": device_label(self.device), "wall_s": wall_s, "parts": parts}
        if self.scope:
            out["scope"] = self.scope
        return out


def summarize_sources(parts: list[dict]) -> tuple[str, str]:
    """("measured" | "estimated" | "partly measured", one label for all parts)."""
    def method(source: str) -> str:  # "measured (RAPL)" -> "RAPL"
        return source[source.find("(") + 1:source.rfind(")")] if "(" in source else source
    measured = [p for p in parts if p["source"].startswith("measured")]
    if len(measured) == len(parts):
        return "measured", f"measured ({' + '.join(dict.fromkeys(method(p['source']) for p in parts))})"
    if not measured:
        return "estimated", f"estimated ({'; '.join(dict.fromkeys(method(p['source']) for p in parts))})"
    return "partly measured", "partly measured: " + ", ".join(f"{p['part']} {p['source']}" for p in parts)


def format_cost(record: Optional[dict]) -> str:
    """One line: energy and its source, CO2e and the intensity used, wall time and device."""
    if not record:
        return "cost: not recorded"
    if record.get("energy_kwh") is None:
        return f"cost: energy not recorded, {format_duration(record.get('wall_s'))}"
    return (f"cost: {format_kwh(record['energy_kwh'])}, {record['source']}; {format_co2(record['co2_kg'])} at "
            f"{record['carbon_intensity_g_per_kwh']:g} g/kWh; {format_duration(record.get('wall_s'))} on "
            f"{record.get('device', '?')}")


def format_kwh(kwh: float) -> str:
    return f"{kwh:.3g} kWh"


def format_co2(kg: float) -> str:
    return f"{kg:.3g} kg CO2e" if kg >= 1 else f"{1000 * kg:.3g} g CO2e"


def format_duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "time not recorded"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"
