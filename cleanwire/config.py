"""Run parameters: one typed model for the CLI, the flow and the deployment."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from cleanwire import storage
from cleanwire.errors import ConfigError
from cleanwire.rules.duplicate import MIN_CONTAINMENT

# The repository's expectation suites (an editable install runs from the checkout).
DEFAULT_SUITES = Path(__file__).resolve().parent.parent / "expectations"
ALERT_WEBHOOK_ENV = "CLEANWIRE_ALERT_WEBHOOK"  # the alert webhook when the run's parameters name none


class RunConfig(BaseModel):
    """Parameters of one `news-etl` run (flow parameters, CLI options, deployment parameters)."""

    input: str = Field("data/raw", description="Folder of raw files (read recursively, never written), "
                                               "or s3://bucket/prefix")
    output: str = Field("data", description="Folder for published/, quarantine/ and reports/, or s3://bucket/prefix")
    table_format: Literal["parquet", "delta"] | None = Field(
        None, description="parquet: versioned folders of Parquet files (the default for a local output); delta: "
                          "Delta tables (the default, and the only choice, for an s3:// output). An existing "
                          "output keeps its format")
    suites: str = Field(str(DEFAULT_SUITES), description="Folder holding articles.json and batch.json")
    max_quarantined_share: float | None = Field(
        None, ge=0, le=1, description="Override of the batch suite's maximum share of quarantined records")
    batch_files: int = Field(4000, ge=1, description="Raw files per batch task (at most; parsed in chunks of 1000)")
    batch_mb: float = Field(128, gt=0, description="About this many MB of raw bytes per batch task")
    max_file_mb: float = Field(10, gt=0, description="Files larger than this are quarantined as unreadable")
    # 10x the file cap: a 10 MB .jsonl.gz of news holds ~50-80 MB; past 100 MB it is a bomb, or a file to split.
    max_decompressed_mb: float = Field(100, gt=0, description="A compressed file (or an archive's record) that "
                                                              "decompresses past this is quarantined as too_large")
    processes: int | None = Field(None, ge=1, description="Local worker processes of the default pool (default: CPU count)")
    workers: int | None = Field(None, ge=1, description="Start a local Dask cluster with this many workers")
    dask_address: str | None = Field(None, description="Run batch tasks on this Dask scheduler (tcp://host:8786)")
    keep_versions: int = Field(10, ge=1, description="Published versions to keep for rollback")
    min_containment: float = Field(MIN_CONTAINMENT, ge=0, le=1, description="Near-duplicate: share of the smaller copy's "
                                                                 "word 3-grams found in the other one")
    data_docs: bool = Field(True, description="Render Great Expectations Data Docs (HTML) for the run; the "
                                             "validation results (JSON) are written either way")
    reprocess_quarantine: bool = Field(False, description="Re-run the checks on the quarantined records' raw files "
                                                          "(after rules or thresholds changed)")
    alert_webhook: str | None = Field(None, description="POST one JSON message (Slack-compatible) here when the gate "
                                                        "refuses, a batch expectation fails or the run fails "
                                                        "(default: $CLEANWIRE_ALERT_WEBHOOK where the run executes)")

    @field_validator("input", "output", "suites")
    @classmethod
    def _expand(cls, v: str) -> str:
        if storage.is_url(v):
            return str(storage.location(str(v)))  # s3:/x (what pathlib makes of s3://x) -> s3://x
        return os.path.expanduser(str(v))

    @field_validator("alert_webhook")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v and not v.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v or None

    @model_validator(mode="after")
    def _one_place_to_run(self) -> "RunConfig":
        given = [o for o, v in (("--processes", self.processes), ("--workers", self.workers),
                                ("--dask-address", self.dask_address)) if v]
        if len(given) > 1:
            raise ValueError(f"{' and '.join(given)} each choose where the batches run "
                             "(local processes, a new local Dask cluster, an existing one): give one")
        if self.table_format == "parquet" and storage.is_url(self.output):
            raise ValueError("an s3:// --output is always written as Delta tables: drop --table-format parquet "
                             "(object storage has no atomic switch for the Parquet format's versions)")
        return self

    @property
    def input_dir(self) -> Path | storage.ObjectPath:
        """The input: a resolved local Path, or an ObjectPath for s3://."""
        return storage.location(self.input) if storage.is_url(self.input) else Path(self.input).resolve()

    @property
    def output_dir(self) -> Path | storage.ObjectPath:
        """The output: a resolved local Path, or an ObjectPath for s3://."""
        return storage.location(self.output) if storage.is_url(self.output) else Path(self.output).resolve()

    @property
    def suites_dir(self) -> Path:
        return Path(self.suites).resolve()

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * 1_000_000)

    @property
    def max_decompressed_bytes(self) -> int:
        return int(self.max_decompressed_mb * 1_000_000)

    @property
    def alert_url(self) -> str | None:
        """The alert webhook: the parameter, else $CLEANWIRE_ALERT_WEBHOOK of the process running the flow
        (so a deployment need not store the URL, a secret for Slack, among its parameters)."""
        return self.alert_webhook or os.environ.get(ALERT_WEBHOOK_ENV) or None


def check_paths(cfg: RunConfig) -> None:
    """Refuse a run that cannot work, with what to fix."""
    inp, out = cfg.input_dir, cfg.output_dir
    if isinstance(inp, storage.ObjectPath) or isinstance(out, storage.ObjectPath):
        return _check_remote_paths(cfg, inp, out)
    if not inp.exists():
        raise ConfigError(f"input folder {inp} does not exist (pass --input DIR)")
    if not inp.is_dir():
        raise ConfigError(f"input {inp} is not a folder (pass --input DIR)")
    if out == inp or inp in out.parents:
        raise ConfigError(f"output {out} is inside the input folder {inp}: choose an --output outside it "
                          "(cleanwire never writes into its input)")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output {out} exists and is not a folder (pass --output DIR)")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"output {out} cannot be created: {probe} is a file, not a folder (pass --output DIR)")
    # os.access says yes to root everywhere (even below /proc): try for real, leaving nothing behind.
    try:
        fd, name = tempfile.mkstemp(prefix=".cleanwire-probe-", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as e:
        raise ConfigError(f"output folder {out} is not writable ({e.strerror or e}); "
                          "check permissions or pass --output DIR") from None
    _check_table_format(cfg, out)


def _check_table_format(cfg: RunConfig, out) -> None:
    """An existing output keeps its table format: asking for the other one stops the run here."""
    from cleanwire.errors import StoreError
    from cleanwire.publish.store import table_format_of

    try:
        table_format_of(out, cfg.table_format)
    except StoreError as e:
        raise ConfigError(str(e)) from None


def _check_remote_paths(cfg: RunConfig, inp, out) -> None:
    """The checks of check_paths where the input or the output is on S3: reachable, listable, writable.

    One request or two each (a listing; a probe object written and deleted), so an
    unreachable endpoint, a missing bucket, refused credentials or a denied write stop
    the run here, in one line, before any work.
    """
    if cfg.dask_address and isinstance(out, storage.ObjectPath):
        raise ConfigError("--dask-address with an s3:// --output is not supported: the batch files of a run are "
                          "written to a local folder of the machine running the flow (use --workers or --processes, "
                          "or a local --output on a file system the cluster shares)")
    if str(out) == str(inp) or str(out).startswith(str(inp).rstrip("/") + "/"):
        raise ConfigError(f"output {out} is inside the input {inp}: choose an --output outside it "
                          "(cleanwire never writes into its input)")
    if isinstance(inp, storage.ObjectPath):
        problem = storage.check_reachable(inp, write=False)
        if problem:
            raise ConfigError(f"input: {problem}")
    else:
        if not inp.is_dir():
            raise ConfigError(f"input folder {inp} does not exist or is not a folder (pass --input DIR)")
    if isinstance(out, storage.ObjectPath):
        problem = storage.check_reachable(out, write=True)
        if problem:
            raise ConfigError(f"output: {problem}")
    else:
        probe = out
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir() or not os.access(probe, os.W_OK):
            raise ConfigError(f"output folder {out} cannot be written (pass --output DIR)")
    _check_table_format(cfg, out)
