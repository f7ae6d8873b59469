"""Run parameters: one typed model for the CLI, the flow and the deployment."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field, field_validator, model_validator

from cleanwire.errors import ConfigError
from cleanwire.rules.duplicate import MIN_CONTAINMENT

# The repository's expectation suites (an editable install runs from the checkout).
DEFAULT_SUITES = Path(__file__).resolve().parent.parent / "expectations"
ALERT_WEBHOOK_ENV = "CLEANWIRE_ALERT_WEBHOOK"  # the alert webhook when the run's parameters name none


class RunConfig(BaseModel):
    """Parameters of one `news-etl` run (flow parameters, CLI options, deployment parameters)."""

    input: str = Field("data/raw", description="Folder of raw files (read recursively, never written)")
    output: str = Field("data", description="Folder for published/, quarantine/ and reports/")
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
        return self

    @property
    def input_dir(self) -> Path:
        return Path(self.input).resolve()

    @property
    def output_dir(self) -> Path:
        return Path(self.output).resolve()

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
