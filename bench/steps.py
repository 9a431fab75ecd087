"""One measured step of the benchmark, in its own process (so that its peak memory is its own).

    python -m bench.steps duckdb LANDING DAY                      # B: DuckDB alone reads the day's files
    python -m bench.steps flow START END [PARTNER ...]            # the Prefect flow (settings from env)
    python -m bench.steps plain START END [PARTNER ...]           # the same stages called plainly

Prints one JSON line: seconds (the step itself), server_seconds (Prefect's temporary server
start, for flows), peak_rss_mib.
"""

from __future__ import annotations

import io
import json
import resource
import sys
import time
from datetime import date
from pathlib import Path


def peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def duckdb_alone(landing: Path, day: date) -> dict[str, object]:
    """The floor: every delivered byte of the day parsed once into a DuckDB table."""
    import duckdb
    import fastexcel

    con = duckdb.connect()
    started = time.perf_counter()
    rows = {}
    for folder in sorted(
        p for p in landing.iterdir() if (p / day.isoformat() / "_SUCCESS").exists()
    ):
        d = folder / day.isoformat()
        name = folder.name
        for f in sorted(d.iterdir()):
            if f.name in ("_SUCCESS", "manifest.json"):
                continue
            table = f"t_{name.replace('-', '_')}_{len(rows)}"
            path = str(f).replace("'", "''")
            if name == "tokoraya":
                # DuckDB has no Windows-1252 reader offline: decoding in Python is part of the floor
                text = io.BytesIO(f.read_bytes().decode("cp1252").encode("utf-8"))
                con.read_csv(text, header=True, sep=";", all_varchar=True).create(table)
            elif f.name.endswith(".csv.gz") or f.name.endswith(".csv"):
                con.execute(
                    f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}', all_varchar=true, header=true)"
                )
            elif f.name.endswith(".jsonl.gz"):
                con.execute(
                    f"CREATE TABLE {table} AS SELECT * FROM read_json('{path}', format='newline_delimited')"
                )
            elif f.name.endswith(".parquet"):
                con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{path}')")
            elif f.name.endswith(".xlsx"):
                sheet = fastexcel.read_excel(str(f)).load_sheet(
                    "Merchant Baru", header_row=3, dtypes="string"
                )
                con.register("xl", sheet.to_arrow())
                con.execute(f"CREATE TABLE {table} AS SELECT * FROM xl")
                con.unregister("xl")
            else:
                continue
            rows[f"{name}/{f.name}"] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "rows": sum(rows.values()),
        "files": rows,
    }


def flow(start: date, end: date, partners: list[str] | None) -> dict[str, object]:
    from flows import env

    env.apply()
    from prefect import flow as prefect_flow

    @prefect_flow(name="bench-warmup", persist_result=False)
    def warmup() -> None:
        return None

    started = time.perf_counter()
    warmup()  # starts Prefect's temporary server: measured apart, as the goals ask
    server = time.perf_counter() - started
    from flows.runs import PartnerDaysFailed, backfill

    started = time.perf_counter()
    try:
        result = backfill(start=start, end=end, partners=partners)
    except PartnerDaysFailed as failed:
        result = failed.result
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "server_seconds": round(server, 2),
        "result": result,
    }


def plain(start: date, end: date, partners: list[str] | None) -> dict[str, object]:
    from pipelines.run.core import run_plain
    from pipelines.settings import Settings

    started = time.perf_counter()
    summary = run_plain(Settings(), start, end, partners)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "result": {
            "loaded": summary.count("loaded"),
            "unchanged": summary.count("unchanged"),
            "failed": summary.count("failed"),
        },
        "stages": _stage_seconds(summary),
    }


def _stage_seconds(summary) -> dict[str, float]:  # type: ignore[no-untyped-def]
    totals: dict[str, float] = {}
    for step in summary.steps:
        for stage, seconds in step.seconds.items():
            totals[stage] = round(totals.get(stage, 0.0) + seconds, 2)
    return totals


def main(argv: list[str]) -> int:
    kind, *args = argv
    if kind == "duckdb":
        out = duckdb_alone(Path(args[0]), date.fromisoformat(args[1]))
    else:
        start, end, partners = (
            date.fromisoformat(args[0]),
            date.fromisoformat(args[1]),
            args[2:] or None,
        )
        out = (flow if kind == "flow" else plain)(start, end, partners)
    out["peak_rss_mib"] = peak_mib()
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
