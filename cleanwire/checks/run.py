"""The whole-run checks: duplicates across batches and runs, then the GX suites.

Input is the narrow frame of the run (ids, fields without bodies, features)
and the batch files holding the LSH bands and signatures; output is one
decision per record: its issue codes and their fine reasons (rules/),
`duplicate_of`, and the fields a published copy takes from its duplicates.

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

from cleanwire import rules
from cleanwire.checks import dedup
from cleanwire.checks.drift import drift
from cleanwire.checks.gx import SuiteFile, Validation, Validator, issues_frame
from cleanwire.memory import release_free_memory
from cleanwire.report import metrics
from cleanwire.rules import RUN_COLUMNS
from cleanwire.types import FILLED_FROM

NARROW = RUN_COLUMNS
MERGED = dedup.MERGED_FIELDS
# What preference_order ranks the candidates by; the merged fields are read later, for group members only.
_RANKED = ["article_id", "source_path", "word_count", "title_body_score", "published_date"]
_MERGED_LATER = [f for f in MERGED if f not in _RANKED]


@dataclass
class RunChecks:
    decisions: pl.DataFrame      # article_id, issues, reasons, fill_row (the record's row of `fills`, or null)
    fills: pl.DataFrame          # duplicate_of, duplicate_share, filled_from, fill_* of the groups' members only
    rows: Validation             # final row-suite validation
    batch: Validation            # batch-suite validation (the gate)
    groups: int                  # duplicate groups found
    metrics: pl.DataFrame        # metrics.run_metrics of the run's records (per source folder): the drift's input
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
    published_bodies: pl.LazyFrame | None = None  # the published table: article_id, body, year, month

    @classmethod
    def of(cls, records_paths: list[str], published: pl.LazyFrame | None = None,
           published_bodies: pl.LazyFrame | None = None) -> "Sources":
        return cls(pl.scan_parquet(records_paths), published, published_bodies)


def narrow_frame(src: Sources, rows_suite: SuiteFile) -> pl.DataFrame:
    """The run's records, in the columns the final pass reads: the row suite's, the reasons' inputs,
    the features filled fields change, and each record's file and length (the metrics').

    The titles and paths are left out unless the suite reads them (~120 MB at a million records).
    """
    needed = {"article_id", "source_file", "word_count", "is_readable", "has_date", "has_title", "title_kind",
              "title_body_score", *rules.reasons().meta.root_names(), *rows_suite.columns()}
    return src.run.select([c for c in NARROW if c in needed]).collect()


def find_duplicates(src: Sources, th: dedup.DedupThresholds, rows_suite: SuiteFile,
                    validator: Validator) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Stars of copies over this run's records and the published ones (a star needs a new record).

    Returns (article_id -> group_id, the group members' fields and own issues).
    The band columns are read once; signatures and ranking fields only for the
    candidates, the merged fields only for the group members (at a million
    records, ~940k candidates' titles, authors... held through the exact count
    cost ~200 MB). The preference order needs each candidate's own issues: the
    row suite runs on them first (a published record has none).
    """
    with_body = pl.col("n_shingles").is_not_null()
    cols = ["article_id", *dedup.BAND_COLUMNS]
    parts = [src.run.filter(with_body).select(cols).with_columns(pl.lit(True).alias("new"))]
    if src.published is not None:
        parts.append(src.published.filter(with_body).select(cols).with_columns(pl.lit(False).alias("new")))
    seen: dict[str, pl.DataFrame] = {}

    def signatures(ids: pl.Series) -> pl.DataFrame:
        return _read_aligned(src, ids, ["article_id", "n_shingles", "sig", "sig_head"])

    def rank(ids: pl.Series) -> pl.Series:
        seen["members"] = members = _members(src, ids, rows_suite, validator)
        return dedup.preference_order(members)["article_id"]

    # The bands go straight in (no name here): near_duplicates lets them go once the candidates are found.
    groups = dedup.near_duplicates(pl.concat(parts).collect(), signatures, lambda ids: _shingle_sets(src, ids),
                                   rank, th)
    members = seen.pop("members", None)
    if members is None or groups.height == 0:
        return groups, None
    members = groups.select("article_id").join(members, on="article_id", how="inner", maintain_order="left")
    fields = _read_aligned(src, members["article_id"], ["article_id", *_MERGED_LATER])
    return groups, members.hstack(fields.drop("article_id"))


def _shingle_sets(src: Sources, ids: pl.Series) -> pl.Series:
    """The shingle sets of `ids`, in their order: this run's as the batch files keep them, published
    ones from their bodies (the state index keeps no sets: ~1 KB a record, for good).

    A published record's body is looked for only in the partition of its date
    (the index has it), so a run reads the bodies of its candidates, not the dataset.
    """
    wanted = ids.implode()
    found = src.run.filter(pl.col("article_id").is_in(wanted)).select("article_id", dedup.SETS).collect()
    if src.published is not None and src.published_bodies is not None and found.height < ids.n_unique():
        months = (src.published.filter(pl.col("article_id").is_in(wanted))
                  .select(pl.col("published_date").dt.year().cast(pl.Int64).alias("year"),
                          pl.col("published_date").dt.month().cast(pl.Int64).alias("month")).unique().collect())
        if months.height:
            have = found["article_id"].implode()
            old = (src.published_bodies
                   .with_columns(pl.col("year").cast(pl.Int64), pl.col("month").cast(pl.Int64))
                   .join(months.lazy(), on=["year", "month"], how="semi")
                   .filter(pl.col("article_id").is_in(wanted) & ~pl.col("article_id").is_in(have))
                   .select("article_id", "body").collect())
            found = pl.concat([found, old.select("article_id", dedup.shingle_sets(old["body"]).alias(dedup.SETS))])
    found = found.unique("article_id", keep="first")
    return pl.DataFrame({"article_id": ids}).join(found, on="article_id", how="left", maintain_order="left")[dedup.SETS]


def _read_aligned(src: Sources, ids: pl.Series, cols: list[str]) -> pl.DataFrame:
    """`cols` of the records `ids` (this run's or published), row for row with `ids`."""
    wanted = ids.implode()
    parts = [src.run.filter(pl.col("article_id").is_in(wanted)).select(cols)]
    if src.published is not None:
        parts.append(src.published.filter(pl.col("article_id").is_in(wanted)).select(cols))
    found = pl.concat(parts).collect().unique("article_id", keep="first")
    return pl.DataFrame({"article_id": ids}).join(found, on="article_id", how="left", maintain_order="left")


MEMBERS_SLICE = 250_000   # candidates whose own issues one GX validation finds
REASONS_SLICE = 200_000   # records whose reasons are found at a time


def _members(src: Sources, ids: pl.Series, rows_suite: SuiteFile, validator: Validator) -> pl.DataFrame:
    """The candidates' ranking fields, whether published, and their own issues (a first pass of the row suite)."""
    wanted = ids.implode()
    suite_columns = set(rows_suite.columns())   # not the titles, files, reasons of ~940k candidates
    new = (src.run.filter(pl.col("article_id").is_in(wanted))
           .select(list(dict.fromkeys([*_RANKED, *(c for c in NARROW if c in suite_columns)])))
           .collect().with_columns(pl.lit(None, dtype=pl.String).alias("duplicate_of")))
    # The first pass in slices: GX's pandas copy of ~940k candidates peaked ~300 MB over the frame.
    # (The row suite's expectations judge each row alone: the slices find what one pass finds.)
    own = pl.concat([_own_issues(part, validator.run(part, rows_suite)) for part in new.iter_slices(MEMBERS_SLICE)]
                    or [pl.DataFrame(schema={"article_id": pl.String, "own_issues": pl.List(pl.String)})])
    members = (new.select(_RANKED).join(own, on="article_id", how="left")
               .with_columns(pl.lit(False).alias("is_published")))
    if src.published is not None:
        old = (src.published.filter(pl.col("article_id").is_in(wanted)).select(_RANKED).collect()
               .with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("own_issues"),
                             pl.lit(True).alias("is_published")))
        members = pl.concat([members, old.select(members.columns)], how="vertical_relaxed")
    return members.with_columns(pl.col("own_issues").fill_null(pl.lit([], dtype=pl.List(pl.String))))


def _own_issues(frame: pl.DataFrame, validation: Validation) -> pl.DataFrame:
    return (issues_frame(validation, frame["article_id"]).unique("article_id")
            .select("article_id", pl.col("issues").alias("own_issues")))


def resolve_groups(groups: pl.DataFrame, members: pl.DataFrame | None) -> pl.DataFrame:
    """article_id -> duplicate_of, duplicate_share, and for the copy to publish the fill_* values
    and `filled_from` (which field came from which copy), for this run's records."""
    empty = pl.DataFrame(schema={"article_id": pl.String, "duplicate_of": pl.String, "duplicate_share": pl.Float64,
                                 "filled_from": FILLED_FROM, **{f"fill_{f}": t for f, t in _MERGED_TYPES.items()},
                                 "fill_title_body_score": pl.Float64})
    if groups.height == 0 or members is None:
        return empty
    members = groups.join(members, on="article_id", how="inner")
    chosen = dedup.choose_canonical(members.drop("share"))
    donor_score = (members.join(chosen.select("article_id", "fill_title"), on="article_id")
                   .filter(pl.col("title") == pl.col("fill_title"))
                   .group_by("group_id").agg(pl.col("title_body_score").max().alias("fill_title_body_score")))
    canonical = pl.col("article_id") == pl.col("canonical_id")
    own = members.select("article_id", "share", *[pl.col(f).alias(f"own_{f}") for f in MERGED])
    out = chosen.join(donor_score, on="group_id", how="left").join(own, on="article_id", how="left")
    # Which field came from which copy: found per field on the few rows that took one, then gathered
    # (a list of structs built on every row took 8 s and 1.1 GB at 600k group members).
    taken = pl.concat([out.filter(canonical & pl.col(f"own_{f}").is_null() & pl.col(f"fill_{f}").is_not_null())
                       .select("article_id", pl.lit(f).alias("field"), pl.col(f"donor_{f}").alias("donor"))
                       for f in MERGED])
    filled_from = (taken.group_by("article_id", maintain_order=True)
                   .agg(pl.struct("field", pl.col("donor").alias("article_id")).alias("filled_from")))
    out = (out.join(filled_from, on="article_id", how="left", maintain_order="left")
           .with_columns(pl.col("filled_from").fill_null(pl.lit([], dtype=FILLED_FROM)),
                         pl.when(pl.col("canonical_id").is_not_null() & ~canonical).then(pl.col("canonical_id"))
                         .alias("duplicate_of"))
           .with_columns(pl.when(pl.col("duplicate_of").is_not_null()).then(pl.col("share")).alias("duplicate_share"))
           .filter(~pl.col("article_id").is_in(members.filter("is_published")["article_id"].implode())))
    # Only the canonical copy takes fields; the others keep theirs.
    fills = [pl.when(canonical).then(pl.col(c)).alias(c) for c in [f"fill_{f}" for f in MERGED] + ["fill_title_body_score"]]
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
    # has_title / has_date (the features) say whether the record has its own; the frame holds the
    # title and date themselves only when the suite reads them (narrow_frame).
    filled_title = ~pl.col("has_title") & pl.col("fill_title").is_not_null()
    f = f.with_columns(
        pl.when(filled_title).then(pl.col("fill_title_body_score")).otherwise(pl.col("title_body_score"))
        .alias("title_body_score"),
        pl.when(filled_title).then(pl.lit("headline")).otherwise(pl.col("title_kind")).alias("title_kind"),
        *[pl.coalesce(c, f"fill_{c}").alias(c) for c in ("title", "published_date") if c in frame.columns],
    )
    readable = pl.col("is_readable")
    return f.with_columns(
        pl.when(readable).then(pl.col("has_date") | pl.col("fill_published_date").is_not_null()).alias("has_date"),
        pl.when(readable).then(pl.col("has_title") | pl.col("fill_title").is_not_null()).alias("has_title"),
    ).drop("fill_title", "fill_published_date", "fill_title_body_score")


def batch_frame(per_record: pl.DataFrame, issues: pl.Series, drift: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per record (article_id, source_file, source, word_count): is_quarantined, and its
    source folder's drift against history. `issues` are the records' codes, row for row."""
    # Beside the rows, not joined by id: a join of a million ids took ~160 MB (measured).
    f = per_record.with_columns((issues.list.len() > 0).cast(pl.Int64).alias("is_quarantined"))
    if drift is not None:
        f = f.join(drift, on="source", how="left", maintain_order="left")
    return f


def run_checks(src: Sources, rows_suite: SuiteFile, batch_suite: SuiteFile, validator: Validator,
               th: dedup.DedupThresholds, history: pl.DataFrame | None = None) -> RunChecks:
    """Every record's decision for this run (see the module doc for the order)."""
    # The groups first: banding's transient memory is then freed before the run's frame is read.
    # Own issues matter only to choose a star's center: that first pass runs on the candidates alone.
    groups, members = find_duplicates(src, th, rows_suite, validator)
    resolved = resolve_groups(groups, members)
    del members
    release_free_memory()  # the dedup's freed arrays (dedup's module doc)
    final_frame = apply_fills(narrow_frame(src, rows_suite), resolved)
    rows = validator.run(final_frame, rows_suite, docs=True)
    # Columns side by side (no copies): issues_frame keeps the rows' order.
    issues = issues_frame(rows, final_frame["article_id"]).select("issues")
    # Reasons a slice of rows at a time: each rule's reason is a string column over its slice's rows
    # (all at once: ~+400 MB at a million records, the checks' peak; measured).
    with_issues = final_frame.hstack(issues)
    why = pl.concat([part.select(rules.reasons()) for part in with_issues.iter_slices(REASONS_SLICE)]
                    or [with_issues.select(rules.reasons())], rechunk=False)
    del with_issues
    decisions = final_frame.select("article_id", "fill_row").hstack(issues).hstack(why)
    fills = resolved.select("article_id", "duplicate_of", "duplicate_share", "filled_from", *[f"fill_{c}" for c in MERGED])
    # Of the run's frame only each record's file, folder and length are needed from here on: the
    # rest (titles, features, reasons' inputs) goes before the metrics' and the batch suite's passes.
    per_record = final_frame.select("article_id", "source_file", metrics.source_folder(), "word_count")
    del final_frame, resolved
    release_free_memory()
    now = metrics.run_metrics(per_record.select("source", "word_count").hstack(issues).hstack(why), "current", "")
    drifts = drift(now, history)
    bframe = batch_frame(per_record, issues["issues"], drifts)
    suite, skipped = batch_suite.applicable(bframe.height)
    batch = validator.run(bframe, suite, docs=True)
    batch.skipped = skipped
    _name_sources(batch, bframe)
    return RunChecks(decisions, fills, rows, batch, groups["group_id"].n_unique() if groups.height else 0, now, drifts)


def _name_sources(batch: Validation, bframe: pl.DataFrame) -> None:
    """A failing drift expectation names the source folders whose rows failed, and the values."""
    for f in batch.failures:
        if f.article_ids is None or not f.column or not f.column.startswith("drift_"):
            continue
        bad = (bframe.filter(pl.col("article_id").is_in(f.article_ids.implode()))
               .group_by("source").agg(pl.col(f.column).first()).sort("source"))
        named = ", ".join(f"{s} ({f.column} = {v:.2f})" for s, v in bad.iter_rows())
        f.message = f"{f.message}: {named}"
