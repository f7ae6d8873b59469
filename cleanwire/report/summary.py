"""The run summary: one typed record of a run, built as its stages finish and written once.

Layout under OUT_DIR/reports/ (cleanwire.paths.Layout):

    <run_id>/summary.json           this run's summary
    summary.json                    the latest run's summary (a copy)
    <run_id>/validation/articles.json, batch.json   GX validation results

The same summary feeds the terminal table, the Prefect artifacts and the HTML
report; its JSON keys are the ones readers of summary.json rely on.
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from cleanwire.checks.gx import Validation
from cleanwire.memory import peak_rss_mb
from cleanwire.paths import Layout, write_json
from cleanwire.types import ISSUE_CODES


@dataclass
class FileCounts:
    found: int = 0
    processed: int = 0
    unchanged: int = 0
    missing_since_last_run: int = 0   # known files no longer on disk (their records are kept)


@dataclass
class GateVerdict:
    ok: bool = True
    # expectation, severity, observed ({source: value} for a per-source one), type, column, threshold
    failures: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    message: str = ""                                     # why the publish was refused, in one line


@dataclass
class RunSummary:
    run_id: str
    output: str
    input: str = ""
    flow_run_id: str = ""
    started_at: str = ""
    files: FileCounts = field(default_factory=FileCounts)
    records: int = 0
    # Records of WARC archives that are no article, by kind (request, metadata, response:non-html...):
    # not in either dataset, counted here so an archive's every record is accounted for.
    skipped_records: dict[str, int] = field(default_factory=dict)
    published: int = 0
    quarantined: int = 0
    issues: dict[str, int] = field(default_factory=lambda: {c: 0 for c in ISSUE_CODES})
    reasons: dict[str, int] = field(default_factory=dict)   # fine reason -> records ('truncated_body/mid_sentence')
    gate: GateVerdict = field(default_factory=GateVerdict)
    version: int | None = None
    duplicate_groups: int = 0
    published_total: int | None = None
    quarantined_total: int | None = None
    runner: dict | None = None                               # where the batches ran (flows.news_etl.runner_summary)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_peak_rss_mb: dict[str, int] = field(default_factory=dict)
    startup_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    reports: dict[str, object] = field(default_factory=dict)  # paths: summary, html, latest_html, data_docs, ...
    # Per source folder: newest file, its age, new files, quiet, alarm (checks/sources.py summary_rows).
    freshness: list[dict] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str):
        """Time a stage of the run; after it, give its freed heap back and note the peak memory."""
        tick = time.perf_counter()
        yield
        self.stage_seconds[name] = round(time.perf_counter() - tick, 2)
        self.stage_peak_rss_mb[name] = peak_rss_mb()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunSummary":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known["files"] = FileCounts(**d.get("files", {}))
        known["gate"] = GateVerdict(**d.get("gate", {}))
        return cls(**known)

    def write(self) -> Path:
        """The run's summary.json and the latest copy (the one place a summary is written)."""
        layout = Layout(self.output)
        path = layout.run_reports(self.run_id) / "summary.json"
        self.reports["summary"] = str(path)
        write_json(path, self.to_dict())
        write_json(layout.latest_summary, self.to_dict())
        return path


def latest_summary(out_dir: Path) -> RunSummary | None:
    p = Layout(out_dir).latest_summary
    return RunSummary.from_dict(json.loads(p.read_text())) if p.is_file() else None


def issue_counts(decisions: pl.DataFrame) -> dict[str, int]:
    """Records per issue code (every contract code, zero or not)."""
    counts = {c: 0 for c in ISSUE_CODES}
    counts.update(_counts(decisions, "issues"))
    return counts


def reason_counts(decisions: pl.DataFrame) -> dict[str, int]:
    """Records per fine reason, most frequent first."""
    return dict(sorted(_counts(decisions, "reasons").items(), key=lambda kv: (-kv[1], kv[0])))


def _counts(decisions: pl.DataFrame, column: str) -> dict[str, int]:
    if not decisions.height or column not in decisions.columns:
        return {}
    vc = decisions.select(pl.col(column).explode().drop_nulls()).to_series().value_counts()
    return {code: int(n) for code, n in vc.iter_rows()}


def write_validations(out_dir: Path, run_id: str, validations: list[Validation]) -> list[str]:
    paths = []
    for v in validations:
        p = Layout(out_dir).run_reports(run_id) / "validation" / f"{v.suite}.json"
        write_json(p, v.result_json)
        paths.append(str(p))
    return paths


def gate_verdict(batch: Validation) -> GateVerdict:
    return GateVerdict(ok=not batch.blocking(),
                       failures=[{"expectation": f.message, "severity": f.severity, "observed": f.observed_value,
                                  "type": f.type, "column": f.column,
                                  "threshold": {k: v for k, v in (f.kwargs or {}).items() if k != "column"}}
                                 for f in batch.failures],
                       skipped=batch.skipped, message=gate_message(batch) if batch.blocking() else "")


def gate_message(batch: Validation) -> str:
    parts = []
    for f in batch.blocking():
        obs = f" (observed {f.observed_value:.3g})" if isinstance(f.observed_value, (int, float)) else ""
        parts.append(f"{f.message}{obs}")
    return "batch gate refused the publish: " + "; ".join(parts)


def summary_table(s: RunSummary) -> list[dict]:
    """Rows for a Prefect table artifact and the terminal: what happened, per issue code and reason."""
    rows = [{"metric": "files processed", "value": s.files.processed},
            {"metric": "files unchanged (skipped)", "value": s.files.unchanged},
            {"metric": "records", "value": s.records},
            {"metric": "published", "value": s.published},
            {"metric": "quarantined", "value": s.quarantined}]
    rows += [{"metric": f"issue: {code}", "value": n} for code, n in s.issues.items() if n or code in ISSUE_CODES]
    rows += [{"metric": f"reason: {reason}", "value": n} for reason, n in s.reasons.items()]
    rows += [{"metric": f"skipped archive records: {kind}", "value": n} for kind, n in s.skipped_records.items()]
    return rows


def markdown(s: RunSummary) -> str:
    """The run as a Markdown artifact: figures, then issue codes and the reasons behind them."""
    lines = [f"# cleanwire run `{s.run_id}`", "",
             f"- files processed: **{s.files.processed}** (unchanged: {s.files.unchanged})",
             f"- published: **{s.published}**, quarantined: **{s.quarantined}**",
             f"- version: {s.version}, gate: {'passed' if s.gate.ok else 'REFUSED'}", "",
             "| issue | records |", "| --- | ---: |"]
    lines += [f"| {k} | {v} |" for k, v in s.issues.items()]
    if s.reasons:
        lines += ["", "| reason | records |", "| --- | ---: |"]
        lines += [f"| {k} | {v} |" for k, v in s.reasons.items()]
    if s.skipped_records:
        lines += ["", "| skipped archive records | records |", "| --- | ---: |"]
        lines += [f"| {k} | {v} |" for k, v in s.skipped_records.items()]
    quiet = [q for q in s.freshness if q.get("quiet") or q.get("alarm")]
    if quiet:
        lines += ["", "| quiet source | new files | newest file | age (h) | alarm |", "| --- | ---: | --- | ---: | --- |"]
        lines += [f"| {q['source']} | {q['new_files']} | {q['newest_file_at']} | {q['newest_file_age_hours']} | "
                  f"{q['alarm'] or ''} |" for q in quiet]
    return "\n".join(lines)
