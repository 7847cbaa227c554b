"""`headstart sweep`: Optuna over a finetune or pretrain config; best.yaml reproduces the best trial."""
from __future__ import annotations

import json

import pytest
import yaml

from test_finetune_cli import pretrained_run, write_finetune_config, write_task  # noqa: F401  (fixture)
from test_pretrain_cli import prepared, run_cli, write_config  # noqa: F401  (fixture)


def write_sweep(tmp_path, base, name="sweep.yaml", **settings):
    config = {"run_dir": str(tmp_path / "sweep"), "base": str(base), "seed": 0,
              "params": {"train.lr": {"low": 1.0e-4, "high": 1.0e-2, "log": True}}, **settings}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def trials(tmp_path, folder="sweep"):
    return json.loads((tmp_path / folder / "trials.json").read_text())


@pytest.fixture()
def finetune_base(tmp_path, pretrained_run):  # noqa: F811
    write_task(tmp_path)
    return write_finetune_config(tmp_path, pretrained_run)


@pytest.mark.slow
def test_an_lr_sweep_finds_a_setting_at_least_as_good_as_the_default_and_best_yaml_reproduces_it(
        tmp_path, finetune_base):
    # The default (base) lr is fixed too low to learn in 10 steps, and lies outside the searched range:
    # the best trial is a searched one, so best.yaml must carry its params to reproduce it.  Validation
    # loss, not the accuracy of 4 validation texts, tells the trials apart.
    sweep = write_sweep(tmp_path, finetune_base, trials=4, sampler="random", pruner="none", metric="val.loss",
                        fixed={"train.steps": 10, "train.lr": 1.0e-4},
                        params={"train.lr": {"low": 1.0e-3, "high": 1.0e-2, "log": True}})
    code, out = run_cli("sweep", sweep)
    assert code == 0, out
    doc = trials(tmp_path)
    rows = doc["trials"]
    assert [r["state"] for r in rows] == ["complete"] * 4 and doc["direction"] == "minimize"
    default = rows[0]
    assert default["default"] and default["params"] == {"train.lr": 1.0e-4}  # the base config's lr
    best = next(r for r in rows if r["number"] == doc["best"])
    assert best["value"] == min(r["value"] for r in rows) <= default["value"]
    assert best is not default
    # Each trial ran with its sampled lr, and min_lr kept the base's min_lr/lr ratio (3e-5 / 1e-4).
    lrs = set()
    for r in rows:
        recorded = yaml.safe_load((tmp_path / "sweep" / "trials" / f"trial-{r['number']:03d}" / "config.yaml")
                                  .read_text())["train"]
        assert recorded["lr"] == r["params"]["train.lr"]
        assert recorded["min_lr"] == pytest.approx(recorded["lr"] * 0.3)
        lrs.add(recorded["lr"])
    assert len(lrs) == 4
    assert f"best: trial {best['number']}, val.loss {best['value']:.4f} (default, trial 0: " in out
    report = (tmp_path / "sweep" / "report.html").read_text()
    assert report.count("data:image/png;base64,") == 3 and "<script" not in report
    assert (tmp_path / "sweep" / "trials.csv").read_text().count("\n") == 5

    # best.yaml is a finetune config of its own; running it gives the best trial's scores exactly.
    best_yaml = tmp_path / "sweep" / "best.yaml"
    written = yaml.safe_load(best_yaml.read_text())
    assert written["run_dir"] == str(tmp_path / "sweep" / "best") and written["train"]["lr"] == best["params"]["train.lr"]
    code, out = run_cli("finetune", best_yaml)
    assert code == 0, out
    again = json.loads((tmp_path / "sweep" / "best" / "results.json").read_text())
    trial = json.loads((tmp_path / "sweep" / "trials" / f"trial-{best['number']:03d}" / "results.json").read_text())
    assert again["val"]["loss"] == best["value"]
    assert again["val"] == trial["val"] and again["test"] == trial["test"]  # accuracy and loss, bit for bit


@pytest.mark.slow
def test_a_resumed_sweep_keeps_finished_trials_and_reruns_interrupted_ones(tmp_path, finetune_base, monkeypatch):
    import importlib

    from headstart.sweep import run_sweep
    # The package, not headstart.finetune: that name is the function (the documented API).
    finetune_package = importlib.import_module("headstart.finetune")

    sweep = write_sweep(tmp_path, finetune_base, trials=3, sampler="random", pruner="none",
                        fixed={"train.steps": 10})
    real = finetune_package.finetune

    def interrupted_at_trial_1(cfg, **kwargs):
        if cfg.run_dir.name == "trial-001":
            raise KeyboardInterrupt
        return real(cfg, **kwargs)

    monkeypatch.setattr(finetune_package, "finetune", interrupted_at_trial_1)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep)
    monkeypatch.setattr(finetune_package, "finetune", real)
    first = tmp_path / "sweep" / "trials" / "trial-000" / "results.json"
    stamp = first.stat().st_mtime_ns

    out = run_sweep(sweep)
    rows = out["rows"]
    assert [(r["number"], r["state"]) for r in rows] == [(0, "complete"), (1, "failed"), (2, "complete"),
                                                          (3, "complete")]
    assert rows[1]["interrupted"] and rows[2]["retry_of"] == 1 and rows[2]["params"] == rows[1]["params"]
    assert first.stat().st_mtime_ns == stamp  # the default trial was not run again

    # A process killed mid-trial leaves it RUNNING in the study: failed and run again on the next start.
    import optuna
    from headstart.sweep.run import _open_study
    from headstart.sweep.config import load_sweep
    study = _open_study(load_sweep(sweep))
    killed = study.ask({"train.lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)})
    rows = run_sweep(sweep, ["trials=4"])["rows"]
    assert [r["state"] for r in rows] == ["complete", "failed", "complete", "complete", "failed", "complete"]
    assert rows[4]["interrupted"] and rows[5]["retry_of"] == killed.number == 4
    assert rows[5]["params"] == {"train.lr": killed.params["train.lr"]}
    assert first.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_the_median_pruner_stops_a_hopeless_trial_early(tmp_path, finetune_base):
    # Validation loss at step 5 with lr 1e-8 (nothing learnt) is behind the default trial's (lr 3e-3):
    # the median of one earlier trial is that trial's value, so the hopeless one is pruned there.
    sweep = write_sweep(tmp_path, finetune_base, metric="val.loss", sampler="grid", pruner_startup_trials=1,
                        params={"train.lr": [1.0e-8]}, fixed={"train.steps": 10})
    code, out = run_cli("sweep", sweep)
    assert code == 0, out
    doc = trials(tmp_path)
    default, hopeless = doc["trials"]
    assert doc["direction"] == "minimize" and default["state"] == "complete"
    assert hopeless["state"] == "pruned" and hopeless["value"] is None
    assert hopeless["last_step"] == 5 and hopeless["steps"] == 5 < default["steps"]
    assert hopeless["last_value"] > default["intermediate"]["5"]
    assert doc["best"] == 0 and "pruned" in out


@pytest.mark.slow
def test_a_pretrain_sweep_minimises_validation_loss(tmp_path, prepared):  # noqa: F811
    from headstart.config import load_pretrain_config

    base = write_config(tmp_path, prepared, "masked_lm")
    code, out = run_cli("sweep", write_sweep(tmp_path, base, trials=2, pruner="none"))
    assert code == 0, out
    doc = trials(tmp_path)
    values = [r["value"] for r in doc["trials"]]
    assert doc["kind"] == "pretrain" and doc["metric"] == "val.loss" and doc["direction"] == "minimize"
    assert None not in values and doc["best"] == values.index(min(values))
    best = load_pretrain_config(tmp_path / "sweep" / "best.yaml")
    assert best.run_dir == tmp_path / "sweep" / "best" and best.objective.name == "masked_lm"


BASE = """
run_dir: runs/ft
init: runs/pretrained
task: {train: train.tsv}
train: {steps: 20, batch_size: 8, lr: 3.0e-3, warmup_steps: 2}
"""


@pytest.mark.parametrize("change, message", [
    ({"trails": 3}, "sweep.yaml: trails: unknown key (did you mean trials?)"),
    ({"params": {"train.lrr": [0.1]}}, "sweep.yaml: params.train.lrr = 0.1 on "),
    ({"params": {"train.lr": {"low": 0.1, "high": 0.01}}},
     "sweep.yaml: params: train.lr: low (0.1) must be below high (0.01)"),
    ({"params": {"train.lr": {"low": 0.1, "hihg": 1}}}, "train.lr.hihg: unknown key (did you mean high?)"),
    ({"params": {"train.lr": 0.1}}, "sweep.yaml: params: train.lr: give a list of values or a range"),
    ({"params": {"train.warmup_steps": {"low": 0, "high": 50}}},
     "sweep.yaml: params.train.warmup_steps = 50 on "),
    ({"params": {"run_dir": ["a", "b"]}}, "sweep.yaml: params: run_dir: the sweep sets each trial's run_dir"),
    ({"metric": "test.accuracy"}, "sweep.yaml: metric: must be a validation metric"),
    ({"sampler": "grid"}, "sweep.yaml: sampler: grid needs a list of values for every param; train.lr is a range"),
    ({"trials": None}, "sweep.yaml: trials: required key is missing"),
    ({"base": "missing.yaml"}, "config file not found: missing.yaml"),
    ({"trials": 1}, "sweep.yaml: trials: 1 leaves no trial to search besides the default one"),
])
def test_sweep_config_mistakes_are_one_line_errors_naming_the_key(tmp_path, monkeypatch, change, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.yaml").write_text(BASE)
    config = {"run_dir": "runs/sweep", "base": "base.yaml", "trials": 3,
              "params": {"train.lr": {"low": 1.0e-4, "high": 1.0e-2, "log": True}}}
    config.update(change)
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump({k: v for k, v in config.items() if v is not None}))
    code, out = run_cli("sweep", "sweep.yaml")
    assert code == 2 and "\n" not in out.strip()
    assert message in out, out
    assert not (tmp_path / "runs").exists()  # nothing ran


def test_a_param_the_base_config_lacks_is_named_with_a_suggestion(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "sweep.yaml").write_text("run_dir: s\nbase: base.yaml\ntrials: 3\nparams: {train.lrr: [0.1]}\n")
    code, out = run_cli("sweep", "sweep.yaml")
    assert code == 2 and out == ("sweep.yaml: params.train.lrr = 0.1 on base.yaml: train.lrr: unknown key "
                                 "(did you mean lr?)")


def test_the_report_escapes_user_strings_and_loads_nothing(tmp_path):
    from types import SimpleNamespace

    from headstart.sweep.config import SweepConfig
    from headstart.sweep.report import write_report

    hostile = "<script>alert(1)</script>"
    cfg = SweepConfig.model_validate({"run_dir": str(tmp_path), "base": f"{hostile}.yaml", "trials": 2,
                                      "params": {"strategy.name": [hostile, "full"],
                                                 "train.lr": {"low": 1e-4, "high": 1e-2, "log": True}}})
    sweep = SimpleNamespace(cfg=cfg, kind="finetune", metric="val.accuracy", direction="maximize",
                            default_values={"strategy.name": "full", "train.lr": 1e-3})
    rows = [{"number": 0, "default": True, "params": {"strategy.name": "full", "train.lr": 1e-3}, "state": "complete",
             "value": 0.5, "last_step": 10, "last_value": 0.5, "steps": 10, "seconds": 1.0,
             "intermediate": {5: 0.4, 10: 0.5}, "error": None, "interrupted": False},
            {"number": 1, "default": False, "params": {"strategy.name": hostile, "train.lr": 3e-3}, "state": "failed",
             "value": None, "last_step": None, "last_value": None, "steps": None, "seconds": None,
             "intermediate": {}, "error": f"loss was non-finite {hostile}", "interrupted": False}]
    paths = write_report(tmp_path, sweep=sweep, rows=rows, best=rows[0], best_config={"run_dir": hostile},
                         command=f"headstart sweep {hostile}")
    html = paths["html"].read_text()
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "default-src 'none'" in html and "http" not in html.replace("http-equiv", "")
    assert paths["md"].read_text().splitlines()[0] == "# Sweep: finetune &lt;script&gt;alert(1)&lt;/script&gt;.yaml"


def test_sweep_has_help():
    code, out = run_cli("sweep", "--help")
    assert code == 0 and "best.yaml" in out
