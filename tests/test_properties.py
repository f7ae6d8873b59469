"""Property-based tests of the row pipeline (no Prefect): whatever the bytes, no exception, nothing lost.

(a) `parse.parse_file` / `parse.parse_files` on arbitrary text and bytes, under
    every kind of file name: never raises, >= 1 record per file, records that
    fit `schema.PARSED`, a `source_path` consistent with the file name; the
    batch pass gives what the file-by-file pass gives.
(b) `batch.build_frame` on the records of arbitrary files: never raises, one
    row per record, the PARSED columns in their types, the check features.
(c) the whole row pipeline: build_frame -> Parquet batch file -> `publish.finalise`
    with any decisions -> `schema.conform` to `schema.OUTPUT`: the contract's
    columns and types, and the Arrow cast the store does succeeds.

Example counts are kept modest so that the file runs in well under a minute.
"""
from __future__ import annotations

import codecs
import datetime as dt
import io
import json

import polars as pl
import pyarrow as pa
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import helpers as h

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

EXTENSIONS = ["", ".txt", ".text", ".TXT", ".html", ".htm", ".xhtml", ".HTML", ".json", ".jsonl", ".ndjson",
              ".csv", ".md", ".xml", ".pdf", ".bin", ".", ".tar.gz"]
_NAME_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00")


@st.composite
def file_names(draw) -> str:
    """Relative, '/'-separated names as discovery gives them: odd characters, dots, '#', spaces."""
    parts = draw(st.lists(st.text(_NAME_CHARS, min_size=1, max_size=12).filter(lambda s: s not in (".", "..")),
                          min_size=1, max_size=3))
    return "/".join(parts) + draw(st.sampled_from(EXTENSIONS))


_JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
_JSON = st.recursive(_JSON_LEAF, lambda kids: st.lists(kids, max_size=4)
                     | st.dictionaries(st.sampled_from(["title", "text", "body", "content", "date", "publishedAt",
                                                        "author", "url", "articles", "items", "data", "x"])
                                       | st.text(max_size=8), kids, max_size=5), max_leaves=20)
_TAGS = ["<html>", "<body>", "<p>", "</p>", "<div>", "</div>", "<h1>", "</h1>", "<title>", "</title>", "<br>",
         "<script>", "</script>", '<meta property="article:published_time" content="2023-05-01">', "<!DOCTYPE html>",
         "<article>", "</article>", "&amp;", "&lol;", "<time datetime='2024-02-30'>", "<![CDATA[", "-->", "<!--"]
_TEXT_LINES = ["Published: 2023-06-17", "June 17, 2023", "Related: Other story", "ADVERTISEMENT", "4 MIN READ",
               "By Alice Marsh", "WORLD", "Home", "[+1234 chars]", "Continue reading", "...", "ANKARA (Reuters) -",
               "# Heading", "**bold** and _em_", "![img](x.png)", "[link](https://x.y)", "\u2026", "Updated: 2024-01-01"]


def _encodings(text: str) -> st.SearchStrategy[bytes]:
    return st.sampled_from([
        text.encode("utf-8"),
        codecs.BOM_UTF8 + text.encode("utf-8"),
        codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
        text.encode("cp1252", errors="replace"),
        text.encode("utf-16-le"),  # no BOM
    ])


@st.composite
def contents(draw) -> bytes:
    """Arbitrary bytes, arbitrary text in several encodings, JSON-ish, HTML-ish and dump-ish text."""
    kind = draw(st.sampled_from(["binary", "text", "json", "jsonl", "html", "dump", "article"]))
    if kind == "binary":
        return draw(st.binary(max_size=600))
    if kind == "text":
        return draw(st.text(max_size=400).flatmap(_encodings))
    if kind == "json":
        return json.dumps(draw(_JSON)).encode()
    if kind == "jsonl":
        lines = draw(st.lists(_JSON.map(json.dumps) | st.text(max_size=30), max_size=6))
        return "\n".join(lines).encode()
    if kind == "html":
        bits = draw(st.lists(st.sampled_from(_TAGS) | st.text(max_size=30), max_size=25))
        return "".join(bits).encode()
    if kind == "dump":
        lines = draw(st.lists(st.sampled_from(_TEXT_LINES) | st.text(max_size=60), max_size=15))
        return draw(st.sampled_from(["\n", "\r\n", "\n\n", "\r"])).join(lines).encode()
    a = h.make_article(draw(st.integers(0, 10_000)), n_paragraphs=draw(st.integers(2, 4)))
    layout = draw(st.sampled_from([h.clean_dump, h.full_page_dump, h.html_page, h.json_record, h.no_title_dump,
                                   h.chars_stub_dump, h.empty_body_dump]))
    text = layout(a)
    cut = draw(st.integers(0, len(text)))
    return draw(_encodings(text[:cut] if draw(st.booleans()) else text))


files = st.tuples(file_names(), contents())


# ------------------------------------------------------------------ (a) parse_file

IDENTITY = ("article_id", "source_path", "source_file", "format", "encoding", "content_hash", "read_error")
_PY_TYPES = {pl.String: str, pl.Date: dt.date, pl.Boolean: bool}


def _check_records(name: str, data: bytes, recs: list[dict]) -> None:
    from cleanwire.ingest.parse import article_id, content_hash
    from cleanwire.types import PARSED, conform

    assert isinstance(recs, list) and len(recs) >= 1, f"{name!r}: no record"
    paths = []
    for r in recs:
        assert set(IDENTITY) <= set(r), f"{name!r}: identity keys missing: {set(IDENTITY) - set(r)}"
        assert set(r) <= set(PARSED), f"{name!r}: keys outside PARSED: {set(r) - set(PARSED)}"
        for k, v in r.items():
            py = _PY_TYPES.get(PARSED[k])
            assert v is None or isinstance(v, py), f"{name!r}: {k}={v!r} is not {PARSED[k]}"
        assert r["source_file"] == name
        assert r["article_id"] == article_id(r["source_path"])
        assert r["content_hash"] in (None, content_hash(data))
        assert r["format"] in (None, "text", "html", "json", "jsonl")
        if r["read_error"] is not None:
            assert r["read_error"].strip(), "an unreadable record without a reason"
        paths.append(r["source_path"])
    if len(recs) == 1 and paths[0] == name:
        pass
    else:  # many records: path#N, N the 1-based record (line) number, distinct, increasing
        assert all(p.startswith(name + "#") for p in paths), (name, paths)
        numbers = [int(p[len(name) + 1:]) for p in paths]
        assert all(n >= 1 for n in numbers) and numbers == sorted(set(numbers)), (name, paths)
    # the record fits PARSED: it becomes one typed row with every PARSED column
    df = conform(pl.DataFrame(recs, schema_overrides=PARSED, infer_schema_length=None), PARSED)
    assert df.schema == pl.Schema(PARSED) and df.height == len(recs)


@settings(max_examples=150, **SETTINGS)
@given(name=file_names(), data=contents())
def test_parse_file_never_raises_and_accounts_for_the_file(name, data):
    from cleanwire.ingest.parse import parse_file

    _check_records(name, data, parse_file(name, data))


@settings(max_examples=100, **SETTINGS)
@given(name=file_names(), text=st.text(max_size=2000))
def test_parse_file_on_arbitrary_text(name, text):
    from cleanwire.ingest.parse import parse_file

    data = text.encode("utf-8", errors="surrogatepass")
    _check_records(name, data, parse_file(name, data))


@settings(max_examples=100, **SETTINGS)
@given(name=file_names(), data=st.binary(max_size=2000))
def test_parse_file_on_arbitrary_bytes(name, data):
    from cleanwire.ingest.parse import parse_file

    _check_records(name, data, parse_file(name, data))


@settings(max_examples=40, **SETTINGS)
@given(items=st.lists(files, min_size=1, max_size=6, unique_by=lambda f: f[0]))
def test_batch_pass_equals_file_by_file(items):
    """parse_files (the vectorised batch pass) gives each file what parse_file gives it alone."""
    from cleanwire.ingest.parse import parse_file, parse_files

    together = parse_files(items)
    assert len(together) == len(items)
    for (name, data), recs in zip(items, together):
        _check_records(name, data, recs)
        assert recs == parse_file(name, data), f"{name!r}: the batch pass differs from a parse of the file alone"


# ------------------------------------------------------------------ (b) build_frame

@settings(max_examples=40, **SETTINGS)
@given(items=st.lists(files, min_size=0, max_size=6, unique_by=lambda f: f[0]))
def test_build_frame_never_raises_and_keeps_every_record(items):
    from cleanwire import rules as features
    from cleanwire.ingest.batch import build_frame
    from cleanwire.ingest.parse import parse_files
    from cleanwire.types import CONTRACT, PARSED

    records = [r for recs in parse_files(items) for r in recs]
    assume(len({r["source_path"] for r in records}) == len(records))  # a name 'x#1' next to a feed 'x'
    df = build_frame(records, "run")
    assert df.height == len(records)
    assert sorted(df["source_path"].to_list()) == sorted(r["source_path"] for r in records)
    for col, dtype in PARSED.items():
        assert df.schema[col] == dtype, (col, df.schema[col])
    for col in [*features.FEATURE_COLUMNS, "word_count", "run_id"]:
        assert col in df.columns, col
    contract_here = [c for c in CONTRACT if c not in ("issues", "duplicate_of")]
    assert set(contract_here) <= set(df.columns), set(contract_here) - set(df.columns)
    assert df.schema["word_count"].is_integer()
    assert (df["word_count"] >= 0).all()
    # unreadable rows are exactly the rows with a reason, and only they are not readable
    assert df.select((pl.col("is_readable") == pl.col("read_error").is_null()).all()).item() in (True, None)
    assert df.filter(pl.col("read_error").is_not_null())["body"].is_null().all()


# ------------------------------------------------------------------ (c) the whole row pipeline

_CODES = st.lists(st.sampled_from(list(h.ISSUE_CODES)), unique=True, max_size=3)


@settings(max_examples=30, **SETTINGS)
@given(items=st.lists(files, min_size=1, max_size=5, unique_by=lambda f: f[0]), data=st.data())
def test_finalised_rows_conform_to_the_output_contract(items, data):
    from cleanwire import rules
    from cleanwire.checks import dedup
    from cleanwire.ingest.batch import build_frame
    from cleanwire.ingest.parse import parse_files
    from cleanwire.publish.tables import QUARANTINE, PUBLISHED, Explain, _arrow_schema, finalise
    from cleanwire.types import CONTRACT, FILLED_FROM, OUTPUT, conform

    records = [r for recs in parse_files(items) for r in recs]
    assume(len({r["source_path"] for r in records}) == len(records))
    frame = build_frame(records, "run")
    buf = io.BytesIO()  # as the batch file goes to disk and comes back at publish time
    frame.write_parquet(buf)
    buf.seek(0)
    batch = pl.read_parquet(buf)

    ids = batch["article_id"].to_list()
    unreadable = set(batch.filter(pl.col("read_error").is_not_null())["article_id"].to_list())
    issues = pl.Series("issues", [["unreadable"] if a in unreadable else sorted(data.draw(_CODES)) for a in ids],
                       dtype=pl.List(pl.String))
    decisions = pl.DataFrame({
        "article_id": ids,
        "duplicate_of": [data.draw(st.none() | st.sampled_from(ids)) for _ in ids],
        "duplicate_share": [data.draw(st.none() | st.floats(0.6, 1.0)) for _ in ids],
        "filled_from": pl.Series([[]] * len(ids), dtype=FILLED_FROM),
        **{f"fill_{f}": pl.Series([None] * len(ids), dtype=pl.Date if f == "published_date" else pl.String)
           for f in dedup.MERGED_FIELDS},
        "issues": issues,
        "reasons": batch.with_columns(issues).select(rules.reasons())["reasons"],  # as the checks decide them
    })
    gate_ok = data.draw(st.booleans())
    f = finalise(batch, decisions, gate_ok, "2026-11", Explain({}, {"body_words": (20, None)}, "gate: too bad"))
    assert f.height == batch.height, "finalise lost or added rows"
    for (dataset, extra), spec in (((("published", {"year": pl.Int32, "month": pl.Int8})), PUBLISHED),
                                   ((("quarantine", {"ingested": pl.String})), QUARANTINE)):
        part = f.filter(pl.col("dataset") == dataset)
        out = conform(part, {**OUTPUT, **extra})
        assert list(out.columns[:len(CONTRACT)]) == list(CONTRACT), "contract columns out of order"
        for col, dtype in {**OUTPUT, **extra}.items():
            assert out.schema[col] == dtype, (dataset, col, out.schema[col])
        # what TableWriter does with the rows: Arrow, the table's schema, partition columns dropped
        schema = _arrow_schema(OUTPUT, extra)
        schema = pa.schema([fld for fld in schema if fld.name not in spec.partition_by])
        out.to_arrow().select(schema.names).cast(schema)
        if dataset == "published":
            assert not gate_ok or all(len(i) == 0 for i in out["issues"])
        else:
            assert all(len(i) > 0 for i in out["issues"]), "a quarantined row without an issue"
            assert out["detail"].is_not_null().all(), "a quarantined row without a detail"
            for codes, reasons in zip(out["issues"], out["reasons"]):
                assert len(reasons) == len(codes) and all(r.split("/")[0] in codes for r in reasons), (codes, reasons)
    assert f.filter(pl.col("dataset") == "published").height + f.filter(pl.col("dataset") == "quarantine").height \
        == f.height
    if not gate_ok:
        assert f.filter(pl.col("issues").list.len() == 0).height == 0


_LINE_CHARS = st.sampled_from(list("ab. ") + ["  ", "\t", "\u00a0", "\u2003", "\u3000", "\u200b", "\u00ad",
                                             "\n", "\r\n", "\u2028"])


@settings(max_examples=300, **SETTINGS)
@given(st.lists(st.lists(_LINE_CHARS, max_size=30).map("".join), min_size=1, max_size=5))
def test_batch_line_cleaning_equals_line_by_line(texts):
    """The vectorised line cleaner folds spaces and drops invisible characters as the per-line one does."""
    from cleanwire import text

    def content(lines: list[str]) -> list[str]:  # the two differ in how many empty lines end a text
        while lines and lines[-1] == "":
            lines = lines[:-1]
        return lines

    assert [content(x) for x in text.clean_lines_batch(texts)] == [content(text.split_lines(t)) for t in texts]


_WORDY = st.sampled_from(list("aZé1_'’ .,-") + ["日本", "  ", "\n"])


@settings(max_examples=300, **SETTINGS)
@given(st.lists(_WORDY, max_size=40).map("".join), st.integers(0, 8))
def test_first_words_are_the_words_cut_short(line, n):
    """The end-label test reads a paragraph's first words only: the same words the full split gives."""
    from cleanwire import text

    assert text.words_up_to(line, n) == text.words(line)[:n]


@settings(max_examples=300, **SETTINGS)
@given(st.lists(st.sampled_from(["word", " ", "...", "…", "[", "]", "+", "12", "chars", "char", "\n", "x"]),
                max_size=14).map("".join))
@example("It went on to say… [+2301 chars] ")
@example("The vote was close [+ 12 char]")
def test_the_end_stub_is_found_as_by_the_pattern_alone(last):
    """strip_end_stub runs its pattern only on text ending in ']': what the pattern finds is the same."""
    from cleanwire.rules import truncated_body as tb

    m = tb._CHARS_AT_END.search(last)
    expected = (last[: m.start()].rstrip(), tb.CHARS_STUB) if m else (
        last, tb.ELLIPSIS if tb._ELLIPSIS_AT_END.search(last) else None)
    assert tb.strip_end_stub(last) == expected
