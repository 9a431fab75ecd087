"""A deliberately naive reference implementation of /work/shared/metrics.md.

Plain Python only (dicts, sets, loops, `fractions` for the target): no DuckDB, no Polars, and
nothing imported from `pipelines`, so that it is an independent second reading of the contract.
It computes every published table from the partner-days loaded so far, given as their canonical
records (the columns of `pipelines.quality.normalise.CANONICAL_COLUMNS`, one dict per record).

Each rule is preceded by the sentence of metrics.md (or partners.md) it transcribes. Where the
contract is ambiguous, the reading chosen here is written down as `READING:`.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "schemas" / "reference"

# "Programme start: 2020-05-14 (launch of the national "go digital" movement for UMKM)."
PROGRAMME_START = date(2020, 5, 14)


@dataclass(frozen=True)
class Rules:
    """What partners.md says of one partner that the tables depend on. A partner we do not ship
    is described the same way (tests write its rules from its contract's words)."""

    channel: str = "marketplace"  # or "ekatalog": "a separate channel ... never creates listings"
    cadence: str = "daily"  # daily | weekly | monthly (the month's last day)
    weekday: int = 0  # weekly: the export date's weekday (Monday = 0)
    grouped: bool = False  # kedaiantar: "a listing here is a brand, not an outlet"
    by_name: bool = False  # lapakdesa: listings "compare by normalised `Nama Usaha`, then NIB"
    not_counted: str | None = None  # lkpp-ekatalog: `Non UMKM` vendors are not counted


# partners.md: the five marketplaces; "lkpp-ekatalog is a separate channel (see
# `ekatalog_progress`) and never creates listings." Cadences: lkpp-ekatalog "every Monday";
# lapakdesa "delivered in the folder of the month's last day"; every other partner daily.
SHIPPED: dict[str, Rules] = {
    "belanjaku": Rules(),
    "kedaiantar": Rules(grouped=True),
    "lapakdesa": Rules(cadence="monthly", by_name=True),
    "lkpp-ekatalog": Rules(channel="ekatalog", cadence="weekly", not_counted="non_umkm"),
    "pasarnusa": Rules(),
    "tokoraya": Rules(),
}

SCALE_RANK = {"mikro": 1, "kecil": 2, "menengah": 3}

TABLE_COLUMNS = {
    "national_progress": [
        "as_of_date", "umkm_onboarded", "umkm_new", "umkm_online_total", "listings", "target",
        "pct_of_target",
    ],
    "progress_by_province": [
        "as_of_date", "province_code", "province_name", "umkm_onboarded", "umkm_new",
    ],
    "progress_by_partner": ["as_of_date", "partner", "listings", "umkm_reached"],
    "progress_by_scale": ["as_of_date", "scale", "umkm_onboarded"],
    "progress_by_sector": ["as_of_date", "kbli_category", "umkm_onboarded"],
    "ekatalog_progress": ["as_of_date", "umkm_vendors", "products", "vendors_also_online"],
    "partner_loads": [
        "partner", "export_date", "status", "rows_read", "rows_loaded", "rows_quarantined",
        "warnings", "content_sha256", "loaded_at", "detail",
    ],
    "partner_freshness": [
        "partner", "latest_export_date", "expected_export_date", "days_behind", "missing_days",
    ],
}  # fmt: skip


@dataclass(frozen=True)
class PartnerDay:
    """One delivered partner-day as the pipeline would have processed it.

    `records` are canonical records (dicts keyed by CANONICAL_COLUMNS), in file order. A failed
    partner-day carries no records; `rows_read` is then "as far as the delivery could be read".
    """

    partner: str
    export_date: date
    status: str  # loaded | failed
    records: tuple[Mapping[str, Any], ...] = ()
    rows_read: int | None = None  # failed partner-days only
    content_sha256: str | None = None
    detail: str | None = None
    loaded_at: datetime | None = None


@dataclass
class Listing:
    partner: str
    key: str
    record: Mapping[str, Any]  # its latest valid record (a kedaiantar brand: the brand record)
    identifiers: set[tuple[str, str]] = field(default_factory=set)

    @property
    def joined(self) -> date:
        return self.record["joined_date"]


@dataclass
class Umkm:
    listings: list[Listing]
    onboarding: date
    province: str | None
    scale: str
    sector: str


# --------------------------------------------------------------------------------------------
# reference data, read with the csv module
# --------------------------------------------------------------------------------------------


def _csv(name: str) -> list[dict[str, str]]:
    with open(REFERENCE_DIR / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def province_names() -> dict[str, str]:
    return {row["code"]: row["name"] for row in _csv("provinces.csv")}


def target_announcements() -> list[tuple[date, int, date]]:
    """(target_date, target_umkm, announced_on) rows of reference/targets.csv."""
    return [
        (
            date.fromisoformat(r["target_date"]),
            int(r["target_umkm"]),
            date.fromisoformat(r["announced_on"]),
        )
        for r in _csv("targets.csv")
    ]


# --------------------------------------------------------------------------------------------
# the target trajectory
# --------------------------------------------------------------------------------------------


def targets_in_force(day: date, announcements: Iterable[tuple[date, int, date]]) -> list:
    # "Target in force on day D: for each target date in `reference/targets.csv`, the value of
    # the latest announcement made on or before D."
    latest: dict[date, tuple[date, int]] = {}
    for target_date, value, announced_on in announcements:
        if announced_on <= day and (
            target_date not in latest or announced_on >= latest[target_date][0]
        ):
            latest[target_date] = (announced_on, value)
    return sorted((d, v) for d, (_, v) in latest.items())


def round_half_up(x: Fraction) -> int:
    # "rounded half up to a whole business"
    whole = x.numerator // x.denominator
    return whole + 1 if x - whole >= Fraction(1, 2) else whole


def target_on(day: date, announcements: Sequence[tuple[date, int, date]] | None = None) -> int:
    # "The target trajectory on D is the straight line from (programme start, 0) through those
    # points in date order, flat after the last one."
    # READING: before the programme start (and on it) the trajectory is 0; a target date on or
    # before the programme start would make no line, and none exists in targets.csv.
    if announcements is None:
        announcements = target_announcements()
    points = [(PROGRAMME_START, 0), *targets_in_force(day, announcements)]
    if day <= PROGRAMME_START:
        return 0
    for (d0, v0), (d1, v1) in itertools.pairwise(points):
        if d0 < day <= d1:
            value = v0 + Fraction(v1 - v0) * Fraction((day - d0).days, (d1 - d0).days)
            return round_half_up(value)
    return points[-1][1]


# --------------------------------------------------------------------------------------------
# listings
# --------------------------------------------------------------------------------------------


def current_content(partner_days: Iterable[PartnerDay]) -> tuple[dict, dict]:
    """The ledger (latest outcome per partner-day) and the content the warehouse holds.

    partners.md: "a corrected re-delivery of a past day (same folder, new content): that
    partner-day replaced, nothing else"; "a refused partner-day loads nothing and leaves what
    was loaded before untouched".
    """
    ledger: dict[tuple[str, date], PartnerDay] = {}
    content: dict[tuple[str, date], PartnerDay] = {}
    for pd in partner_days:
        ledger[(pd.partner, pd.export_date)] = pd
        if pd.status == "loaded":
            content[(pd.partner, pd.export_date)] = pd
    return ledger, content


def is_valid(record: Mapping[str, Any]) -> bool:
    # "Quarantined record: ... It is kept (with its reason and where it came from) and never
    # counted." A `deleted` event "is not validated as a record ... and only marks the listing
    # removed" (partners.md), so it is no record of the listing either.
    return (
        record["quarantine_rule"] is None
        and not record["is_deletion"]
        and record["listing_key"] is not None
    )


def identifiers_of(record: Mapping[str, Any]) -> set[tuple[str, str]]:
    # "Valid identifier: a valid NIB, a valid NIK or a valid normalised phone" (the canonical
    # record holds only valid ones; NIK and phone as pseudonyms).
    out = set()
    for kind, column in (("nib", "nib"), ("nik", "nik_ps"), ("phone", "phone_ps")):
        if record[column] is not None:
            out.add((kind, record[column]))
    return out


def brand_record(outlets: list[Mapping[str, Any]]) -> dict[str, Any]:
    # partners.md (kedaiantar): "the brand's record in an export is made of its valid outlet
    # rows, inactive ones included: its identifiers are all of theirs, its joined date is the
    # earliest `registered_on`, its region is that earliest outlet's (ties: `outlet_id`
    # ascending)."
    # READING: the brand record's other attributes (scale, KBLI: always unknown for kedaiantar)
    # come from that same earliest outlet; an outlet without an id sorts after every id; the
    # same outlet twice in one snapshot with the same date is not specified: the first of the
    # tied rows in file order is taken (partners.md's general "the last one wins" would say the
    # last; the strategies never generate it).
    earliest = min(
        outlets,
        key=lambda r: (r["joined_date"], r["record_key"] is None, r["record_key"] or ""),
    )
    return dict(earliest)


def build_listings(
    content: Mapping[tuple[str, date], PartnerDay], partners: Mapping[str, Rules] = SHIPPED
) -> dict[tuple[str, str], Listing]:
    # "Listing: one seller as one partner knows it, keyed by (partner, listing key)."
    # "A listing exists once it has a valid record; its attributes are those of its latest valid
    # record (latest `export_date`, then last in file)."
    # "A listing links through every valid identifier any of its valid records has carried."
    # "A snapshot that no longer lists it, or a `deleted` event, marks it removed and changes
    # nothing else." (so removal is not modelled at all: nothing published depends on it)
    history: dict[tuple[str, str], list[tuple[tuple, Mapping[str, Any]]]] = {}
    identifiers: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for (partner, export_date), pd in sorted(content.items()):
        if partners[partner].channel != "marketplace":
            continue
        valid = [r for r in pd.records if is_valid(r)]
        for record in valid:
            identifiers.setdefault((partner, record["listing_key"]), set()).update(
                identifiers_of(record)
            )
        if partners[partner].grouped:
            brands: dict[str, list[Mapping[str, Any]]] = {}
            for record in valid:
                brands.setdefault(record["listing_key"], []).append(record)
            for brand, outlets in brands.items():
                history.setdefault((partner, brand), []).append(
                    ((export_date,), brand_record(outlets))
                )
        else:
            for record in valid:
                order = (export_date, record["file_index"], record["row_number"])
                history.setdefault((partner, record["listing_key"]), []).append((order, record))
    listings = {}
    for (partner, key), records in history.items():
        latest = max(records, key=lambda item: item[0])[1]
        listings[(partner, key)] = Listing(partner, key, latest, identifiers[(partner, key)])
    return listings


# --------------------------------------------------------------------------------------------
# UMKM
# --------------------------------------------------------------------------------------------


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, x: Any) -> Any:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def earliest_order(listing: Listing, partners: Mapping[str, Rules] = SHIPPED) -> tuple:
    # "the province of its earliest-joined listing (ties: partner name, then listing key as text,
    # ascending; lapakdesa listings compare by normalised `Nama Usaha`, then NIB)"
    # READING: "NIB" is the listing's NIB (the one its key is made of); a lapakdesa listing
    # without a NIB (keyed by NIK) comes after those with one; two lapakdesa listings with the
    # same name and no NIB fall back to the listing key as text. Strings compare by code point.
    if partners[listing.partner].by_name:
        nib = listing.record["tie_nib"]
        key: tuple = (listing.record["tie_name"], nib is None, nib or "", listing.key)
    else:
        key = (listing.key,)
    return (listing.joined, listing.partner, key)


def build_umkm(
    listings: Mapping[tuple[str, str], Listing], partners: Mapping[str, Rules] = SHIPPED
) -> list[Umkm]:
    # "UMKM (the unit the programme counts): a connected group of listings, across all partners,
    # linked by sharing any valid identifier (same NIB, or same NIK, or same phone),
    # transitively."
    uf = UnionFind()
    first_holder: dict[tuple[str, str], tuple[str, str]] = {}
    for lkey in sorted(listings):
        uf.find(lkey)
        for ident in sorted(listings[lkey].identifiers):
            if ident in first_holder:
                uf.union(first_holder[ident], lkey)
            else:
                first_holder[ident] = lkey
    groups: dict[Any, list[Listing]] = {}
    for lkey in sorted(listings):
        groups.setdefault(uf.find(lkey), []).append(listings[lkey])

    out = []
    for members in groups.values():
        # "A UMKM's onboarding date is the earliest joined date of its listings."
        onboarding = min(m.joined for m in members)
        # "Its province is the province of its earliest-joined listing (...), `NULL` when that
        # listing's province is unknown."
        first = min(members, key=lambda m: earliest_order(m, partners))
        province = first.record["province_code"]
        # "Its scale is the largest known scale of its listings (`menengah` > `kecil` >
        # `mikro`), else `unknown`."
        # READING: a listing's scale is that of its latest valid record (its attributes), so a
        # later record with an unknown scale makes that listing's scale unknown.
        known = [m.record["scale"] for m in members if m.record["scale"] in SCALE_RANK]
        scale = max(known, key=SCALE_RANK.__getitem__) if known else "unknown"
        # "Its sector is the KBLI category letter (A-U) of the earliest-joined listing that has
        # a valid KBLI (same tie rule), else `unknown`."
        with_kbli = [m for m in members if m.record["kbli_category"] is not None]
        sector = (
            min(with_kbli, key=lambda m: earliest_order(m, partners)).record["kbli_category"]
            if with_kbli
            else "unknown"
        )
        out.append(Umkm(members, onboarding, province, scale, sector))
    return out


# --------------------------------------------------------------------------------------------
# schedule (partner_freshness)
# --------------------------------------------------------------------------------------------


def is_scheduled(rules: Rules, day: date) -> bool:
    if rules.cadence == "daily":
        return True
    if rules.cadence == "weekly":
        return day.weekday() == rules.weekday
    return (day + timedelta(days=1)).month != day.month


def latest_scheduled(rules: Rules, on_or_before: date) -> date:
    # "its latest scheduled delivery on or before the reference day: daily partners that day,
    # lkpp-ekatalog the last Monday, lapakdesa the last day of the last month that ended on or
    # before it"
    day = on_or_before
    while not is_scheduled(rules, day):
        day -= timedelta(days=1)
    return day


def days_between(first: date, last: date) -> list[date]:
    out = []
    day = first
    while day <= last:
        out.append(day)
        day += timedelta(days=1)
    return out


# --------------------------------------------------------------------------------------------
# the published tables
# --------------------------------------------------------------------------------------------


def reference_tables(
    partner_days: Iterable[PartnerDay],
    delivered: Mapping[str, Iterable[date]],
    partners: Mapping[str, Rules] = SHIPPED,
) -> dict[str, list[tuple]]:
    """Every published table as a list of row tuples (columns: TABLE_COLUMNS), unsorted."""
    partner_days = list(partner_days)
    ledger, content = current_content(partner_days)
    listings = build_listings(content, partners)
    umkms = build_umkm(listings, partners)
    provinces = province_names()
    announcements = target_announcements()

    # "The reference day is the latest export date of any loaded partner-day"
    loaded_dates = [d for (_, d), pd in ledger.items() if pd.status == "loaded"]
    ref = max(loaded_dates) if loaded_dates else None

    # "One row per day from programme start to the latest export date of any loaded
    # partner-day."
    days = days_between(PROGRAMME_START, ref) if ref is not None else []
    out: dict[str, list[tuple]] = {}

    # national_progress
    rows = []
    for d in days:
        # `umkm_onboarded` BIGINT (onboarding date in [programme start, D])
        onboarded = sum(1 for u in umkms if PROGRAMME_START <= u.onboarding <= d)
        # `umkm_new` BIGINT (onboarding date = D)
        new = sum(1 for u in umkms if u.onboarding == d)
        # `umkm_online_total` BIGINT (onboarding date <= D, including those online before the
        # programme)
        online_total = sum(1 for u in umkms if u.onboarding <= d)
        # `listings` BIGINT (marketplace listings joined <= D, removed ones included)
        n_listings = sum(1 for lst in listings.values() if lst.joined <= d)
        # `target` BIGINT (the trajectory on D, rounded half up to a whole business)
        target = target_on(d, announcements)
        # `pct_of_target` DOUBLE (`umkm_onboarded / target`, with the published rounded target;
        # NULL when target is 0)
        pct = None if target == 0 else onboarded / target
        rows.append((d, onboarded, new, online_total, n_listings, target, pct))
    out["national_progress"] = rows

    # "Breakdown tables are dense: every such day times every group value that is non-zero in
    # some column on the last day, zeros included; unknown province is `province_code` NULL with
    # name `unknown`."
    def dense(groups: Iterable[Any], values: Any) -> list[tuple]:
        if not days:
            return []
        kept = [g for g in groups if any(v != 0 for v in values(days[-1], g))]
        return [(d, g, *values(d, g)) for d in days for g in kept]

    def onboarded_in(d: date, attribute: str, g: Any) -> int:
        return sum(
            1 for u in umkms if PROGRAMME_START <= u.onboarding <= d and getattr(u, attribute) == g
        )

    # progress_by_province: `province_code`, `province_name`, `umkm_onboarded`, `umkm_new`
    province_rows = dense(
        [None, *provinces],
        lambda d, g: (
            onboarded_in(d, "province", g),
            sum(1 for u in umkms if u.onboarding == d and u.province == g),
        ),
    )
    out["progress_by_province"] = [
        (d, g, provinces[g] if g is not None else "unknown", a, b) for d, g, a, b in province_rows
    ]
    # progress_by_scale: `scale` (`mikro`/`kecil`/`menengah`/`unknown`), `umkm_onboarded`
    out["progress_by_scale"] = dense(
        ["mikro", "kecil", "menengah", "unknown"], lambda d, g: (onboarded_in(d, "scale", g),)
    )
    # progress_by_sector: `kbli_category` (`A`..`U`/`unknown`), `umkm_onboarded`
    out["progress_by_sector"] = dense(
        [*"ABCDEFGHIJKLMNOPQRSTU", "unknown"], lambda d, g: (onboarded_in(d, "sector", g),)
    )

    # progress_by_partner: `partner` (marketplace partners only), `listings` (that partner's
    # listings joined <= D), `umkm_reached` (UMKM with a listing on that partner joined <= D and
    # onboarding date >= programme start)
    # READING: a breakdown table, so dense like the others (groups: partners non-zero in some
    # column on the last day).
    def partner_values(d: date, p: str) -> tuple[int, int]:
        n = sum(1 for lst in listings.values() if lst.partner == p and lst.joined <= d)
        reached = sum(
            1
            for u in umkms
            if u.onboarding >= PROGRAMME_START
            and any(m.partner == p and m.joined <= d for m in u.listings)
        )
        return (n, reached)

    marketplaces = sorted(p for p, r in partners.items() if r.channel == "marketplace")
    out["progress_by_partner"] = dense(marketplaces, partner_values)

    # ekatalog_progress: `as_of_date` (each loaded lkpp-ekatalog export date), `umkm_vendors`
    # (vendors other than `Non UMKM` in that snapshot), `products` (their `jumlah_produk`
    # summed), `vendors_also_online` (those of them whose valid NIB is the NIB of a marketplace
    # listing joined on or before that date)
    # READING: vendors are the snapshot's valid rows, one per `kode_penyedia` (the last in file
    # wins, as for "the same seller twice in one delivery"); a vendor of unknown qualification is
    # "other than Non UMKM" and counts; an unparseable `jumlah_produk` adds nothing; "the NIB of a
    # marketplace listing" is any NIB any of its valid records carried (its identifiers), and
    # "joined" is the listing's joined date (from its latest record).
    # READING (more than one e-catalogue partner): one row per date any of them loaded an
    # export of; its figures add up their vendors of that date, each partner's own "not
    # counted" qualification left out.
    rows = []
    catalogue_days: dict[date, list[Mapping[str, Any]]] = {}
    for (partner, export_date), pd in sorted(ledger.items()):
        if partners[partner].channel != "ekatalog" or pd.status != "loaded":
            continue
        vendors: dict[str, Mapping[str, Any]] = {}
        for record in sorted(
            content[(partner, export_date)].records,
            key=lambda r: (r["file_index"], r["row_number"]),
        ):
            if record["quarantine_rule"] is None and record["listing_key"] is not None:
                vendors[record["listing_key"]] = record
        not_counted = partners[partner].not_counted
        catalogue_days.setdefault(export_date, []).extend(
            v for v in vendors.values() if v["scale"] != not_counted
        )
    for export_date, umkm_vendors in sorted(catalogue_days.items()):
        online_nibs = {
            value
            for lst in listings.values()
            if lst.joined <= export_date
            for kind, value in lst.identifiers
            if kind == "nib"
        }
        rows.append(
            (
                export_date,
                len(umkm_vendors),
                sum(v["products"] or 0 for v in umkm_vendors),
                sum(1 for v in umkm_vendors if v["nib"] is not None and v["nib"] in online_nibs),
            )
        )
    out["ekatalog_progress"] = rows

    # partner_loads: "one row per partner-day delivered (with `_SUCCESS`) ... It describes the
    # partner-day's current content". "`rows_loaded` counts valid records, superseded ones
    # included (a deleted event counts as loaded); `warnings` counts records with at least one
    # warning. A failed partner-day has `rows_loaded = rows_quarantined = 0` and `rows_read` as
    # far as the delivery could be read"
    rows = []
    for (partner, export_date), pd in sorted(ledger.items()):
        if pd.status == "loaded":
            quarantined = sum(1 for r in pd.records if r["quarantine_rule"] is not None)
            rows_read: int | None = len(pd.records)
            loaded = rows_read - quarantined
            warned = sum(
                1 for r in pd.records if r["quarantine_rule"] is None and len(r["warnings"]) > 0
            )
        else:
            rows_read, loaded, quarantined, warned = pd.rows_read, 0, 0, 0
        rows.append(
            (partner, export_date, pd.status, rows_read, loaded, quarantined, warned,
             pd.content_sha256, pd.loaded_at, pd.detail)
        )  # fmt: skip
    out["partner_loads"] = rows

    # partner_freshness: `latest_export_date` (its latest loaded partner-day),
    # `expected_export_date` (its latest scheduled delivery on or before the reference day),
    # `days_behind` (`expected_export_date - latest_export_date`, at least 0), `missing_days`
    # (scheduled deliveries from its first delivered partner-day to `expected_export_date` with
    # no `_SUCCESS` folder).
    # READING: one row per partner with a `partner_loads` row (a partner that delivered nothing
    # has no "first delivered partner-day"); none at all before any partner-day is loaded (no
    # reference day); `days_behind` is NULL when the partner has no loaded partner-day.
    rows = []
    if ref is not None:
        for partner in sorted({p for p, _ in ledger}):
            have = set(delivered.get(partner, ()))
            latest = max(
                (d for (p, d), pd in ledger.items() if p == partner and pd.status == "loaded"),
                default=None,
            )
            expected = latest_scheduled(partners[partner], ref)
            behind = None if latest is None else max((expected - latest).days, 0)
            first = min(have)
            missing = sum(
                1
                for d in days_between(first, expected)
                if is_scheduled(partners[partner], d) and d not in have
            )
            rows.append((partner, latest, expected, behind, missing))
    out["partner_freshness"] = rows
    return out


# --------------------------------------------------------------------------------------------
# publications and revisions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    # publication_id, latest_export_date, partner_days_changed, umkm_onboarded
    publications: list[tuple]
    # publication_id, as_of_date, umkm_onboarded, umkm_online_total, listings,
    # previous_umkm_onboarded
    revisions: list[tuple]


def reference_history(runs: Iterable[Mapping[str, list[tuple]]]) -> History:
    """The publications and revisions a sequence of runs makes, each run given by the tables
    above as it would publish them (TABLE_COLUMNS, rows in any order).

    "A publication is a run's swap of a new published file; a run that would change no value of
    the tables above does not publish." READING: `partner_loads.loaded_at` is a value too.
    """
    publications: list[tuple] = []
    revisions: list[tuple] = []
    shown: Mapping[str, list[tuple]] | None = None
    for tables in runs:
        if shown is not None and all(
            sorted(map(repr, tables[t])) == sorted(map(repr, shown[t])) for t in TABLE_COLUMNS
        ):
            continue
        pid = len(publications) + 1
        loads = {(r[0], r[1]): r for r in tables["partner_loads"]}
        before = {(r[0], r[1]): r for r in shown["partner_loads"]} if shown else {}
        # `partner_days_changed` (partner-days whose `partner_loads` row was inserted or changed
        # since the previous publication)
        changed = sum(1 for k, r in loads.items() if before.get(k) != r)
        # `latest_export_date` DATE (the latest export date of any loaded partner-day)
        latest = max((r[1] for r in loads.values() if r[2] == "loaded"), default=None)
        national = {r[0]: r for r in tables["national_progress"]}
        # `umkm_onboarded` (`national_progress.umkm_onboarded` on `latest_export_date` in this
        # publication)
        onboarded = national[latest][1] if latest in national else None
        publications.append((pid, latest, changed, onboarded))
        # "one row per `as_of_date` whose `umkm_onboarded`, `umkm_online_total` or `listings`
        # differs from the previous publication, or that the previous publication did not have
        # (every day for the first)"
        previous = {r[0]: r for r in shown["national_progress"]} if shown else {}
        for day, row in sorted(national.items()):
            old = previous.get(day)
            values = (row[1], row[3], row[4])  # umkm_onboarded, umkm_online_total, listings
            if old is None or (old[1], old[3], old[4]) != values:
                revisions.append((pid, day, *values, old[1] if old else None))
        shown = tables
    return History(publications, revisions)
