"""`umkm`: the thin door to the flows (see ../shared/README.md and the README).

Exit status: 0 when every delivered partner-day was loaded or unchanged; 1 when any failed
(the others are still loaded and published); 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from flows import env

if TYPE_CHECKING:
    from pipelines.synthetic.landing import GenerateSummary

DEMO_DIR = Path("demo")
DEMO_START, DEMO_END = date(2024, 1, 1), date(2024, 2, 29)
DEMO_MERCHANTS = 3000


class UsageError(Exception):
    """Bad flags or configuration: exit status 2."""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="umkm", description="UMKM onboarding pipeline")
    p.add_argument(
        "--landing",
        help="landing area: a folder, s3://bucket/prefix, sftp://host/path (env UMKM_LANDING)",
    )
    p.add_argument("--warehouse", type=Path, help="working DuckDB file (env UMKM_WAREHOUSE)")
    p.add_argument("--publish", type=Path, help="published DuckDB file for BI (env UMKM_PUBLISH)")
    p.add_argument("--contracts", type=Path, help="partner contracts folder (env UMKM_CONTRACTS)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="make a demo landing area, run everything on it, print the result")
    run = sub.add_parser("run", help="the nightly job for one export date")
    run.add_argument("--date", type=_date, help="export date (default: yesterday, Asia/Jakarta)")
    run.add_argument("--partner", action="append", help="only this partner (repeatable)")
    back = sub.add_parser("backfill", help="every delivered partner-day in a date range")
    back.add_argument("--start", type=_date, required=True)
    back.add_argument("--end", type=_date, required=True)
    back.add_argument("--partner", action="append", help="only this partner (repeatable)")
    gen = sub.add_parser("generate", help="write a synthetic landing area")
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--start", type=_date, required=True)
    gen.add_argument("--end", type=_date, required=True)
    gen.add_argument("--merchants", type=int, default=2000, help="number of businesses")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--faults", action="store_true", help="inject the defects of partners.md")
    status = sub.add_parser("status", help="latest progress, partner loads, freshness")
    exp = sub.add_parser(
        "explain", help="how a published figure is made and how it moved (reads the warehouse)"
    )
    exp.add_argument("--date", type=_date, required=True, help="the day (as_of_date) to explain")
    exp.add_argument(
        "--province", help="a province's figure instead (2-digit code, name, or unknown)"
    )
    exp.add_argument("--partner", help="only this partner's partner-days under each publication")
    rep = sub.add_parser("report", help="progress chart against the target trajectory")
    rep.add_argument("--out", type=Path, help="PNG path (an HTML page is written beside it)")
    from pipelines.reporting.language import DEFAULT, codes

    for reader in (status, rep):
        reader.add_argument("--lang", choices=codes(), default=DEFAULT,
                            help="language of labels, numbers and dates (id: Bahasa Indonesia)")  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    for name in ("landing", "warehouse", "publish", "contracts"):
        if getattr(args, name) is not None:
            os.environ[f"UMKM_{name.upper()}"] = str(getattr(args, name))
    env.apply()
    try:
        if args.command in ("demo", "run", "backfill", "generate"):
            _check_contracts()
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"umkm: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _check_contracts() -> None:
    """Load the partner contracts first: a broken one is a configuration error (status 2) that
    names the file, the field and the values it allows, before any run starts."""
    from pipelines.contracts import ContractError, load_contracts

    try:
        load_contracts()
    except ContractError as exc:
        raise UsageError(f"contract refused: {exc}") from None


def _run_flow(kind: str, **params: object) -> int:
    from pipelines.intake.remote import LandingUnavailable
    from pipelines.run.lock import WarehouseBusy
    from pipelines.run.stage import RunAborted
    from pipelines.settings import KeyMissing, Settings

    if Settings().pii_key is None and not os.environ.get("PREFECT_API_URL"):
        # no key in the environment and no server that could hold the Secret block: say so now
        raise UsageError(
            "UMKM_PII_KEY is not set: the pipeline refuses to read personal data without a "
            "pseudonymisation key (set it, or the Prefect Secret block umkm-pii-key on your server)"
        )
    from flows.server import api_for_this_run
    from pipelines.quality.validate import import_gx

    started = time.perf_counter()
    try:
        # before Prefect is imported: it reads its settings then; Great Expectations is
        # imported while a temporary server starts
        with api_for_this_run(while_starting=import_gx):
            from flows import runs
            from flows.progress import bar

            try:
                with bar(f"{kind}: partner-days"):
                    result = (runs.nightly if kind == "run" else runs.backfill)(**params)
            except runs.PartnerDaysFailed as failed:
                result = failed.result
    except (KeyMissing, ValueError, PermissionError, LandingUnavailable) as exc:
        raise UsageError(str(exc)) from None
    except (RunAborted, WarehouseBusy) as exc:
        # the machine failed the run (disk full, out of memory) or another run held the warehouse
        # too long: nothing was half written; the next run, once the cause is gone, completes
        print(f"umkm: the {kind} stopped: {exc}", file=sys.stderr)
        return 1
    print(
        f"\n{kind}: {result['loaded']} loaded, {result['unchanged']} unchanged, {result['failed']} failed, "
        f"{result['missing']} not delivered (no _SUCCESS) in {time.perf_counter() - started:.1f} s"
    )
    for line in result["failures"]:
        print(f"  failed: {line}")
    for line in result.get("warnings", []):
        print(f"  warning: {line}")
    if result.get("moved"):
        print(result["moved"])
    from pipelines.reporting.summary import national_line

    print(national_line(Settings().publish) or "nothing published yet")
    return int(result["exit_status"])


def cmd_run(args: argparse.Namespace) -> int:
    return _run_flow("run", export_date=args.date, partners=args.partner)


def cmd_backfill(args: argparse.Namespace) -> int:
    if args.end < args.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    return _run_flow("backfill", start=args.start, end=args.end, partners=args.partner)


def cmd_generate(args: argparse.Namespace) -> int:
    if args.end < args.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    if args.merchants < 1:
        raise UsageError("--merchants must be at least 1")
    started = time.perf_counter()
    summary = _generate(args.out, args.start, args.end, args.merchants, args.seed, args.faults,
                        lines=True)  # fmt: skip
    print(f"generated {summary} in {time.perf_counter() - started:.1f} s")
    return 0


def _generate(out: Path, start: date, end: date, merchants: int, seed: int, faults: bool,
              lines: bool) -> GenerateSummary:  # fmt: skip
    """The generator with a progress bar on a terminal; elsewhere a plain line per partner-day
    when `lines`. Partner-days with faults are printed above the bar."""
    from flows.progress import bar
    from pipelines.synthetic import generate
    from pipelines.synthetic.landing import schedule

    total = sum(len(days) for days in schedule(start, end).values())
    with bar("generating partner-days") as tick:
        done = 0

        def said(line: str) -> None:
            nonlocal done
            done += 1
            if tick is None:
                if lines:
                    print(line, flush=True)
            else:
                tick(done, total, line.split(":")[0])  # the partner-day
                if "[faults:" in line:
                    print(line)

        return generate(
            out, start, end, merchants=merchants, seed=seed, faults=faults, progress=said
        )


def demo_key(directory: Path) -> str:
    """A generated key kept in a local file (0600), for the demo only."""
    path = directory / "pii.key"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def cmd_demo(args: argparse.Namespace) -> int:
    base = DEMO_DIR.resolve()
    os.environ.setdefault("UMKM_LANDING", str(base / "landing"))
    os.environ.setdefault("UMKM_WAREHOUSE", str(base / "warehouse" / "umkm.duckdb"))
    os.environ.setdefault("UMKM_PUBLISH", str(base / "published" / "umkm.duckdb"))
    os.environ.setdefault("PREFECT_HOME", str(base / "prefect"))
    # the demo's temporary server has no UI to read logs in; shipping them costs a third of the run
    os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
    if not os.environ.get("UMKM_PII_KEY"):
        os.environ["UMKM_PII_KEY"] = demo_key(base)
        print(f"umkm demo: using a generated pseudonymisation key in {base / 'pii.key'} (demo only; "
              "real runs need UMKM_PII_KEY)")  # fmt: skip
    landing = Path(os.environ["UMKM_LANDING"])
    if not landing.exists():
        print(
            f"umkm demo: generating {DEMO_MERCHANTS:,} businesses' exports, {DEMO_START} to {DEMO_END}, in {landing}"
        )
        _generate(
            landing, DEMO_START, DEMO_END, DEMO_MERCHANTS, seed=2024, faults=False, lines=False
        )
    status = _run_flow("backfill", start=DEMO_START, end=DEMO_END, partners=None)
    from pipelines.reporting.report import write_report

    write_report(None)  # the chart of national progress against the target trajectory
    return status


def cmd_status(args: argparse.Namespace) -> int:
    from pipelines.reporting.language import language
    from pipelines.reporting.status import show

    return show(lang=language(args.lang))


def cmd_explain(args: argparse.Namespace) -> int:
    from pipelines.reporting.explain import show

    return show(args.date, args.province, args.partner)


def cmd_report(args: argparse.Namespace) -> int:
    from pipelines.reporting.language import language
    from pipelines.reporting.report import write_report

    return write_report(args.out, language(args.lang))


COMMANDS = {
    "demo": cmd_demo,
    "run": cmd_run,
    "backfill": cmd_backfill,
    "generate": cmd_generate,
    "status": cmd_status,
    "report": cmd_report,
    "explain": cmd_explain,
}

if __name__ == "__main__":
    sys.exit(main())
