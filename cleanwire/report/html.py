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
from pathlib import Path

import polars as pl

from cleanwire.report.metrics import ALL
from cleanwire.types import ISSUE_CODES

SAMPLE = 25
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


def quarantined_sample(records: pl.DataFrame) -> pl.DataFrame:
    """The first SAMPLE quarantined records by path (source_path, title, issues, detail), without
    a sorted copy of every quarantined record. `records`: one row per record of the run."""
    return (records.lazy().filter(pl.col("issues").list.len() > 0)
            .bottom_k(SAMPLE, by="source_path").sort("source_path")
            .select("source_path", "title", "issues", "detail").collect())


def render(summary: dict, sample: pl.DataFrame, word_counts: pl.Series, history: pl.DataFrame | None,
           docs_href: str) -> str:
    """The report page. `sample`: quarantined_sample(); `word_counts`: the body length of every record."""
    gate = summary.get("gate", {})
    ok = gate.get("ok", True)
    issues = summary.get("issues", {})
    n = summary.get("records", 0)
    figures = [["files found", summary["files"].get("found")], ["files processed", summary["files"].get("processed")],
               ["files unchanged (skipped)", summary["files"].get("unchanged")], ["records", n],
               ["published", summary.get("published")], ["quarantined", summary.get("quarantined")],
               ["duplicate groups", summary.get("duplicate_groups", 0)],
               ["published in all (version %s)" % summary.get("version"), summary.get("published_total")]]
    figures += [[f"issue: {c}", v] for c, v in issues.items()]
    gate_rows = [[f.get("severity"), f.get("expectation"), f.get("observed")] for f in gate.get("failures", [])]
    held = [[r["source_path"], r.get("title"), ", ".join(r["issues"]), r.get("detail")]
            for r in sample.iter_rows(named=True)]
    hist_svg = history_chart(history)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>cleanwire run {html.escape(summary.get('run_id', ''))}</title><style>{_CSS}</style></head><body>",
        f"<h1>cleanwire run <code>{html.escape(summary.get('run_id', ''))}</code></h1>",
        f"<p>{html.escape(summary.get('input', ''))} &rarr; {html.escape(summary.get('output', ''))}; "
        f"{summary.get('seconds', '')} s. Batch gate: "
        + (f"<span class='ok'>passed</span>" if ok else "<span class='bad'>REFUSED: the previous published "
           "version was kept</span>") + "</p>",
        "<h2>Figures</h2>", _table(figures, ["", "records"]).replace("<table>", "<table class='figures'>"),
        "<h2>Issues</h2>", issue_bar_chart(issues, n),
        "<h2>Body length</h2>", body_length_chart(word_counts),
        "<h2>Issue shares over the last runs</h2>",
        hist_svg or "<p>(shown from the second run on)</p>",
        "<h2>Gate and drift</h2>",
        _table(gate_rows, ["severity", "expectation", "observed"]) if gate_rows else
        "<p class='ok'>every batch expectation passed</p>",
        "".join(f"<p>{html.escape(s)}</p>" for s in gate.get("skipped", [])),
        f"<h2>Quarantined records (first {SAMPLE} of {summary.get('quarantined', 0)})</h2>",
        _table(held, ["source_path", "title", "issues", "why"]) if held else "<p>none</p>",
        f"<h2>Validation</h2><p><a href='{html.escape(docs_href)}'>Great Expectations Data Docs</a> "
        "(both suites, with every expectation's result).</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_reports(out_dir: Path, run_id: str, summary: dict, sample: pl.DataFrame, word_counts: pl.Series,
                  history: pl.DataFrame | None) -> Path:
    """reports/<run_id>/report.html and reports/latest.html (a copy with its own relative links)."""
    import os

    reports = Path(out_dir) / "reports"
    run_page = reports / run_id / "report.html"
    run_page.parent.mkdir(parents=True, exist_ok=True)
    # One rendering (charts of the whole run), two pages that differ only in their link to Data Docs.
    page = render(summary, sample, word_counts, history, _DOCS_SLOT)
    for path, href in ((run_page, "../data_docs/index.html"), (reports / "latest.html", "data_docs/index.html")):
        tmp = path.with_suffix(".html.tmp")
        tmp.write_text(page.replace(_DOCS_SLOT, href), encoding="utf-8")
        os.replace(tmp, path)
    return run_page
