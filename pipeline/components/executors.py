"""Where pilot jobs run: one after another in this process, in parallel worker processes, or as
submitit jobs (its local backend, or SLURM).

A stage only calls `Executor.map(fn, jobs, folder)`, with `fn` a module-level function and every
job a plain dict, so jobs pickle and an engine for a cluster is one more subclass here, with no
change to the stage.
"""
from __future__ import annotations

import multiprocessing
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import submitit
import torch
from submitit.core.utils import UncompletedJobError

Job = dict[str, Any]


class Executor(ABC):
    @abstractmethod
    def map(self, fn: Callable[[Job], Job], jobs: list[Job], folder: Path) -> list[Job]:
        """`fn(job)` for every job; results in the order of `jobs`. `folder` is the stage's output folder:
        an executor that keeps files (job logs) puts them under it, so they stay with the run."""


class Inline(Executor):
    """Jobs one after another in this process: no start-up cost, the default."""

    def map(self, fn: Callable[[Job], Job], jobs: list[Job], folder: Path) -> list[Job]:
        return [fn(job) for job in jobs]


def cores() -> int:
    """CPU cores this process may use (the affinity mask, not the machine's total)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _set_threads(n: int) -> None:
    torch.set_num_threads(n)


class Local(Executor):
    """Jobs in `workers` spawned processes, the CPU cores split between them so they do not
    oversubscribe (spawn, not fork: forking a process that already ran torch can deadlock)."""

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"executor.workers must be >= 1, got {workers}")
        self.workers = workers

    def map(self, fn: Callable[[Job], Job], jobs: list[Job], folder: Path) -> list[Job]:
        if not jobs:
            return []
        workers = min(self.workers, len(jobs))
        threads = max(1, cores() // workers)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_set_threads, initargs=(threads,)) as pool:
            return list(pool.map(fn, jobs))


def _with_threads(threads: int, fn: Callable[[Job], Job], job: Job) -> Job:
    """`fn(job)` with `threads` torch threads: what a submitit job runs (module-level, so it pickles by name)."""
    _set_threads(threads)
    return fn(job)


class Submitit(Executor):
    """Every job as a submitit job, one job array: `cluster=local` runs them as processes on this machine
    (all at once), `slurm` sends them to SLURM, `auto` picks SLURM where its commands exist. Each job gets
    `cpus_per_task` torch threads, the CPUs SLURM gives it. A job reads its inputs from the run folder by
    path, so on SLURM the run folder must be on a filesystem the nodes share. Logs go to `folder`, or to
    `submitit/` in the stage's output folder."""

    def __init__(self, cluster: str = "local", folder: str | None = None, partition: str | None = None, timeout_min: int = 60,
                 cpus_per_task: int = 1, gpus_per_node: int = 0, mem_gb: float | None = None, extra: dict[str, Any] | None = None) -> None:
        if cluster not in ("local", "slurm", "auto"):
            raise ValueError(f"executor.cluster must be local, slurm or auto, got {cluster!r}")
        self.cluster, self.folder, self.cpus_per_task = cluster, folder, cpus_per_task
        slurm = {"slurm_partition": partition} if partition else {}
        self.parameters = {"timeout_min": timeout_min, "cpus_per_task": cpus_per_task, "gpus_per_node": gpus_per_node, "mem_gb": mem_gb,
                           **slurm, **dict(extra or {})}

    def map(self, fn: Callable[[Job], Job], jobs: list[Job], folder: Path) -> list[Job]:
        if not jobs:
            return []
        logs = Path(self.folder) if self.folder else folder / "submitit"
        executor = submitit.AutoExecutor(folder=logs, cluster=None if self.cluster == "auto" else self.cluster)
        executor.update_parameters(**self.parameters)
        submitted = executor.map_array(partial(_with_threads, self.cpus_per_task, fn), jobs)
        results: list[Job] = []
        for i, (job, spec) in enumerate(zip(submitted, jobs)):
            try:
                results.append(job.result())
            except UncompletedJobError as err:
                for rest in submitted[i + 1:]:
                    rest.cancel(check=False)
                shown = ", ".join(f"{k}={spec[k]}" for k in ("id", "seed") if k in spec)
                raise RuntimeError(f"job {i} of {len(jobs)} ({shown}) failed as submitit job {job.job_id}; its log: {job.paths.stderr}") from err
        return results
