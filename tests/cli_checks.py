"""Running `headstart` as a user does and checking what comes back: shared by the bad-input and
security tests (not a test module itself)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from headstart.cli import main
from test_finetune_cli import write_task
from test_pretrain_cli import CORPUS, run_cli, write_config


# ---- running the command -------------------------------------------------------------------------

@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def headstart(capsys):
    """``headstart ARGS`` run in this process the way the installed command runs it."""
    def run(*args) -> Result:
        capsys.readouterr()  # only this command's output
        try:
            main([str(arg) for arg in args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        return Result(code, out, err)
    return run


def one_line_error(result: Result, *fragments: str) -> str:
    """The error line of a run that failed as a user's mistake: status 2, one ``error:`` line naming
    what is at fault (every fragment), no traceback.  Returns the line."""
    assert "Traceback" not in result.err + result.out, result.err
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


def succeeded(result: Result) -> Result:
    assert result.code == 0 and "Traceback" not in result.err, result
    return result


# ---- what most entries start from ----------------------------------------------------------------

@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A prepared corpus, a 3-step causal-LM run on it and a small labeled task beside them."""
    root = tmp_path_factory.mktemp("project")
    (root / "corpus.txt").write_text(CORPUS)
    code, out = run_cli("prepare", "text", root / "corpus.txt", "--out", root / "data", "--tokenizer", "char",
                        "--workers", "0")
    assert code == 0, out
    config = write_config(root, root / "data", "causal_lm", steps=3)
    code, out = run_cli("pretrain", config)
    assert code == 0, out
    write_task(root)  # train.tsv (labels 0/1) and test.tsv
    return SimpleNamespace(root=root, data=root / "data", config=config, run=root / "run-causal_lm",
                           train=root / "train.tsv", test=root / "test.tsv")


def finetune_config(folder: Path, init, train, test=None, **settings) -> Path:
    """A fine-tuning config of two steps, ``settings`` merged in at the top level."""
    config = {"run_dir": str(folder / "ft"), "init": str(init),
              "task": {"train": str(train), **({"test": str(test)} if test else {})},
              "train": {"steps": 2, "batch_size": 8, "warmup_steps": 1, "eval_every": 2, "log_every": 2}}
    for key, value in settings.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and key in config else value
    path = folder / "finetune.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def compare_config(folder: Path, pretrained, task_train, task_test, **settings) -> Path:
    path = folder / "compare.yaml"
    path.write_text(yaml.safe_dump({"run_dir": str(folder / "cmp"), "pretrained": str(pretrained),
                                    "task": {"train": str(task_train), "test": str(task_test)}, **settings}))
    return path


def last_checkpoint(run: Path) -> Path:
    return sorted((run / "checkpoints").glob("step_*"))[-1]


def replace_in_checkpoint(checkpoint: Path, name: str, data: bytes) -> None:
    """Overwrite one file of a checkpoint, keeping state.json's record of file sizes (where it keeps one)
    in step, so that what gets checked is the file's content, not its size."""
    (checkpoint / name).write_bytes(data)
    state = json.loads((checkpoint / "state.json").read_text())
    if isinstance(state.get("files"), dict) and name in state["files"]:
        state["files"][name] = len(data)
        (checkpoint / "state.json").write_text(json.dumps(state, indent=2))


def edit_state(checkpoint: Path, edit) -> None:
    state = json.loads((checkpoint / "state.json").read_text())
    edit(state)
    (checkpoint / "state.json").write_text(json.dumps(state, indent=2))


def set_key(config: dict, dotted: str, value) -> dict:
    """``config`` with ``value`` at the dotted key, as ``--set`` puts it (a scalar on the way is replaced)."""
    *sections, key = dotted.split(".")
    node = config
    for section in sections:
        if not isinstance(node.get(section), dict):
            node[section] = {}
        node = node[section]
    node[key] = value
    return config
