"""The pipeline's published tables against a naive reference reading of metrics.md.

Random small worlds of canonical partner-day records (tests/strategies.py) go through the real
warehouse, resolve and publish functions and must give exactly the tables that
tests/reference_model.py computes by brute force; plus the properties metrics.md promises
(order independence, idempotent reloads, incremental = full identity resolution, invariants).
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterable
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from pipelines import canonical, targets
from pipelines.contracts import load_contracts
from pipelines.publish import build as publish
from pipelines.quality.normalise import listing_day_sql
from pipelines.warehouse import load as loading
from pipelines.warehouse import resolve
from pipelines.warehouse import store as warehouse
from tests import strategies as gen
from tests.reference_model import (
    TABLE_COLUMNS,
    PartnerDay,
    reference_tables,
    target_on,
)

CONTRACTS = load_contracts()
SNAPSHOTS = [
    p for p, c in CONTRACTS.items() if c.delivery == "snapshot" and c.channel == "marketplace"
]
EVENTS = [p for p, c in CONTRACTS.items() if c.events]

# the dtypes pipelines/normalise.py produces
RECORD_SCHEMA = {
    "partner": pl.String, "export_date": pl.Date, "file": pl.String, "file_index": pl.Int32,
    "row_number": pl.Int64, "listing_key": pl.String, "record_key": pl.String,
    "tie_name": pl.String, "tie_nib": pl.String, "is_deletion": pl.Boolean, "nib": pl.String,
    "nik_ps": pl.String, "phone_ps": pl.String, "province_code": pl.String,
    "regency_code": pl.String, "scale": pl.String, "kbli": pl.String,
    "kbli_category": pl.String, "joined_date": pl.Date, "status": pl.String,
    "turnover_idr": pl.Decimal(18, 2), "products": pl.Int64, "quarantine_rule": pl.String,
    "quarantine_column": pl.String, "excerpt": pl.String, "warnings": pl.List(pl.String),
    "malformed": pl.String,
}  # fmt: skip
assert list(RECORD_SCHEMA) == canonical.names(canonical.record_columns())
VALIDATION_SCHEMA = {
    "expectation": pl.String, "column_name": pl.String, "success": pl.Boolean,
    "element_count": pl.Int64, "unexpected_count": pl.Int64, "description": pl.String,
}  # fmt: skip


def examples(n: int) -> settings:
    """Hypothesis settings: `n` examples (times $PROPERTY_SCALE, for a deeper run), no deadline
    (each example builds a DuckDB file)."""
    return settings(
        max_examples=n * int(os.environ.get("PROPERTY_SCALE", "1")),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        print_blob=True,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    )


# --------------------------------------------------------------------------------------------
# driving the real pipeline
# --------------------------------------------------------------------------------------------


class Warehouse:
    """A fresh DuckDB warehouse file per example, loaded through the pipeline's functions."""

    counter = itertools.count()

    def __init__(self, directory: Path) -> None:
        self.path = directory / f"warehouse-{next(self.counter)}.duckdb"
        self.con = warehouse.connect(self.path)

    def load(self, days: Iterable[PartnerDay]) -> None:
        for pd in days:
            load_partner_day(self.con, pd)

    def resolve(self) -> None:
        """Refresh the touched listings and resolve identities in one transaction, as
        runner.publish_if_needed does."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            resolve.refresh_listings(self.con, SNAPSHOTS, EVENTS)
            resolve.resolve_identities(self.con)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def tables(self, delivered: dict[str, set[date]]) -> dict[str, list[tuple]]:
        return built_tables(self.con, delivered)

    def publish(self, delivered: dict[str, set[date]]) -> dict[str, list[tuple]]:
        self.resolve()
        return self.tables(delivered)

    def close(self) -> None:
        self.con.close()


def built_tables(
    con: duckdb.DuckDBPyConnection, delivered: dict[str, set[date]]
) -> dict[str, list[tuple]]:
    """The published tables, built and audited as publishing does, into a scratch database."""
    con.execute("ATTACH ':memory:' AS pub")
    try:
        publish.build(con, CONTRACTS, delivered, "pub")
        assert publish.audit(con, "pub") == []
        return as_rows({t: con.sql(f"SELECT * FROM pub.{t}").pl() for t in publish.TABLES})
    finally:
        con.execute("DETACH pub")


def records_frame(pd: PartnerDay) -> pl.DataFrame:
    return pl.DataFrame([dict(r) for r in pd.records], schema=RECORD_SCHEMA, orient="row")


def outcome(pd: PartnerDay, records: pl.DataFrame | None) -> warehouse.PartnerDayOutcome:
    """The ledger row partner_day.transform would produce for these records."""
    if pd.status == "failed" or records is None:
        counts: tuple[Any, ...] = (pd.rows_read, 0, 0, 0)
    else:
        quarantined = records["quarantine_rule"].is_not_null().sum()
        warned = (records["warnings"].list.len() > 0).sum()
        counts = (records.height, records.height - quarantined, quarantined, warned)
    return warehouse.PartnerDayOutcome(
        pd.partner, pd.export_date, pd.status, *counts, pd.content_sha256, "contract-sha",
        pd.detail, "[]",
    )  # fmt: skip


def load_partner_day(con: duckdb.DuckDBPyConnection, pd: PartnerDay) -> None:
    """Stage the day's canonical records as a stage does (records, listings, validation in a
    database of their own), then load them with the pipeline's loader."""
    assert pd.loaded_at is not None
    if pd.status == "failed":
        loading.save_failure(con, outcome(pd, None), pd.loaded_at)
        return
    contract = CONTRACTS[pd.partner]
    records = records_frame(pd)
    con.execute("ATTACH ':memory:' AS sd")
    try:
        con.register("records_in", records.to_arrow())
        con.execute("CREATE TABLE sd.records AS SELECT * FROM records_in")
        con.unregister("records_in")
        if contract.channel == "marketplace":
            con.execute(f"CREATE TABLE sd.listings AS {listing_day_sql(contract, 'sd.records')}")
        con.execute(
            "CREATE TABLE sd.validation (expectation VARCHAR, column_name VARCHAR, success BOOLEAN, "
            "element_count BIGINT, unexpected_count BIGINT, description VARCHAR)"
        )
        loading.load_partner_day(con, outcome(pd, records), "sd", contract.channel,
                                 contract.delivery == "snapshot", pd.loaded_at)  # fmt: skip
    finally:
        con.execute("DETACH sd")


def as_rows(tables: dict[str, pl.DataFrame]) -> dict[str, list[tuple]]:
    out = {}
    assert set(tables) == set(publish.TABLES)
    for name, frame in tables.items():
        assert frame.columns == TABLE_COLUMNS[name], name
        rows = frame.rows()
        if name == "partner_loads":
            at = frame.columns.index("loaded_at")
            rows = [(*r[:at], r[at].astimezone(UTC), *r[at + 1 :]) for r in rows]
        out[name] = sort_rows(rows)
    return out


def sort_rows(rows: Iterable[tuple]) -> list[tuple]:
    return sorted(rows, key=lambda row: tuple((v is None, v if v is not None else 0) for v in row))


def expected(days: list[PartnerDay], delivered: dict[str, set[date]]) -> dict[str, list[tuple]]:
    """The reference tables, rows sorted."""
    tables = {k: sort_rows(v) for k, v in reference_tables(days, delivered).items()}
    return tables


def assert_tables_equal(actual: dict[str, list[tuple]], wanted: dict[str, list[tuple]]) -> None:
    for name in publish.TABLES:
        assert actual[name] == wanted[name], f"table {name} differs"


def umkm_state(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple], list[tuple]]:
    """The warehouse's derived identity state: UMKM rows and each listing's UMKM."""
    umkm = con.sql("SELECT * FROM umkm ORDER BY ALL").fetchall()
    members = con.sql("SELECT partner, listing_key, umkm_id FROM listings ORDER BY ALL").fetchall()
    return umkm, members


def label(days: list[PartnerDay]) -> None:
    """Hypothesis statistics (--hypothesis-show-statistics): the cases this world holds."""
    for case in sorted(gen.coverage(days)):
        event(case)


# --------------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------------


@examples(20)
@given(world=gen.worlds())
def test_published_tables_equal_the_reference_reading_of_metrics(tmp_path, world):
    """It publishes exactly the tables a by-hand reading of metrics.md gives, and they pass the audit."""
    days, delivered = world
    label(days)
    wh = Warehouse(tmp_path)
    try:
        wh.load(days)
        actual = wh.publish(delivered)
        assert_tables_equal(actual, expected(days, delivered))
        wh.tables(delivered)  # audited there
    finally:
        wh.close()


@examples(7)
@given(world=gen.worlds(), data=st.data())
def test_loading_order_and_repeated_loads_do_not_change_the_tables(tmp_path, world, data):
    """It publishes the same tables whatever the load order (backfills, a day loaded twice, publishes in between)."""
    days, delivered = world
    order = gen.keep_version_order(days, data.draw(st.permutations(days), label="load order"))
    current = gen.current_versions(days)
    for pd in data.draw(st.lists(st.sampled_from(current), max_size=2), label="loaded again"):
        order.insert(data.draw(st.integers(0, len(order))), gen.reloaded(pd))
    publish_after = data.draw(
        st.sets(st.integers(0, len(order) - 1), max_size=3), label="publish after"
    )
    wh = Warehouse(tmp_path)
    try:
        for i, pd in enumerate(order):
            wh.load([pd])
            if i in publish_after:
                wh.publish(delivered)
        assert_tables_equal(wh.publish(delivered), expected(days, delivered))
    finally:
        wh.close()


@examples(5)
@given(world=gen.worlds(), data=st.data())
def test_reloading_a_partner_day_with_identical_records_changes_nothing(tmp_path, world, data):
    """It leaves every published value as it was when a partner-day is reloaded unchanged."""
    days, delivered = world
    again = data.draw(st.sampled_from(gen.current_versions(days)), label="reloaded")
    wh = Warehouse(tmp_path)
    try:
        wh.load(days)
        before = wh.publish(delivered), umkm_state(wh.con)
        wh.load([gen.reloaded(again)])
        assert (wh.publish(delivered), umkm_state(wh.con)) == before
    finally:
        wh.close()


@examples(7)
@given(world=gen.worlds(), data=st.data())
def test_incremental_identity_resolution_equals_a_full_recompute(tmp_path, world, data):
    """It resolves identities incrementally (after more days, in any order) exactly as a full recompute does."""
    days, delivered = world
    order = gen.keep_version_order(days, data.draw(st.permutations(days), label="load order"))
    publish_after = data.draw(
        st.sets(st.integers(0, len(order) - 1), max_size=3), label="publish after"
    )
    wh = Warehouse(tmp_path)
    try:
        for i, pd in enumerate(order):
            wh.load([pd])
            if i in publish_after:
                wh.publish(delivered)
        incremental = wh.publish(delivered)
        incremental_state = umkm_state(wh.con)
    finally:
        wh.close()
    copy = tmp_path / f"full-{wh.path.name}"
    shutil.copy(wh.path, copy)
    con = warehouse.connect(copy)
    try:
        stats = resolve.resolve_identities(con, full=True)
        assert stats.full
        full = built_tables(con, delivered)
        assert umkm_state(con) == incremental_state
    finally:
        con.close()
    assert incremental == full
    assert_tables_equal(incremental, expected(days, delivered))


def test_the_strategy_covers_every_case_the_properties_are_meant_to_exercise():
    """It generates, among four hundred worlds, every case the properties must see."""
    found: set[str] = set()

    @settings(max_examples=400, database=None, derandomize=True, deadline=None)
    @given(world=gen.worlds())
    def collect(world):
        found.update(gen.coverage(world[0]))

    collect()
    assert found >= {
        "failed partner-day", "belanjaku deleted event", "quarantined record with a listing key",
        "chain of three listings with no identifier common to all", "UMKM across partners",
        "shared identifiers across partners", "tie on joined date across partners",
        "tie on joined date between lapakdesa listings", "UMKM online before the programme",
        "unknown province", "unknown scale", "unknown sector", "correction of a joined date",
        "correction of province or scale", "kedaiantar brand with several outlets",
        "listing whose latest record moves its joined date later",
        "snapshot listing that disappears and reappears", "e-catalogue vendor also online",
        "late record with an old joined date", "partner-day delivered again with new content",
    }  # fmt: skip


# --------------------------------------------------------------------------------------------
# hand-written tiny worlds
# --------------------------------------------------------------------------------------------

JUNE_1, JUNE_5, JUNE_10 = date(2020, 6, 1), date(2020, 6, 5), date(2020, 6, 10)
NIB_A, NIB_B = gen.NIBS[0], gen.NIBS[1]
NIK_A = gen.NIKS[0]
PHONE_A = gen.PHONES[0]


def rec(partner: str, export_date: date, key: str | None, joined: date, **values: Any) -> dict:
    """A valid canonical record (unless `quarantine_rule` is given)."""
    return gen.record(partner, export_date, listing_key=key, joined_date=joined, **values)


def lapak(export_date: date, name: str, joined: date, nib: str | None, **values: Any) -> dict:
    key = gen.lapakdesa_key(name, nib, values.get("nik_ps"))
    return rec("lapakdesa", export_date, key, joined, tie_name=name, tie_nib=nib, nib=nib, **values)


def loaded(partner: str, export_date: date, *records: dict) -> PartnerDay:
    rows = [{**r, "row_number": i + 1} for i, r in enumerate(records)]
    return PartnerDay(
        partner,
        export_date,
        "loaded",
        tuple(rows),
        content_sha256=gen.content_sha256(rows),
        loaded_at=gen.loaded_at(partner, export_date),
    )


def refused(partner: str, export_date: date) -> PartnerDay:
    """A re-delivery of the partner-day that is refused (partners.md: "a refused partner-day
    loads nothing and leaves what was loaded before untouched")."""
    return PartnerDay(
        partner,
        export_date,
        "failed",
        rows_read=None,
        content_sha256="refused",
        detail="sellers.csv.gz: not a gzip file",
        loaded_at=gen.loaded_at(partner, export_date),
    )


def published(
    tmp_path: Path, days: list[PartnerDay], publish_after: Iterable[int] = ()
) -> dict[str, list[tuple]]:
    """Load `days` in order (publishing after the given indexes too) and publish; the tables
    must also be the reference's."""
    delivered: dict[str, set[date]] = {}
    for pd in days:
        delivered.setdefault(pd.partner, set()).add(pd.export_date)
    wh = Warehouse(tmp_path)
    try:
        for i, pd in enumerate(days):
            wh.load([pd])
            if i in set(publish_after):
                wh.publish(delivered)
        tables = wh.publish(delivered)
    finally:
        wh.close()
    assert_tables_equal(tables, expected(days, delivered))
    return tables


def row(tables: dict[str, list[tuple]], table: str, *key: Any) -> dict[str, Any]:
    """The row of `table` whose leading columns are `key`, as a dict."""
    found = [r for r in tables[table] if r[: len(key)] == key]
    assert len(found) == 1, (table, key, found)
    return dict(zip(TABLE_COLUMNS[table], found[0], strict=True))


def test_a_chain_of_listings_linked_through_a_phone_and_a_nik_is_one_umkm(tmp_path):
    """It counts a chain of listings linked through a phone and a NIK as one UMKM."""
    tables = published(
        tmp_path,
        [
            loaded("pasarnusa", JUNE_1, rec("pasarnusa", JUNE_1, "PN1", JUNE_1, phone_ps=PHONE_A)),
            loaded(
                "tokoraya",
                JUNE_1,
                rec("tokoraya", JUNE_1, "TR-01", JUNE_1, phone_ps=PHONE_A, nik_ps=NIK_A),
            ),
            loaded("belanjaku", JUNE_1, rec("belanjaku", JUNE_1, "7", JUNE_1, nik_ps=NIK_A)),
        ],
    )
    national = row(tables, "national_progress", JUNE_1)
    assert (national["umkm_onboarded"], national["umkm_new"], national["listings"]) == (1, 1, 3)
    for partner in ("pasarnusa", "tokoraya", "belanjaku"):
        assert row(tables, "progress_by_partner", JUNE_1, partner)["umkm_reached"] == 1


def test_a_tie_on_joined_date_is_broken_by_partner_name_before_listing_key(tmp_path):
    """It takes the province of the tied listing whose partner name comes first, and the sector of the earliest listing with a KBLI."""
    tables = published(
        tmp_path,
        [
            # lapakdesa < pasarnusa < tokoraya by partner name; by key text "PN1" < "TR-01" < "nib:..."
            loaded("lapakdesa", date(2020, 5, 31), lapak(date(2020, 5, 31), "toko maju", JUNE_1 - timedelta(days=1), NIB_A, province_code="51")),
            loaded("pasarnusa", JUNE_1, rec("pasarnusa", JUNE_1, "PN1", date(2020, 5, 31), nib=NIB_A, province_code="32", kbli="47111", kbli_category="G")),
            loaded("tokoraya", JUNE_1, rec("tokoraya", JUNE_1, "TR-01", date(2020, 5, 31), nib=NIB_A, province_code="33")),
        ],
    )  # fmt: skip
    assert row(tables, "progress_by_province", JUNE_1, "51")["umkm_onboarded"] == 1
    assert row(tables, "progress_by_sector", JUNE_1, "G")["umkm_onboarded"] == 1
    assert {r[1] for r in tables["progress_by_province"]} == {"51"}


def test_lapakdesa_listings_tied_on_joined_date_compare_by_name_then_nib(tmp_path):
    """It breaks a lapakdesa tie by normalised name first (not by key text), then by NIB with a missing NIB last."""
    report = date(2020, 6, 30)
    joined = date(2020, 6, 10)
    tables = published(
        tmp_path,
        [
            loaded(
                "lapakdesa",
                report,
                # by key text "nib:...01|toko maju" comes first; by name "kios ani" does
                lapak(report, "toko maju", joined, NIB_A, phone_ps=PHONE_A, province_code="33"),
                lapak(report, "kios ani", joined, NIB_B, phone_ps=PHONE_A, province_code="51"),
                # same name: the one with a NIB comes before the one keyed by NIK
                lapak(report, "warung sari", joined, None, nik_ps=NIK_A, province_code="31"),
                lapak(report, "warung sari", joined, gen.NIBS[2], nik_ps=NIK_A, province_code="32"),
            )
        ],
    )
    provinces = {r[1]: r[3] for r in tables["progress_by_province"] if r[0] == report}
    assert provinces == {"51": 1, "32": 1}


def test_a_late_record_for_an_old_date_moves_the_onboarding_date_earlier(tmp_path):
    """It restates past days when a late-loaded older export shows an earlier joined listing of the same UMKM."""
    days = [
        loaded("pasarnusa", JUNE_10, rec("pasarnusa", JUNE_10, "PN1", date(2020, 6, 8), nib=NIB_A)),
        # tokoraya's export of 5 June, delivered (and loaded) after pasarnusa's of 10 June
        loaded("tokoraya", JUNE_5, rec("tokoraya", JUNE_5, "TR-01", date(2020, 5, 20), nib=NIB_A)),
    ]
    tables = published(tmp_path, days, publish_after=[0])
    assert row(tables, "national_progress", date(2020, 5, 20))["umkm_new"] == 1
    assert row(tables, "national_progress", date(2020, 5, 25))["umkm_onboarded"] == 1
    assert row(tables, "national_progress", date(2020, 6, 8))["umkm_new"] == 0
    assert row(tables, "national_progress", date(2020, 5, 25))["listings"] == 1
    assert row(tables, "national_progress", JUNE_10)["listings"] == 2


@pytest.mark.parametrize("reverse", [False, True], ids=["in order", "correction loaded first"])
def test_a_correction_in_a_later_export_moves_a_listing_joined_date_later(tmp_path, reverse):
    """It takes a listing's joined date from its latest export, whatever the load order."""
    days = [
        loaded("tokoraya", JUNE_1, rec("tokoraya", JUNE_1, "TR-01", date(2020, 5, 20), nib=NIB_A)),
        loaded("tokoraya", JUNE_10, rec("tokoraya", JUNE_10, "TR-01", JUNE_5, nib=NIB_A)),
    ]
    tables = published(tmp_path, days[::-1] if reverse else days, publish_after=[0])
    assert row(tables, "national_progress", date(2020, 5, 25))["umkm_onboarded"] == 0
    assert row(tables, "national_progress", date(2020, 5, 25))["listings"] == 0
    assert row(tables, "national_progress", JUNE_5)["umkm_new"] == 1


def test_a_kedaiantar_brand_takes_the_region_of_its_earliest_outlet_ties_by_outlet_id(tmp_path):
    """It makes a kedaiantar brand of its outlets: earliest registration, that outlet's region (ties: outlet id as text), all identifiers."""
    tables = published(
        tmp_path,
        [
            loaded(
                "kedaiantar",
                JUNE_10,
                rec("kedaiantar", JUNE_10, "BR-1", JUNE_1, record_key="OUT-2", nib=NIB_A, province_code="32"),
                rec("kedaiantar", JUNE_10, "BR-1", JUNE_1, record_key="OUT-10", nib=NIB_A, province_code="31"),
                rec("kedaiantar", JUNE_10, "BR-1", JUNE_5, record_key="OUT-3", phone_ps=PHONE_A, province_code="33"),
            ),
            loaded("pasarnusa", JUNE_10, rec("pasarnusa", JUNE_10, "PN1", JUNE_10, phone_ps=PHONE_A)),
        ],
    )  # fmt: skip
    assert row(tables, "national_progress", JUNE_10)["umkm_onboarded"] == 1
    assert row(tables, "national_progress", JUNE_10)["listings"] == 2
    assert row(tables, "progress_by_province", JUNE_1, "31")["umkm_new"] == 1


def test_quarantined_records_and_deleted_events_never_count_or_link(tmp_path):
    """It ignores quarantined records and `deleted` events, whatever identifiers they carry."""
    tables = published(
        tmp_path,
        [
            loaded("pasarnusa", JUNE_1, rec("pasarnusa", JUNE_1, "PN1", JUNE_1, nib=NIB_A),
                   rec("pasarnusa", JUNE_1, "PN2", JUNE_1, nib=NIB_B)),
            loaded(
                "belanjaku",
                JUNE_5,
                rec("belanjaku", JUNE_5, "7", JUNE_1, nib=NIB_A, phone_ps=PHONE_A),
                rec("belanjaku", JUNE_5, "100", JUNE_5, nib=NIB_B, phone_ps=PHONE_A, quarantine_rule="joined date unparseable"),
                gen.record("belanjaku", JUNE_5, listing_key="12", is_deletion=True, nib=NIB_B, phone_ps=PHONE_A),
            ),
        ],
    )  # fmt: skip
    national = row(tables, "national_progress", JUNE_5)
    assert (national["umkm_onboarded"], national["listings"]) == (2, 3)


@pytest.mark.parametrize(
    ("day", "target"),
    [
        (date(2020, 5, 14), 0),
        (date(2020, 12, 31), 2_000_000),
        (date(2021, 6, 1), 5_456_438),
        (date(2022, 3, 31), 13_219_178),
        (date(2022, 12, 31), 20_000_000),
        (date(2025, 1, 1), 30_000_000),
    ],
)
def test_the_target_trajectory_is_the_line_through_the_targets_in_force(day, target):
    """It computes the target trajectory of metrics.md, rounded half up, as the pipeline does."""
    assert target_on(day) == target
    assert targets.trajectory(day) == target


@settings(max_examples=300, deadline=None)
@given(day=st.dates(date(2020, 1, 1), date(2026, 12, 31)))
def test_the_target_trajectory_matches_the_reference_on_any_day(day):
    """It gives, on any day, the target trajectory that exact fractions give."""
    assert targets.trajectory(day) == target_on(day)


# --------------------------------------------------------------------------------------------
# discrepancies the reference found (fixed; kept as regression tests)
# --------------------------------------------------------------------------------------------


def test_ekatalog_progress_has_a_row_for_a_loaded_date_without_umkm_vendors(tmp_path):
    """It publishes an ekatalog_progress row (zeros) for a loaded export with only Non UMKM vendors or no vendors."""
    monday, next_monday = date(2020, 6, 1), date(2020, 6, 8)
    days = [
        loaded("lkpp-ekatalog", monday,
               rec("lkpp-ekatalog", monday, "K01", JUNE_1, scale="non_umkm", products=4)),
        loaded("lkpp-ekatalog", next_monday),  # header-only file: loaded with no records
    ]  # fmt: skip
    tables = published(tmp_path, days)
    assert tables["ekatalog_progress"] == [(monday, 0, 0, 0), (next_monday, 0, 0, 0)]


def split_by_correction() -> tuple[list[PartnerDay], dict[str, set[date]]]:
    """PN1 and PN2 share a NIB; a corrected re-delivery of the day gives PN1 another NIB."""
    days = [
        loaded("pasarnusa", JUNE_1, rec("pasarnusa", JUNE_1, "PN1", JUNE_1, nib=NIB_A),
               rec("pasarnusa", JUNE_1, "PN2", JUNE_1, nib=NIB_A)),
        loaded("pasarnusa", JUNE_1, rec("pasarnusa", JUNE_1, "PN1", JUNE_1, nib=NIB_B),
               rec("pasarnusa", JUNE_1, "PN2", JUNE_1, nib=NIB_A)),
    ]  # fmt: skip
    return days, {"pasarnusa": {JUNE_1}}


def test_a_resolve_transaction_rolled_back_and_rerun_gives_the_same_tables(tmp_path):
    """It publishes the reference tables after a refresh-and-resolve transaction is rolled back and rerun (as runner.publish_if_needed does)."""
    days, delivered = split_by_correction()
    wh = Warehouse(tmp_path)
    try:
        wh.load(days[:1])
        wh.publish(delivered)
        wh.load(days[1:])
        wh.con.execute("BEGIN TRANSACTION")
        resolve.refresh_listings(wh.con, SNAPSHOTS, EVENTS)
        wh.con.execute("ROLLBACK")  # the process stopped before resolve_identities committed
        tables = wh.publish(delivered)
    finally:
        wh.close()
    assert row(tables, "national_progress", JUNE_1)["umkm_onboarded"] == 2
    assert_tables_equal(tables, expected(days, delivered))


def test_refresh_listings_twice_before_resolve_identities_gives_the_same_tables(tmp_path):
    """It publishes the same tables when refresh_listings runs twice before resolve_identities (one refresh committed, then a rerun)."""
    days, delivered = split_by_correction()
    wh = Warehouse(tmp_path)
    try:
        wh.load(days[:1])
        wh.publish(delivered)
        wh.load(days[1:])
        resolve.refresh_listings(wh.con, SNAPSHOTS, EVENTS)  # committed, then the run stops
        tables = wh.publish(delivered)  # the rerun: refresh_listings, resolve_identities
    finally:
        wh.close()
    assert row(tables, "national_progress", JUNE_1)["umkm_onboarded"] == 2
    assert_tables_equal(tables, expected(days, delivered))


def test_progress_by_partner_leaves_out_a_partner_with_only_zeros_on_the_last_day(tmp_path):
    """It lists in progress_by_partner only the partners non-zero in some column on the last day."""
    may_20 = date(2020, 5, 20)
    days = [
        loaded("pasarnusa", may_20, rec("pasarnusa", may_20, "PN1", may_20, nib=NIB_A)),
        loaded("tokoraya", JUNE_1, rec("tokoraya", JUNE_1, "TR-01", JUNE_1, nib=NIB_B)),
        # tokoraya's 1 June re-delivered and refused: the day is `failed`, its first content
        # stays in the warehouse, and the reference day is pasarnusa's 20 May
        refused("tokoraya", JUNE_1),
    ]
    tables = published(tmp_path, days)
    assert {r[1] for r in tables["progress_by_partner"]} == {"pasarnusa"}
