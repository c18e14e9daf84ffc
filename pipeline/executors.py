"""Where pilot jobs run: one after another in this process, or in parallel worker processes.

A stage only calls `Executor.map(fn, jobs)`, with `fn` a module-level function and every job a
plain dict, so jobs pickle and an engine for a cluster (e.g. submitit) is one more subclass
here, with no change to the stage.
"""
from __future__ import annotations

import multiprocessing
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import torch

Job = dict[str, Any]


class Executor(ABC):
    @abstractmethod
    def map(self, fn: Callable[[Job], Job], jobs: list[Job]) -> list[Job]:
        """`fn(job)` for every job; results in the order of `jobs`."""


class Inline(Executor):
    """Jobs one after another in this process: no start-up cost, the default."""

    def map(self, fn: Callable[[Job], Job], jobs: list[Job]) -> list[Job]:
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

    def map(self, fn: Callable[[Job], Job], jobs: list[Job]) -> list[Job]:
        if not jobs:
            return []
        workers = min(self.workers, len(jobs))
        threads = max(1, cores() // workers)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_set_threads, initargs=(threads,)) as pool:
            return list(pool.map(fn, jobs))
