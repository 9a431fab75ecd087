"""Hypothesis strategies: small random worlds of partner-days made of canonical records.

A world is what the pipeline would have after reading, pseudonymising and normalising a few
deliveries of the six partners (partners.md): a list of `PartnerDay` (in load order, nightly:
by export date) and the partner-days delivered with `_SUCCESS`. Pools are deliberately tiny so
that the interesting cases are common rather than rare: identifiers shared across listings and
partners (chains, shared NIBs, e-catalogue vendors also online), ties on joined date, the same
listing in several exports with corrected attributes, records arriving late with old joined
dates, snapshot listings disappearing and reappearing, belanjaku `deleted` events, quarantined
records and failed partner-days, kedaiantar brands with several outlets, unknown attributes.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hypothesis import strategies as st

from tests.reference_model import PartnerDay

FIRST_DAY = date(2020, 4, 1)
LAST_DAY = date(2020, 8, 31)
PARTNERS = ("belanjaku", "kedaiantar", "lapakdesa", "lkpp-ekatalog", "pasarnusa", "tokoraya")

# identifiers as the canonical records hold them (NIK and phone already pseudonymised)
NIBS = tuple(f"91200000000{i:02d}" for i in range(1, 9))
# pseudonyms look like the real ones: 64 hex digits of HMAC-SHA256
NIKS = tuple(hashlib.sha256(f"nik {i}".encode()).hexdigest() for i in range(1, 9))
PHONES = tuple(hashlib.sha256(f"phone {i}".encode()).hexdigest() for i in range(1, 9))
# (province_code, regency_code); None = unknown region
REGIONS = (("31", "31.71"), ("32", "32.73"), ("33", "33.74"), ("51", "51.71"), ("32", None),
           (None, None))  # fmt: skip
SCALES = ("mikro", "kecil", "menengah", None)
# (first valid KBLI code, its category); None = no valid KBLI
KBLIS = (("47111", "G"), ("10710", "C"), ("56101", "I"), ("01111", "A"), (None, None))
LAPAKDESA_NAMES = ("warung sari", "toko maju", "kios ani", "kedai ñam")  # ñ: non-ASCII
KEYS = {
    # "1000" is a key of every partner: listings are (partner, listing key), never the key alone
    "pasarnusa": ("PN1", "PN2", "PN10", "1000"),
    "tokoraya": ("TR-01", "TR-1", "TR-9", "1000"),
    # integer ids as exact text: "100" < "7" as text, and one above 2^53 and one at 2^64-1
    "belanjaku": ("7", "100", "9007199254740993", "18446744073709551615", "1000"),
    "kedaiantar": ("BR-2", "BR-1", "BR-10", "1000"),
    "lkpp-ekatalog": ("K01", "K02", "K10", "1000"),
}
OUTLETS = ("OUT-1", "OUT-2", "OUT-3", "OUT-10", "OUT-4", "OUT-5")
FILES = {
    "pasarnusa": "sellers.csv.gz",
    "tokoraya": "TOKORAYA_MERCHANT.csv",
    "kedaiantar": "outlets.parquet",
    "lapakdesa": "Laporan_UMKM.xlsx",
    "lkpp-ekatalog": "penyedia_umkm.csv",
}
QUARANTINE_RULES = (
    "no valid identifier", "joined date missing", "joined date unparseable",
    "joined date after the export date", "no listing key", "malformed record: bad quoting",
)  # fmt: skip


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


ALL_DAYS = _days(FIRST_DAY, LAST_DAY)
MONDAYS = [d for d in ALL_DAYS if d.weekday() == 0]
MONTH_ENDS = [d for d in ALL_DAYS if (d + timedelta(days=1)).day == 1]


def scheduled(partner: str) -> list[date]:
    if partner == "lkpp-ekatalog":
        return MONDAYS
    if partner == "lapakdesa":
        return MONTH_ENDS
    return ALL_DAYS


def record(partner: str, export_date: date, **values: Any) -> dict[str, Any]:
    """A canonical record (every column of CANONICAL_COLUMNS) with the given values."""
    base: dict[str, Any] = {
        "partner": partner, "export_date": export_date, "file": FILES.get(partner, "part-00000.jsonl.gz"),
        "file_index": 0, "row_number": 1, "listing_key": None, "record_key": None, "tie_name": None,
        "tie_nib": None, "is_deletion": False, "nib": None, "nik_ps": None, "phone_ps": None,
        "province_code": None, "regency_code": None, "scale": None, "kbli": None,
        "kbli_category": None, "joined_date": None, "status": None, "turnover_idr": None,
        "products": None, "quarantine_rule": None, "quarantine_column": None, "excerpt": None,
        "warnings": [],
    }  # fmt: skip
    unknown = set(values) - set(base)
    assert not unknown, unknown
    base.update(values)
    return base


def lapakdesa_key(name: str, nib: str | None, nik: str | None) -> str | None:
    """partners.md: "(the valid `NIB`, or else the valid `NIK`, with `Nama Usaha` trimmed,
    spaces collapsed, case folded)" as pipelines/normalise.py spells it."""
    ident = f"nib:{nib}" if nib else (f"nik:{nik}" if nik else None)
    return None if ident is None else f"{ident}|{name}"


def content_sha256(records: list[dict[str, Any]]) -> str:
    return hashlib.sha256(repr(records).encode()).hexdigest()


def loaded_at(partner: str, export_date: date) -> datetime:
    """A fixed load time per partner-day, so reloading identical content is comparable."""
    return datetime.combine(export_date + timedelta(days=1), time(PARTNERS.index(partner)), UTC)


def _warnings(values: dict[str, Any], partner: str) -> list[str]:
    out = []
    if values["province_code"] is None:
        out.append("region: not a known regency")
    if partner in ("pasarnusa", "tokoraya", "belanjaku", "lapakdesa") and values["scale"] is None:
        out.append("scale: scale not recognised")
    return out


@st.composite
def attributes(draw: st.DrawFn, partner: str, pools: dict[str, Any]) -> dict[str, Any]:
    """Attributes and identifiers of one record (before its key and its place in the file)."""
    province, regency = draw(st.sampled_from(REGIONS))
    values: dict[str, Any] = {
        "joined_date": draw(st.sampled_from(pools["joined"])),
        "province_code": province,
        "regency_code": regency,
        "nib": draw(st.none() | st.sampled_from(pools["nib"])),
        "nik_ps": draw(st.none() | st.sampled_from(pools["nik"])),
        "phone_ps": draw(st.none() | st.sampled_from(pools["phone"])),
    }
    if partner in ("pasarnusa", "tokoraya", "belanjaku", "lapakdesa"):
        values["scale"] = draw(st.sampled_from(SCALES))
    if partner in ("pasarnusa", "belanjaku"):
        values["kbli"], values["kbli_category"] = draw(st.sampled_from(KBLIS))
    if partner == "pasarnusa":
        values["status"] = draw(st.sampled_from(("active", "suspended", "closed")))
    if partner == "kedaiantar":
        values["status"] = draw(st.sampled_from(("active", "inactive")))
    return values


@st.composite
def marketplace_day(
    draw: st.DrawFn, partner: str, export_date: date, pools: dict[str, Any], templates: dict
) -> list[dict[str, Any]]:
    """The records of one marketplace partner-day, in file order."""
    rows: list[dict[str, Any]] = []
    if partner == "kedaiantar":
        # a snapshot of outlets: each outlet at most once, belonging to its brand (fixed per
        # world); an outlet (and so a brand) may be missing from one snapshot and back in the next
        for outlet in OUTLETS:
            if draw(st.booleans()):
                values = _versioned(draw, partner, outlet, pools, templates)
                rows.append(
                    {"record_key": outlet, "listing_key": pools["brand_of"][outlet], **values}
                )
    elif partner == "lapakdesa":
        # a monthly report of new sellers, keyed by NIB else NIK, with the normalised name
        for _ in range(draw(st.integers(0, 3))):
            name = draw(st.sampled_from(LAPAKDESA_NAMES))
            values = _versioned(draw, partner, name, pools, templates)
            rows.append(_lapakdesa_row(name, values))
            if draw(st.booleans()):
                # a twin: another seller joined the same day, sharing a phone (a tie to break
                # by name, then NIB)
                twin_name = draw(st.sampled_from(LAPAKDESA_NAMES[1:] + LAPAKDESA_NAMES[:1]))
                twin = {**draw(attributes(partner, pools)), "joined_date": values["joined_date"]}
                twin["phone_ps"] = values["phone_ps"] or draw(st.sampled_from(pools["phone"]))
                rows.append(_lapakdesa_row(twin_name, twin))
    elif partner == "pasarnusa":
        # a full snapshot: each seller listed or not (gone, then back in a later snapshot),
        # possibly one of them twice (the last row wins)
        keys = [k for k in KEYS[partner] if draw(st.booleans())]
        keys += draw(st.lists(st.sampled_from(KEYS[partner]), max_size=1))
        for key in keys:
            rows.append({"listing_key": key, **_versioned(draw, partner, key, pools, templates)})
    else:
        # a delta (tokoraya, belanjaku): the sellers created or changed that day, the same one
        # possibly twice (the last row wins)
        for key in draw(st.lists(st.sampled_from(KEYS[partner]), max_size=4)):
            if partner == "belanjaku" and draw(st.integers(0, 5)) == 0:
                # a `deleted` event: not validated, may carry identifiers (never linked)
                nib = draw(st.none() | st.sampled_from(pools["nib"]))
                rows.append({"listing_key": key, "is_deletion": True, "nib": nib})
                continue
            rows.append({"listing_key": key, **_versioned(draw, partner, key, pools, templates)})
    return [_finish(draw, partner, export_date, row) for row in rows]


def _lapakdesa_row(name: str, values: dict[str, Any]) -> dict[str, Any]:
    key = lapakdesa_key(name, values["nib"], values["nik_ps"])
    return {"listing_key": key, "tie_name": name, "tie_nib": values["nib"], **values}


def _versioned(draw: st.DrawFn, partner: str, key: str, pools: dict, templates: dict) -> dict:
    """The seller's usual attributes, or (a correction) new ones that become its usual ones."""
    slot = (partner, key)
    if slot not in templates or draw(st.integers(0, 3)) == 0:
        values = draw(attributes(partner, pools))
        if partner == "lapakdesa" and slot in templates and draw(st.booleans()):
            # the same lapakdesa seller again (same key), with other attributes
            for column in ("nib", "nik_ps"):
                values[column] = templates[slot][column]
        templates[slot] = values
    return dict(templates[slot])


def _finish(draw: st.DrawFn, partner: str, export_date: date, row: dict) -> dict[str, Any]:
    """Make a row a realistic canonical record: joined date, quarantine rule, warnings."""
    if row.get("is_deletion"):
        return record(partner, export_date, **row)
    if row["joined_date"] > export_date:
        # normalise quarantines it; here most such rows move to the export date instead
        if draw(st.integers(0, 3)) == 0:
            row["quarantine_rule"] = "joined date after the export date"
        else:
            row["joined_date"] = export_date
    no_identifier = row["nib"] is None and row["nik_ps"] is None and row["phone_ps"] is None
    if row.get("quarantine_rule") is None:
        if row["listing_key"] is None:
            row["quarantine_rule"] = "no listing key (no valid NIB or NIK)"
        elif no_identifier:
            row["quarantine_rule"] = "no valid identifier"
        elif draw(st.integers(0, 7)) == 0:
            # any other defect that quarantines; the row keeps what it carried (never counted)
            row["quarantine_rule"] = draw(st.sampled_from(QUARANTINE_RULES))
            if row["quarantine_rule"] == "no listing key":
                row["listing_key"] = None
    if row.get("quarantine_rule") is not None:
        row["excerpt"] = "…"
    else:
        row["warnings"] = _warnings(row, partner)
    return record(partner, export_date, **row)


@st.composite
def ekatalog_day(draw: st.DrawFn, export_date: date, pools: dict[str, Any]) -> list[dict]:
    """A weekly lkpp-ekatalog snapshot of vendors (the same kode_penyedia possibly twice)."""
    rows = []
    for key in draw(st.lists(st.sampled_from(KEYS["lkpp-ekatalog"]), max_size=5)):
        province, _ = draw(st.sampled_from(REGIONS))
        values = {
            "listing_key": key,
            "nib": draw(st.none() | st.sampled_from(pools["nib"])),
            "scale": draw(st.sampled_from(("mikro", "kecil", "menengah", "non_umkm", None))),
            "products": draw(st.none() | st.integers(0, 40)),
            "joined_date": min(draw(st.sampled_from(pools["joined"])), export_date),
            "province_code": province,
        }
        if draw(st.integers(0, 7)) == 0:
            values["quarantine_rule"] = draw(
                st.sampled_from(("no listing key", "joined date after the export date"))
            )
            if values["quarantine_rule"] == "no listing key":
                values["listing_key"] = None
            values["excerpt"] = "…"
        elif values["products"] is None:
            values["warnings"] = ["jumlah_produk: not a whole number"]
        rows.append(record("lkpp-ekatalog", export_date, **values))
    return rows


def _place_in_files(partner: str, rows: list[dict], draw: st.DrawFn) -> list[dict]:
    """File order: belanjaku in parts (row numbers restart in each part), others one file."""
    if partner == "belanjaku" and len(rows) > 1:
        split = draw(st.integers(0, len(rows)))
        for i, row in enumerate(rows):
            part = 0 if i < split else 1
            row["file"] = f"part-{part:05d}.jsonl.gz"
            row["file_index"] = part
            row["row_number"] = i + 1 if part == 0 else i - split + 1
    else:
        for i, row in enumerate(rows):
            row["row_number"] = i + 1
    return rows


@st.composite
def worlds(draw: st.DrawFn, max_days_per_partner: int = 3) -> tuple[list[PartnerDay], dict]:
    """(partner-days in nightly load order, delivered days by partner)."""
    pools: dict[str, Any] = {
        "nib": NIBS[: draw(st.integers(1, 5))],
        "nik": NIKS[: draw(st.integers(1, 5))],
        "phone": PHONES[: draw(st.integers(1, 5))],
        # a few joined dates, so that ties are common; some before the programme start
        "joined": draw(
            st.lists(
                st.sampled_from(
                    [date(2019, 12, 31), date(2020, 5, 13), date(2020, 5, 14), *ALL_DAYS[::9]]
                ),
                min_size=1,
                max_size=5,
                unique=True,
            )
        ),
        "brand_of": {o: draw(st.sampled_from(KEYS["kedaiantar"])) for o in OUTLETS},
    }
    partners = draw(st.lists(st.sampled_from(PARTNERS), min_size=1, max_size=6, unique=True))
    templates: dict = {}
    days: list[PartnerDay] = []
    delivered: dict[str, set[date]] = {}
    for partner in sorted(partners):
        export_dates = draw(
            st.lists(
                st.sampled_from(scheduled(partner)),
                # snapshots: at least two, so that listings can disappear (and come back)
                min_size=2 if partner in ("pasarnusa", "kedaiantar") else 1,
                max_size=max_days_per_partner + (partner in ("pasarnusa", "kedaiantar")),
                unique=True,
            )
        )
        for export_date in sorted(export_dates):
            delivered.setdefault(partner, set()).add(export_date)
            failed = draw(st.integers(0, 7)) == 0
            days.append(draw(partner_day(partner, export_date, failed, pools, templates)))
        # scheduled days delivered (with _SUCCESS) that this run did not load
        extra = draw(st.lists(st.sampled_from(scheduled(partner)), max_size=2))
        delivered[partner].update(extra)
    days.sort(key=lambda pd: (pd.export_date, pd.partner))
    # re-deliveries of past partner-days with new content (partners.md: "a corrected
    # re-delivery of a past day (same folder, new content): that partner-day replaced"), or
    # refused ("leaves what was loaded before untouched"), loaded later than the first delivery
    for _ in range(draw(st.integers(0, 2))):
        first = draw(st.sampled_from(days))
        failed = draw(st.integers(0, 3)) == 0
        again = draw(partner_day(first.partner, first.export_date, failed, pools, templates))
        last = max(i for i, pd in enumerate(days) if same_day(pd, first))
        days.insert(draw(st.integers(last + 1, len(days))), again)
    return days, delivered


@st.composite
def partner_day(
    draw: st.DrawFn, partner: str, export_date: date, failed: bool, pools: dict, templates: dict
) -> PartnerDay:
    if failed:
        return PartnerDay(
            partner,
            export_date,
            "failed",
            rows_read=draw(st.none() | st.integers(0, 9)),
            content_sha256=hashlib.sha256(f"{partner}{export_date}".encode()).hexdigest(),
            detail="manifest.json: row count 3, the file holds 2",
            loaded_at=loaded_at(partner, export_date),
        )
    if partner == "lkpp-ekatalog":
        rows = draw(ekatalog_day(export_date, pools))
    else:
        rows = draw(marketplace_day(partner, export_date, pools, templates))
    rows = _place_in_files(partner, rows, draw)
    return PartnerDay(
        partner,
        export_date,
        "loaded",
        tuple(rows),
        content_sha256=content_sha256(rows),
        loaded_at=loaded_at(partner, export_date),
    )


def same_day(a: PartnerDay, b: PartnerDay) -> bool:
    return (a.partner, a.export_date) == (b.partner, b.export_date)


def current_versions(days: list[PartnerDay]) -> list[PartnerDay]:
    """The last delivery of each partner-day (what reloading "the same content" means)."""
    last = {(pd.partner, pd.export_date): pd for pd in days}
    return list(last.values())


def keep_version_order(original: list[PartnerDay], order: list[PartnerDay]) -> list[PartnerDay]:
    """`order` with the deliveries of each partner-day put back in their original sequence,
    so that a shuffled load order still ends with each partner-day's latest delivery."""
    versions: dict[tuple[str, date], list[PartnerDay]] = {}
    for pd in original:
        versions.setdefault((pd.partner, pd.export_date), []).append(pd)
    seen: dict[tuple[str, date], int] = {}
    out = []
    for pd in order:
        key = (pd.partner, pd.export_date)
        out.append(versions[key][seen.get(key, 0)])
        seen[key] = seen.get(key, 0) + 1
    return out


def reloaded(pd: PartnerDay) -> PartnerDay:
    """The same partner-day delivered and loaded again (identical content)."""
    return replace(pd)


def coverage(days: list[PartnerDay]) -> set[str]:
    """The interesting cases a world holds (for hypothesis statistics and the coverage test)."""
    from tests.reference_model import build_listings, build_umkm, current_content, is_valid

    found: set[str] = set()
    _, content = current_content(days)
    listings = build_listings(content)
    umkms = build_umkm(listings)
    by_partner: dict[str, list[PartnerDay]] = {}
    for pd in days:
        by_partner.setdefault(pd.partner, []).append(pd)
        if pd.status == "failed":
            found.add("failed partner-day")
        if sum(1 for o in days if same_day(o, pd)) > 1:
            found.add("partner-day delivered again with new content")
        for r in pd.records:
            if r["is_deletion"]:
                found.add("belanjaku deleted event")
            elif r["quarantine_rule"] is not None and r["listing_key"] is not None:
                found.add("quarantined record with a listing key")
    for u in umkms:
        ids = [m.identifiers for m in u.listings]
        if len(u.listings) >= 3 and not set.intersection(*ids):
            found.add("chain of three listings with no identifier common to all")
        if len({m.partner for m in u.listings}) > 1:
            found.add("UMKM across partners")
        if (
            any(kind == "nib" for m in u.listings for kind, _ in m.identifiers)
            and len({m.partner for m in u.listings}) > 1
        ):
            found.add("shared identifiers across partners")
        joined = [m.joined for m in u.listings]
        first = [m for m in u.listings if m.joined == min(joined)]
        if len({m.partner for m in first}) > 1:
            found.add("tie on joined date across partners")
        if len([m for m in first if m.partner == "lapakdesa"]) > 1:
            found.add("tie on joined date between lapakdesa listings")
        if u.onboarding < date(2020, 5, 14):
            found.add("UMKM online before the programme")
        if u.province is None:
            found.add("unknown province")
        if u.scale == "unknown":
            found.add("unknown scale")
        if u.sector == "unknown":
            found.add("unknown sector")
    for (partner, key), listing in listings.items():
        records = [
            (pd.export_date, r)
            for pd in content.values()
            if pd.partner == partner
            for r in pd.records
            if is_valid(r) and r["listing_key"] == key
        ]
        if len({r["joined_date"] for _, r in records}) > 1 and partner != "kedaiantar":
            found.add("correction of a joined date")
        if len({(r["province_code"], r["scale"]) for _, r in records}) > 1:
            found.add("correction of province or scale")
        if partner == "kedaiantar" and any(
            sum(1 for d2, _ in records if d2 == d) > 1 for d, _ in records
        ):
            found.add("kedaiantar brand with several outlets")
        if min(r["joined_date"] for _, r in records) < listing.joined:
            found.add("listing whose latest record moves its joined date later")
    for partner in ("pasarnusa", "kedaiantar"):
        loaded = sorted(
            (pd.export_date, {r["listing_key"] for r in pd.records if is_valid(r)})
            for pd in content.values()
            if pd.partner == partner
        )
        for (_, a), (_, b), (_, c) in zip(loaded, loaded[1:], loaded[2:], strict=False):
            if (a - b) & c:
                found.add("snapshot listing that disappears and reappears")
    for pd in content.values():
        # a record whose joined date lies before the export date of a partner-day loaded earlier
        earlier = [o.export_date for o in content.values() if o.export_date < pd.export_date]
        if pd.partner == "lkpp-ekatalog":
            online = {v for lst in listings.values() for k, v in lst.identifiers if k == "nib"}
            if any(is_valid(r) and r["nib"] in online for r in pd.records):
                found.add("e-catalogue vendor also online")
        elif earlier and any(is_valid(r) and r["joined_date"] < max(earlier) for r in pd.records):
            found.add("late record with an old joined date")
    return found
