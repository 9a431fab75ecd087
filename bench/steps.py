"""One measured step of the benchmark, in its own process (so that its peak memory is its own).

    python -m bench.steps duckdb LANDING DAY [PARTNER ...]       # B: DuckDB alone reads the day's files
    python -m bench.steps flow START END [PARTNER ...]           # the Prefect flow (settings from env)
    python -m bench.steps plain START END [PARTNER ...]          # the same run core without Prefect

Prints one JSON line: seconds (the step itself), server_seconds (Prefect's temporary server
start, Great Expectations imported meanwhile, for flows), peak_rss_mib, and for runs the seconds by stage.
"""

from __future__ import annotations

import codecs
import json
import resource
import sys
import time
from datetime import date
from pathlib import Path


def peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def duckdb_alone(landing: Path, day: date, partners: list[str] | None) -> dict[str, object]:
    """The floor: every delivered byte of the day parsed once into DuckDB tables, each file by
    DuckDB's own reader for its format (Windows-1252 decoded in a streaming Python pipe, as
    DuckDB 2.0 has no such decoder built in; Excel through fastexcel)."""
    import duckdb
    import fastexcel

    from pipelines.contracts import SINGLE_BYTE, load_contracts

    contracts = load_contracts()
    con = duckdb.connect()
    started = time.perf_counter()
    rows = {}
    for name, contract in contracts.items():
        folder = landing / name / day.isoformat()
        if (partners and name not in partners) or not (folder / "_SUCCESS").exists():
            continue
        for f in sorted(folder.iterdir()):
            if f.name in ("_SUCCESS", "manifest.json"):
                continue
            table = f"t_{len(rows)}"
            path = str(f).replace("'", "''")
            if contract.format == "csv" and contract.csv and contract.csv.encoding in SINGLE_BYTE:
                decoder = codecs.getincrementaldecoder(SINGLE_BYTE[contract.csv.encoding])()
                import io

                out = io.BytesIO()
                with open(f, "rb") as handle:
                    while chunk := handle.read(1 << 20):
                        out.write(decoder.decode(chunk).encode())
                out.seek(0)
                con.read_csv(out, header=True, sep=contract.csv.separator, all_varchar=True).create(
                    table
                )
            elif contract.format == "csv":
                sep = contract.csv.separator if contract.csv else ","
                con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}', all_varchar=true, header=true, sep='{sep}')")  # fmt: skip
            elif contract.format == "jsonl":
                con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_json('{path}', format='newline_delimited')")  # fmt: skip
            elif contract.format == "parquet":
                con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{path}')")
            elif contract.format == "excel" and contract.excel:
                sheet = fastexcel.read_excel(str(f)).load_sheet(
                    contract.excel.sheet, header_row=contract.excel.header_row - 1, dtypes="string"
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
    from flows.server import api_for_this_run
    from pipelines.quality.validate import import_gx

    started = time.perf_counter()
    # the temporary server `umkm` runs with, started apart (the goals exclude it), importing
    # Great Expectations meanwhile as `umkm` does
    with api_for_this_run(while_starting=import_gx):
        from prefect import flow as prefect_flow

        @prefect_flow(name="bench-warmup", persist_result=False)
        def warmup() -> None:
            return None

        warmup()
        server = time.perf_counter() - started
        from flows.runs import PartnerDaysFailed, backfill

        started = time.perf_counter()
        try:
            result = backfill(start=start, end=end, partners=partners)
        except PartnerDaysFailed as failed:
            result = failed.result
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "server_seconds": round(server, 2),
            "stages": result.pop("seconds", {}), "result": result}  # fmt: skip


def plain(start: date, end: date, partners: list[str] | None) -> dict[str, object]:
    from pipelines.quality.validate import import_gx
    from pipelines.run.core import run_plain
    from pipelines.settings import Settings

    import_gx()  # outside the timing, as the flow step imports it while its server starts
    started = time.perf_counter()
    summary = run_plain(Settings(), start, end, partners)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "result": {
            "loaded": summary.count("loaded"),
            "unchanged": summary.count("unchanged"),
            "failed": summary.count("failed"),
        },
        "stages": summary.seconds,
        "largest": _largest_day(summary),
    }


def _largest_day(summary) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The stages of the run's largest partner-day (for the validation share of a partner-day)."""
    steps = [s for s in summary.steps if s.rows_read]
    if not steps:
        return {}
    big = max(steps, key=lambda s: s.rows_read)
    return {"label": big.label, "rows": big.rows_read, "seconds": big.seconds}


def main(argv: list[str]) -> int:
    kind, *args = argv
    if kind == "duckdb":
        out = duckdb_alone(Path(args[0]), date.fromisoformat(args[1]), args[2:] or None)
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
