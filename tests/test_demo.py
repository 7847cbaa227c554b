"""The demo: the main job on built-in data, start to finish (slow: a real, short pre-training)."""
from __future__ import annotations

import json

import pytest

from headstart.demo import run_demo
from headstart.errors import HeadstartError


@pytest.mark.slow
def test_demo_prepares_pretrains_and_samples_on_builtin_data(tmp_path, capsys):
    out = run_demo(tmp_path / "demo", steps=30)
    manifest = json.loads((out["data"] / "manifest.json").read_text())
    assert manifest["stats"]["kept"] > 500 and manifest["splits"]["val"]["tokens"] > 0
    result = out["result"]
    assert result.step == 30 and (result.last_checkpoint / "model.safetensors").exists()
    # 30 steps already beat a uniform guess over the 4096-token vocabulary (ln 4096 = 8.3).
    assert result.final_eval["loss"] < 8.0
    assert out["sample"].startswith("The") and len(out["sample"]) > 3
    printed = capsys.readouterr().out
    assert "best checkpoint:" in printed and "metrics:" in printed


def test_demo_will_not_delete_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(HeadstartError, match="was not made by the demo"):
        run_demo(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "precious"
