"""Great Expectations as the gate: suites from expectations/*.json, issue codes from failing rows.

* The row suite (`articles.json`) runs on the narrow feature frame. Every
  expectation names the issue code it raises in `meta.issue_code`; the
  failing rows (result_format COMPLETE, as row positions) get that code.
  Severity `warning` expectations are reported but hold nothing back.
* The batch suite (`batch.json`) runs on one row per record of the run
  (`article_id`, `is_quarantined`); a failing `critical` expectation refuses
  the publish. Its expectations on a source folder's drift and freshness run
  on one row per source instead (checks/sources.py).

GX is imported lazily (it takes seconds): only the step that validates pays.
GX 1.x silently drops an expectation it cannot build (an unknown type, a bad
severity), so suites are loaded one expectation at a time and a suite that
loads fewer expectations than its file lists is an error, never a silent pass.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cleanwire.errors import SuiteError
from cleanwire.rules import RUN_COLUMNS
from cleanwire.memory import release_free_memory
from cleanwire.checks.drift import DRIFT_METRICS
from cleanwire.checks.freshness import FRESHNESS_COLUMNS

ROW_SUITE = "articles.json"
BATCH_SUITE = "batch.json"
# Lean COMPLETE: failing rows as index positions. Asking GX for id columns instead
# costs ~0.25 ms per failing row and expectation (80 s at 1M rows, 30 % failing).
RESULT_FORMAT = {"result_format": "COMPLETE", "exclude_unexpected_values": True,
                 "return_unexpected_index_query": False}
SEVERITIES = ("critical", "warning", "info")


@dataclass
class SuiteFile:
    path: Path
    raw: dict
    suite: object  # great_expectations.core.ExpectationSuite

    @property
    def name(self) -> str:
        return self.raw["name"]

    def applicable(self, n_rows: int) -> tuple["SuiteFile", list[str]]:
        """The suite for a frame of n_rows: expectations whose meta.min_rows exceeds it are skipped."""
        keep, skipped = [], []
        for raw, exp in zip(self.raw["expectations"], self.suite.expectations):
            need = (raw.get("meta") or {}).get("min_rows")
            if need is not None and n_rows < need:
                skipped.append(f"{raw['type']} skipped: {n_rows} records < min_rows {need}")
            else:
                keep.append((raw, exp))
        if not skipped:
            return self, []
        gx = _gx()
        suite = gx.ExpectationSuite(name=self.name, expectations=[e for _, e in keep], meta=self.raw.get("meta"))
        return SuiteFile(self.path, {**self.raw, "expectations": [r for r, _ in keep]}, suite), skipped

    def columns(self) -> list[str]:
        return sorted({e["kwargs"]["column"] for e in self.raw["expectations"] if "column" in e.get("kwargs", {})})

    def split(self, columns: set[str], name: str) -> tuple[SuiteFile, SuiteFile]:
        """(the expectations on any other column, those on `columns` as a suite called `name`)."""
        pairs = list(zip(self.raw["expectations"], self.suite.expectations))
        on = [(r, e) for r, e in pairs if (r.get("kwargs") or {}).get("column") in columns]
        rest = [(r, e) for r, e in pairs if (r.get("kwargs") or {}).get("column") not in columns]
        gx = _gx()

        def suite(suite_name: str, kept: list) -> SuiteFile:
            return SuiteFile(self.path, {**self.raw, "name": suite_name, "expectations": [r for r, _ in kept]},
                             gx.ExpectationSuite(name=suite_name, expectations=[e for _, e in kept],
                                                 meta=self.raw.get("meta")))

        return suite(self.name, rest), suite(name, on)


def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def read_suite_json(path: Path) -> dict:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"expectation suite {path} not found (pass --suites DIR)") from None
    except (OSError, ValueError) as e:
        raise SuiteError(f"expectation suite {path} is not valid JSON: {e}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not isinstance(raw.get("expectations"), list):
        raise SuiteError(f"expectation suite {path} must be an object with 'name' and a list 'expectations'")
    if not raw["expectations"]:
        raise SuiteError(f"expectation suite {path} lists no expectations")
    return raw


def _gx_error(e: Exception) -> str:
    """The first of GX's (pydantic v1) validation errors, as 'field: message'."""
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    if len(lines) >= 3 and "validation error" in lines[0]:
        return f"{lines[1]}: {lines[2].split(' (type=')[0]}"
    return f"{type(e).__name__}: {lines[-1] if lines else ''}"


def _kwargs_problem(kwargs: dict, columns: set[str] | None) -> str | None:
    """What GX accepts but a run could not use: an unknown column, min_value above max_value."""
    col = kwargs.get("column")
    if columns is not None and col is not None and col not in columns:
        return f"column {col!r} is not one the checks compute (known: {', '.join(sorted(columns))})"
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo > hi:
        return f"min_value {lo} is above max_value {hi}"
    return None


def load_suite(path: Path, need_issue_code: bool, overrides: dict | None = None,
               columns: set[str] | None = None) -> SuiteFile:
    """Build every expectation of a suite file, strictly; `overrides` maps meta.knob -> kwargs.

    `columns`: the columns of the frame the suite will run on; an expectation on
    any other column is refused now rather than failing after the work is done.
    """
    raw = read_suite_json(path)
    gx = _gx()
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    built, errors = [], []
    for i, cfg in enumerate(raw["expectations"]):
        where = f"{path.name} expectation #{i + 1} ({cfg.get('type') if isinstance(cfg, dict) else cfg!r})"
        if not isinstance(cfg, dict):
            errors.append(f"{where}: not an object")
            continue
        meta = cfg.get("meta") or {}
        knob = meta.get("knob")
        if overrides and knob in overrides:
            cfg = {**cfg, "kwargs": {**cfg.get("kwargs", {}), **overrides[knob]}}
        if need_issue_code and not meta.get("issue_code"):
            errors.append(f"{where}: meta.issue_code is missing (which issue does it raise?)")
            continue
        if cfg.get("severity", "critical") not in SEVERITIES:
            errors.append(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
            continue
        problem = _kwargs_problem(cfg.get("kwargs") or {}, columns)
        if problem:
            errors.append(f"{where}: {problem}")
            continue
        try:
            built.append(ExpectationConfiguration(**cfg).to_domain_obj())
        except Exception as e:  # noqa: BLE001 - GX raises pydantic, TypeError, its own errors
            errors.append(f"{where}: {_gx_error(e)}"[:300])
    if errors:
        raise SuiteError("; ".join(errors))
    suite = gx.ExpectationSuite(name=raw["name"], expectations=built, meta=raw.get("meta"))
    if len(suite.expectations) != len(raw["expectations"]):
        raise SuiteError(f"{path} lists {len(raw['expectations'])} expectations but only "
                         f"{len(suite.expectations)} loaded")
    return SuiteFile(path, raw, suite)


def load_suites(suites_dir: Path, max_quarantined_share: float | None = None) -> tuple[SuiteFile, SuiteFile]:
    overrides = {"max_quarantined_share": {"max_value": max_quarantined_share}} if max_quarantined_share is not None else None
    rows = load_suite(suites_dir / ROW_SUITE, need_issue_code=True, columns=ROW_COLUMNS)
    batch = load_suite(suites_dir / BATCH_SUITE, need_issue_code=False, overrides=overrides, columns=BATCH_COLUMNS)
    return rows, batch


# ------------------------------------------------------------------ checking suites at start-up

_CHECKS: dict[str, object] = {}  # verdict key -> Future of the check
_POOLS: dict[str, object] = {}   # verdict key -> the pool of its child, until check_suites joins it


def start_suite_check(suites_dir: Path, max_quarantined_share: float | None = None):
    """Load the suites in a fresh process, now; a Future of None or the problem found.

    Great Expectations costs a process ~175 MB once imported (measured). A run
    must refuse bad suites before parsing, but it needs GX itself only after
    parsing, when the batch workers are gone: importing it at start-up would
    add those 175 MB to the run's peak, the parse stage with its workers. So
    the suites are checked in a child process that exits when done, while
    the caller goes on (starting the API, walking the input). The same check of
    the same files is started once per process (the CLI starts it, the flow
    then finds it), and its verdict is kept on disk (`verdict_cache`): a
    scheduled run whose suites did not change starts no child at all.
    """
    import multiprocessing as mp
    from concurrent.futures import Future, ProcessPoolExecutor

    d = Path(suites_dir).resolve()
    key = verdict_key(d, max_quarantined_share)
    if key not in _CHECKS:
        cached = _cached_verdict(key)
        if cached is not None:
            _CHECKS[key] = done = Future()
            done.set_result(cached["problem"])
        else:
            pool = ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"))
            _CHECKS[key] = pool.submit(suite_problem, d, max_quarantined_share)
            _POOLS[key] = pool  # joined in check_suites, once the verdict is in
    return _CHECKS[key]


def verdict_key(suites_dir: Path, max_quarantined_share: float | None) -> str:
    """What a verdict depends on: the suite files' bytes, the override, the columns the checks
    compute, the GX version, and the loading rules (this module's code)."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    for f in (suites_dir / ROW_SUITE, suites_dir / BATCH_SUITE):
        digest.update(f.name.encode() + b"\0" + (f.read_bytes() if f.is_file() else b"<missing>") + b"\0")
    digest.update(repr((max_quarantined_share, sorted(ROW_COLUMNS), sorted(BATCH_COLUMNS),
                        version("great_expectations"))).encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def verdict_cache() -> Path:
    """Where suite verdicts are kept: $CLEANWIRE_CACHE_DIR, else the user's cache folder."""
    base = os.environ.get("CLEANWIRE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cleanwire")
    return Path(base) / "suite-verdicts"


def _cached_verdict(key: str) -> dict | None:
    try:
        return json.loads((verdict_cache() / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None


def _keep_verdict(key: str, problem: str | None) -> None:
    """Best effort: a cache that cannot be written (a read-only home) only costs the next run a check."""
    from cleanwire.paths import write_json

    try:
        write_json(verdict_cache() / f"{key}.json", {"problem": problem})
    except OSError:
        pass


def suite_problem(suites_dir: Path, max_quarantined_share: float | None = None) -> str | None:
    """None if the suites load, else why not (run in the child process)."""
    try:
        load_suites(suites_dir, max_quarantined_share)
    except SuiteError as e:
        return str(e)
    return None


def check_suites(suites_dir: Path, max_quarantined_share: float | None = None) -> None:
    """Raise SuiteError if the suites cannot be used (waits for start_suite_check's child)."""
    future = start_suite_check(suites_dir, max_quarantined_share)
    key = next(k for k, f in _CHECKS.items() if f is future)
    try:
        problem = future.result()
    except Exception:
        # The child itself failed (killed, out of memory): not a verdict on the suites; a later run checks again.
        del _CHECKS[key]
        raise
    finally:
        # Join the child now: a pool left to the interpreter's exit hooks can find its wake-up pipe
        # already closed when the CLI exits on an error, and print a traceback after the one-line message.
        pool = _POOLS.pop(key, None)
        if pool is not None:
            pool.shutdown(wait=True)
    if _cached_verdict(key) is None:
        _keep_verdict(key, problem)
    if problem:
        raise SuiteError(problem)


# The columns of the frames the suites run on (checks.run.NARROW plus duplicate_of; checks.run.batch_frame).
ROW_COLUMNS = {*RUN_COLUMNS, "duplicate_of"}
BATCH_COLUMNS = {"article_id", "source_file", "word_count", "is_quarantined", "source",
                 *[d for _, d, _ in DRIFT_METRICS], *FRESHNESS_COLUMNS}


# ------------------------------------------------------------------ running

@dataclass
class Failure:
    """One expectation that did not pass."""
    type: str
    column: str | None
    issue_code: str | None
    severity: str
    unexpected_count: int | None
    observed_value: object
    article_ids: pl.Series | None      # the failing rows' ids (row suite), None when GX names no rows
    message: str
    error: str | None = None
    kwargs: dict | None = None         # the expectation's arguments: its column and thresholds


@dataclass
class Validation:
    suite: str
    success: bool
    evaluated: int
    failures: list[Failure] = field(default_factory=list)
    result_json: dict | None = None
    skipped: list[str] = field(default_factory=list)

    def blocking(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == "critical"]


class Validator:
    """One GX ephemeral context for a run; Data Docs go to `docs_dir` when given."""

    def __init__(self, docs_dir: Path | None = None):
        gx = _gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        self.gx = gx
        self.ctx = gx.get_context(mode="ephemeral")
        self.ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.docs_dir = docs_dir
        try:
            self.ctx.delete_data_docs_site("local_site")  # the default points at a random temp dir
        except Exception:  # noqa: BLE001
            pass
        if docs_dir is not None:
            docs_dir.mkdir(parents=True, exist_ok=True)
            self.ctx.add_data_docs_site("local", {
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                  "base_directory": str(docs_dir.resolve())},
            })
        asset = self.ctx.data_sources.add_pandas("frames").add_dataframe_asset("frame")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole")

    def run(self, frame: pl.DataFrame, suite: SuiteFile, docs: bool = False,
            id_column: str = "article_id") -> Validation:
        """`id_column` names the failing rows (article_id; `source` for the per-source checks)."""
        # Only the suite's columns go to pandas; failing rows are named from the polars ids.
        view = frame.select([c for c in frame.columns if c in set(suite.columns())])
        if "article_id" in view.columns:
            view = view.with_columns(_ids_for_gx(view["article_id"]))
        pdf = to_pandas_for_gx(view)
        if docs and self.docs_dir is not None:
            s = self.ctx.suites.add_or_update(suite.suite)
            vd = self.ctx.validation_definitions.add_or_update(
                self.gx.ValidationDefinition(name=suite.name, data=self.batch_definition, suite=s))
            cp = self.ctx.checkpoints.add_or_update(self.gx.Checkpoint(
                name=f"{suite.name}-checkpoint", validation_definitions=[vd], result_format=RESULT_FORMAT,
                actions=[self.gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["local"])]))
            result = next(iter(cp.run(batch_parameters={"dataframe": pdf}).run_results.values()))
        else:
            batch = self.batch_definition.get_batch(batch_parameters={"dataframe": pdf})
            result = batch.validate(suite.suite, result_format=RESULT_FORMAT)
        out = _summarise(result, frame[id_column] if id_column in frame.columns else None, suite)
        del pdf, result
        self._forget_batches()
        release_free_memory()  # GX's pandas masks and index lists: give the heap back before the next step
        return out

    def _forget_batches(self) -> None:
        """Drop the pandas view GX's execution engine keeps of the last batch it validated.

        GX caches the last batch (and its data) in the engine's batch manager until the
        next validation replaces it: the final row suite's view of a million records
        stayed through the batch suite, and the batch suite's through publish (measured:
        ~100-150 MB at a million records). The next run builds what it needs again.
        """
        for ds in {id(d): d for d in (self.batch_definition.data_asset.datasource,
                                      self.ctx.data_sources.get("frames"))}.values():
            manager = getattr(getattr(ds, "_execution_engine", None), "batch_manager", None)
            if manager is None:
                continue
            manager.reset_batch_cache()
            getattr(manager, "_batch_data_cache", {}).clear()
            manager._active_batch_data_id = None


def _ids_for_gx(ids: pl.Series) -> pl.Series:
    """article_id as the 64-bit number its 16 hex digits spell, when every id is such a digest.

    The same uniqueness, in a tenth of the memory: as pandas objects, a million
    ids cost GX's uniqueness test ~0.5 GB (measured: +155 MB at 300k rows, +79 MB as numbers).
    """
    if ids.len() == 0 or not ids.str.contains(r"^[0-9a-f]{16}$").all():
        return ids
    return ids.str.to_integer(base=16, dtype=pl.UInt64).reinterpret(signed=True)


def _summarise(result, ids: pl.Series | None, suite: SuiteFile) -> Validation:
    failures = []
    for r in result.results:
        cfg, res = r.expectation_config, r.result or {}
        info = r.exception_info or {}
        err = info if info.get("raised_exception") else next(
            (v for v in info.values() if isinstance(v, dict) and v.get("raised_exception")), None)
        if r.success and not err:
            continue
        idx = res.get("unexpected_index_list")
        failing = ids.gather(idx) if (idx is not None and ids is not None) else None
        if idx is not None:
            # Row positions in the pandas view: meaningless to a reader of the result JSON
            # once named by id, and a million Python ints at scale. Data Docs keep GX's sample.
            res.pop("unexpected_index_list", None)
        meta = cfg.meta or {}
        failures.append(Failure(
            type=cfg.type, column=cfg.kwargs.get("column"), issue_code=meta.get("issue_code"),
            severity=getattr(cfg.severity, "value", str(cfg.severity)),
            unexpected_count=res.get("unexpected_count"), observed_value=res.get("observed_value"),
            article_ids=failing, message=meta.get("message") or _describe(cfg),
            error=(err or {}).get("exception_message") if err else None,
            kwargs={k: v for k, v in cfg.kwargs.items() if k != "batch_id"},
        ))
    return Validation(suite.name, bool(result.success), len(result.results), failures, result.to_json_dict())


def _describe(cfg) -> str:
    kw = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id", "column")}
    col = cfg.kwargs.get("column")
    return f"{cfg.type}({col + ', ' if col else ''}{', '.join(f'{k}={v}' for k, v in kw.items())})"


def to_pandas_for_gx(df: pl.DataFrame):
    """polars -> pandas in dtypes GX validates fast: datetimes in ns, ints as int64."""
    import numpy as np

    pdf = df.to_pandas()
    for col, dtype in pdf.dtypes.items():
        if dtype.kind == "M" and getattr(dtype, "tz", None) is None and str(dtype) != "datetime64[ns]":
            pdf[col] = pdf[col].astype("datetime64[ns]")
        elif dtype.kind in "iu" and dtype != np.int64:
            pdf[col] = pdf[col].astype(np.int64)
    return pdf


def issues_frame(validation: Validation, article_ids: pl.Series) -> pl.DataFrame:
    """article_id -> sorted list of issue codes (critical failures), row for row with `article_ids`.

    One row per id of `article_ids`, in their order: the caller can put the
    column beside its frame (hstack) instead of joining a copy of it. Why each
    code was raised is the rules' to say (rules.reasons). Warning-severity
    expectations are reported in the validation result, not here.
    """
    failing = []
    for f in validation.failures:
        if f.error:
            raise SuiteError(f"expectation {f.message} could not run: {f.error}")
        if f.severity == "critical" and f.issue_code and f.article_ids is not None and f.article_ids.len():
            failing.append(f)
    base = pl.DataFrame({"article_id": article_ids})
    if not failing:
        return base.with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("issues"))
    # Each record's codes as one bit mask, its list from the few distinct masks of the run: a
    # string list built per failing row cost ~0.25 KB per record at the checks' peak (measured:
    # +82 MB at 300k).
    codes = sorted({f.issue_code for f in failing})
    if len(codes) > 64:
        raise SuiteError(f"the row suite raises {len(codes)} distinct issue codes; at most 64 are supported")
    bit = {c: 1 << i for i, c in enumerate(codes)}
    hits = pl.concat([pl.DataFrame({"article_id": f.article_ids.cast(pl.String)})
                      .with_columns(pl.lit(bit[f.issue_code], dtype=pl.UInt64).alias("mask"))
                      for f in failing])
    masks = hits.unique().group_by("article_id").agg(pl.col("mask").sum())  # unique: a code raised twice counts once
    combos = masks["mask"].unique().sort().to_list()
    lists = pl.DataFrame({"mask": pl.Series(combos, dtype=pl.UInt64),
                          "issues": pl.Series([[c for c in codes if m & bit[c]] for m in combos],
                                              dtype=pl.List(pl.String))})
    return (base.join(masks, on="article_id", how="left", maintain_order="left")
            .join(lists, on="mask", how="left", maintain_order="left").drop("mask")
            .with_columns(pl.col("issues").fill_null(pl.lit([], dtype=pl.List(pl.String)))))


def suite_messages(suite: SuiteFile) -> dict[str, str]:
    """issue code -> the message of the suite's first expectation raising it (for codes no rule explains)."""
    out: dict[str, str] = {}
    for e in suite.raw["expectations"]:
        meta = e.get("meta") or {}
        if meta.get("issue_code"):
            out.setdefault(meta["issue_code"], meta.get("message") or e["type"])
    return out


def suite_limits(suite: SuiteFile) -> dict[str, tuple[float | None, float | None]]:
    """feature column -> (min_value, max_value) of the suite's expectations on it (shown as evidence)."""
    return {e["kwargs"]["column"]: (e["kwargs"].get("min_value"), e["kwargs"].get("max_value"))
            for e in suite.raw["expectations"] if "column" in e.get("kwargs", {})}
