"""Progress of a run, reported by the flow and shown by whoever listens (the CLI's bar).

The flow calls `update(stage, done, total)`; with no listener (a deployment run)
the calls cost nothing and the Prefect UI shows the task runs instead.
"""
from __future__ import annotations

from typing import Callable

Listener = Callable[[str, int, int], None]
_listeners: list[Listener] = []


def listen(fn: Listener) -> None:
    _listeners.append(fn)


def forget(fn: Listener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def update(stage: str, done: int, total: int) -> None:
    for fn in list(_listeners):
        fn(stage, done, total)
