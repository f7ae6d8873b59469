"""Why a record was held: fine reasons, evidence, fields taken from a duplicate, and the counts.

One run on the seeds and one on invented files with one defect each; every
quarantined record must say which rule fired and on what, and the run's
summary, HTML report and metrics history must count each reason.
"""
from __future__ import annotations

import polars as pl
import pytest

import helpers as h


@pytest.fixture(scope="module")
def seeds_run(run_etl, tmp_path_factory):
    import shutil

    root = tmp_path_factory.mktemp("seeds")
    shutil.copytree(h.SEED_DIR, root / "raw")
    state = run_etl(root / "raw", root / "out")
    assert state.is_completed(), state.message
    return root / "out"


@pytest.fixture(scope="module")
def defects_run(run_etl, tmp_path_factory):
    root = tmp_path_factory.mktemp("defects")
    raw = root / "raw"
    a = {n: h.make_article(seed) for n, seed in (("cut", 2101), ("stub", 2102), ("label", 2103), ("empty", 2104),
                                                   ("undated", 2105), ("copy", 2106), ("related", 2107))}
    h.write(raw, "cut.txt", h.cut_mid_sentence_dump(a["cut"]))
    h.write(raw, "stub.txt", h.chars_stub_dump(a["stub"]))
    h.write(raw, "label.txt", h.label_title_dump(a["label"]))
    h.write(raw, "related.txt", h.related_title_dump(a["related"], "Storm closes mountain passes across the valleys"))
    h.write(raw, "empty.txt", h.empty_body_dump(a["empty"]))
    h.write(raw, "undated.txt", h.clean_dump(a["undated"], date=False))
    h.write(raw, "image.txt", h.PNG_HEADER + b"\x00" * 64)
    # Two copies of one article: the whole text without its headline is published, with the
    # headline of the other copy, which was cut off.
    h.write(raw, "copy_full.txt", h.no_title_dump(a["copy"]))
    h.write(raw, "copy_cut.txt", h.cut_mid_sentence_dump(a["copy"]))
    state = run_etl(raw, root / "out", max_quarantined_share=1.0)
    assert state.is_completed(), state.message
    return root / "out"


def _reasons_hold(records: pl.DataFrame) -> None:
    held = records.filter(pl.col("dataset") == "quarantine")
    assert held.height
    for path, issues, reasons, detail in held.select("source_path", "issues", "reasons", "detail").iter_rows():
        assert reasons and len(reasons) == len(issues), (path, issues, reasons)
        assert all(r.split("/", 1)[0] in issues and "/" in r for r in reasons), (path, issues, reasons)
        assert all(r in detail for r in reasons), (path, reasons, detail)
    assert records.filter(pl.col("dataset") == "published")["reasons"].list.len().max() == 0


def _records(out) -> pl.DataFrame:
    return pl.concat([h.read_dataset(out, name).select("source_path", "issues", "reasons", "detail", "filled_from",
                                                       "duplicate_of", "article_id")
                      .with_columns(pl.lit(name).alias("dataset")) for name in ("published", "quarantine")])


def test_every_held_seed_says_which_rule_fired(seeds_run):
    records = _records(seeds_run)
    _reasons_hold(records)
    by = {r["source_path"]: r for r in records.iter_rows(named=True)}
    seed_000 = next(v for k, v in by.items() if k.startswith("000_"))
    assert seed_000["reasons"] == ["duplicate/near_copy", "missing_date/none_found"]
    assert f"of its text is in {seed_000['duplicate_of']}" in seed_000["detail"]


@pytest.mark.parametrize("path,reason,evidence", [
    ("cut.txt", "truncated_body/mid_sentence", "stops mid-sentence: '…"),
    ("stub.txt", "truncated_body/chars_stub", "[+N chars]"),
    ("label.txt", "title_mismatch/section_label", "'WORLD' is a section label"),
    ("related.txt", "title_mismatch/related_link", "links to another story"),
    ("empty.txt", "empty_body/no_text", "no running text"),
    ("undated.txt", "missing_date/none_found", "no date line"),
    ("image.txt", "unreadable/binary", "PNG image"),
])
def test_each_defect_has_its_reason_and_evidence(defects_run, path, reason, evidence):
    row = _records(defects_run).filter(pl.col("source_path") == path).row(0, named=True)
    assert reason in row["reasons"], row
    assert evidence in row["detail"], row["detail"]


def test_the_cut_off_records_evidence_is_its_last_words(defects_run):
    row = _records(defects_run).filter(pl.col("source_path") == "cut.txt").row(0, named=True)
    last_words = row["detail"].split("'…", 1)[1].split("'", 1)[0].split()
    assert len(last_words) >= 4
    body = h.read_dataset(defects_run, "quarantine").filter(pl.col("source_path") == "cut.txt")["body"][0]
    assert body.split()[-len(last_words):] == last_words


def test_a_field_taken_from_a_duplicate_names_the_copy_it_came_from(defects_run):
    records = _records(defects_run)
    _reasons_hold(records)
    full = records.filter(pl.col("source_path") == "copy_full.txt").row(0, named=True)
    cut = records.filter(pl.col("source_path") == "copy_cut.txt").row(0, named=True)
    assert full["dataset"] == "published" and cut["duplicate_of"] == full["article_id"]
    assert {"field": "title", "article_id": cut["article_id"]} in full["filled_from"]
    assert cut["reasons"] == ["duplicate/near_copy", "truncated_body/mid_sentence"]


def test_summary_report_and_history_count_each_reason(defects_run, seeds_run):
    for out in (defects_run, seeds_run):
        records = _records(out)
        expected = (records.select(pl.col("reasons").explode().drop_nulls()).to_series().value_counts()
                    .rows())
        summary = h.summary_json(out)
        assert summary["reasons"] == {r: n for r, n in expected} and summary["reasons"]
        page = (out / "reports" / "latest.html").read_text()
        assert "Which rules fired" in page
        for reason, n in summary["reasons"].items():
            assert f"<td>{reason}</td><td>{n}</td>" in page
        history = pl.read_parquet(out / "reports" / "metrics_history.parquet").filter(pl.col("source") == "ALL")
        counted = {d["reason"]: d["records"] for d in history["reason_counts"][0]}
        assert counted == summary["reasons"]


def test_reasons_are_counted_per_source_and_in_all_whatever_the_slice(monkeypatch):
    """The metrics history's reason counts, counted a slice of records at a time, are the counts
    of the whole run: per source folder, and summed over the folders in the ALL row."""
    from cleanwire.report import metrics

    records = pl.DataFrame({
        "source": ["feed-a", "feed-a", "feed-b", "feed-a", "feed-b", "."],
        "word_count": [10, 0, 250, 300, 0, 40],
        "issues": [["missing_date"], ["empty_body", "missing_date"], [], ["missing_date"], ["empty_body"], []],
        "reasons": [["missing_date/no_date_line"], ["empty_body/no_text", "missing_date/no_date_line"], [],
                    ["missing_date/date_in_prose"], ["empty_body/no_text"], []],
    })
    expected = {"feed-a": {"missing_date/no_date_line": 2, "empty_body/no_text": 1, "missing_date/date_in_prose": 1},
                "feed-b": {"empty_body/no_text": 1}, ".": {},
                "ALL": {"missing_date/no_date_line": 2, "empty_body/no_text": 2, "missing_date/date_in_prose": 1}}
    for slice_rows in (1, 2, 4, 1000):
        monkeypatch.setattr(metrics, "COUNT_SLICE", slice_rows)
        rows = metrics.run_metrics(records, "r", "now").sort("source")
        got = {s: {d["reason"]: d["records"] for d in counts} for s, counts in rows.select("source", "reason_counts").iter_rows()}
        assert got == expected, slice_rows
        # Most frequent first, ties by name.
        assert [d["reason"] for d in rows.filter(pl.col("source") == "ALL")["reason_counts"][0]] == \
            ["empty_body/no_text", "missing_date/no_date_line", "missing_date/date_in_prose"]
        assert rows.filter(pl.col("source") == "ALL")["records"].item() == 6
