"""What a training run costs: wall time, energy and estimated CO2e, labelled measured or estimated.

Each part of the hardware is metered by the first source this machine offers:

- GPU (a CUDA run): NVML (``pip install nvidia-ml-py``): the board's energy counter
  (``nvmlDeviceGetTotalEnergyConsumption``, Volta and newer), else its power sampled every few
  seconds.  Without NVML: estimated as the board's power (``train.device_tdp_watts``, or
  ``GPU_BOARD_WATTS``) for the whole wall time, an upper bound.
- CPU: RAPL package counters (``/sys/class/powercap/intel-rapl:N``; Intel, and AMD on Linux ≥ 5.8),
  which count the whole package, other processes included.  Else estimated: the CPU time of this
  process and its children × ``WATTS_PER_CORE`` (or ``train.device_tdp_watts`` spread over the cores).
- memory: RAPL's ``dram`` domain where it exists; else estimated: resident memory × ``WATTS_PER_GIB``.

``train.power_watts`` replaces all of these with one figure × wall time (a wall-socket meter's reading,
say).  CO2e = energy × grid carbon intensity (``resolve_carbon_intensity``).  Not counted anywhere: the rest of
the machine (disks, fans, power-supply losses), the CPU's idle power in the estimate, a data centre's
PUE; under torchrun, processes other than rank 0.

Why not codecarbon: it would measure the same counters with the same constants, but 3.x installs 17
more packages (pandas, cryptography, authlib, rich, typer, ...) and its default tracker looks the
country's grid up by IP over the network; headstart runs offline on a laptop, and the whole of what we
need from it is the ~150 lines below.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

import psutil
import torch

from ..errors import HeadstartError

log = logging.getLogger("headstart.engine")

# Busy CPU: watts per core-second of CPU time.  A round figure among CPUs' TDP per core: 65 W / 6 cores
# (Core i7-8700, Ryzen 5 3600) = 10.8 W, 120 W / 14 (Xeon E5-2680 v4) = 8.6 W, 280 W / 64 (EPYC 7763)
# = 4.4 W.  Set train.device_tdp_watts to your CPU's TDP for a better one.
WATTS_PER_CORE = 10.0
# Memory: 3/8 W per GiB resident, codecarbon's figure (Green Algorithms, Lannelongue et al. 2021: 0.3725 W/GB).
WATTS_PER_GIB = 0.375
# Grid carbon intensity when neither train.carbon_intensity nor HEADSTART_CARBON_INTENSITY says: the world
# average of electricity generation, 475 g CO2/kWh (IEA, Global Energy & CO2 Status Report 2019).
DEFAULT_CARBON_INTENSITY = 475.0
CARBON_INTENSITY_ENV = "HEADSTART_CARBON_INTENSITY"
# Board power (TDP) from the vendors' data sheets, for a GPU without NVML; specific names first.
GPU_BOARD_WATTS = {"H100 PCIe": 350, "H200": 700, "H100": 700, "A100-PCIE": 250, "A100": 400, "L40S": 350,
                   "L4": 72, "V100-PCIE": 250, "V100": 300, "T4": 70, "RTX 4090": 450, "RTX 3090": 350}
POWERCAP = Path("/sys/class/powercap")
PART_ORDER = ("all", "gpu", "cpu", "memory")


def resolve_carbon_intensity(configured: Optional[float]) -> tuple[float, str]:
    """(g CO2e per kWh, where the figure comes from): the config, the environment, else the world average."""
    if configured is not None:
        return float(configured), "train.carbon_intensity"
    raw = os.environ.get(CARBON_INTENSITY_ENV)
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not value >= 0:
            raise HeadstartError(f"{CARBON_INTENSITY_ENV}: {raw!r} is not a carbon intensity (g CO2e per kWh, ≥ 0)")
        return value, CARBON_INTENSITY_ENV
    return DEFAULT_CARBON_INTENSITY, "world average, IEA 2019 (default)"


# ---- the parts: each keeps the joules it has seen since it was made ---------------------------------
class _Part:
    def __init__(self, name: str, source: str):
        self.name, self.source, self.joules = name, source, 0.0

    def poll(self, now: float) -> None:
        pass

    def close(self) -> None:
        pass


class _Constant(_Part):
    """A fixed power for the wall time."""

    def __init__(self, name: str, source: str, watts: float, now: float):
        super().__init__(name, source)
        self.watts, self.t0 = watts, now

    def poll(self, now: float) -> None:
        self.joules = self.watts * (now - self.t0)


def process_cpu_seconds() -> float:
    """CPU seconds of this process, of its children that ended, and of those still running."""
    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
    for child in me.children(recursive=True):
        try:
            c = child.cpu_times()
            total += c.user + c.system
        except psutil.Error:  # ended meanwhile: its time moves into children_* once reaped
            pass
    return total


def _resident_gib() -> float:
    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**30


class _CpuTime(_Part):
    def __init__(self, watts_per_core: float, how: str):
        super().__init__("cpu", f"estimated (CPU time × {watts_per_core:.3g} W/core{how})")
        self.watts, self.cpu0 = watts_per_core, process_cpu_seconds()

    def poll(self, now: float) -> None:
        try:
            self.joules = self.watts * (process_cpu_seconds() - self.cpu0)
        except psutil.Error:
            pass  # keep the last figure


class _ResidentMemory(_Part):
    """Sampled every poll; each sample stands for the time since the one before."""

    def __init__(self, now: float):
        super().__init__("memory", f"estimated (resident memory × {WATTS_PER_GIB:g} W/GiB)")
        self.last = now

    def poll(self, now: float) -> None:
        try:
            self.joules += WATTS_PER_GIB * _resident_gib() * (now - self.last)
        except psutil.Error:
            pass
        self.last = now


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


class _Rapl(_Part):
    """Sums RAPL domains' ``energy_uj`` counters, which wrap to 0 after ``max_energy_range_uj``; polled
    often enough (every few seconds: a wrap takes minutes even at 300 W) to see at most one wrap."""

    def __init__(self, name: str, domains: list[Path]):
        super().__init__(name, "measured (RAPL)")
        self.domains = [(d / "energy_uj", _read_int(d / "max_energy_range_uj")) for d in domains]
        self.last = [_read_int(f) for f, _ in self.domains]  # raises if unreadable: the caller falls back

    def poll(self, now: float) -> None:
        for i, (counter, wrap) in enumerate(self.domains):
            try:
                value = _read_int(counter)
            except (OSError, ValueError):
                continue
            delta = value - self.last[i] if value >= self.last[i] else value + wrap - self.last[i]
            self.joules += delta / 1e6
            self.last[i] = value


def _rapl_parts(powercap: Path) -> dict[str, _Part]:
    """{"cpu": packages, "memory": dram domains} from RAPL; {} when absent or unreadable."""
    packages, drams = [], []
    for domain in sorted(powercap.glob("intel-rapl:*")):
        try:
            name = (domain / "name").read_text().strip()
        except OSError:
            continue
        depth = domain.name.count(":")
        # psys covers the whole SoC, the packages included: counting it too would count them twice.
        if depth == 1 and name.startswith("package"):
            packages.append(domain)
        elif depth == 2 and name == "dram":
            drams.append(domain)
    parts = {}
    for name, domains in (("cpu", packages), ("memory", drams)):
        if not domains:
            continue
        try:
            parts[name] = _Rapl(name, domains)
        except PermissionError:
            log.info("RAPL counters in %s are readable by root only: energy is estimated", powercap)
            return {}
        except (OSError, ValueError) as e:
            log.info("RAPL counters in %s unreadable (%s): energy is estimated", powercap, e)
            return {}
    return parts


class _NvmlEnergy(_Part):
    def __init__(self, nvml, handle):
        super().__init__("gpu", "measured (NVML)")
        self.nvml, self.handle = nvml, handle
        self.mj0 = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # mJ since the driver loaded

    def poll(self, now: float) -> None:
        try:
            self.joules = (self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) - self.mj0) / 1000
        except Exception:  # noqa: BLE001 (pynvml.NVMLError): keep the last figure
            pass

    def close(self) -> None:
        _nvml_shutdown(self.nvml)


class _NvmlPower(_Part):
    """GPUs without the energy counter (before Volta): power sampled at each poll."""

    def __init__(self, nvml, handle, now: float):
        super().__init__("gpu", "measured (NVML power sampling)")
        self.nvml, self.handle, self.last = nvml, handle, now
        self.watts = nvml.nvmlDeviceGetPowerUsage(handle) / 1000  # mW

    def poll(self, now: float) -> None:
        self.joules += self.watts * (now - self.last)  # the power since the last sample
        self.last = now
        try:
            self.watts = self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000
        except Exception:  # noqa: BLE001
            pass

    def close(self) -> None:
        _nvml_shutdown(self.nvml)


def _nvml_shutdown(nvml) -> None:
    try:
        nvml.nvmlShutdown()
    except Exception:  # noqa: BLE001
        pass


def _nvml_part(device: torch.device, now: float) -> Optional[_Part]:
    try:
        import pynvml as nvml  # nvidia-ml-py: optional
    except ImportError:
        return None
    try:
        nvml.nvmlInit()
    except Exception as e:  # noqa: BLE001
        log.info("NVML did not start (%s): GPU energy is estimated", e)
        return None
    try:  # NVML numbers GPUs as the driver does; torch's index follows CUDA_VISIBLE_DEVICES
        index = torch.cuda._get_nvml_device_index(device)
    except Exception:  # noqa: BLE001
        index = device.index or 0
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
    except Exception as e:  # noqa: BLE001
        log.info("NVML has no GPU %d (%s): GPU energy is estimated", index, e)
        _nvml_shutdown(nvml)
        return None
    for make in (lambda: _NvmlEnergy(nvml, handle), lambda: _NvmlPower(nvml, handle, now)):
        try:
            return make()
        except Exception:  # noqa: BLE001 (NVML_ERROR_NOT_SUPPORTED): try the next way
            continue
    _nvml_shutdown(nvml)
    return None


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        try:
            return f"{device} ({torch.cuda.get_device_name(device)})"
        except Exception:  # noqa: BLE001
            return str(device)
    if device.type == "cpu":
        return f"cpu ({os.cpu_count()} logical cores)"
    return str(device)


def _gpu_board_watts(device: torch.device) -> Optional[float]:
    name = device_label(device)
    return next((watts for key, watts in GPU_BOARD_WATTS.items() if key in name), None)
