"""Where things live under OUT_DIR, and how a file is written so that no reader sees half of it.

    OUT_DIR/published, quarantine     links into the current version (publish/store.py)
    OUT_DIR/reports/                  summaries, validation results, Data Docs, HTML reports, metrics history
    OUT_DIR/.cleanwire/               versions, the lock, work folders of runs in progress
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

REPORTS = "reports"
STATE_DIR = ".cleanwire"


class Layout:
    """The paths of one output folder."""

    def __init__(self, out_dir: Path | str):
        self.out = Path(out_dir)

    @property
    def reports(self) -> Path:
        return self.out / REPORTS

    @property
    def state(self) -> Path:
        return self.out / STATE_DIR

    @property
    def lock(self) -> Path:
        return self.state / "lock"

    def work(self, run_id: str) -> Path:
        """The batch files of a run in progress (removed when it ends)."""
        return self.state / "work" / run_id

    @property
    def work_root(self) -> Path:
        return self.state / "work"

    def run_reports(self, run_id: str) -> Path:
        return self.reports / run_id

    @property
    def latest_summary(self) -> Path:
        return self.reports / "summary.json"

    @property
    def latest_html(self) -> Path:
        return self.reports / "latest.html"

    @property
    def data_docs(self) -> Path:
        return self.reports / "data_docs"

    @property
    def metrics_history(self) -> Path:
        return self.reports / "metrics_history.parquet"


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`, renamed onto it when the block succeeds (if it was written).

    A crash or an error leaves the old file (or none), never a half-written one.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if tmp.exists():
        os.replace(tmp, path)


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """write(tmp) then rename onto `path`; the parent folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        write(tmp)
    return path


def write_json(path: Path, data) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1, default=str, ensure_ascii=False)))


def write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
