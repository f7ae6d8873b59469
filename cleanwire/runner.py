"""Where a run's batches run and how big they are: the run's policy, decided without Prefect.

The flow (flows/news_etl.py) builds Prefect's task runner from the `RunnerPlan`
and submits one parse-batch task per batch; the sizes and the choice are here,
where they can be unit-tested.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from cleanwire.config import RunConfig
from cleanwire.ingest.batch import CHUNK_FILES, chunk_bounds

THREAD, PROCESSES, DASK_LOCAL, DASK_ADDRESS = "thread", "processes", "dask-local", "dask-address"
TASKS_PER_WORKER = 2          # a worker with a second task queued never waits for the flow
DASK_WINDOW = 64              # tasks submitted ahead to an existing cluster (its size is not known here)


@dataclass(frozen=True)
class RunnerPlan:
    kind: str                 # THREAD | PROCESSES | DASK_LOCAL | DASK_ADDRESS
    workers: int = 1
    address: str | None = None

    @property
    def where(self) -> str:
        return {THREAD: "a thread of the flow process",
                PROCESSES: f"a process pool of {self.workers} processes",
                DASK_LOCAL: f"a new local Dask cluster of {self.workers} workers",
                DASK_ADDRESS: f"the Dask cluster at {self.address}"}[self.kind]


def planned_workers(config: RunConfig) -> int:
    """Worker processes the run plans for: --workers, else --processes, else the CPU count."""
    return config.workers or config.processes or os.cpu_count() or 1


def files_per_task(config: RunConfig, n_files: int) -> int:
    """config.batch_files, made smaller when that would leave workers idle (TASKS_PER_WORKER each).

    Never below one parse chunk: a small run stays one task, on a thread, without
    the seconds it takes to start worker processes.
    """
    workers = planned_workers(config)
    return max(1, min(config.batch_files, max(CHUNK_FILES, math.ceil(n_files / (TASKS_PER_WORKER * workers)))))


def batch_bounds(config: RunConfig, sizes: list[int]) -> list[tuple[int, int]]:
    """(start, end) of each batch task's files: at most files_per_task files and ~batch_mb bytes,
    as many batches as that takes rounded up to a multiple of the workers, of about one size.

    Workers take batches as they finish; with 23 batches on 2 workers one of them
    idled for the whole last batch (~1.7 s of a 100k-record run, measured). The
    same count on each keeps both busy to the end.
    """
    max_bytes = int(config.batch_mb * 1e6)
    bounds = chunk_bounds(sizes, files_per_task(config, len(sizes)), max_bytes)
    workers = planned_workers(config)
    if len(bounds) <= 1 or workers <= 1 or len(bounds) % workers == 0:
        return bounds
    tasks = math.ceil(len(bounds) / workers) * workers
    return chunk_bounds(sizes, math.ceil(len(sizes) / tasks), max_bytes)


def in_flight_window(config: RunConfig) -> int:
    """Batch tasks submitted ahead: TASKS_PER_WORKER per worker keep every worker busy.

    A submitted task holds its pickled file list until a worker takes it (150 MB
    for a million files): a window, not all at once.
    """
    if config.dask_address:
        return DASK_WINDOW
    return TASKS_PER_WORKER * planned_workers(config)


def plan_runner(config: RunConfig, n_batches: int) -> RunnerPlan:
    """Dask when asked; a process pool for real work; a thread for one batch."""
    if config.dask_address:
        return RunnerPlan(DASK_ADDRESS, address=config.dask_address)
    if config.workers:
        return RunnerPlan(DASK_LOCAL, config.workers)
    workers = planned_workers(config)
    if n_batches <= 1 or workers <= 1:
        return RunnerPlan(THREAD)
    return RunnerPlan(PROCESSES, min(workers, n_batches))
