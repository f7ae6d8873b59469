"""The whole-run checks: duplicates across batches and runs, then the GX suites.

Input is the narrow frame of the run (ids, fields without bodies, features)
and the batch files holding the LSH bands and signatures; output is one
decision per record: its issue codes, their detail, `duplicate_of`, and the
fields a published copy takes from its duplicates.

Order: the duplicate groups are found; a first pass of the row suite gives
each of their members its own issues; each group then picks the copy to
publish (one without own issues, or whose only issue is a field another copy
has); the merged fields fill it; the final pass of the row suite decides every
record's codes (`duplicate_of` not null -> duplicate) and renders Data Docs;
the batch suite gates the publish.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from cleanwire import dedup, metrics
from cleanwire.features import RUN_COLUMNS
from cleanwire.html_report import quarantined_sample
from cleanwire.validate import SuiteFile, Validation, Validator, issues_frame

NARROW = RUN_COLUMNS
MERGED = dedup.MERGED_FIELDS
_FIELDS = ["article_id", "source_path", "word_count", "title_body_score", *MERGED]


@dataclass
class RunChecks:
    decisions: pl.DataFrame      # article_id, issues, detail, fill_row (the record's row of `fills`, or null)
    fills: pl.DataFrame          # duplicate_of and fill_* columns of the duplicate groups' members only
    rows: Validation             # final row-suite validation
    batch: Validation            # batch-suite validation (the gate)
    groups: int                  # duplicate groups found
    metrics: pl.DataFrame        # metrics.run_metrics of the run's records (per source folder), to be relabelled
    sample: pl.DataFrame         # html_report.quarantined_sample of the run's records
    word_counts: pl.Series       # the body length of every record (the report's chart)
    drift: pl.DataFrame          # per source folder: drift against its history

    @property
    def gate_ok(self) -> bool:
        return not self.batch.blocking()


@dataclass
class Sources:
    """Where records live, read lazily: this run's batch files and the published index.

    Whole-run steps read one or two columns at a time from them, so memory
    follows the width of what is read, not the size of the dataset.
    """
    run: pl.LazyFrame
    published: pl.LazyFrame | None = None   # published records' index rows (fields, signatures, bands)

    @classmethod
    def of(cls, records_paths: list[str], published: pl.LazyFrame | None = None) -> "Sources":
        return cls(pl.scan_parquet(records_paths), published)


def narrow_frame(src: Sources) -> pl.DataFrame:
    return src.run.select(NARROW).collect()


def find_duplicates(src: Sources, th: dedup.DedupThresholds) -> pl.DataFrame:
    """article_id -> group_id over this run's records and the published ones (a group needs a new record).

    The band columns are read once (banding 32 times over the scanned files cost
    2.5x the time); only the candidates' signatures are read to verify them.
    """
    with_body = pl.col("n_shingles").is_not_null()
    cols = ["article_id", *dedup.BAND_COLUMNS]
    parts = [src.run.filter(with_body).select(cols).with_columns(pl.lit(True).alias("new"))]
    if src.published is not None:
        parts.append(src.published.filter(with_body).select(cols).with_columns(pl.lit(False).alias("new")))
    pairs = dedup.candidate_pairs(pl.concat(parts).collect())
    if pairs.height == 0:
        return pl.DataFrame(schema={"article_id": pl.String, "group_id": pl.String})
    candidates = pl.concat([pairs["a"], pairs["b"]]).unique().implode()
    cols = ["article_id", "n_shingles", "sig", "sig_head"]
    sigs = [src.run.filter(pl.col("article_id").is_in(candidates)).select(cols)]
    if src.published is not None:
        sigs.append(src.published.filter(pl.col("article_id").is_in(candidates)).select(cols))
    return dedup.connected_groups(dedup.verify_pairs(pairs, pl.concat(sigs).collect(), th))


def _own_issues(frame: pl.DataFrame, validation: Validation) -> pl.DataFrame:
    return (issues_frame(validation, frame["article_id"]).unique("article_id")
            .select("article_id", pl.col("issues").alias("own_issues")))


def resolve_groups(frame: pl.DataFrame, own: pl.DataFrame, groups: pl.DataFrame, src: Sources) -> pl.DataFrame:
    """article_id -> duplicate_of and fill_* values for the copy to publish (this run's records)."""
    empty = pl.DataFrame(schema={"article_id": pl.String, "duplicate_of": pl.String,
                                 **{f"fill_{f}": t for f, t in _MERGED_TYPES.items()},
                                 "fill_title_body_score": pl.Float64})
    if groups.height == 0:
        return empty
    ids = groups["article_id"].implode()
    members = (groups.join(src.run.filter(pl.col("article_id").is_in(ids)).select(_FIELDS).collect(),
                           on="article_id", how="inner")
               .join(own, on="article_id", how="left")
               .with_columns(pl.lit(False).alias("is_published")))
    published = pl.DataFrame(schema={"article_id": pl.String})
    if src.published is not None:
        published = src.published.filter(pl.col("article_id").is_in(ids)).select(_FIELDS).collect()
        pub = (groups.join(published, on="article_id", how="inner")
               .with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("own_issues"),
                             pl.lit(True).alias("is_published")))
        members = pl.concat([members, pub.select(members.columns)], how="vertical_relaxed")
    members = members.with_columns(pl.col("own_issues").fill_null(pl.lit([], dtype=pl.List(pl.String))))
    chosen = dedup.choose_canonical(members)
    donor_score = (members.join(chosen.select("article_id", "fill_title"), on="article_id")
                   .filter(pl.col("title") == pl.col("fill_title"))
                   .group_by("group_id").agg(pl.col("title_body_score").max().alias("fill_title_body_score")))
    out = (chosen.join(donor_score, on="group_id", how="left")
           .with_columns(pl.when(pl.col("canonical_id").is_not_null() & (pl.col("article_id") != pl.col("canonical_id")))
                         .then(pl.col("canonical_id")).alias("duplicate_of"))
           .filter(~pl.col("article_id").is_in(published["article_id"].implode())))
    # Only the canonical copy takes fields; the others keep theirs.
    fills = [pl.when(pl.col("article_id") == pl.col("canonical_id")).then(pl.col(c)).alias(c)
             for c in [f"fill_{f}" for f in MERGED] + ["fill_title_body_score"]]
    return out.with_columns(fills).select(empty.columns).cast({c: t for c, t in empty.schema.items()})


_MERGED_TYPES = {"published_date": pl.Date, "title": pl.String, "subtitle": pl.String, "author": pl.String,
                 "section": pl.String, "dateline": pl.String}


def apply_fills(frame: pl.DataFrame, resolved: pl.DataFrame) -> pl.DataFrame:
    """The run frame with duplicate_of set, the features of filled fields updated, and
    `fill_row`: the record's row in `resolved` (null for a record of no duplicate group)."""
    # Join the ids only and put the result beside the frame: a join would copy every column.
    # Only what the row suite needs comes along: a run's records are mostly in no group,
    # and null string columns still cost 16 bytes a row (5 columns: 80 MB at 1M records).
    needed = resolved.select("article_id", "duplicate_of", "fill_title", "fill_published_date",
                             "fill_title_body_score").with_row_index("fill_row")
    aligned = frame.select("article_id").join(needed, on="article_id", how="left", maintain_order="left")
    f = frame.hstack(aligned.drop("article_id"))
    filled_title = pl.col("title").is_null() & pl.col("fill_title").is_not_null()
    f = f.with_columns(
        pl.when(filled_title).then(pl.col("fill_title_body_score")).otherwise(pl.col("title_body_score"))
        .alias("title_body_score"),
        pl.when(filled_title).then(pl.lit("headline")).otherwise(pl.col("title_kind")).alias("title_kind"),
        pl.coalesce("title", "fill_title").alias("title"),
        pl.coalesce("published_date", "fill_published_date").alias("published_date"),
    )
    readable = pl.col("is_readable")
    return f.with_columns(
        pl.when(readable).then(pl.col("published_date").is_not_null()).alias("has_date"),
        pl.when(readable).then(pl.col("title").is_not_null()).alias("has_title"),
    ).drop("fill_title", "fill_published_date", "fill_title_body_score")


def batch_frame(frame: pl.DataFrame, decisions: pl.DataFrame, drift: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per record: is_quarantined, and its source folder's drift against history."""
    quarantined = decisions.select("article_id", (pl.col("issues").list.len() > 0).cast(pl.Int64)
                                   .alias("is_quarantined"))  # not the issue lists: a copy of them costs ~30 MB at 1M
    f = (frame.select("article_id", "source_file", "word_count").join(quarantined, on="article_id")
         .with_columns(metrics.source_folder()))
    if drift is not None:
        f = f.join(drift, on="source", how="left")
    return f


def run_checks(src: Sources, rows_suite: SuiteFile, batch_suite: SuiteFile, validator: Validator,
               th: dedup.DedupThresholds, history: pl.DataFrame | None = None) -> RunChecks:
    """Every record's decision for this run (see the module doc for the order)."""
    # The groups first: banding's transient memory is then freed before the run's frame is read.
    groups = find_duplicates(src, th)
    frame = narrow_frame(src)
    frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("duplicate_of"))
    # Own issues matter only to choose a group's copy: the first pass runs on the members alone.
    members = frame.filter(pl.col("article_id").is_in(groups["article_id"].implode()))
    own = (_own_issues(members, validator.run(members, rows_suite)) if members.height
           else pl.DataFrame(schema={"article_id": pl.String, "own_issues": pl.List(pl.String)}))
    resolved = resolve_groups(frame, own, groups, src)
    final_frame = apply_fills(frame.drop("duplicate_of"), resolved)
    del frame, members  # a whole-run frame: keep one, not two
    rows = validator.run(final_frame, rows_suite, docs=True)
    # Columns side by side (no copies): issues_frame keeps the rows' order.
    issues = issues_frame(rows, final_frame["article_id"]).select("issues", "detail")
    decisions = final_frame.select("article_id", "fill_row").hstack(issues)
    fills = resolved.select("article_id", "duplicate_of", *[f"fill_{c}" for c in MERGED])
    records = final_frame.select("article_id", "source_path", "source_file", "title", "word_count").hstack(issues)
    now = metrics.run_metrics(records, "current", "")
    drifts = metrics.drift(now, history)
    bframe = batch_frame(final_frame, decisions, drifts)
    suite, skipped = batch_suite.applicable(bframe.height)
    batch = validator.run(bframe, suite, docs=True)
    batch.skipped = skipped
    _name_sources(batch, bframe)
    # What the report needs of the records, and not the records: publish runs with this
    # frame gone (titles and paths of a million records: ~150 MB).
    return RunChecks(decisions, fills, rows, batch, groups["group_id"].n_unique() if groups.height else 0,
                     now, quarantined_sample(records), records["word_count"], drifts)


def _name_sources(batch: Validation, bframe: pl.DataFrame) -> None:
    """A failing drift expectation names the source folders whose rows failed, and the values."""
    for f in batch.failures:
        if f.article_ids is None or not f.column or not f.column.startswith("drift_"):
            continue
        bad = (bframe.filter(pl.col("article_id").is_in(f.article_ids.implode()))
               .group_by("source").agg(pl.col(f.column).first()).sort("source"))
        named = ", ".join(f"{s} ({f.column} = {v:.2f})" for s, v in bad.iter_rows())
        f.message = f"{f.message}: {named}"
