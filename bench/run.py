"""The national-scale benchmark (`make bench`): at 1, 3 and 10 million listings (30 million with
`--with-30m`), a snapshot day, the next night and its delta, measured side by side on this
machine; ratios against the goals and a scaling table go to bench/out/results.md.

    python -m bench.run [--sizes 1000000,3000000,10000000] [--with-30m] [--delta-records 100000]

Steps, each in its own process (so each peak memory is its own), per size:
  B          DuckDB alone reads every file of the snapshot day (every byte parsed once)
  B night    DuckDB alone reads every file of the next night (all partners' files that day)
  full       the backfill flow over the snapshot day, from an empty warehouse
  delta      the flow for the next day's delta partners on a copy of that warehouse
  night      the flow for the whole next night (all partners, snapshots included) on another copy
  unchanged  the backfill flow over the snapshot day again (every partner-day unchanged)
  plain      the same run core without Prefect over the snapshot day (largest size up to 10M
             only: Prefect's share, and the validation share of the largest partner-day)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

SNAPSHOT_DAY = date(2024, 9, 30)  # a Monday and a month end: all six partners deliver
DELTA_DAY = date(2024, 10, 1)
LISTINGS_PER_BUSINESS = 1.404  # what the generator's partner mix gives
# records on the delta day per business and per unit of change rate (measured)
DELTA_SHARE = 0.858


def delta_partners() -> list[str]:
    from pipelines.contracts import load_contracts

    return [
        p for p, c in load_contracts().items() if c.delivery == "delta" and c.cadence == "daily"
    ]


def machine() -> dict[str, object]:
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))  # fmt: skip
    return {"cores": os.cpu_count(), "memory_gib": round(mem / 1024 / 1024, 1)}


def generate_landing(
    landing: Path, listings: int, delta_records: int, seed: int
) -> dict[str, object]:
    from pipelines.synthetic import formats, generate

    merchants = round(listings / LISTINGS_PER_BUSINESS)
    # re-send enough listings as changed on the delta day to reach the delta size asked for
    rate = min(0.5, delta_records / (merchants * DELTA_SHARE))
    formats.changed_mask.__defaults__ = (rate,)
    started = time.perf_counter()
    summary = generate(landing, SNAPSHOT_DAY, DELTA_DAY, merchants=merchants, seed=seed)
    return {"merchants": merchants, "listings": sum(summary.listings.values()),
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip


def step(kind: str, *args: str, env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "bench.steps", kind, *args], env=env, capture_output=True, text=True)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"bench step {kind} failed: {out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"    {kind} {' '.join(args)}: {result['seconds']} s, peak {result['peak_rss_mib']} MiB", flush=True)  # fmt: skip
    return result


def records_on(landing: Path, day: date, partners: list[str]) -> int:
    """Records the partners delivered on `day` (from manifests, else lines less the header)."""
    total = 0
    for partner in partners:
        folder = landing / partner / day.isoformat()
        manifest = folder / "manifest.json"
        if manifest.exists():
            total += sum(e["rows"] for e in json.loads(manifest.read_text())["files"])
        else:
            for f in folder.iterdir():
                if f.name != "_SUCCESS":
                    total += sum(1 for _ in f.open("rb")) - 1
    return total


def measure(size: int, args: argparse.Namespace, out: Path, with_plain: bool) -> dict[str, object]:
    landing = out / f"landing-{size}-{args.seed}"
    info: dict[str, object] = {"listings_asked": size}
    if not (landing / "_generator" / "world.json").exists():
        shutil.rmtree(landing, ignore_errors=True)
        print(f"  generating {size:,} listings into {landing} ...", flush=True)
        info["generate"] = generate_landing(landing, size, args.delta_records, args.seed)
    world = json.loads((landing / "_generator" / "world.json").read_text())
    info["listings"] = sum(world["listings"].values())
    deltas = delta_partners()
    info["delta_records"] = records_on(landing, DELTA_DAY, deltas)
    runs = out / "runs" / str(size)
    shutil.rmtree(runs, ignore_errors=True)
    base = {**os.environ, "UMKM_LANDING": str(landing), "UMKM_PII_KEY": "bench-key", "PYTHONPATH": str(Path.cwd()),
            "PREFECT_LOGGING_TO_API_ENABLED": "false"}  # fmt: skip

    def env_for(name: str) -> dict[str, str]:
        (runs / name / "prefect").mkdir(parents=True, exist_ok=True)
        return {**base, "UMKM_WAREHOUSE": str(runs / name / "w.duckdb"), "UMKM_PUBLISH": str(runs / name / "p.duckdb"),
                "PREFECT_HOME": str(runs / name / "prefect")}  # fmt: skip

    def copy(src: str, dst: str) -> None:
        (runs / dst).mkdir(parents=True, exist_ok=True)
        for name in ("w.duckdb", "p.duckdb"):
            shutil.copy2(runs / src / name, runs / dst / name)

    snap, night = SNAPSHOT_DAY.isoformat(), DELTA_DAY.isoformat()
    m: dict[str, dict[str, object]] = {}
    m["B"] = step("duckdb", str(landing), snap, env=base)
    m["B_night"] = step("duckdb", str(landing), night, env=base)
    m["full"] = step("flow", snap, snap, env=env_for("full"))
    copy("full", "delta")
    copy("full", "night")
    m["delta"] = step("flow", night, night, *deltas, env=env_for("delta"))
    m["night"] = step("flow", night, night, env=env_for("night"))
    m["unchanged"] = step("flow", snap, snap, env=env_for("full"))
    if with_plain:
        m["plain"] = step("plain", snap, snap, env=env_for("plain"))
    info["measurements"] = m
    shutil.rmtree(runs, ignore_errors=True)  # warehouses of national size: not kept
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.run")
    p.add_argument("--sizes", default="1000000,3000000,10000000")
    p.add_argument("--with-30m", action="store_true", help="also 30 million listings (long)")
    p.add_argument("--delta-records", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("bench/out"))
    args = p.parse_args(argv)
    out = args.out.resolve()
    sizes = [int(s) for s in args.sizes.split(",")] + ([30_000_000] if args.with_30m else [])
    reference = max((s for s in sizes if s <= 10_000_000), default=sizes[-1])
    results: dict[str, object] = {"machine": machine(), "sizes": {}}
    print(
        f"benchmark at {', '.join(f'{s:,}' for s in sizes)} listings; {results['machine']}",
        flush=True,
    )
    for size in sizes:
        print(f"  {size:,} listings", flush=True)
        results["sizes"][str(size)] = measure(size, args, out, with_plain=size == reference)  # type: ignore[index]
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    text = report(results, reference)
    (out / "results.md").write_text(text)
    print(text)
    return 0


def report(results: dict[str, object], reference: int) -> str:
    sizes: dict[str, dict[str, object]] = results["sizes"]  # type: ignore[assignment]
    ref = sizes[str(reference)]
    m: dict[str, dict[str, object]] = ref["measurements"]  # type: ignore[assignment]
    smallest = sizes[min(sizes, key=int)]["measurements"]  # type: ignore[index]

    def s(step: dict[str, object], key: str = "seconds") -> float:
        return float(step[key])  # type: ignore[arg-type]

    peak = max(s(v, "peak_rss_mib") for v in m.values()) / 1024
    ratios = {
        "full_over_B": round(s(m["full"]) / s(m["B"]), 2),
        "night_over_B_night": round(s(m["night"]) / s(m["B_night"]), 2),
        "delta_over_full": round(s(m["delta"]) / s(m["full"]), 3),
        "delta_growth": round(s(m["delta"]) / s(smallest["delta"]), 2),  # type: ignore[arg-type]
        "unchanged_seconds": s(m["unchanged"]),
        "peak_rss_gib": round(peak, 2),
    }
    if "plain" in m:
        ratios["prefect_share"] = round(max(0.0, (s(m["full"]) - s(m["plain"])) / s(m["full"])), 3)
        largest = m["plain"].get("largest") or {}
        secs: dict[str, float] = largest.get("seconds", {})  # type: ignore[union-attr, assignment]
        ratios["validation_share_of_largest_day"] = round(
            secs.get("validate", 0) / max(sum(secs.values()), 1e-9), 3
        )
    goals = [
        ("full backfill at most 3x B (stretch 2x)", f"{ratios['full_over_B']}x", ratios["full_over_B"] <= 3),
        ("a real night at most 3x B of its files", f"{ratios['night_over_B_night']}x", ratios["night_over_B_night"] <= 3),
        ("nightly delta at most 1/20 of the full backfill", f"{ratios['delta_over_full']}", ratios["delta_over_full"] <= 0.05),
        ("delta on the largest warehouse at most 1.5x on the smallest", f"{ratios['delta_growth']}x", ratios["delta_growth"] <= 1.5),
        ("unchanged rerun under 2 s (server start excluded)", f"{ratios['unchanged_seconds']} s", ratios["unchanged_seconds"] < 2),
        (f"peak memory under 6 GiB at {reference:,} listings", f"{ratios['peak_rss_gib']} GiB", ratios["peak_rss_gib"] < 6),
    ]  # fmt: skip
    if "prefect_share" in ratios:
        goals.append(
            (
                "Prefect's share under 3% of a full run",
                f"{ratios['prefect_share']:.1%}",
                ratios["prefect_share"] < 0.03,
            )
        )
        goals.append(("validation under 15% of a partner-day (the largest)", f"{ratios['validation_share_of_largest_day']:.1%}",
                      ratios["validation_share_of_largest_day"] < 0.15))  # fmt: skip
    if "30000000" in sizes:
        m30 = sizes["30000000"]["measurements"]  # type: ignore[index]
        p30 = max(s(v, "peak_rss_mib") for v in m30.values()) / 1024  # type: ignore[attr-defined]
        goals.append(("30 million listings complete under 16 GiB", f"{p30:.2f} GiB", p30 < 16))
    machine_info: dict[str, object] = results["machine"]  # type: ignore[assignment]
    lines = [
        f"# Benchmark (`make bench`), {machine_info['cores']} cores, {machine_info['memory_gib']} GiB",
        "",
        "| goal | measured | met |",
        "|---|---:|---|",
        *[f"| {g} | {v} | {'yes' if ok else 'NO'} |" for g, v, ok in goals],
        "",
        "Scaling (seconds; stages summed over partner-days; peak RSS of the step's process):",
        "",
        "| listings | delta records | B | full | read | transform | validate | load | resolve | publish | full peak GiB | delta | night (B night) | unchanged |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for _size, info in sizes.items():
        mm: dict[str, dict[str, object]] = info["measurements"]  # type: ignore[assignment]
        st: dict[str, float] = mm["full"].get("stages", {})  # type: ignore[assignment]
        lines.append(
            f"| {int(info['listings']):,} | {int(info['delta_records']):,} | {mm['B']['seconds']} | {mm['full']['seconds']} | "  # type: ignore[call-overload]
            f"{st.get('read', '')} | {st.get('transform', '')} | {st.get('validate', '')} | {st.get('load', '')} | "
            f"{st.get('resolve', '')} | {st.get('publish', '')} | {s(mm['full'], 'peak_rss_mib') / 1024:.2f} | "
            f"{mm['delta']['seconds']} | {mm['night']['seconds']} ({mm['B_night']['seconds']}) | {mm['unchanged']['seconds']} |"
        )
    lines += ["", f"Ratios: {json.dumps(ratios)}", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
