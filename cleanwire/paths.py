"""Where things live under OUT_DIR, and how a file is written so that no reader sees half of it.

    OUT_DIR/published, quarantine     links into the current version (publish/store.py)
    OUT_DIR/reports/                  summaries, validation results, Data Docs, HTML reports, metrics history
    OUT_DIR/.cleanwire/               versions, the lock, work folders of runs in progress

OUT_DIR may be an `s3://bucket/prefix` (cleanwire/storage.py): the same layout as
objects; the lock is local-only (two runs on one S3 output are kept apart by the
Delta commit, publish/delta.py), and a run's work folder (its batch files, read back
by the same process) is a local temporary folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from cleanwire.storage import ObjectPath, location

REPORTS = "reports"
STATE_DIR = ".cleanwire"


class Layout:
    """The paths of one output folder."""

    def __init__(self, out_dir: Path | str | ObjectPath):
        self.out = location(out_dir)

    @property
    def remote(self) -> bool:
        return isinstance(self.out, ObjectPath)

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
        return self.work_root / run_id

    @property
    def work_root(self) -> Path:
        if self.remote:
            # Batch files are written and read back by this machine's processes: a local folder,
            # one per output (so a run cleaning up its stale work leaves other outputs' alone).
            tag = hashlib.blake2b(str(self.out).encode(), digest_size=6).hexdigest()
            return Path(tempfile.gettempdir()) / "cleanwire-work" / tag
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

    @property
    def data_docs_build(self) -> Path:
        """Where Great Expectations renders the Data Docs: `data_docs` itself, or for an s3:// output a
        local folder that `publish_data_docs` uploads (GX writes its sites to a file system)."""
        if self.remote:
            return self.work_root.parent / (self.work_root.name + "-data-docs")
        return self.data_docs

    def publish_data_docs(self) -> None:
        """Upload the rendered Data Docs of an s3:// output (nothing to do for a local one)."""
        if self.remote and self.data_docs_build.is_dir():
            import shutil

            from cleanwire.storage import upload_tree

            upload_tree(self.data_docs_build, self.data_docs)
            shutil.rmtree(self.data_docs_build, ignore_errors=True)


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
    """write(tmp) then rename onto `path`; the parent folder is created.

    For an object (s3://), `write` writes a local temporary file that is then put
    in one request: a PUT replaces an object whole.
    """
    if isinstance(path, ObjectPath):
        with tempfile.TemporaryDirectory(prefix="cleanwire-put-") as d:
            tmp = Path(d) / path.name
            write(tmp)
            if tmp.exists():
                path.write_bytes(tmp.read_bytes())
        return path
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        write(tmp)
    return path


def write_json(path: Path, data) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1, default=str, ensure_ascii=False)))


def write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
