"""Data jobs as tasks on datatrove's executors: one laptop by default, a Ray cluster with ``--cluster``.

Why datatrove: it is the engine FineWeb went through, it installs from PyPI as pure Python (no
service to start), and the same pipeline runs on its local executor (a process pool), on Slurm or on
Ray.  What headstart takes from it is the part that is hard to get right: tasks run by a pool of
workers, a completion marker per task so a killed job restarts without redoing finished tasks, and
per-task logs.  Each headstart task writes its outputs under a temporary name and renames them into
place before datatrove marks it complete, so a task killed at any point leaves nothing half-written
that a rerun could mistake for done.

A task is a number 0..tasks-1 whose outputs depend only on that number (an input shard, a bucket),
never on which worker or machine ran it: that is what makes a job's output the same for 1 worker or 40.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable

from headstart.errors import HeadstartError

log = logging.getLogger("headstart.data")


def _quiet(executor_class):
    """An executor whose tasks keep datatrove's log to its file, ``WORK/stages/STAGE/logs/task_N.log``:
    on the console datatrove prints a task's INFO lines and a failed task's traceback, where headstart
    prints its own progress and one line per error."""

    class Quiet(executor_class):
        def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
            console, sys.stderr = sys.stderr, _devnull()  # datatrove's console sink binds sys.stderr
            try:
                return super()._run_for_rank(rank, local_rank, node_rank)
            finally:
                sys.stderr = console

    Quiet.__name__ = executor_class.__name__
    return Quiet


def _local_executor():
    """datatrove's local executor, its pool swapped: a ``multiprocessing.Pool`` waits forever for a task
    whose worker was killed (``kill -9``, the out-of-memory killer), where ``ProcessPoolExecutor`` reports
    it.  Everything else is datatrove's: each task still runs through its ``_run_for_rank`` (logs,
    completion marker), and finished tasks are skipped the same way."""
    from datatrove.executor.local import LocalPipelineExecutor

    class Local(_quiet(LocalPipelineExecutor)):
        def progress(self, done: int) -> None:
            """A line at every tenth of the stage's tasks (each task when there are 10 or fewer)."""
            step = -(-self.tasks // 10)
            if done % step == 0 or done == self.tasks:
                log.info("%s: %d/%d tasks done", self.stage, done, self.tasks)

        def run(self):
            ranks = self.get_incomplete_ranks(range(self.tasks))
            done = self.tasks - len(ranks)
            if done:
                log.info("%s: %d of %d tasks already done, skipped", self.stage, done, self.tasks)
            if self.workers == 1:
                for rank in ranks:
                    self._run_for_rank(rank)
                    done += 1
                    self.progress(done)
                return
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed
            from concurrent.futures.process import BrokenProcessPool
            _FORKED.append(self)  # the forked workers find the executor here: nothing to pickle but ranks
            try:
                with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork")) as pool:
                    for future in as_completed([pool.submit(_run_forked, rank) for rank in ranks]):
                        future.result()
                        done += 1
                        self.progress(done)
            except BrokenProcessPool:
                raise HeadstartError("a worker process died (killed, or out of memory) while it ran a task") from None
            finally:
                _FORKED.pop()

    return Local


_FORKED: list = []


def _run_forked(rank: int) -> None:
    _FORKED[-1]._run_for_rank(rank)


@functools.cache
def _devnull():
    return open(os.devnull, "w")


def _step(task: Callable[[int], None]):
    """``task`` as a datatrove pipeline step (built lazily: datatrove is imported only by data jobs)."""
    from datatrove.pipeline.base import PipelineStep

    class HeadstartTask(PipelineStep):
        name, type = "headstart task", "headstart"

        def __init__(self, function):
            super().__init__()
            self.function = function

        def run(self, data, rank: int = 0, world_size: int = 1):
            self.function(rank)
            return iter(())

    return HeadstartTask(task)


def run_tasks(task: Callable[[int], None], *, tasks: int, work: Path, stage: str, workers: int = 1,
              cluster: str | None = None) -> None:
    """Run ``task(0) ... task(tasks - 1)`` with ``workers`` at a time; finished tasks of an earlier,
    interrupted run of the same stage are skipped.  ``task`` must be picklable (a module-level function,
    or a ``functools.partial`` of one): it is sent to the worker processes or machines."""
    if tasks < 1:
        return
    logging_dir = str(Path(work) / "stages" / stage)
    if cluster:
        executor_class = _quiet(_ray_executor(cluster))
        options = {"workers": workers}
    else:
        executor_class, options = _local_executor(), {"workers": min(workers, tasks)}
    from loguru import logger
    logger.remove()  # datatrove's console lines: the stage logs hold them; headstart reports its own
    executor = executor_class(pipeline=[_step(task)], tasks=tasks, logging_dir=logging_dir, **options)
    executor.stage = stage
    try:
        executor.run()
    except Exception as error:  # a task failed in a worker: the cause, then the stage and the way back
        cause = str(error) if isinstance(error, HeadstartError) else _one_line(error)
        raise HeadstartError(f"{cause} (stage {stage}: finished tasks are kept in {logging_dir}; rerun the same "
                             f"command to resume)") from None
    unfinished = [rank for rank in range(tasks) if not (Path(logging_dir) / "completions" / f"{rank:05d}").exists()]
    if unfinished:
        raise HeadstartError(f"{stage}: tasks {unfinished[:5]} did not finish (see {logging_dir}/logs); "
                             f"rerun the same command to resume")


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}".rstrip(": ")


def _ray_executor(address: str):
    """Connect to the Ray cluster at ``address`` and return datatrove's Ray executor class."""
    _check_reachable(address)
    try:
        import ray
    except ImportError:
        raise HeadstartError(f"--cluster {address}: needs Ray on this machine and the cluster's: "
                             f"pip install 'headstart[cluster]'") from None
    if not ray.is_initialized():
        try:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
        except Exception as error:
            raise HeadstartError(f"--cluster {address}: cannot reach a Ray cluster there "
                                 f"({_one_line(error)})") from None
    from datatrove.executor.ray import RayPipelineExecutor
    return RayPipelineExecutor


def _check_reachable(address: str) -> None:
    """Fail in seconds when nothing listens at ``address`` (HOST:PORT or ray://HOST:PORT): Ray itself
    retries for minutes, printing a warning every few seconds."""
    import socket
    if address == "auto":  # Ray's own convention: the cluster this machine belongs to
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise HeadstartError(f"--cluster {address}: expected HOST:PORT (a Ray head node), ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        raise HeadstartError(f"--cluster {address}: cannot reach a Ray cluster there "
                             f"({error.strerror or error})") from None


def engine_options(work_help: str, cluster_condition: str, workers_help: str | None = None,
                   workers_default: int = 1, workers_min: int = 1):
    """A data command's ``--work``, ``--workers`` (when ``workers_help``) and ``--cluster`` options, in that order
    (``cluster_condition``: when --cluster applies, as its help's first words)."""
    import click

    def options(command):
        command = click.option("--cluster", metavar="ADDRESS", help=(
            f"{cluster_condition}run the tasks on the Ray cluster at ADDRESS (HOST:PORT, ray://HOST:PORT or auto) "
            f"instead of this machine; needs `pip install 'headstart[cluster]'`."))(command)
        if workers_help is not None:
            command = click.option("--workers", type=click.IntRange(min=workers_min), default=workers_default,
                                   show_default=True, help=workers_help)(command)
        return click.option("--work", type=click.Path(file_okay=False, path_type=Path), help=work_help)(command)
    return options


def usable_cpus() -> int:
    """The CPUs this process may run on (a container or taskset can restrict them below the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a task killed mid-write leaves no half file under its name."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def claim_work(work: Path, plan: dict, job: str) -> None:
    """Record ``plan`` (what a job reads and every option that shapes its output) in WORK/plan.json, or, when
    an earlier run left one, check that it is the same job: resuming another job's tasks would mix them.
    The refusal names what changed (an option's own name when the plan nests options)."""
    path = Path(work) / "plan.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(plan, indent=1).encode())
        return
    earlier = json.loads(path.read_text())
    changed = []
    for key in sorted(set(earlier) | set(plan)):
        old, new = earlier.get(key), plan.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changed += sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        elif old != new:
            changed.append(key)
    if changed:
        raise HeadstartError(f"--work {work}: holds {job} of other inputs or options ({', '.join(changed)}); "
                             f"give another --work folder or delete it")


def task_folder(folder: Path) -> Path:
    """An empty folder in which a task writes its outputs, beside ``folder``; ``publish`` renames it into
    place.  Leftovers of earlier attempts at the task (a killed run's, another pid's) are removed first."""
    import shutil
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.glob(f"{folder.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    tmp.mkdir()
    return tmp


def publish(tmp: Path, folder: Path) -> None:
    """Move a task's finished outputs into place (what was there, from a run killed after its rename but
    before its completion mark, is the same and goes)."""
    import shutil
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def task_partial(function: Callable, *args, **kwargs) -> Callable[[int], None]:
    """``function(rank, *args, **kwargs)`` as a picklable task."""
    return functools.partial(_call, function, args, kwargs)


def _call(function: Callable, args: tuple, kwargs: dict, rank: int) -> None:
    function(rank, *args, **kwargs)
