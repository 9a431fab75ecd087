"""Great Expectations is the engine of record: the contract's rules on the canonical columns, run
by Checkpoints per partner-day, results stored and rendered as GX's own Data Docs site."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.run.core import run_plain
from pipelines.settings import Settings
from tests import builders as b
from tests.conftest import TEST_KEY
from tests.test_runs import NIKS, row

PERSONAL = [*NIKS, "81234567890", "0812-3456-7890", "6281234567890"]


def deliver_three_days(settings: Settings) -> None:
    """A clean day, a day with every kind of defect, and a day refused for its manifest."""
    b.pasarnusa(settings.landing, "2024-01-01",
                [row("PN1", NIKS[0], "2023-06-01"), row("PN2", NIKS[1], "2023-07-01")])  # fmt: skip
    b.pasarnusa(settings.landing, "2024-01-02", [
        row("PN1", NIKS[0], "2023-06-01"), row("PN2", NIKS[1], "2023-07-01", owner_phone="0812-3456-7890"),
        row("PN3", "", "2024-01-02"),  # no identifier: quarantined
        row("", NIKS[3], "2023-01-01"),  # no listing key, and no valid identifier either: one reason
        row("PN4", NIKS[2], "2031-01-01"),  # joined in the future: quarantined
        row("PN6", NIKS[2], "2008-12-31"),  # joined before 2009: quarantined
        row("PN7", NIKS[2], "not a date"),  # unparseable: quarantined
        row("PN5", NIKS[3], "2023-01-01", regency_code="99.99"),  # unknown region: warning
        *[row(f"PN{n}", NIKS[n % 4], "2022-02-02") for n in range(8, 11)],
    ])  # fmt: skip
    b.pasarnusa(settings.landing, "2024-01-03",
                [row("PN1", NIKS[0], "2023-06-01")], rows_in_manifest=5)  # fmt: skip


@pytest.fixture(scope="module")
def three_days_run(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The three days delivered and run once, for the tests that only read what it wrote."""
    root = tmp_path_factory.mktemp("docs")
    settings = Settings(landing=root / "landing", warehouse=root / "warehouse" / "umkm.duckdb",
                        publish=root / "published" / "umkm.duckdb", pii_key=TEST_KEY)  # fmt: skip
    deliver_three_days(settings)
    summary = run_plain(settings, date(2024, 1, 1), date(2024, 1, 3))
    assert [s.status for s in summary.steps] == ["loaded", "loaded", "failed"], [
        s.detail for s in summary.steps
    ]
    return settings


def stored_results(gx_dir: Path) -> dict[str, dict]:
    """The stored GX validation results, by suite name and run name (the export date)."""
    out = {}
    for path in (gx_dir / "uncommitted" / "validations").rglob("*.json"):
        result = json.loads(path.read_text())
        meta = result["meta"]
        out[f"{result['suite_name']} {meta['run_id']['run_name']}"] = result
    return out


def test_suites_are_the_contract_rules_on_canonical_columns_and_agree_with_sql(
    three_days_run: Settings,
) -> None:
    """Each record expectation counts exactly the records the SQL rules quarantined for its reason."""
    settings = three_days_run
    results = stored_results(settings.gx_dir)
    assert set(results) == {
        "pasarnusa_delivery 2024-01-01", "pasarnusa_records 2024-01-01",
        "pasarnusa_delivery 2024-01-02", "pasarnusa_records 2024-01-02",
        "pasarnusa_delivery 2024-01-03",  # refused: the delivery suite has a result too
    }  # fmt: skip
    # filed by the Checkpoint's action, named after its partner-day
    assert results["pasarnusa_records 2024-01-02"]["meta"]["batch_kwargs"] == {
        "data_asset_name": "pasarnusa 2024-01-02 records"
    }
    day2 = {
        r["expectation_config"]["meta"]["umkm_rule"]: r
        for r in results["pasarnusa_records 2024-01-02"]["results"]
    }
    counts = {k: v["result"].get("unexpected_count", v["result"].get("observed_value"))
              for k, v in day2.items()}  # fmt: skip
    assert counts["every record is well formed"] == 0
    assert counts["every record has a listing key"] == 1
    assert counts["every record has a valid identifier (NIB, NIK or phone)"] == 1
    assert counts["every record has a joined date"] == 1
    assert counts["joined dates within [2009-01-01, export date]"] == 2
    assert counts["quarantined share within threshold"] == 5
    # the rules run on the canonical columns, not on booleans computed beforehand: the record
    # rules as SQL on them, the domains as column expectations
    kwargs = {k: v["expectation_config"]["kwargs"] for k, v in day2.items()}
    queries = " ".join(
        k["unexpected_rows_query"] for k in kwargs.values() if "unexpected_rows_query" in k
    )
    for column in ("malformed", "is_deletion", "listing_key", "nib", "nik_ps", "phone_ps",
                   "joined_date", "export_date", "province_code", "regency_code"):  # fmt: skip
        assert column in queries, column
    assert not re.search(r"has_identifier|quarantined\b", queries)
    assert {k.get("column") for k in kwargs.values()} >= {
        "quarantine_rule",
        "scale",
        "kbli_category",
    }
    joined = kwargs["joined dates within [2009-01-01, export date]"]["unexpected_rows_query"]
    assert "joined_date < DATE '2009-01-01' OR joined_date > export_date" in joined
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    quarantined = con.execute(
        "SELECT rows_quarantined FROM partner_loads WHERE export_date = '2024-01-02'"
    ).fetchall()
    reasons = con.execute(
        "SELECT rule, count(*) FROM quarantine WHERE export_date = '2024-01-02' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    con.close()
    assert quarantined == [(5,)]
    assert reasons == [
        ("joined date after the export date", 1), ("joined date before 2009-01-01", 1),
        ("joined date unparseable", 1), ("no listing key", 1), ("no valid identifier", 1),
    ]  # fmt: skip
    refused = results["pasarnusa_delivery 2024-01-03"]["results"]
    assert [r["success"] for r in refused] == [False, True]
    assert "manifest.json says 5" in json.dumps(refused)


def test_data_docs_site_has_a_page_per_result_and_no_personal_values(
    three_days_run: Settings,
) -> None:
    """The GX site indexes every result, refused days included, with dates shown as dates."""
    settings = three_days_run
    docs = settings.gx_dir / "data_docs"
    index = (docs / "index.html").read_text()
    pages = sorted((docs / "validations").rglob("*.html"))
    assert len(pages) == 5
    for page in pages:
        assert str(page.relative_to(docs)) in index
    assert sorted(p.stem for p in (docs / "expectations").glob("*.html")) == [
        "pasarnusa_delivery", "pasarnusa_records",
    ]  # fmt: skip
    day2 = next(p for p in pages if "pasarnusa_records" in str(p) and "2024-01-02" in str(p))
    text = day2.read_text()
    assert "2009-01-01" in text and "2024-01-02" in text
    assert not re.search(r"\b14245\b|\b19724\b", text), "dates, not day numbers"
    for path in settings.gx_dir.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".json"}:
            content = path.read_text()
            for secret in PERSONAL:
                assert secret not in content, f"{secret} in {path}"


def test_a_later_run_renders_only_its_own_results_and_indexes_them_all(settings: Settings) -> None:
    """Pages of earlier runs are left as they are; the index lists every stored result."""
    deliver_three_days(settings)
    run_plain(settings, date(2024, 1, 1), date(2024, 1, 3))
    docs = settings.gx_dir / "data_docs"
    before = {p: p.stat().st_mtime_ns for p in (docs / "validations").rglob("*.html")}
    b.pasarnusa(settings.landing, "2024-01-04", [row("PN1", NIKS[0], "2023-06-01")])
    run_plain(settings, date(2024, 1, 4), date(2024, 1, 4))
    after = {p: p.stat().st_mtime_ns for p in (docs / "validations").rglob("*.html")}
    assert {p: after[p] for p in before} == before
    assert len(after) == len(before) + 2
    index = (docs / "index.html").read_text()
    assert all(str(p.relative_to(docs)) in index for p in after)


def test_a_result_left_half_written_by_a_killed_run_does_not_stop_the_next(
    settings: Settings,
) -> None:
    """A stored result that does not parse is dropped; the site builds with the suites made
    from the contract."""
    b.pasarnusa(settings.landing, "2024-01-01", [row("PN1", NIKS[0], "2023-06-01")])
    run_plain(settings, date(2024, 1, 1), date(2024, 1, 1))
    result = next((settings.gx_dir / "uncommitted" / "validations").rglob("*.json"))
    result.write_text('{"results": [')
    b.pasarnusa(settings.landing, "2024-01-02", [row("PN1", NIKS[0], "2023-06-01")])
    summary = run_plain(settings, date(2024, 1, 2), date(2024, 1, 2))
    assert [s.status for s in summary.steps] == ["loaded"], [s.detail for s in summary.steps]
    index = (settings.gx_dir / "data_docs" / "index.html").read_text()
    assert "pasarnusa_records" in index and "pasarnusa_delivery" in index
    assert not result.exists()


def test_a_partner_whose_contract_changed_keeps_validating_and_its_suite_page_is_in_force(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A contract version that changes a rule (the quarantine threshold) from a date: the suite
    page shows the version in force on the newest result's day, and a later run in the same
    process validates with it (the Checkpoint made on a replaced suite is made again)."""
    import shutil

    import yaml

    contracts = tmp_path / "contracts"
    shutil.copytree(Path(__file__).resolve().parent.parent / "schemas" / "partners", contracts)
    path = contracts / "pasarnusa.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["versions"] = [{"from": "2024-01-02", "quarantine_threshold": 0.75}]
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("UMKM_CONTRACTS", str(contracts))
    for day in ("2024-01-01", "2024-01-02"):
        b.pasarnusa(settings.landing, day, [row("PN1", NIKS[0], "2023-06-01")])
    first = run_plain(settings, date(2024, 1, 1), date(2024, 1, 2))
    assert [s.status for s in first.steps] == ["loaded", "loaded"], [s.detail for s in first.steps]
    page = (settings.gx_dir / "data_docs" / "expectations" / "pasarnusa_records.html").read_text()
    assert re.search(r">\s*25\s*<", page), "the gate of the version in force: at least 25% null"
    b.pasarnusa(settings.landing, "2024-01-03", [row("PN1", NIKS[0], "2023-06-01")])
    second = run_plain(settings, date(2024, 1, 3), date(2024, 1, 3))
    assert [s.status for s in second.steps] == ["loaded"], [s.detail for s in second.steps]
