"""The run report: one self-contained HTML page per run, charts as inline SVG.

What came in, what was held back and why, and whether today looks like every
other day: counts, the share of each issue code (bar chart), the body-length
distribution, the issue shares over the last runs (line chart, from the
metrics history), the gate's verdict with any drift found, a sample of the
quarantined records with their reasons, and a link to the GX Data Docs.

Charts are drawn with matplotlib into SVG that is inlined in the page (fonts as
paths, metadata stripped): the page has no external reference and opens
offline.
"""
from __future__ import annotations

import html
import io
import re
import threading
from pathlib import Path

import polars as pl

from cleanwire.paths import Layout, write_text
from cleanwire.report.metrics import ALL
from cleanwire.report.summary import RunSummary
from cleanwire.types import ISSUE_CODES

SAMPLE = 25  # quarantined records shown (kept by publish as it streams the records)
_SVG_CLEAN = [
    (re.compile(r"<\?xml[^>]*\?>\s*"), ""),
    (re.compile(r"<!DOCTYPE[^>]*>\s*"), ""),
    (re.compile(r"<!--.*?-->\s*", re.S), ""),
    (re.compile(r"<metadata>.*?</metadata>\s*", re.S), ""),
    (re.compile(r'\s+xmlns(:\w+)?="[^"]*"'), ""),
]


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    for rx, repl in _SVG_CLEAN:
        text = rx.sub(repl, text)
    return text.replace("xlink:href", "href")


def load_charts_in_background() -> threading.Thread:
    """Import the charting library on a thread: its ~0.6 s import (most of the report stage at 100k
    records, measured) then overlaps the publish, whose Parquet writes leave the GIL free. A chart
    drawn before the import ends waits for it (Python's import lock); the caller joins the thread
    before it ends, so no import is cut off at exit."""
    loading = threading.Thread(target=_plt, name="import-matplotlib", daemon=True)
    loading.start()
    return loading


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "path"  # text as paths: no font files to fetch
    matplotlib.rcParams["svg.hashsalt"] = "cleanwire"  # stable element ids
    import matplotlib.pyplot as plt

    return plt


def issue_bar_chart(issues: dict[str, int], records: int) -> str:
    plt = _plt()
    codes = [c for c in issues if issues[c] or c in ISSUE_CODES]
    shares = [issues[c] / records if records else 0.0 for c in codes]
    fig, ax = plt.subplots(figsize=(7, 2.8))
    bars = ax.barh(codes[::-1], shares[::-1], color="#c0504d")
    ax.set_xlim(0, max(0.05, max(shares, default=0) * 1.25))
    ax.set_xlabel("share of the run's records")
    for bar, n in zip(bars, [issues[c] for c in codes][::-1]):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {n}", va="center", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    out = _svg(fig)
    plt.close(fig)
    return out


def body_length_chart(word_counts: pl.Series | list[int]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 2.6))
    data = pl.Series(word_counts, dtype=pl.Int64).drop_nulls().to_numpy()  # numpy: a million ints in ms
    ax.hist(data if len(data) else [0], bins=40, color="#4f81bd")
    ax.set_xlabel("words in body")
    ax.set_ylabel("records")
    ax.spines[["top", "right"]].set_visible(False)
    out = _svg(fig)
    plt.close(fig)
    return out


def history_chart(history: pl.DataFrame | None, last: int = 30) -> str | None:
    if history is None or history.height == 0:
        return None
    rows = history.filter(pl.col("source") == ALL).sort("finished_at").tail(last)
    if rows.height < 2:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 2.8))
    x = list(range(rows.height))
    for code in ISSUE_CODES:
        col = f"share_{code}"
        if col in rows.columns:
            ax.plot(x, rows[col].fill_null(0).to_list(), marker="o", markersize=3, label=code)
    ax.set_xticks(x, [r[:16] for r in rows["run_id"].to_list()], rotation=60, fontsize=6, ha="right")
    ax.set_ylabel("share of records")
    ax.legend(fontsize=7, ncol=4, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    out = _svg(fig)
    plt.close(fig)
    return out


def _table(rows: list[list], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1000px;
color:#222;padding:0 1em} h1{font-size:1.5em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;width:100%} td,th{border:1px solid #ddd;padding:.25em .5em;
text-align:left;vertical-align:top} th{background:#f4f4f4} .ok{color:#2a7d2a} .bad{color:#b00020;font-weight:bold}
.figures td:nth-child(2){text-align:right;font-variant-numeric:tabular-nums} svg{max-width:100%;height:auto}
"""


_DOCS_SLOT = "cleanwire-data-docs-href"  # where render's link goes, filled in per page


def render(s: RunSummary, sample: pl.DataFrame, word_counts: pl.Series, history: pl.DataFrame | None,
           docs_href: str) -> str:
    """The report page. `sample`: the first quarantined records (publish keeps them); `word_counts`:
    the body length of every record."""
    n = s.records
    figures = [["files found", s.files.found], ["files processed", s.files.processed],
               ["files unchanged (skipped)", s.files.unchanged], ["records", n],
               ["published", s.published], ["quarantined", s.quarantined],
               ["duplicate groups", s.duplicate_groups],
               [f"published in all (version {s.version})", s.published_total]]
    figures += [[f"issue: {c}", v] for c, v in s.issues.items()]
    reasons = [[r, v, f"{v / n:.1%}" if n else ""] for r, v in s.reasons.items()]
    gate_rows = [[f.get("severity"), f.get("expectation"), f.get("observed")] for f in s.gate.failures]
    held = [[r["source_path"], r.get("title"), ", ".join(r["issues"]), r.get("detail")]
            for r in sample.iter_rows(named=True)]
    hist_svg = history_chart(history)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>cleanwire run {html.escape(s.run_id)}</title><style>{_CSS}</style></head><body>",
        f"<h1>cleanwire run <code>{html.escape(s.run_id)}</code></h1>",
        f"<p>{html.escape(s.input)} &rarr; {html.escape(s.output)}; {s.seconds} s. Batch gate: "
        + ("<span class='ok'>passed</span>" if s.gate.ok else "<span class='bad'>REFUSED: the previous published "
           "version was kept</span>") + "</p>",
        "<h2>Figures</h2>", _table(figures, ["", "records"]).replace("<table>", "<table class='figures'>"),
        "<h2>Issues</h2>", issue_bar_chart(s.issues, n),
        "<h2>Which rules fired</h2>",
        _table(reasons, ["reason", "records", "share"]).replace("<table>", "<table class='figures'>")
        if reasons else "<p>no record was held</p>",
        "<h2>Body length</h2>", body_length_chart(word_counts),
        "<h2>Issue shares over the last runs</h2>",
        hist_svg or "<p>(shown from the second run on)</p>",
        "<h2>Gate and drift</h2>",
        _table(gate_rows, ["severity", "expectation", "observed"]) if gate_rows else
        "<p class='ok'>every batch expectation passed</p>",
        "".join(f"<p>{html.escape(x)}</p>" for x in s.gate.skipped),
        "<h2>Sources: freshness</h2>", _sources_table(s.freshness),
        f"<h2>Quarantined records (first {SAMPLE} of {s.quarantined})</h2>",
        _table(held, ["source_path", "title", "issues", "why"]) if held else "<p>none</p>",
        "<h2>Validation</h2>" + (
            f"<p><a href='{html.escape(docs_href)}'>Great Expectations Data Docs</a> "
            "(both suites, with every expectation's result).</p>" if s.reports.get("data_docs") else
            "<p>Data Docs were not rendered for this run (data_docs off); the validation results are "
            f"in {html.escape(s.run_id)}/validation/.</p>"),
        "</body></html>",
    ]
    return "\n".join(parts)


def _sources_table(freshness: list[dict]) -> str:
    """Each source folder's newest file and new files, and whether it went quiet (checks/freshness.py)."""
    if not freshness:
        return "<p>no source measured</p>"

    def status(q: dict) -> str:
        if q.get("alarm"):
            return f"STALE ({q['alarm']})"
        if q.get("quiet"):
            return "quiet: no new file this run"
        return "new source (checked from its next run)" if not q.get("earlier_runs") else "ok"

    rows = [[q["source"], q["new_files"], (q["newest_file_at"] or "")[:19].replace("T", " "),
             q["newest_file_age_hours"], q["new_files_share"], status(q)] for q in freshness]
    table = _table(rows, ["source", "new files", "newest file (UTC)", "age (h)", "share of new files", "status"])
    return table.replace("<td>STALE", "<td class='bad'>STALE")


def write_reports(s: RunSummary, sample: pl.DataFrame, word_counts: pl.Series, history: pl.DataFrame | None) -> Path:
    """reports/<run_id>/report.html and reports/latest.html (a copy with its own relative links)."""
    layout = Layout(s.output)
    run_page = layout.run_reports(s.run_id) / "report.html"
    # One rendering (charts of the whole run), two pages that differ only in their link to Data Docs.
    page = render(s, sample, word_counts, history, _DOCS_SLOT)
    write_text(run_page, page.replace(_DOCS_SLOT, "../data_docs/index.html"))
    write_text(layout.latest_html, page.replace(_DOCS_SLOT, "data_docs/index.html"))
    return run_page
