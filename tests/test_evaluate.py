"""`cleanwire.evaluate`: the numbers a user relies on when scoring an output against own labels.

Tiny hand-written labels and outputs, written as real Parquet datasets in tmp dirs (no Prefect).
"""
from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from cleanwire.evaluate.score import body_prf, evaluate, format_report, load_labels, read_output
from cleanwire.types import CONTRACT

BODY = {
    "a.txt": "Lorem ipsum council votes to rebuild the harbour wall before winter storms arrive.",
    "b.txt": "The river ferry resumes service after a month of repairs to its engine.",
    "c.txt": "Local bakery wins a regional prize for its rye bread and seeded rolls.",
    "d.txt": "Schools open late on Monday because of snow on the hill roads.",
}
TITLE = {"a.txt": "Council backs “new” harbour wall", "b.txt": "River ferry is back",
         "c.txt": "Bakery wins prize", "d.txt": "Schools open late"}
DATE = "2024-03-05"


def label(sp, *, title=None, date=DATE, body=None, issues=(), **extra):
    return {"source_path": sp, "title": title, "published_date": date, "body": body,
            "issues": list(issues), "issues_optional": [], **extra}


def record(sp, dataset, *, title=None, date=DATE, body=None, issues=(), article_id=None, duplicate_of=None):
    return {"article_id": article_id or f"id-{sp}", "source_path": sp, "title": title,
            "published_date": dt.date.fromisoformat(date) if date else None, "body": body,
            "word_count": len((body or "").split()), "duplicate_of": duplicate_of, "issues": list(issues),
            "dataset": dataset}


def clean_labels():
    """Four clean files and one unreadable one (its empty body/date/title are optional)."""
    labels = [label(sp, title=TITLE[sp], body=BODY[sp]) for sp in BODY]
    labels.append(label("bin/x.png", date=None, issues=["unreadable"],
                        issues_optional=["empty_body", "missing_date", "missing_title"]))
    return labels


def clean_records():
    recs = [record(sp, "published", title=TITLE[sp], body=BODY[sp]) for sp in BODY]
    recs.append(record("bin/x.png", "quarantine", date=None, issues=["unreadable"]))
    return recs


@pytest.fixture
def score(tmp_path):
    """score(labels, records, drop=()) -> EvalResult, through labels.jsonl and a Parquet output on disk."""
    def run(labels, records, drop=()):
        lab_file = tmp_path / "labels.jsonl"
        lab_file.write_text("".join(json.dumps(d) + "\n" for d in labels), encoding="utf-8")
        out = tmp_path / "out"
        frame = pl.DataFrame(records, schema={**CONTRACT, "dataset": pl.String}).drop(*drop)
        for ds in ("published", "quarantine"):
            # published/ is a symlink to a versioned folder and hive-partitioned, as `cleanwire run` writes it
            root = (out / ".v1" / ds if ds == "published" else out / ds) / "articles" / "year=2024"
            root.mkdir(parents=True, exist_ok=True)
            frame.filter(pl.col("dataset") == ds).drop("dataset").write_parquet(root / "part-0.parquet")
        if not (out / "published").exists():
            (out / "published").symlink_to(out / ".v1" / "published", target_is_directory=True)
        problems: list[str] = []
        result = evaluate(load_labels(lab_file), read_output(out, problems), problems)
        assert not problems
        return result
    return run


def test_perfect_output_scores_one(score):
    res = score(clean_labels(), clean_records())
    assert res.macro_f1 == 1.0
    assert res.per_code["unreadable"].f1 == 1.0 and res.per_code["unreadable"].support == 1
    assert not res.per_code["duplicate"].scored          # no such code anywhere: left out of the macro F1
    assert (res.purity, res.clean_recall, res.body.f1) == (1.0, 1.0, 1.0)
    assert (res.title_accuracy, res.date_accuracy, res.title_counts, res.date_counts) == (1.0, 1.0, (4, 4), (4, 4))
    assert res.accounting.missing == [] and res.accounting.repeated == [] and res.accounting.unknown == []
    expected = "score: 1.000 purity=1.000 recall=1.000 body_f1=1.000 title_acc=1.000 date_acc=1.000"
    assert res.summary == expected
    assert format_report(res).splitlines()[-1] == expected
    assert json.loads(json.dumps(res.to_dict(), allow_nan=False))["summary"] == expected


def test_read_output_gives_both_datasets_with_normalised_columns(score, tmp_path):
    score(clean_labels(), clean_records())
    frame = read_output(tmp_path / "out")
    assert (tmp_path / "out" / "published").is_symlink()
    assert sorted(frame["dataset"].unique()) == ["published", "quarantine"]
    assert frame.height == 5 and frame.schema["published_date"] == pl.Date
    assert frame.schema["issues"] == pl.List(pl.String)
    assert set(frame["year"]) == {"2024"}                # hive partition value kept as a column


def test_a_missing_record_is_reported(score):
    res = score(clean_labels(), [r for r in clean_records() if r["source_path"] != "c.txt"])
    assert res.accounting.missing == ["c.txt"]
    assert res.clean_recall == pytest.approx(3 / 4)
    assert res.title_accuracy == pytest.approx(3 / 4) and res.date_accuracy == pytest.approx(3 / 4)
    report = format_report(res)
    assert "missing from output: 1" in report and "c.txt" in report


def test_repeated_and_unknown_records_are_reported(score):
    recs = clean_records()
    recs.append(record("a.txt", "quarantine", title=TITLE["a.txt"], body=BODY["a.txt"], issues=["truncated_body"]))
    recs.append(record("stray.txt", "published", title="Stray", body="Stray text."))
    res = score(clean_labels(), recs)
    assert res.accounting.repeated == ["a.txt"] and res.accounting.unknown == ["stray.txt"]
    assert res.accounting.records == 7
    # the published copy is the one read for fields; issue codes are the union over the copies
    assert res.title_accuracy == 1.0
    assert res.per_code["truncated_body"].fp == 1


def test_a_wrong_title_lowers_title_accuracy_by_one_over_n(score):
    recs = clean_records()
    base = score(clean_labels(), recs).title_accuracy
    n = 4                                                # files with a known title
    recs[1]["title"] = "Ferry sinks"
    res = score(clean_labels(), recs)
    assert res.title_accuracy == pytest.approx(base - 1 / n)
    assert res.title_counts == (3, 4)
    assert "title_acc=0.750" in res.summary


def test_title_match_is_normalised(score):
    recs = clean_records()
    recs[0]["title"] = '  COUNCIL backs "new"  harbour wall. '    # case, quotes, spaces, end punctuation
    assert score(clean_labels(), recs).title_accuracy == 1.0


def test_date_alternates_are_accepted(score):
    labels = clean_labels()
    labels[0]["published_date_alternates"] = ["2024-03-04"]
    recs = clean_records()
    recs[0]["published_date"] = dt.date(2024, 3, 4)
    recs[1]["published_date"] = dt.date(2024, 3, 4)
    res = score(labels, recs)
    assert res.date_counts == (3, 4)


def dup_group_labels():
    """One article, two copies: `p.txt` (preferred), `q.txt` undated (it may still be the published one)."""
    members = ["p.txt", "q.txt"]
    cf = {"title": "Harbour wall", "published_date": DATE, "body_source_path": "p.txt"}
    common = {"dup_group": "g1", "dup_members": members, "dup_canonical": "p.txt", "canonical_fields": cf,
              "dup_candidate": True}
    return [
        label("p.txt", title="Harbour wall", body=BODY["a.txt"], issues=[], own_issues=[], dup_preferred=True,
              **common),
        label("q.txt", title="Harbour wall", date=None, body=BODY["a.txt"], issues=["duplicate"],
              own_issues=["missing_date"], dup_preferred=False, **common),
    ] + clean_labels()[1:]


def dup_records(published: str, other_issues=("duplicate",)):
    other = "q.txt" if published == "p.txt" else "p.txt"
    return [
        record(published, "published", title="Harbour wall", body=BODY["a.txt"], article_id="A"),
        record(other, "quarantine", title="Harbour wall", date=None if other == "q.txt" else DATE,
               body=BODY["a.txt"], issues=other_issues, duplicate_of="A"),
    ] + clean_records()[1:]


@pytest.mark.parametrize("published", ["p.txt", "q.txt"])
def test_duplicate_group_follows_the_copy_the_output_published(score, published):
    # Either candidate copy may be the published one (q.txt takes its date from p.txt): both are right.
    res = score(dup_group_labels(), dup_records(published))
    assert res.macro_f1 == 1.0
    assert res.per_code["duplicate"].tp == 1 and res.per_code["duplicate"].fp == 0
    assert (res.duplicates.groups, res.duplicates.handled) == (1, 1)
    assert (res.duplicates.duplicate_of_correct, res.duplicates.duplicate_of_checked) == (1, 1)
    assert res.clean_recall == 1.0 and res.purity == 1.0     # the group counts once
    assert res.clean_recall_counts == (4, 4)


def test_duplicate_group_with_both_copies_published_fails(score):
    recs = dup_records("p.txt", other_issues=())
    recs[1]["dataset"] = "published"
    res = score(dup_group_labels(), recs)
    assert res.duplicates.handled == 0 and res.duplicates.failures == {"several copies published": 1}
    assert res.per_code["duplicate"].fn == 1
    assert res.purity == pytest.approx(4 / 5)


@pytest.mark.parametrize("other_issues", [("duplicate",), ("duplicate", "missing_date")])
def test_fillable_code_on_the_unpublished_copy_is_optional(score, other_issues):
    # q.txt lacks the date: with p.txt published, its missing_date is neither required nor wrong.
    res = score(dup_group_labels(), dup_records("p.txt", other_issues))
    md = res.per_code["missing_date"]
    assert (md.tp, md.fp, md.fn, md.scored) == (0, 0, 0, False)
    assert res.macro_f1 == 1.0


@pytest.mark.parametrize("extra", [(), ("missing_date", "empty_body")])
def test_optional_codes_are_not_counted(score, extra):
    recs = clean_records()
    recs[-1]["issues"] = ["unreadable", *extra]
    res = score(clean_labels(), recs)
    assert res.macro_f1 == 1.0
    assert not res.per_code["missing_date"].scored and not res.per_code["empty_body"].scored


def test_section_label_title_may_be_reported_as_missing_title(score):
    labels = clean_labels()
    labels[3].update(title=None, issues=["title_mismatch"], title_slot="WORLD", mismatch_kind="section_label")
    recs = clean_records()
    recs[3].update(dataset="quarantine", title=None, issues=["missing_title"])
    res = score(labels, recs)
    assert res.per_code["title_mismatch"].tp == 1
    assert not res.per_code["missing_title"].scored and res.macro_f1 == 1.0


def test_wrong_codes_lower_precision_and_recall(score):
    recs = clean_records()
    recs[0].update(dataset="quarantine", issues=["truncated_body"])      # a clean file held back
    recs[-1]["issues"] = ["empty_body"]                                    # unreadable not said
    res = score(clean_labels(), recs)
    tb, ur = res.per_code["truncated_body"], res.per_code["unreadable"]
    assert (tb.fp, tb.precision, tb.f1) == (1, 0.0, 0.0)
    assert (ur.fn, ur.recall, ur.f1) == (1, 0.0, 0.0)
    assert res.macro_f1 == 0.0
    assert res.clean_recall == pytest.approx(3 / 4)
    assert format_report(res, errors=3).count("FP truncated_body") == 1


def test_body_f1_is_a_bag_of_words():
    # truth: 6 tokens; output: 3 of them, punctuation and case ignored
    p, r, f = body_prf("The cat sat on the mat.", "the CAT, sat!")
    assert (p, r, f) == pytest.approx((1.0, 0.5, 2 / 3))
    # each CJK character is a token: 東 京 news  vs  東 京 都 news
    assert body_prf("東京 news", "東京都 news") == pytest.approx((3 / 4, 1.0, 6 / 7))
    assert body_prf("", None) == (1.0, 1.0, 1.0)
    assert body_prf("text", "") == (0.0, 0.0, 0.0)


def test_body_f1_is_averaged_over_files(score):
    recs = clean_records()
    words = BODY["b.txt"].split()
    recs[1]["body"] = " ".join(words[: len(words) // 2])                  # half of the body
    res = score(clean_labels(), recs)
    expected_f1 = body_prf(BODY["b.txt"], recs[1]["body"])[2]
    assert res.body.files == 4
    assert res.body.f1 == pytest.approx((3 + expected_f1) / 4)
    assert res.body.precision == 1.0


def test_missing_column_gives_n_a(score):
    res = score(clean_labels(), clean_records(), drop=["title"])
    assert res.missing_columns == ["title"] and res.title_accuracy is None
    assert res.summary.endswith("title_acc=n/a date_acc=1.000")
    assert res.to_dict()["title_accuracy"] is None


def test_load_labels_errors_are_one_line(tmp_path):
    path = tmp_path / "labels.jsonl"
    cases = {
        '{"source_path": "a.txt", "issues": []}\n{"source_path": \n': "line 2: not JSON",
        '{"title": "x"}\n': "line 1: no source_path",
        '{"source_path": "a.txt", "issues": "duplicate"}\n': "issues must be a list of strings",
        '{"source_path": "a.txt"}\n{"source_path": "./a.txt"}\n': "already labelled on line 1",
        "\n\n": "no labels",
        "[1, 2]\n": "expected a JSON object",
    }
    for text, message in cases.items():
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=message) as err:
            load_labels(path)
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="cannot read labels"):
        load_labels(tmp_path / "nope.jsonl")


def test_read_output_refuses_a_folder_without_datasets(tmp_path):
    with pytest.raises(ValueError, match="not a cleanwire output"):
        read_output(tmp_path)


def test_an_unreadable_parquet_file_is_a_problem_not_a_crash(score, tmp_path):
    score(clean_labels(), clean_records())
    (tmp_path / "out" / "quarantine" / "articles" / "year=2024" / "part-1.parquet").write_bytes(b"not parquet")
    problems: list[str] = []
    frame = read_output(tmp_path / "out", problems)
    assert len(problems) == 1 and "unreadable parquet" in problems[0]
    res = evaluate(load_labels(tmp_path / "labels.jsonl"), frame, problems)
    assert res.accounting.records == 5 and "problem: unreadable parquet" in format_report(res)


def test_several_corpora_get_a_line_each_and_their_macro_average(score):
    from cleanwire.evaluate.score import average, format_table

    perfect = score(clean_labels(), clean_records())
    wrong = clean_records()
    wrong[0]["title"] = "Another story entirely"          # one title of four known ones
    worse = score(clean_labels(), wrong)
    avg = average([perfect, worse])
    assert avg["title_accuracy"] == (1.0 + 0.75) / 2 and avg["macro_f1"] == 1.0
    table = format_table({"a/labels.jsonl": perfect, "b/labels.jsonl": worse}).splitlines()
    assert [line.split()[0] for line in table[2:]] == ["a", "b", "macro"]
    assert table[-1].split()[2:] == ["1.000", "1.000", "1.000", "1.000", "0.875", "1.000"]
