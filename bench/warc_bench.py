"""Benchmark cleanwire on a WARC archive: records per second from a `.warc.gz`.

    python bench/warc_bench.py --n 20000 [--processes 2] [--batch-mb 128] [--keep]

1. makes (or reuses) `bench/out/warc-N/crawl.warc.gz`: N HTML responses written
   as a crawler writes them (warcio, one gzip member per record), the pages
   laid out as news sites serve them (bench/make_corpus.py html_page, invented
   text), with a request record and a stylesheet response every 50 pages;
2. (r) reading alone: the archive walked by cleanwire's WARC reader (every
   record's headers and payload, no parsing): what the format costs;
3. (b) `cleanwire run` on the folder, as a subprocess (bench/bench.py's
   measure: wall time, peak RSS of the process tree), and the pipeline's own
   time (the stages the flow times) apart from the start-up.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_corpus import html_page, invented_text, new_story, with_defect

from bench import run_measured

EVERY = 50  # a request record and a non-HTML response every EVERY pages


def make_archive(path: Path, n: int, seed: int = 1) -> int:
    """A .warc.gz of n HTML responses (plus requests and stylesheets); returns its record count."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rng = random.Random(seed)
    src = invented_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    records = 0
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        w.write_record(w.create_warcinfo_record(path.name, {"software": "cleanwire bench"}))
        records += 1
        for i in range(n):
            story, _ = with_defect(new_story(i, src, rng, None, 0.0), rng)
            url = f"https://news.example/{story.section.lower()}/{i}"
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(html_page(story, rng).encode()),
                                                http_headers=http))
            records += 1
            if i % EVERY == 0:
                w.write_record(w.create_warc_record(url, "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n"),
                                                    warc_headers_dict={"Content-Type": "application/http"}))
                css = StatusAndHeaders("200 OK", [("Content-Type", "text/css")], protocol="HTTP/1.1")
                w.write_record(w.create_warc_record(f"{url}.css", "response", payload=io.BytesIO(b"p{margin:0}"),
                                                    http_headers=css))
                records += 2
    return records


def read_only(path: Path) -> tuple[float, int]:
    """(seconds, records) of walking the archive with cleanwire's reader (payloads read, not parsed)."""
    from cleanwire.ingest.formats import warc

    t = time.perf_counter()
    with open(path, "rb") as fh:
        n = sum(1 for _ in warc.read_archive(fh, 10**7, 10**8))
    return time.perf_counter() - t, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="HTML responses in the archive")
    ap.add_argument("--processes", type=int, default=None)
    ap.add_argument("--batch-mb", type=float, default=None, help="slice size (the run's --batch-mb)")
    ap.add_argument("--dir", type=Path, default=HERE / "out")
    ap.add_argument("--keep", action="store_true", help="keep the output folder")
    a = ap.parse_args()
    raw = a.dir / f"warc-{a.n}"
    archive = raw / "crawl.warc.gz"
    if not archive.is_file():
        t = time.perf_counter()
        total = make_archive(archive, a.n)
        print(f"archive: {total} records, {archive.stat().st_size / 1e6:.1f} MB ({time.perf_counter() - t:.1f} s)")
    secs, n = read_only(archive)
    print(f"(r) reading alone: {n} records in {secs:.1f} s: {n / secs:,.0f} records/s, "
          f"{archive.stat().st_size / 1e6 / secs:.0f} MB/s of .warc.gz")

    out = a.dir / f"warc-out-{a.n}"
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ)
    env.setdefault("PREFECT_HOME", str(a.dir / "prefect-home"))
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    cli = [sys.executable, "-m", "cleanwire.cli", "run", "--input", str(raw), "--output", str(out),
           "--max-quarantined-share", "1", "--no-data-docs"]
    if a.processes:
        cli += ["--processes", str(a.processes)]
    if a.batch_mb:
        cli += ["--batch-mb", str(a.batch_mb)]
    wall, peak, code, _ = run_measured(cli, env)
    if code not in (0, 1):
        raise SystemExit(f"cleanwire run failed ({code})")
    s = json.loads((out / "reports" / "summary.json").read_text())
    stages = s.get("stage_seconds", {})
    pipeline = sum(stages.values())
    recs = s["records"]
    print(f"(b) cleanwire run: {recs} records (published {s['published']}, quarantined {s['quarantined']}), "
          f"skipped {s.get('skipped_records')}; exit code {code}")
    print(f"    wall {wall:.1f} s: {recs / wall:,.0f} records/s; pipeline {pipeline:.1f} s: "
          f"{recs / pipeline:,.0f} records/s; peak RSS of the process tree {peak / 2**20:.0f} MiB")
    print("    stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in stages.items()))
    r = s.get("runner") or {}
    if r:
        print(f"    {r['batches']} batch tasks on {r['where']}, {r['batch_cpu_seconds']} s of CPU in all "
              f"({1000 * r['batch_cpu_seconds'] / max(recs, 1):.2f} ms per record)")
    if not a.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
