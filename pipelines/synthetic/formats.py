"""What each hand-made model writes: a chunk's listings formatted as its exports spell them.

`_<model>(chunk)` formats every listing of a chunk as one model writes it (cached on the chunk:
a snapshot repeats the same text day after day); `<model>_day` selects and adjusts the rows of
one export date. A contract's `synthetic.model` says which partner a model writes for. Columns whose name starts with `_` are helpers for the day selection and the
fault injector; writers drop them. All of it is column-wise Polars, never a loop over rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import polars as pl

from pipelines.synthetic.world import (
    EVENTS,
    SNAPSHOT,
    SPREADSHEET,
    WORKBOOK,
    Chunk,
    day_number,
    digits,
    geo,
    mix64,
    pick,
    random_phones,
)

SPREADSHEET_COLUMNS = [
    "ID Toko", "Nama Toko", "NIK Pemilik", "No. HP", "NIB", "Provinsi", "Kabupaten/Kota",
    "Skala Usaha", "Tanggal Bergabung", "Omzet Bulanan (Rp)",
]  # fmt: skip
SNAPSHOT_COLUMNS = [
    "seller_id", "shop_name", "owner_nik", "owner_phone", "nib", "regency_code",
    "business_scale", "kbli", "joined_at", "status",
]  # fmt: skip
OUTLET_COLUMNS = [
    "outlet_id", "brand_id", "brand_name", "owner_nik", "owner_phone", "nib", "province_code",
    "regency_code", "category", "registered_on", "is_active",
]  # fmt: skip
WORKBOOK_COLUMNS = [
    "No", "Nama Usaha", "NIB", "NIK", "Telepon", "Kode Provinsi", "Kabupaten/Kota",
    "Tanggal Daftar", "Skala",
]  # fmt: skip
CATALOGUE_COLUMNS = [
    "kode_penyedia", "nama_penyedia", "nib", "npwp", "kualifikasi_usaha", "kode_provinsi",
    "jumlah_produk", "tanggal_tayang",
]  # fmt: skip

CHANGED_PER_DAY = 0.002  # share of a delta partner's existing listings re-sent as changed
MONTHS_FULL = (
    ("Januari",), ("Februari", "Pebruari"), ("Maret",), ("April",), ("Mei",), ("Juni",),
    ("Juli",), ("Agustus",), ("September",), ("Oktober",), ("November", "Nopember"),
    ("Desember",),
)  # fmt: skip
MONTHS_SHORT = (
    ("Jan",), ("Feb", "Peb"), ("Mar",), ("Apr",), ("Mei",), ("Jun",), ("Jul",),
    ("Agu", "Agt", "Ags"), ("Sep", "Sept"), ("Okt",), ("Nov", "Nop"), ("Des",),
)  # fmt: skip


# -- spelling tables (reference-sized, built once) ------------------------------------------


def _province_spellings(code: str, name: str) -> list[str]:
    if code == "31":
        return ["DKI Jakarta", "DKI Jakarta", "D.K.I. Jakarta", "Prov. DKI Jakarta",
                "DKI JAKARTA", "Daerah Khusus Ibukota Jakarta", "Provinsi  DKI Jakarta",
                "D.K.I Jakarta"]  # fmt: skip
    if code == "34":
        return ["DI Yogyakarta", "DI Yogyakarta", "D.I. Yogyakarta", "Prov. DI Yogyakarta",
                "Daerah Istimewa Yogyakarta", "D.I YOGYAKARTA", "DI  Yogyakarta"]  # fmt: skip
    return [name, name, name, f"Prov. {name}", f"Provinsi {name}", name.upper(),
            f"PROV. {name.upper()}", name.lower(), name.replace(" ", "  "), f" {name} "]  # fmt: skip


def _regency_spellings(name: str) -> list[str]:
    kind, _, rest = name.partition(" ")
    admin = rest.startswith("Administrasi ")
    core = rest.removeprefix("Administrasi ")
    if kind == "Kabupaten":
        out = [f"Kabupaten {core}", f"Kab. {core}", f"Kab. {core}", f"KAB. {core.upper()}",
               f"{core}, Kabupaten", f"Kab {core}", f"kabupaten {core.lower()}",
               f"Kabupaten  {core}", f"{core.upper()}, KAB."]  # fmt: skip
    else:
        out = [f"Kota {core}", f"Kota {core}", f"KOTA {core.upper()}", f"{core}, Kota",
               f"Kota  {core}", f"kota {core.lower()}", f" Kota {core}"]  # fmt: skip
    if admin:
        out.append(name)
    return out


class _Table:
    """Variants per key, flattened for a vectorised `variants[key][v % count]`."""

    def __init__(self, variants: list[list[str]]) -> None:
        self.flat = [s for group in variants for s in group]
        self.count = np.array([len(g) for g in variants])
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]])

    def pick(self, key: np.ndarray, v: np.ndarray) -> pl.Series:
        return pick(self.flat, self.start[key] + v % self.count[key])


_tables: dict[str, _Table] = {}


def _table(name: str) -> _Table:
    if name not in _tables:
        g = geo()
        if name == "province":
            groups = [
                _province_spellings(c, n) for c, n in zip(g.prov_codes, g.prov_names, strict=True)
            ]
        elif name == "regency":
            groups = [_regency_spellings(n) for n in g.reg_names]
        elif name == "month_full":
            groups = [list(m) for m in MONTHS_FULL]
        else:
            groups = [list(m) for m in MONTHS_SHORT]
        _tables[name] = _Table(groups)
    return _tables[name]


# -- shared helpers --------------------------------------------------------------------------


def _np(s: pl.Series) -> np.ndarray:
    return s.to_numpy()


def _ids(chunk: Chunk, partner: int) -> pl.DataFrame:
    """A partner's listings with the identifier values each listing carries (null if not)."""
    lst = chunk.partner_listings(partner)
    phone = pl.when(pl.col("uses_phone2")).then(pl.col("phone2")).otherwise(pl.col("phone"))
    return lst.with_columns(
        id_nik=pl.when(pl.col("inc_nik")).then(pl.col("nik")),
        id_phone=pl.when(pl.col("inc_phone")).then(phone),
        id_nib=pl.when(pl.col("inc_nib")).then(pl.col("nib")),
        reg_code=pick(geo().reg_codes, lst["reg"]),
    )


def scramble(values: pl.Series | np.ndarray, modulus: int, salt: int) -> pl.Series:
    """A bijection of [0, modulus) for ids that look random but never collide."""
    x = np.asarray(values, dtype=np.int64)
    # the multiplier is prime to 10, and x * it fits in int64 for any x below 2**31
    return pl.Series((x * 3_141_592_653 + salt % modulus) % modulus)


def changed_mask(lid: pl.Series, day: date, rate: float = CHANGED_PER_DAY) -> pl.Series:
    """Listings a delta partner re-sends as changed on `day` (deterministic per listing-day)."""
    h = mix64(_np(lid).astype(np.uint64) * np.uint64(100_003) + np.uint64(day_number(day)))
    return pl.Series(h % np.uint64(1_000_000) < np.uint64(int(rate * 1_000_000)))


def thousands(value: pl.Expr) -> pl.Expr:
    """1234567 -> `1.234.567` (Indonesian grouping)."""
    return (
        value.cast(pl.String).str.reverse().str.extract_all(r"\d{1,3}").list.join(".").str.reverse()
    )


def local_timestamp(day: pl.Expr, secs: pl.Expr) -> pl.Expr:
    """Asia/Jakarta wall-clock time of the join (naive datetime)."""
    return day.cast(pl.Datetime("ms")) + pl.duration(seconds=secs)


def phone_styles(phone: pl.Expr, style: pl.Expr) -> pl.Expr:
    """A local `08...` number written in one of the ways people type it (a spreadsheet)."""
    p = phone
    return (
        pl.when(style == 1)
        .then(p.str.slice(0, 4) + "-" + p.str.slice(4, 4) + "-" + p.str.slice(8))
        .when(style == 2)
        .then("+62 " + p.str.slice(1, 3) + " " + p.str.slice(4, 4) + " " + p.str.slice(8))
        .when(style == 3)
        .then("(" + p.str.slice(0, 4) + ") " + p.str.slice(4))
        .when(style == 4)
        .then("62" + p.str.slice(1))
        .otherwise(p)
    )


def scale_case(scale: pl.Expr, v: pl.Expr) -> pl.Expr:
    """`Mikro`, `MIKRO` or `mikro` (Indonesian scale words in any case)."""
    word = scale.replace_strict({0: "Mikro", 1: "Kecil", 2: "Menengah"}, return_dtype=pl.String)
    return (
        pl.when(v % 20 < 12)
        .then(word)
        .when(v % 20 < 17)
        .then(word.str.to_uppercase())
        .otherwise(word.str.to_lowercase())
    )


def indonesian_dates(joined: pl.Series, v: np.ndarray) -> pl.Series:
    """`5/8/2021`, `05/08/2021`, `5 Agustus 2021`, `05 Agt 2021`, `12 Peb 2022`, any case."""
    month = _np(joined.dt.month()).astype(np.int64) - 1
    full = _table("month_full").pick(month, v // 7)
    short = _table("month_short").pick(month, v // 7)
    style = v % 20
    frame = pl.DataFrame({"d": joined, "full": full, "short": short, "style": style, "c": v % 13})
    d = pl.col("d")
    name = pl.when(pl.col("style") < 14).then(pl.col("full")).otherwise(pl.col("short"))
    name = (
        pl.when(pl.col("c") == 0)
        .then(name.str.to_uppercase())
        .when(pl.col("c") == 1)
        .then(name.str.to_lowercase())
        .otherwise(name)
    )
    year = d.dt.year().cast(pl.String)
    return frame.select(
        pl.when(pl.col("style") < 7)
        .then(d.dt.strftime("%-d/%-m/%Y"))
        .when(pl.col("style") < 10)
        .then(d.dt.strftime("%d/%m/%Y"))
        .when(pl.col("style") < 14)
        .then(d.dt.day().cast(pl.String) + " " + name + " " + year)
        .otherwise(d.dt.strftime("%d") + " " + name + " " + year)
    ).to_series()


def _cached(chunk: Chunk, key: str, build: Callable[[Chunk], pl.DataFrame]) -> pl.DataFrame:
    if key not in chunk.formatted:
        chunk.formatted[key] = build(chunk)
    return chunk.formatted[key]


# -- snapshot-csv: daily full snapshot, gzip CSV ------------------------------------------------


def _snapshot(chunk: Chunk) -> pl.DataFrame:
    x = _ids(chunk, SNAPSHOT)
    v, w = pl.col("v"), pl.col("w")
    regency_name = pick(geo().reg_names, x["reg"]).str.replace(
        r"^(Kabupaten|Kota) (Administrasi )?", ""
    )
    name = pl.col("name")
    shop = (
        pl.when(v % 1000 < 20)
        .then(name + ", " + pl.lit(regency_name))
        .when(v % 1000 < 30)
        .then(name.str.replace(" ", ' "', literal=True) + '"')
        .when(v % 1000 < 37)
        .then(name + "\nCabang " + (w % 9 + 1).cast(pl.String))
        .when(v % 1000 < 40)
        .then(name.str.replace(" ", ' "', literal=True) + '",\n' + pl.lit(regency_name))
        .otherwise(name)
    )
    local = local_timestamp(pl.col("joined"), pl.col("secs"))
    utc = local - pl.duration(hours=7)
    frac = "." + (w % 1000).cast(pl.String).str.zfill(3)
    style = (v // 1000) % 20
    joined_at = (
        pl.when(style < 9)
        .then(local.dt.strftime("%Y-%m-%dT%H:%M:%S") + "+07:00")
        .when(style < 14)
        .then(utc.dt.strftime("%Y-%m-%dT%H:%M:%S") + "Z")
        .when(style < 16)
        .then(local.dt.strftime("%Y-%m-%dT%H:%M:%S") + frac + "+07:00")
        .when(style < 17)
        .then(utc.dt.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z")
        .otherwise(local.dt.strftime("%Y-%m-%dT%H:%M:%S"))
    )
    phone = (
        pl.when((w // 1000) % 5 == 0)
        .then("+62" + pl.col("id_phone").str.slice(1))
        .otherwise(pl.col("id_phone"))
    )
    seller = "PN" + pl.lit(digits(scramble(x["gid"], 10**10, chunk.world.salt(10)), 10))
    return x.select(
        seller_id=seller,
        shop_name=shop,
        owner_nik=pl.col("id_nik"),
        owner_phone=phone,
        nib=pl.col("id_nib"),
        regency_code=pl.when((v // 20_000) % 2 == 0)
        .then(pl.col("reg_code"))
        .otherwise(pl.col("reg_code").str.replace(".", "", literal=True)),
        business_scale=pl.col("scale").replace_strict(
            {0: "micro", 1: "small", 2: "medium"}, return_dtype=pl.String
        ),
        kbli=pl.when((w // 5000) % 10 == 0).then(pl.lit(None, pl.String)).otherwise(pl.col("kbli")),
        joined_at=joined_at,
        _status=pl.col("status"),
        _status_day=pl.col("status_day"),
        _gone=pl.col("gone_day"),
        _back=pl.col("back_day"),
        _joined=pl.col("joined"),
        _lid=pl.col("lid"),
        _nik=pl.col("nik"),
        _phone=pl.col("phone"),
    )


def snapshot_day(chunk: Chunk, day: date) -> pl.DataFrame:
    """Every seller onboarded by `day`, except those the partner deleted and not restored."""
    base = _cached(chunk, "snapshot-csv", _snapshot)
    gone = (pl.col("_gone") <= day) & (pl.col("_back") > day)
    status = (
        pl.when(pl.col("_status_day") <= day)
        .then(
            pl.col("_status").replace_strict(
                {0: "active", 1: "closed", 2: "suspended"}, return_dtype=pl.String
            )
        )
        .otherwise(pl.lit("active"))
    )
    return (
        base.filter((pl.col("_joined") <= day) & ~gone)
        .with_columns(status=status)
        .select(*SNAPSHOT_COLUMNS, pl.col("^_.*$"))
    )


# -- spreadsheet-delta-csv: daily delta, Windows-1252 `;` CSV -----------------------------------


def _spreadsheet_fields() -> list[pl.Expr]:
    """The columns a changed row rewrites, from `_id_phone`, `_scale` and `_omzet`."""
    v, w = pl.col("_v"), pl.col("_w")
    omzet = pl.col("_omzet")
    omzet_style = (w // 7) % 100
    return [
        phone_styles(pl.col("_id_phone"), (w // 3) % 5).alias("No. HP"),
        scale_case(pl.col("_scale"), v // 3).alias("Skala Usaha"),
        pl.when(omzet_style < 70)
        .then(thousands(omzet) + ",00")
        .when(omzet_style < 85)
        .then("Rp " + thousands(omzet))
        .when(omzet_style < 93)
        .then(pl.lit("-"))
        .otherwise(pl.lit(None, pl.String))
        .alias("Omzet Bulanan (Rp)"),
    ]


def _spreadsheet(chunk: Chunk) -> pl.DataFrame:
    x = _ids(chunk, SPREADSHEET)
    v = _np(x["v"])
    return (
        x.select(
            pl.lit("TR" + digits(scramble(x["gid"], 10**9, chunk.world.salt(11)), 9)).alias(
                "ID Toko"
            ),
            pl.col("name").alias("Nama Toko"),
            pl.col("id_nik").alias("NIK Pemilik"),
            pl.col("id_nib").alias("NIB"),
            pl.lit(_table("province").pick(_np(x["prov"]), v // 11)).alias("Provinsi"),
            pl.lit(_table("regency").pick(_np(x["reg"]), v // 101)).alias("Kabupaten/Kota"),
            pl.lit(indonesian_dates(x["joined"], v // 13)).alias("Tanggal Bergabung"),
            _joined=pl.col("joined"),
            _lid=pl.col("lid"),
            _v=pl.col("v"),
            _w=pl.col("w"),
            _scale=pl.col("scale"),
            _omzet=pl.col("omzet"),
            _id_phone=pl.col("id_phone"),
            _nik=pl.col("nik"),
            _phone=pl.col("phone"),
        )
        .with_columns(_spreadsheet_fields())
        .select(*SPREADSHEET_COLUMNS, pl.col("^_.*$"))
    )


def changed_rows(frame: pl.DataFrame, day: date) -> pl.DataFrame:
    """Listings re-sent as changed on `day`: a new scale and turnover, or a new phone."""
    if frame.height == 0:
        return frame
    h = mix64(_np(frame["_lid"]).astype(np.uint64) ^ np.uint64(day_number(day)))
    new_scale = pl.Series(((_np(frame["_scale"]) + 1 + h % 2) % 3).astype(np.int8))
    new_phone = pl.Series(h % 10 < 3)
    rng = np.random.default_rng(int(h[0] % np.uint64(2**32)))
    return frame.with_columns(
        _scale=pl.when(new_phone).then(pl.col("_scale")).otherwise(new_scale),
        _omzet=pl.when(new_phone)
        .then(pl.col("_omzet"))
        .otherwise(pl.col("_omzet") * (1 + new_scale.cast(pl.Int64) * 9)),
        _id_phone=pl.when(new_phone)
        .then(random_phones(rng, frame.height))
        .otherwise(pl.col("_id_phone")),
    )


def _delta_selection(
    base: pl.DataFrame, day: date, first: bool, pad: int, alive: pl.Expr
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(new listings, existing listings re-sent as changed) for a delta partner's day.

    `pad`: a fault day needs rows to damage, so existing listings are re-sent until the day
    has that many.
    """
    joined = pl.col("_joined")
    if first:
        return base.filter(joined <= day), base.head(0)
    new = base.filter(joined == day)
    old = base.filter((joined < day) & alive)
    mask = changed_mask(old["_lid"], day)
    need = pad - new.height - int(mask.sum())
    if need > 0:
        # which listings fill up a fault day varies from day to day, like the changes
        h = mix64(_np(old["_lid"]).astype(np.uint64) ^ np.uint64(day_number(day) * 7_919))
        h[_np(mask)] = np.iinfo(np.uint64).max
        chosen = _np(mask).copy()
        chosen[np.argsort(h, kind="stable")[:need]] = True
        mask = pl.Series(chosen)
    return new, old.filter(mask)


def spreadsheet_day(
    chunk: Chunk, day: date, first: bool, pad: int = 0, spike: bool = False
) -> pl.DataFrame:
    """New sellers of `day` (all of them on the first delivery) plus changed ones; `spike`
    re-sends every seller (a volume spike)."""
    base = _cached(chunk, "spreadsheet-delta-csv", _spreadsheet)
    if spike:
        return base.filter(pl.col("_joined") <= day)
    new, old = _delta_selection(base, day, first, pad, pl.lit(True))
    changed = changed_rows(old, day).with_columns(_spreadsheet_fields())
    # now and then the export holds the old row first and the corrected one after it
    twice = old.filter(pl.col("_v") % 10 == 0)
    return pl.concat([new, twice, changed])


# -- event-jsonl: daily delta, JSON Lines in gzip parts -----------------------------------------

TIERS = {0: "MICRO", 1: "SMALL", 2: "MEDIUM"}


def _events(chunk: Chunk) -> pl.DataFrame:
    x = _ids(chunk, EVENTS)
    w = _np(x["w"])
    salted = x["lid"].to_numpy().astype(np.uint64) ^ np.uint64(chunk.world.salt(12))
    other = pick(("47911", "56102", "10710", "14111", "96111"), w % 5)
    style = pl.Series((w // 11) % 100)
    kbli = (
        pl.DataFrame({"k": x["kbli"], "o": other, "s": style})
        .select(
            pl.when(pl.col("s") < 75)
            .then(pl.concat_list("k"))
            .when(pl.col("s") < 85)
            .then(pl.concat_list("k", "o"))
            .when(pl.col("s") < 90)
            .then(pl.concat_list(pl.lit("479"), "k"))
            .when(pl.col("s") < 96)
            .then(pl.concat_list("k").list.slice(0, 0))
            .otherwise(pl.lit(None, pl.List(pl.String)))
        )
        .to_series()
    )
    seconds = x["joined"].to_physical().cast(pl.Int64) * 86_400 + x["secs"].cast(pl.Int64)
    return pl.DataFrame(
        {
            "_id": pl.Series(mix64(salted), dtype=pl.UInt64),
            "_name": x["name"],
            "_nik_value": x["id_nik"],
            "_nib": x["id_nib"],
            "_code": x["reg_code"].str.replace(".", "", literal=True),
            "_kbli": kbli,
            # epoch milliseconds UTC of the Asia/Jakarta wall-clock join time
            "_onboarded": (seconds - 7 * 3600) * 1000 + pl.Series(w % 1000).cast(pl.Int64),
            "_joined": x["joined"],
            "_deleted": x["deleted_day"],
            "_lid": x["lid"],
            "_v": x["v"],
            "_w": x["w"],
            "_scale": x["scale"],
            "_omzet": x["omzet"],
            "_id_phone": x["id_phone"],
            "_nik": x["nik"],
            "_phone": x["phone"],
        }
    )


def events_day(chunk: Chunk, day: date, first: bool, pad: int = 0) -> pl.DataFrame:
    """`created` events for new merchants (all of them on the first delivery), `updated` for
    changed ones, `deleted` for merchants the partner removed that day."""
    base = _cached(chunk, "event-jsonl", _events)
    deleted = pl.col("_deleted")
    new, old = _delta_selection(base, day, first, pad, deleted > day)
    gone = base.head(0) if first else base.filter((deleted == day) & (pl.col("_joined") < day))
    return pl.concat(
        [
            new.with_columns(_event=pl.lit("created")),
            changed_rows(old, day).with_columns(_event=pl.lit("updated")),
            gone.with_columns(_event=pl.lit("deleted")),
        ]
    )


def event_lines(frame: pl.DataFrame) -> pl.Series:
    """One JSON object per row, nested as partners.md's events are (ids as exact JSON integers)."""
    c = pl.col
    merchant = pl.struct(c("_id").alias("id"), c("_name").alias("name")).alias("merchant")
    msisdn = "62" + c("_id_phone").str.slice(1)
    owner = pl.struct(c("_nik_value").alias("nik"), msisdn.alias("msisdn")).alias("owner")
    legal = pl.struct(c("_nib").alias("nib")).alias("legal")
    location = pl.struct(c("_code").alias("kemendagri_code")).alias("location")
    tier = c("_scale").replace_strict(TIERS, return_dtype=pl.String).alias("tier")
    head = [c("_event").alias("event"), merchant, owner]
    tail = [location, tier, c("_kbli").alias("kbli"), c("_onboarded").alias("onboarded_at")]
    style = c("_w") % 200
    only_id = pl.struct(
        c("_event").alias("event"), pl.struct(c("_id").alias("id")).alias("merchant")
    )
    line = (
        pl.when((c("_event") == "deleted") & (style < 100))
        .then(only_id.struct.json_encode())
        .when(style < 3)
        .then(
            pl.struct(*head, legal, *tail, pl.lit("gold").alias("store_badge")).struct.json_encode()
        )
        .when(c("_nib").is_null() & (style < 60))
        .then(pl.struct(*head, *tail).struct.json_encode())
        .otherwise(pl.struct(*head, legal, *tail).struct.json_encode())
    )
    if "_broken" in frame.columns:
        # a line cut in the middle of an object: not JSON at all
        line = pl.when(c("_broken")).then(line.str.slice(0, 37)).otherwise(line)
    return frame.select(line.alias("line")).to_series()


# -- outlet-parquet: daily snapshot of outlets, Parquet ------------------------------------------


def _outlets(chunk: Chunk) -> pl.DataFrame:
    g = geo()
    o = chunk.outlets
    b = chunk.biz.gather(o["bi"])
    brand_num = digits(scramble(b["gid"], 10**9, chunk.world.salt(13)), 9)
    reg_code = pick(g.reg_codes, o["reg"]).str.replace(".", "", literal=True)
    x = pl.concat(
        [o, b.drop("gid", "reg").with_columns(brand_num=brand_num, reg_code=reg_code)],
        how="horizontal",
    )
    v = pl.col("v")
    phone = pl.when(pl.col("uses_phone2")).then(pl.col("phone2")).otherwise(pl.col("phone"))
    category = (
        pl.when(pl.col("food") & (v % 10 < 7))
        .then(pl.lit("Makanan & Minuman"))
        .when(pl.col("food") & (v % 10 < 9))
        .then(pl.lit("Minuman"))
        .when(pl.col("food"))
        .then(pl.lit("Jajanan & Kue"))
        .when(v % 2 == 0)
        .then(pl.lit("Kebutuhan Harian"))
        .otherwise(pl.lit("Lainnya"))
    )
    return x.select(
        outlet_id="OT"
        + pl.col("brand_num")
        + "-"
        + (pl.col("no") + 1).cast(pl.String).str.zfill(2),
        brand_id="BR" + pl.col("brand_num"),
        brand_name=pl.col("name"),
        owner_nik=pl.when(pl.col("inc_nik")).then(pl.col("nik")),
        owner_phone=pl.when(pl.col("inc_phone")).then(
            pl.when(v % 4 == 0).then("+62" + phone.str.slice(1)).otherwise(phone)
        ),
        nib=pl.when(pl.col("inc_nib")).then(pl.col("nib")),
        province_code=pl.col("reg_code").str.slice(0, 2).cast(pl.Int16),
        regency_code=pl.col("reg_code").cast(pl.Int32),
        category=category,
        registered_on=pl.col("registered"),
        _inactive=pl.col("inactive_day"),
        _lid=pl.col("lid"),
        _nik=pl.col("nik"),
        _phone=pl.col("phone"),
    )


def outlets_day(chunk: Chunk, day: date) -> pl.DataFrame:
    """Every outlet registered by `day`, active unless it closed by then."""
    base = _cached(chunk, "outlet-parquet", _outlets)
    return (
        base.filter(pl.col("registered_on") <= day)
        .with_columns(is_active=pl.col("_inactive") > day)
        .select(*OUTLET_COLUMNS, pl.col("^_.*$"))
    )


# -- monthly-workbook: monthly Excel report --------------------------------------------------------


def _workbook(chunk: Chunk) -> pl.DataFrame:
    x = _ids(chunk, WORKBOOK)
    v, w = pl.col("v"), pl.col("w")
    regency = pick(geo().reg_names, x["reg"])
    return x.select(
        pl.col("name").alias("Nama Usaha"),
        pl.col("id_nib").alias("NIB"),
        pl.col("id_nik").alias("NIK"),
        pl.col("id_phone").alias("Telepon"),
        pl.lit(pick(geo().prov_codes, x["prov"])).alias("Kode Provinsi"),
        pl.when((v % 10 < 3) & pl.lit(regency).str.starts_with("Kabupaten "))
        .then(pl.lit(regency).str.replace("Kabupaten ", "Kab. ", literal=True))
        .otherwise(pl.lit(regency))
        .alias("Kabupaten/Kota"),
        pl.col("joined").alias("Tanggal Daftar"),
        scale_case(pl.col("scale"), v // 10).alias("Skala"),
        _nib_number=(w % 100 < 15) & pl.col("id_nib").is_not_null(),
        _prov_text=w % 10 >= 6,
        _date_text=(w // 100) % 100 < 35,
        _nik_number=pl.lit(False),
        _report=pl.col("report_month"),
        _joined=pl.col("joined"),
        _lid=pl.col("lid"),
        _nik=pl.col("nik"),
        _phone=pl.col("phone"),
    )


def workbook_month(chunk: Chunk, month_end: date, first: bool, pad: int = 0) -> pl.DataFrame:
    """Sellers reported in the month of `month_end` (all earlier ones in the first report)."""
    base = _cached(chunk, "monthly-workbook", _workbook)
    month = (month_end.year - 1970) * 12 + month_end.month - 1
    rows = (
        base.filter(pl.col("_report") <= month)
        if first
        else base.filter(pl.col("_report") == month)
    )
    if pad and rows.height < pad:
        # a fault day needs rows to damage: earlier sellers reported once more
        earlier = base.filter(pl.col("_report") < month).head(pad - rows.height)
        rows = pl.concat([rows, earlier])
    return rows


# -- catalogue-csv: weekly vendor snapshot ---------------------------------------------------------


def _catalogue(chunk: Chunk) -> pl.DataFrame:
    vd = chunk.vendors
    salt = chunk.world.salt(14)
    vid = _np(vd["vid"])
    n15 = digits(mix64(vid.astype(np.uint64) + np.uint64(salt)) % np.uint64(10**15), 15)
    style = pl.Series(mix64(vid.astype(np.uint64) ^ np.uint64(salt)) % np.uint64(100)).cast(
        pl.Int64
    )
    s = pl.col("n")
    npwp = (
        pl.when(pl.col("style") < 60)
        .then(
            s.str.slice(0, 2) + "." + s.str.slice(2, 3) + "." + s.str.slice(5, 3) + "." + s.str.slice(8, 1)
            + "-" + s.str.slice(9, 3) + "." + s.str.slice(12, 3)
        )
        .when(pl.col("style") < 80)
        .then(s)
        .otherwise("0" + s)
    )  # fmt: skip
    legal = pick(("CV ", "UD ", "", "Koperasi "), pl.Series(_np(style) % 4))
    name = pl.when(pl.col("umkm")).then(pl.lit(legal) + pl.col("name")).otherwise(pl.col("name"))
    return vd.with_columns(n=n15, style=style).select(
        kode_penyedia=pl.when(pl.col("umkm")).then(pl.lit("1")).otherwise(pl.lit("2"))
        + pl.lit(digits(scramble(vid, 10**9, salt), 9)),
        nama_penyedia=name,
        nib=pl.col("nib"),
        npwp=npwp,
        kualifikasi_usaha=pl.col("scale").replace_strict(
            {0: "Usaha Mikro", 1: "Usaha Kecil", 2: "Usaha Menengah", 3: "Non UMKM"},
            return_dtype=pl.String,
        ),
        kode_provinsi=pl.lit(pick(geo().prov_codes, vd["prov"])),
        _shown=pl.col("shown"),
        _rate=(pl.col("style") % 7 + 1).cast(pl.Int64),
        _vid=pl.col("vid"),
    )


def catalogue_day(chunk: Chunk, day: date) -> pl.DataFrame:
    """Every vendor whose first product went online by `day`, with its product count."""
    base = _cached(chunk, "catalogue-csv", _catalogue)
    weeks = (pl.lit(day) - pl.col("_shown")).dt.total_days() // 7
    return (
        base.filter(pl.col("_shown") <= day)
        .with_columns(
            jumlah_produk=(1 + weeks * pl.col("_rate") // 2).clip(upper_bound=750),
            tanggal_tayang=pl.col("_shown").dt.strftime("%Y-%m-%d"),
        )
        .select(*CATALOGUE_COLUMNS, pl.col("^_.*$"))
    )


__all__ = [
    "CATALOGUE_COLUMNS", "OUTLET_COLUMNS", "SNAPSHOT_COLUMNS", "SPREADSHEET_COLUMNS",
    "WORKBOOK_COLUMNS", "catalogue_day", "event_lines", "events_day", "outlets_day",
    "snapshot_day", "spreadsheet_day", "workbook_month",
]  # fmt: skip
