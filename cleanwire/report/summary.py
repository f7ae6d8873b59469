"""Run reports: validation results (GX JSON), the run summary, and the summary's tables.

Layout under OUT_DIR/reports/:

    data_docs/index.html            GX Data Docs (written by validate.Validator)
    <run_id>/validation/articles.json, batch.json   GX validation results
    <run_id>/summary.json           counts of this run
    summary.json                    the latest run's summary (a copy)
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl

from cleanwire.types import BATCH_REJECTED, ISSUE_CODES
from cleanwire.checks.gx import Validation


def reports_dir(out_dir: Path) -> Path:
    return Path(out_dir) / "reports"


def issue_counts(decisions: pl.DataFrame) -> dict[str, int]:
    counts = {c: 0 for c in ISSUE_CODES}
    if decisions.height:
        vc = decisions.select(pl.col("issues").explode().drop_nulls()).to_series().value_counts()
        for code, n in vc.iter_rows():
            counts[code] = int(n)
    return counts


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str, ensure_ascii=False))
    os.replace(tmp, path)


def write_validations(out_dir: Path, run_id: str, validations: list[Validation]) -> list[str]:
    paths = []
    for v in validations:
        p = reports_dir(out_dir) / run_id / "validation" / f"{v.suite}.json"
        write_json(p, v.result_json)
        paths.append(str(p))
    return paths


def gate_summary(batch: Validation) -> dict:
    return {
        "ok": not batch.blocking(),
        "failures": [{"expectation": f.message, "severity": f.severity, "observed": f.observed_value,
                      "type": f.type} for f in batch.failures],
        "skipped": batch.skipped,
    }


def gate_message(batch: Validation) -> str:
    parts = []
    for f in batch.blocking():
        obs = f" (observed {f.observed_value:.3g})" if isinstance(f.observed_value, (int, float)) else ""
        parts.append(f"{f.message}{obs}")
    return "batch gate refused the publish: " + "; ".join(parts)


def write_summary(out_dir: Path, run_id: str, summary: dict) -> Path:
    p = reports_dir(out_dir) / run_id / "summary.json"
    write_json(p, summary)
    write_json(reports_dir(out_dir) / "summary.json", summary)
    return p


def summary_table(summary: dict) -> list[dict]:
    """Rows for a Prefect table artifact and the terminal: what happened, per issue code."""
    rows = [{"metric": "files processed", "value": summary["files"]["processed"]},
            {"metric": "files unchanged (skipped)", "value": summary["files"]["unchanged"]},
            {"metric": "records", "value": summary["records"]},
            {"metric": "published", "value": summary["published"]},
            {"metric": "quarantined", "value": summary["quarantined"]}]
    for code, n in summary["issues"].items():
        if n or code in ISSUE_CODES:
            rows.append({"metric": f"issue: {code}", "value": n})
    return rows


def latest_summary(out_dir: Path) -> dict | None:
    p = reports_dir(out_dir) / "summary.json"
    if not p.is_file():
        return None
    return json.loads(p.read_text())


__all__ = ["BATCH_REJECTED", "issue_counts", "write_validations", "write_summary", "summary_table",
           "gate_summary", "gate_message", "latest_summary", "reports_dir"]
