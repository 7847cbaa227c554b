"""The cost of a run: energy measured (RAPL, NVML) or estimated, CO2e, kept across resumes, in the report."""
from __future__ import annotations

import json
import os
import sys
import types

import pytest
import torch

from headstart.compare import _pretraining_cost, cost_entry
from headstart.engine import Checkpointer, TrainConfig
from headstart.engine.energy import (DEFAULT_CARBON_INTENSITY, WATTS_PER_CORE, EnergyMeter, format_cost,
                                     resolve_carbon_intensity)
from headstart.engine.metrics import read_metrics
from headstart.errors import HeadstartError
from headstart.transfer.report import write_report
from test_engine import make_trainer
from test_compare import write_compare_config
from test_finetune_cli import pretrained_run, write_finetune_config, write_task  # noqa: F401  (fixture)
from test_pretrain_cli import prepared, run_cli, write_config  # noqa: F401  (fixture)
from test_report import minimal_results

KWH = 3.6e6  # joules


def test_a_cpu_run_estimates_its_energy_and_says_so(tmp_path):
    result = make_trainer(tmp_path, steps=3, carbon_intensity=500.0).fit()
    cost = result.cost
    assert cost["energy_kwh"] > 0
    assert cost["kind"] == "estimated" and cost["source"].startswith("estimated (") and "CPU time" in cost["source"]
    assert "measured" not in cost["source"]
    assert cost["co2_kg"] == pytest.approx(cost["energy_kwh"] * 500.0 / 1000)
    assert cost["carbon_intensity_source"] == "train.carbon_intensity"
    assert cost["wall_s"] == pytest.approx(result.seconds) and cost["device"].startswith("cpu")
    # CPU time cannot exceed wall time x cores: the estimate is bounded by that many busy cores.
    cpu = next(p["kwh"] for p in cost["parts"] if p["part"] == "cpu")
    assert cpu <= WATTS_PER_CORE * os.cpu_count() * cost["wall_s"] / KWH * 1.05
    assert json.loads((tmp_path / "cost.json").read_text()) == cost
    state = json.loads((Checkpointer(tmp_path / "checkpoints").latest() / "state.json").read_text())
    assert 0 < state["cost"]["energy_kwh"] <= cost["energy_kwh"]
    rows = read_metrics(tmp_path, "train")
    energies = [r["energy_kwh"] for r in rows]
    assert energies == sorted(energies) and energies[-1] > 0 and rows[-1]["co2_kg"] > 0
    line = format_cost(cost)
    assert line.startswith("cost: ") and "kWh, estimated (CPU time × 10 W/core" in line and "at 500 g/kWh" in line


def test_carbon_intensity_defaults_to_the_world_average_and_the_environment_overrides_it(monkeypatch):
    monkeypatch.delenv("HEADSTART_CARBON_INTENSITY", raising=False)
    assert resolve_carbon_intensity(None) == (DEFAULT_CARBON_INTENSITY, "world average, IEA 2019 (default)")
    monkeypatch.setenv("HEADSTART_CARBON_INTENSITY", "56")
    assert resolve_carbon_intensity(None) == (56.0, "HEADSTART_CARBON_INTENSITY")
    assert resolve_carbon_intensity(120) == (120.0, "train.carbon_intensity")  # the config wins
    monkeypatch.setenv("HEADSTART_CARBON_INTENSITY", "lots")
    with pytest.raises(HeadstartError, match="HEADSTART_CARBON_INTENSITY: 'lots' is not a carbon intensity"):
        resolve_carbon_intensity(None)
    with pytest.raises(ValueError, match="carbon_intensity"):
        TrainConfig(steps=1, batch_size=1, lr=1e-3, carbon_intensity=-1)


def rapl_domain(root, name, label, energy_uj, max_uj):
    domain = root / name
    domain.mkdir(parents=True)
    (domain / "name").write_text(label + "\n")
    (domain / "energy_uj").write_text(f"{energy_uj}\n")
    (domain / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return domain / "energy_uj"


def test_rapl_counters_are_measured_through_a_wrap_around(tmp_path):
    package = rapl_domain(tmp_path, "intel-rapl:0", "package-0", 1_000, 10_000_000)
    rapl_domain(tmp_path, "intel-rapl:0:0", "core", 0, 10_000_000)  # inside the package: not added
    dram = rapl_domain(tmp_path, "intel-rapl:0:1", "dram", 500, 1_000_000)
    psys = rapl_domain(tmp_path, "intel-rapl:1", "psys", 0, 10_000_000)  # covers the package: not added
    meter = EnergyMeter(torch.device("cpu"), powercap=tmp_path, interval_s=3600).start()
    try:
        package.write_text("9999000\n")
        dram.write_text("400500\n")
        psys.write_text("5000000\n")
        meter.poll()
        package.write_text("2000\n")  # wrapped past max_energy_range_uj: 3000 µJ more, not -9997000
        meter.poll()
        record = meter.record(wall_s=10.0)
    finally:
        meter.stop()
    assert record["kind"] == "measured" and record["source"] == "measured (RAPL)"
    parts = {p["part"]: p for p in record["parts"]}
    assert parts["cpu"]["kwh"] * KWH == pytest.approx((9_998_000 + 3_000) / 1e6)
    assert parts["memory"]["kwh"] * KWH == pytest.approx(0.4)
    assert record["energy_kwh"] * KWH == pytest.approx(10.001 + 0.4)


def test_unreadable_rapl_counters_fall_back_to_the_estimate(tmp_path, monkeypatch):
    rapl_domain(tmp_path, "intel-rapl:0", "package-0", 1_000, 10_000_000)
    from headstart.engine import energy_sources as energy

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(energy, "_read_int", denied)  # root-only energy_uj, as on most kernels since 2020
    meter = EnergyMeter(torch.device("cpu"), powercap=tmp_path, interval_s=3600).start()
    meter.stop()
    assert meter.record(1.0)["kind"] == "estimated"
    assert EnergyMeter(torch.device("cpu"), powercap=tmp_path / "absent").start().record(1.0)["kind"] == "estimated"


def fake_nvml(monkeypatch, energy_mj=None, power_mw=None):
    calls = {"shutdown": 0}
    energy_mj = iter(energy_mj or [])

    def total_energy(handle):
        if power_mw is not None:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return next(energy_mj)
    module = types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlDeviceGetHandleByIndex=lambda i: f"gpu{i}",
        nvmlDeviceGetTotalEnergyConsumption=total_energy, nvmlDeviceGetPowerUsage=lambda handle: power_mw,
        nvmlShutdown=lambda: calls.__setitem__("shutdown", calls["shutdown"] + 1))
    monkeypatch.setitem(sys.modules, "pynvml", module)
    return calls


def test_nvml_energy_counter_measures_the_gpu_and_the_host_is_labelled_estimated(tmp_path, monkeypatch):
    calls = fake_nvml(monkeypatch, energy_mj=[5_000_000, 5_200_000, 5_360_000, 5_360_000])
    meter = EnergyMeter(torch.device("cuda", 0), powercap=tmp_path, interval_s=3600).start()
    meter.poll()
    meter.stop()
    record = meter.record(1.0)
    gpu = next(p for p in record["parts"] if p["part"] == "gpu")
    assert gpu["source"] == "measured (NVML)" and gpu["kwh"] * KWH == pytest.approx(360.0)  # 360 000 mJ
    assert record["kind"] == "partly measured"
    assert "gpu measured (NVML)" in record["source"] and "cpu estimated (CPU time" in record["source"]
    assert calls["shutdown"] == 1


def test_nvml_power_sampling_without_the_counter_and_an_estimate_without_nvml(tmp_path, monkeypatch):
    now = [0.0]
    fake_nvml(monkeypatch, power_mw=250_000)
    meter = EnergyMeter(torch.device("cuda", 0), powercap=tmp_path, interval_s=3600, clock=lambda: now[0]).start()
    now[0] = 10.0
    meter.stop()
    gpu = next(p for p in meter.record(10.0)["parts"] if p["part"] == "gpu")
    assert gpu["source"] == "measured (NVML power sampling)" and gpu["kwh"] * KWH == pytest.approx(2500.0)

    monkeypatch.setitem(sys.modules, "pynvml", None)  # nvidia-ml-py not installed
    now[0] = 0.0
    meter = EnergyMeter(torch.device("cuda", 0), device_tdp_watts=300, powercap=tmp_path, interval_s=3600,
                        clock=lambda: now[0]).start()
    now[0] = 36.0
    meter.stop()
    record = meter.record(36.0)
    gpu = next(p for p in record["parts"] if p["part"] == "gpu")
    assert gpu["source"] == "estimated (train.device_tdp_watts 300 W × wall time)"
    assert gpu["kwh"] * KWH == pytest.approx(300 * 36.0) and record["kind"] == "estimated"
    unknown = EnergyMeter(torch.device("cuda", 0), powercap=tmp_path, interval_s=3600).start()
    unknown.stop()
    assert "not counted: GPU (no NVML and an unknown board power" in unknown.record(1.0)["source"]


def test_energy_accumulates_across_a_resume(tmp_path):
    first = make_trainer(tmp_path, steps=4, power_watts=100.0).fit(stop_at=2)
    assert first.interrupted
    checkpoint = Checkpointer(tmp_path / "checkpoints").latest()
    before = json.loads((checkpoint / "state.json").read_text())["cost"]
    # The grid's intensity may change on resume: it only changes the CO2e figure.
    second = make_trainer(tmp_path, steps=4, power_watts=100.0, carbon_intensity=100.0)
    second.resume(checkpoint)
    cost = second.fit().cost
    assert cost["source"] == "estimated (train.power_watts 100 W × wall time)" and len(cost["parts"]) == 1
    assert cost["energy_kwh"] > before["energy_kwh"] > 0
    assert cost["wall_s"] > before["wall_s"]
    # energy = 100 W x the wall time of both attempts: the first attempt's part came through state.json
    assert cost["energy_kwh"] * KWH == pytest.approx(100.0 * cost["wall_s"], rel=0.03)
    assert cost["co2_kg"] == pytest.approx(cost["energy_kwh"] * 0.1)


def test_a_checkpoint_without_a_cost_record_shows_not_recorded(tmp_path):
    run = tmp_path / "old-run"
    run.mkdir()
    entry = _pretraining_cost(run, {"elapsed_seconds": 75.0})  # a state.json from before cost records
    assert entry == {"seconds": 75.0, "energy_kwh": None, "co2_kg": None, "source": "energy not recorded"}
    recorded = {"energy_kwh": 0.5, "co2_kg": 0.2, "kind": "estimated", "source": "estimated (x)",
                "carbon_intensity_g_per_kwh": 400.0}
    assert cost_entry(9.0, [recorded, None])["source"] == "energy not recorded for 1 of 2 runs"
    results = minimal_results()
    results["costs"] = {"pre-training": entry}
    paths = write_report(tmp_path / "report", results)
    md = paths["md"].read_text()
    assert "Pre-training cost: energy not recorded, 1:15 of wall time" in md
    assert "| pre-training | 1:15 | not recorded | — | energy not recorded |" in md

    results["costs"] = {"pre-training": {"seconds": 241.0, "energy_kwh": 0.012, "co2_kg": 0.0057,
                                         "kind": "estimated", "source": "estimated (CPU time × 10 W/core)"}}
    md = write_report(tmp_path / "report2", results)["md"].read_text()
    saved = json.loads((tmp_path / "report2" / "report.json").read_text())["summary"]["rows"][0]["labels_saved"]
    assert saved > 0
    assert (f"Pre-training cost 0.012 kWh (estimated), 4:01 of wall time; with 100 labels it saves about "
            f"{saved:,.0f} labels.") in md
    assert "| pre-training | 4:01 | 0.012 | 5.7 | estimated (CPU time × 10 W/core) |" in md


@pytest.mark.slow
def test_pretrain_and_finetune_print_their_cost(tmp_path, prepared):  # noqa: F811
    code, out = run_cli("pretrain", write_config(tmp_path, prepared, "causal_lm", steps=2))
    assert code == 0, out
    assert "cost: " in out and "kWh, estimated (CPU time" in out and "g CO2e at 475 g/kWh" in out
    write_task(tmp_path)
    code, out = run_cli("finetune", write_finetune_config(tmp_path, tmp_path / "run-causal_lm"),
                        "--set", "train.steps=2", "--set", "train.eval_every=2")
    assert code == 0, out
    assert out.strip().splitlines()[-1].startswith("cost: ") and "estimated" in out
    assert json.loads((tmp_path / "ft" / "results.json").read_text())["cost"]["energy_kwh"] > 0


@pytest.mark.slow
def test_the_compare_report_shows_energy_and_time_with_sources(tmp_path, pretrained_run):  # noqa: F811
    write_task(tmp_path)
    config = write_compare_config(tmp_path, pretrained_run)
    code, out = run_cli("compare", config, "--set", "seeds=[0]", "--set", "baseline=false",
                        "--set", "train.steps=4", "--set", "train.eval_every=2")
    assert code == 0, out
    report = json.loads((tmp_path / "compare" / "report" / "report.json").read_text())
    pre_cost = json.loads((pretrained_run / "cost.json").read_text())
    costs = report["costs"]
    assert set(costs) == {"pre-training", "fine-tuning (pretrained, all runs)", "fine-tuning (scratch, all runs)"}
    assert costs["pre-training"]["energy_kwh"] == pytest.approx(pre_cost["energy_kwh"])
    assert costs["pre-training"]["seconds"] == pytest.approx(pre_cost["wall_s"])
    for stage, cost in costs.items():
        assert cost["energy_kwh"] > 0 and cost["seconds"] > 0 and cost["co2_kg"] > 0, stage
        assert cost["kind"] == "estimated" and cost["source"].startswith("estimated ("), stage
    # fine-tuning sums the runs of its arm: both budgets
    runs = sorted((tmp_path / "compare" / "runs").glob("pretrained-*"))
    assert len(runs) == 2
    assert costs["fine-tuning (pretrained, all runs)"]["energy_kwh"] == pytest.approx(
        sum(json.loads((r / "cost.json").read_text())["energy_kwh"] for r in runs))
    md = (tmp_path / "compare" / "report" / "report.md").read_text()
    html = (tmp_path / "compare" / "report" / "report.html").read_text()
    for text in (md, html):
        assert "Pre-training cost " in text and "kWh (estimated)" in text and "of wall time" in text
        assert "CO2e (g)" in text and "fine-tuning (scratch, all runs)" in text
    assert "| pre-training |" in md and "| estimated (CPU time × 10 W/core" in md
