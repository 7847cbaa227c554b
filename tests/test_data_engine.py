"""Data jobs on the engine (datatrove's executors): the text audit and `prepare text --work` as resumable tasks
over input files, the same bytes for 1 worker or 4, and one line for each way a job can go wrong."""
from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from headstart.data_engine import run_tasks, task_partial
from headstart.errors import HeadstartError
from headstart.text.audit import audit_text
from headstart.text.audit_pipeline import audit_pipeline
from headstart.text.prepare import prepare_text

WORDS = [f"w{i}" for i in range(400)]


def write_corpus(folder: Path, files: int = 3, documents: int = 60, seed: int = 0) -> Path:
    """JSON Lines files of random-word documents with planted copies: exact ones, near ones (3 words of
    ~120 changed), within a file and across files."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    earlier: list[list[str]] = []
    for file in range(files):
        with open(folder / f"part-{file}.jsonl", "w") as f:
            for _ in range(documents):
                draw = rng.random()
                if earlier and draw < 0.1:
                    words = list(rng.choice(earlier))
                elif earlier and draw < 0.3:
                    words = list(rng.choice(earlier))
                    for _ in range(2):
                        words[rng.randrange(len(words))] = rng.choice(WORDS)
                else:
                    words = [rng.choice(WORDS) for _ in range(rng.randint(80, 160))]
                earlier.append(words)
                f.write(json.dumps({"text": " ".join(words)}) + "\n")
    return folder


def without_timing(report: dict) -> dict:
    report = dict(report)
    for key in ("seconds", "engine", "command"):
        report.pop(key, None)
    return report


def files_under(folder: Path) -> dict[str, bytes]:
    """Every output file of a job's stages (not the engine's logs, which hold times)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "stages" not in p.parts}


def test_the_audit_in_tasks_reports_what_the_in_memory_audit_does(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    evals = tmp_path / "eval.txt"
    evals.write_text(" ".join(json.loads((corpus / "part-1.jsonl").read_text().splitlines()[3])["text"].split()[:20])
                     + "\nnothing like the corpus at all here\n")
    options = dict(fmt="jsonl", eval_files=[evals], eval_format="lines")
    in_memory, in_tasks = [], []
    reference = audit_text([corpus], pairs_out=in_memory, **options)
    report = audit_pipeline([corpus], work=tmp_path / "work", workers=2, pairs_out=in_tasks, **options)

    assert reference["near_duplicates"]["pairs"] >= 5 and reference["exact_duplicates"]["groups"] >= 3
    assert sorted(in_tasks) == sorted(in_memory)  # every pair, across files too
    for key in ("documents", "words", "exact_duplicates", "near_duplicates", "contamination", "bias"):
        assert report[key] == reference[key], key
    assert report["contamination"][0]["contaminated"] == 1
    quality, expected = report["quality"], reference["quality"]
    assert quality["rules"] == expected["rules"]
    for signal_name, values in quality["signals"].items():  # sums added per file: the same to rounding
        assert values["counts"] == expected["signals"][signal_name]["counts"]
        assert values["mean"] == pytest.approx(expected["signals"][signal_name]["mean"], rel=1e-12)


def test_one_worker_or_two_write_the_same_files_and_report(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", files=4)
    one = audit_pipeline([corpus], work=tmp_path / "one", workers=1, fmt="jsonl")
    two = audit_pipeline([corpus], work=tmp_path / "two", workers=2, fmt="jsonl")
    assert without_timing(one) == without_timing(two)
    assert files_under(tmp_path / "one") == files_under(tmp_path / "two")


def test_a_file_that_disappears_mid_job_stops_it_in_one_line_and_a_rerun_resumes(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", files=3)
    fresh = audit_pipeline([corpus], work=tmp_path / "fresh", workers=1, fmt="jsonl")
    moved = tmp_path / "part-2.jsonl"
    from headstart.text import audit_pipeline as stages
    plan_units = stages.input_units([corpus], "jsonl")
    os.replace(corpus / "part-2.jsonl", moved)  # gone after the job listed it: as if deleted mid-job

    def units_as_listed(inputs, fmt):
        return plan_units
    original, stages.input_units = stages.input_units, units_as_listed
    try:
        with pytest.raises(HeadstartError) as failure:
            audit_pipeline([corpus], work=tmp_path / "work", workers=1, fmt="jsonl")
    finally:
        stages.input_units = original
    message = str(failure.value)
    assert "\n" not in message and "part-2.jsonl" in message and "rerun" in message
    done = sorted(p.name for p in (tmp_path / "work" / "stages" / "signatures" / "completions").iterdir())
    assert done == ["00000", "00001"]  # the files before it are finished and kept
    os.replace(moved, corpus / "part-2.jsonl")
    resumed = audit_pipeline([corpus], work=tmp_path / "work", workers=1, fmt="jsonl")
    assert without_timing(resumed) == without_timing(fresh)


def test_a_work_folder_of_another_job_is_refused(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", files=1)
    audit_pipeline([corpus], work=tmp_path / "work", fmt="jsonl")
    with pytest.raises(HeadstartError, match="threshold"):
        audit_pipeline([corpus], work=tmp_path / "work", fmt="jsonl", threshold=0.5)


def _fails_out_of_disk(rank: int) -> None:
    if rank == 1:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_task_out_of_disk_fails_the_stage_in_one_line_keeping_finished_tasks(tmp_path):
    with pytest.raises(HeadstartError) as failure:
        run_tasks(task_partial(_fails_out_of_disk), tasks=3, work=tmp_path, stage="write", workers=1)
    assert "No space left on device" in str(failure.value) and "\n" not in str(failure.value)
    assert (tmp_path / "stages" / "write" / "completions" / "00000").exists()


def test_the_audit_command_runs_in_tasks_and_an_unreachable_cluster_is_one_line(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", files=2)
    command = [sys.executable, "-m", "headstart", "audit", str(corpus), "--format", "jsonl"]
    done = subprocess.run([*command, "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert report["documents"] == 120 and report["engine"]["input_files"] == 2
    assert not (tmp_path / "out" / "work").exists()  # the default scratch folder goes after success
    refused = subprocess.run([*command, "--out", str(tmp_path / "o2"), "--cluster", "127.0.0.1:9"],
                             capture_output=True, text=True)
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        "error: --cluster 127.0.0.1:9: cannot reach a Ray cluster there (Connection refused)"]


def shards(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.bin"))}


def test_prepare_in_tasks_writes_the_shards_of_prepare_in_process(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", files=4)
    options = dict(tokenizer="word", vocab_size=500, fmt="jsonl", doc_unit="file", shard_tokens=3000, progress=False)
    plain = prepare_text([corpus], tmp_path / "plain", workers=0, **options)
    one = prepare_text([corpus], tmp_path / "one", workers=1, work=tmp_path / "w1", **options)
    four = prepare_text([corpus], tmp_path / "four", workers=4, work=tmp_path / "w4", **options)
    assert plain["stats"]["dropped"]["duplicate"] > 0 and len(shards(tmp_path / "plain")) > 2
    for manifest, name in ((one, "one"), (four, "four")):
        assert shards(tmp_path / name) == shards(tmp_path / "plain")
        assert manifest["splits"] == plain["splits"]
        for key in ("documents_read", "kept", "dropped"):
            assert manifest["stats"][key] == plain["stats"][key]


def test_prepare_refuses_near_dedup_in_tasks_and_a_cluster_without_work(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", files=1)
    with pytest.raises(HeadstartError, match="--near-dedup"):
        prepare_text([corpus], tmp_path / "a", tokenizer="word", fmt="jsonl", near_dedup=0.8, work=tmp_path / "w",
                     progress=False)
    with pytest.raises(HeadstartError, match="needs --work"):
        prepare_text([corpus], tmp_path / "b", tokenizer="word", fmt="jsonl", cluster="127.0.0.1:9", progress=False)


@pytest.mark.slow
def test_prepare_killed_mid_job_and_rerun_writes_the_same_shards_and_counts(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", files=16, documents=400)
    command = [sys.executable, "-m", "headstart", "prepare", "text", str(corpus), "--format", "jsonl",
               "--doc-unit", "file", "--tokenizer", "word", "--vocab-size", "500", "--shard-tokens", "20000",
               "--workers", "2", "--no-progress"]
    reference = subprocess.run([*command, "--out", str(tmp_path / "reference"), "--work", str(tmp_path / "w0")],
                               capture_output=True, text=True)
    assert reference.returncode == 0, reference.stderr
    job = [*command, "--out", str(tmp_path / "out"), "--work", str(tmp_path / "w")]
    process = subprocess.Popen(job, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    completions = tmp_path / "w" / "stages" / "encode" / "completions"
    deadline = time.monotonic() + 120
    while not (completions.exists() and len(list(completions.iterdir())) >= 2) and time.monotonic() < deadline:
        time.sleep(0.02)
    finished = len(list(completions.iterdir()))
    os.killpg(process.pid, signal.SIGKILL)  # the job and its workers, mid-stage
    process.wait()
    assert 2 <= finished < 16, finished  # killed with some files done and some not
    assert not (tmp_path / "out").exists()
    rerun = subprocess.run(job, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert shards(tmp_path / "out") == shards(tmp_path / "reference")
    manifests = [json.loads((tmp_path / name / "manifest.json").read_text()) for name in ("out", "reference")]
    for key in ("documents_read", "kept", "dropped"):
        assert manifests[0]["stats"][key] == manifests[1]["stats"][key]
    assert manifests[0]["stats"]["documents_read"] == 16 * 400


@pytest.mark.slow
def test_the_same_audit_on_a_ray_cluster_reports_what_it_does_on_this_machine(tmp_path):
    pytest.importorskip("ray", reason="--cluster needs Ray: pip install 'headstart[cluster]'")
    corpus = write_corpus(tmp_path / "corpus", files=2)
    ray = str(Path(sys.executable).with_name("ray"))
    port = "6391"
    started = subprocess.run([ray, "start", "--head", "--port", port, "--num-cpus", "2", "--include-dashboard",
                              "false", "--disable-usage-stats"], capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    try:
        command = [sys.executable, "-m", "headstart", "audit", str(corpus), "--format", "jsonl"]
        on_ray = subprocess.run([*command, "--out", str(tmp_path / "ray"), "--work", str(tmp_path / "work"),
                                 "--cluster", f"127.0.0.1:{port}"], capture_output=True, text=True)
        assert on_ray.returncode == 0, on_ray.stderr
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True)
    local = audit_pipeline([corpus], work=tmp_path / "local", fmt="jsonl")
    report = json.loads((tmp_path / "ray" / "audit.json").read_text())
    for key in ("documents", "exact_duplicates", "near_duplicates", "quality", "bias"):
        assert report[key] == local[key], key


@pytest.mark.slow
def test_a_worker_killed_mid_job_stops_it_in_one_line_and_a_rerun_gives_the_same_report(tmp_path):
    import psutil
    corpus = write_corpus(tmp_path / "corpus", files=12, documents=300)
    command = [sys.executable, "-m", "headstart", "audit", str(corpus), "--format", "jsonl", "--workers", "2",
               "--work", str(tmp_path / "work")]
    process = subprocess.Popen([*command, "--out", str(tmp_path / "out")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not psutil.Process(process.pid).children() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    workers = psutil.Process(process.pid).children()
    assert workers, "the job finished before a worker could be killed"
    os.kill(workers[0].pid, signal.SIGKILL)  # one worker, as the out-of-memory killer would
    _, stderr = process.communicate(timeout=120)  # the job must stop, not wait forever for the lost task
    assert process.returncode != 0
    assert "Traceback" not in stderr  # progress lines, then the error in one line
    assert stderr.strip().splitlines()[-1:] == [
        f"error: a worker process died (killed, or out of memory) while it ran a task (stage signatures: finished "
        f"tasks are kept in {tmp_path / 'work' / 'stages' / 'signatures'}; rerun the same command to resume)"]
    rerun = subprocess.run([*command, "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    fresh = audit_pipeline([corpus], work=tmp_path / "fresh", fmt="jsonl", workers=2)
    assert without_timing(json.loads((tmp_path / "out" / "audit.json").read_text())) == without_timing(fresh)
