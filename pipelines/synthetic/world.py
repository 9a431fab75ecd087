"""The synthetic world: businesses (UMKM) and their marketplace listings, chunk by chunk.

A world is a pure function of (seed, merchants, end, chunk_size). Businesses are generated in
chunks of `chunk_size` with a numpy Generator seeded from (seed, chunk index), so any chunk can
be regenerated on its own and memory is bounded by one chunk, whatever `merchants` is. Every
per-business and per-listing draw is vectorised; nothing loops over rows.

The world knows partners by the generator's hand-made models of an export (a contract's
`synthetic.model`, see MODELS): each marketplace model has a slot in the world, its draws and
listing ids, whichever partner the contracts give it to.

Grain: `Chunk.biz` has one row per business, `Chunk.listings` one row per (business, model)
listing, `Chunk.outlets` one row per outlet of the outlet model's brands, `Chunk.vendors` one
row per e-catalogue vendor (UMKM vendors and `Non UMKM` ones).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from functools import cache, cached_property

import numpy as np
import polars as pl

from pipelines import reference
from pipelines.contracts import SYNTHETIC_MODELS

# The hand-made models (pipelines/contracts.py SYNTHETIC_MODELS), in that table's order, which
# is the world's: a marketplace model's index is its slot (listing ids, draws), so the order is
# fixed; it is also the order partners are generated in and faults planned in
MARKETPLACE_MODELS = tuple(m for m, (channel, _) in SYNTHETIC_MODELS.items() if channel == "marketplace")  # fmt: skip
(CATALOGUE,) = (m for m, (channel, _) in SYNTHETIC_MODELS.items() if channel == "ekatalog")
MODELS = (*MARKETPLACE_MODELS, CATALOGUE)
SNAPSHOT, SPREADSHEET, EVENTS, OUTLETS, WORKBOOK = range(len(MARKETPLACE_MODELS))

CHUNK_SIZE = 200_000
EPOCH = date(1970, 1, 1)
EARLIEST = reference.EARLIEST_JOINED
PROGRAMME_START = reference.PROGRAMME_START
SCALES = ("mikro", "kecil", "menengah")

# Rough 2020-census population (millions) per Kemendagri province: Java dominates, as it does
# among online UMKM. Papua's 2022 split shares the old province's population.
PROVINCE_WEIGHTS = {
    "11": 5.3, "12": 14.8, "13": 5.5, "14": 6.4, "15": 3.5, "16": 8.5, "17": 2.0, "18": 9.0,
    "19": 1.5, "21": 2.1, "31": 10.6, "32": 48.3, "33": 36.5, "34": 3.7, "35": 41.0, "36": 11.9,
    "51": 4.3, "52": 5.3, "53": 5.3, "61": 5.4, "62": 2.7, "63": 4.1, "64": 3.8, "65": 0.7,
    "71": 2.6, "72": 3.0, "73": 9.1, "74": 2.6, "75": 1.2, "76": 1.4, "81": 1.8, "82": 1.3,
    "91": 1.0, "92": 0.6, "93": 0.5, "94": 1.3, "95": 1.4, "96": 0.6,
}  # fmt: skip

# Indonesian mobile operator prefixes after `08` (Telkomsel, Indosat, XL, Axis, Tri, Smartfren).
PHONE_PREFIXES = [
    "11",
    "12",
    "13",
    "21",
    "22",
    "23",
    "52",
    "53",
    "14",
    "15",
    "16",
    "55",
    "56",
    "57",
    "58",
    "17",
    "18",
    "19",
    "59",
    "77",
    "78",
    "95",
    "96",
    "97",
    "98",
    "99",
    "81",
    "82",
    "83",
    "84",
    "85",
    "86",
    "87",
    "88",
    "89",
]

# (code, weight): mostly retail (47), food service (56) and food processing (10).
KBLI_CODES = (
    ("47911", 22), ("47111", 4), ("47191", 3), ("47211", 3), ("47241", 2), ("47711", 3),
    ("47721", 2), ("47999", 1), ("56101", 6), ("56102", 8), ("56103", 6), ("56104", 2),
    ("56303", 3), ("10710", 5), ("10792", 4), ("10793", 3), ("10750", 2), ("10399", 1),
    ("14111", 4), ("13134", 2), ("16291", 1), ("32902", 1), ("96111", 2), ("96200", 1),
    ("45405", 1), ("01135", 1), ("62010", 1), ("85499", 1), ("74201", 1), ("53201", 1),
)  # fmt: skip

# Shop names: a sector prefix, a core and an optional suffix. Some words carry characters
# that exist in Windows-1252 (é, ’, –) so that the spreadsheet model's exports are not plain ASCII.
NAME_PREFIX = {
    "retail": ("Toko", "Warung", "Kios", "Grosir", "Toko Kelontong", "Mart", "Agen", "Lapak"),
    "food": ("Warung Makan", "Kedai", "Rumah Makan", "Bakso", "Mie Ayam", "Sate", "Kopi",
             "Café", "Dapur", "Nasi Goreng", "Ayam Geprek", "Soto"),
    "snack": ("Keripik", "Sambal", "Kue", "Roti", "Dodol", "Kerupuk", "Bakpia", "Abon",
              "Rengginang", "Brownies"),
    "other": ("Batik", "Kerajinan", "Konveksi", "Bengkel", "Salon", "Laundry", "Jasa",
              "Studio", "Butik", "Tenun"),
}  # fmt: skip
NAME_CORE = (
    "Berkah", "Maju Jaya", "Sumber Rejeki", "Barokah", "Sejahtera", "Mandiri", "Makmur",
    "Sentosa", "Amanah", "Lestari", "Bu Siti", "Pak Budi", "Mak Ijah", "Bang Udin", "Mbak Rina",
    "Cak Mat", "Uda Rizal", "Bli Made", "Nusantara", "Jaya Abadi", "D’Jawa", "Mama Ani",
    "Bunda", "Sederhana", "Nikmat", "Rasa Kita", "Citra", "Sinar Terang", "Dua Saudara",
    "Cahaya", "Melati", "Kenanga", "Pelangi", "Mitra", "Rezeki Nomplok", "Mak’e", "Ibu Tini",
    "Koh Ahong", "Teh Euis", "Mas Joko", "Kang Asep", "Ning Sari", "Hj. Romlah", "René",
)  # fmt: skip
NAME_SUFFIX = (
    "", "", "", "", "", "", " 2", " Jaya", " Official", " Store", " – Cabang Utama", " Asli",
    " & Co", " Group", " 88", " Crème",
)  # fmt: skip

# (model, probability for a business); the outlet and workbook models' depend on sector and area.
P_LISTING = {SNAPSHOT: 0.50, SPREADSHEET: 0.30, EVENTS: 0.35}
P_OUTLETS = (0.03, 0.33)  # (other sectors, food)
P_WORKBOOK = (0.03, 0.13)  # (cities, regencies)
P_NIB = 0.60
P_PHONE2 = 0.08
P_SAME_OWNER = 0.005
P_VENDOR = (0.02, 0.08, 0.20)  # e-catalogue, by scale, businesses with a NIB only
NON_UMKM_VENDORS = 0.25  # extra `Non UMKM` vendors per UMKM vendor
NIK_SERIAL_MIN = 9000  # serials 9000-9999: unlikely to be anyone's (see Chunk._businesses)
NEVER = 2_932_896  # 9999-12-31 as a day number: after any range

_U64 = np.uint64


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a bijection on uint64, used for ids and per-day hashing."""
    z = np.asarray(x).astype(np.uint64) + _U64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def day_number(d: date) -> int:
    """Days since 1970-01-01 (the integer behind a Polars/Arrow Date)."""
    return (d - EPOCH).days


def as_date(days: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(days, dtype=np.int32)).cast(pl.Date)


def pick(choices: list[str] | tuple[str, ...], idx: np.ndarray | pl.Series) -> pl.Series:
    """Vectorised `choices[idx]` for strings."""
    return pl.Series(list(choices), dtype=pl.String).gather(idx)


def digits(values: np.ndarray | pl.Series, width: int) -> pl.Series:
    """Zero-padded decimal text of non-negative integers."""
    return pl.Series(values).cast(pl.String).str.zfill(width)


@dataclass(frozen=True)
class Geo:
    """Reference regions as arrays for vectorised sampling (sorted by Kemendagri code)."""

    prov_codes: tuple[str, ...]
    prov_names: tuple[str, ...]
    prov_p: np.ndarray  # sampling probability per province
    reg_codes: tuple[str, ...]  # `32.73`
    reg_names: tuple[str, ...]
    reg_prov: np.ndarray  # province index of each regency
    reg_city: np.ndarray  # bool: `Kota ...`
    reg_cum: np.ndarray  # cumulative regency weight (cities count double: more online shops)
    prov_first_reg: np.ndarray
    prov_last_reg: np.ndarray
    dist_codes: tuple[str, ...]  # `327301` (the NIK form)
    reg_dist_start: np.ndarray
    reg_dist_count: np.ndarray


@cache
def geo() -> Geo:
    provs = reference.provinces().sort("code")
    regs = reference.regencies().sort("code")
    dists = reference.districts().sort("code")
    prov_codes = tuple(provs["code"].to_list())
    prov_index = {c: i for i, c in enumerate(prov_codes)}
    weights = np.array([PROVINCE_WEIGHTS.get(c, 1.0) for c in prov_codes])
    reg_prov = np.array([prov_index[c] for c in regs["province_code"].to_list()])
    reg_city = np.array(regs["name"].str.starts_with("Kota ").to_list())
    reg_cum = np.cumsum(np.where(reg_city, 2.0, 1.0))
    first = np.searchsorted(reg_prov, np.arange(len(prov_codes)), side="left")
    last = np.searchsorted(reg_prov, np.arange(len(prov_codes)), side="right") - 1
    reg_codes = tuple(regs["code"].to_list())
    dist_reg = np.array(dists["regency_code"].to_list())
    starts = np.searchsorted(dist_reg, np.array(reg_codes), side="left")
    ends = np.searchsorted(dist_reg, np.array(reg_codes), side="right")
    return Geo(
        prov_codes=prov_codes,
        prov_names=tuple(provs["name"].to_list()),
        prov_p=weights / weights.sum(),
        reg_codes=reg_codes,
        reg_names=tuple(regs["name"].to_list()),
        reg_prov=reg_prov,
        reg_city=reg_city,
        reg_cum=reg_cum,
        prov_first_reg=first,
        prov_last_reg=last,
        dist_codes=tuple(dists["code"].str.replace_all(".", "", literal=True).to_list()),
        reg_dist_start=starts,
        reg_dist_count=ends - starts,
    )


def sample_regency(rng: np.random.Generator, prov: np.ndarray) -> np.ndarray:
    """One regency per row, inside the row's province, cities weighted double."""
    g = geo()
    lo_idx = g.prov_first_reg[prov]
    lo = np.where(lo_idx > 0, g.reg_cum[np.maximum(lo_idx - 1, 0)], 0.0)
    hi = g.reg_cum[g.prov_last_reg[prov]]
    target = lo + rng.random(len(prov)) * (hi - lo)
    reg = np.searchsorted(g.reg_cum, target, side="right")
    return np.clip(reg, lo_idx, g.prov_last_reg[prov])


def random_phones(rng: np.random.Generator, n: int) -> pl.Series:
    """Indonesian mobile numbers in local form: `08` + operator prefix + 6-8 digits."""
    prefix = pick(PHONE_PREFIXES, rng.integers(0, len(PHONE_PREFIXES), n))
    length = rng.choice(np.array([6, 7, 8]), n, p=[0.1, 0.3, 0.6])
    rest = digits(rng.integers(0, 10**8, n), 8).str.slice(0, pl.Series(length))
    return ("08" + prefix + rest).rename("phone")


def _skewed_days(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    """Days in [lo, hi] with a density growing linearly in time (more recent is likelier)."""
    if hi <= lo:
        return np.full(n, lo, dtype=np.int64)
    return lo + np.floor(np.sqrt(rng.random(n)) * (hi - lo + 1)).astype(np.int64).clip(0, hi - lo)


@dataclass(frozen=True)
class World:
    """The generated population: `merchants` businesses online by `end`, exported over
    [start, end] (the range decides when partners deliver, which orders each business's
    listings and places the deletions a snapshot shows)."""

    seed: int
    merchants: int
    start: date
    end: date
    chunk_size: int = CHUNK_SIZE

    @property
    def month_ends(self) -> np.ndarray:
        """The monthly model's delivery days in the range (day numbers)."""
        first = np.datetime64(self.start, "M")
        last = np.datetime64(self.end, "M")
        ends = (np.arange(first, last + 1) + 1).astype("datetime64[D]").astype(np.int64) - 1
        return ends[(ends >= day_number(self.start)) & (ends <= day_number(self.end))]

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.merchants / self.chunk_size)

    def salt(self, purpose: int) -> int:
        """A per-seed constant (not a draw: stays the same in every chunk)."""
        return int(mix64(np.array([self.seed * 1_000_003 + purpose]))[0])

    def chunk(self, k: int) -> Chunk:
        return Chunk(self, k)


class Chunk:
    """Businesses [k*chunk_size, ...) of a world, with their listings, outlets and vendors."""

    def __init__(self, world: World, k: int) -> None:
        self.world = world
        self.k = k
        self.first_gid = k * world.chunk_size
        self.n = max(0, min(world.chunk_size, world.merchants - self.first_gid))
        rng = np.random.default_rng(np.random.SeedSequence([world.seed, k, 20_200_514]))
        self.biz = self._businesses(rng)
        self.listings = self._listings(rng)
        self.outlets = self._outlets(rng)
        self.vendors = self._vendors(rng)
        # model-specific formatted rows, built on demand and kept while the chunk lives
        self.formatted: dict[str, pl.DataFrame] = {}

    # -- businesses -------------------------------------------------------------------------

    def _businesses(self, rng: np.random.Generator) -> pl.DataFrame:
        """One row per business, with its owner's identifiers.

        Every NIK is structurally valid: a real district code, a real birth date (1955-2004,
        day + 40 for women) and a serial in 9000-9999. Registries hand out serials from 0001
        per district and birth date, so serials this high keep a generated NIK unlikely to
        belong to anyone. Phones are Indonesian mobile numbers (`08` + operator prefix).
        """
        g, w, n = geo(), self.world, self.n
        gid = self.first_gid + np.arange(n, dtype=np.int64)
        prov = rng.choice(len(g.prov_codes), n, p=g.prov_p)
        reg = sample_regency(rng, prov)
        # the owner's NIK keeps the district of first registration: mostly the shop's regency
        moved = rng.random(n) < 0.10
        dist = np.where(
            moved,
            rng.integers(0, len(g.dist_codes), n),
            g.reg_dist_start[reg] + np.floor(rng.random(n) * g.reg_dist_count[reg]).astype(int),
        )
        born = rng.integers(
            day_number(date(1955, 1, 1)), day_number(date(2004, 12, 31)) + 1, n
        ).astype("datetime64[D]")
        female = rng.random(n) < 0.5
        year = born.astype("datetime64[Y]").astype(int) + 1970
        month = born.astype("datetime64[M]").astype(int) % 12 + 1
        day = (born - born.astype("datetime64[M]")).astype(int) + 1
        serial = NIK_SERIAL_MIN + rng.integers(0, 10_000 - NIK_SERIAL_MIN, n)
        nik = (
            pick(g.dist_codes, dist)
            + digits(day + 40 * female, 2)
            + digits(month, 2)
            + digits(year % 100, 2)
            + digits(serial, 4)
        )
        # ~0.5% are an owner's second business: same NIK as the business before it
        same_owner = rng.random(n) < P_SAME_OWNER
        if n:
            same_owner[0] = False
        same_owner[1:] &= ~same_owner[:-1].copy()  # never a chain of copies
        src = np.where(same_owner, np.arange(n) - 1, np.arange(n))
        nik = nik.gather(src)
        phone = random_phones(rng, n)
        phone2 = random_phones(rng, n)
        has_phone2 = rng.random(n) < P_PHONE2
        has_nib = rng.random(n) < P_NIB
        # NIB: a bijection of the business id (no two businesses share one by accident)
        nib_num = (gid * 7_919_000_003 + w.salt(1) % 10**12) % 10**12
        nib = "9" + digits(nib_num, 12)
        scale = rng.choice(3, n, p=[0.85, 0.12, 0.03]).astype(np.int8)
        kw = np.array([wt for _, wt in KBLI_CODES], dtype=float)
        kbli_i = rng.choice(len(KBLI_CODES), n, p=kw / kw.sum())
        kbli = pick([c for c, _ in KBLI_CODES], kbli_i)
        division = kbli.str.slice(0, 2)
        sector = (
            pl.select(
                pl.when(division == "47")
                .then(pl.lit("retail"))
                .when(division == "56")
                .then(pl.lit("food"))
                .when(division == "10")
                .then(pl.lit("snack"))
                .otherwise(pl.lit("other"))
            )
            .to_series()
            .alias("sector")
        )
        end = day_number(w.end)
        start_prog = day_number(PROGRAMME_START)
        first = day_number(EARLIEST)
        if end > start_prog:
            before = rng.random(n) < 0.18
            online = np.where(
                before,
                _skewed_days(rng, n, first, start_prog - 1),
                _skewed_days(rng, n, start_prog, end),
            )
        else:
            online = _skewed_days(rng, n, first, end)
        name = self._names(rng, sector)
        return pl.DataFrame(
            {
                "gid": gid,
                "prov": prov.astype(np.int32),
                "reg": reg.astype(np.int32),
                "nik": nik,
                "phone": phone,
                "phone2": pl.select(pl.when(pl.Series(has_phone2)).then(phone2)).to_series(),
                "nib": pl.select(pl.when(pl.Series(has_nib)).then(nib)).to_series(),
                "scale": scale,
                "kbli": kbli,
                "food": division.is_in(["56", "10"]),
                "online": as_date(online),
                "name": name,
                "same_owner": same_owner,
                "omzet": self._turnover(rng, scale),
            }
        )

    @staticmethod
    def _names(rng: np.random.Generator, sector: pl.Series) -> pl.Series:
        n = len(sector)
        prefix = pl.Series([None] * n, dtype=pl.String)
        for key, words in NAME_PREFIX.items():
            chosen = pick(words, rng.integers(0, len(words), n))
            prefix = pl.select(pl.when(sector == key).then(chosen).otherwise(prefix)).to_series()
        core = pick(NAME_CORE, rng.integers(0, len(NAME_CORE), n))
        suffix = pick(NAME_SUFFIX, rng.integers(0, len(NAME_SUFFIX), n))
        return (prefix + " " + core + suffix).alias("name")

    @staticmethod
    def _turnover(rng: np.random.Generator, scale: np.ndarray) -> np.ndarray:
        """Monthly turnover in rupiah, log-uniform inside the scale's legal band."""
        lo = np.array([1e6, 25e6, 400e6])[scale]
        hi = np.array([25e6, 400e6, 4e9])[scale]
        value = np.exp(np.log(lo) + rng.random(len(scale)) * (np.log(hi) - np.log(lo)))
        return (np.round(value / 1000) * 1000).astype(np.int64)

    # -- listings ---------------------------------------------------------------------------

    def _listings(self, rng: np.random.Generator) -> pl.DataFrame:
        b, n = self.biz, self.n
        food = b["food"].to_numpy()
        city = geo().reg_city[b["reg"].to_numpy()]
        p = np.empty((n, 5))
        for code, prob in P_LISTING.items():
            p[:, code] = prob
        p[:, OUTLETS] = np.where(food, P_OUTLETS[1], P_OUTLETS[0])
        p[:, WORKBOOK] = np.where(city, P_WORKBOOK[0], P_WORKBOOK[1])
        on = rng.random((n, 5)) < p
        none = ~on.any(axis=1)
        fallback = rng.choice(5, n, p=np.array([0.5, 0.3, 0.35, 0.15, 0.1]) / 1.4)
        on[none, fallback[none]] = True
        bi, partner = np.nonzero(on)  # row-major: grouped by business
        m = len(bi)
        count = on.sum(axis=1)
        start_of = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)

        online = b["online"].to_physical().to_numpy().astype(np.int64)
        end = day_number(self.world.end)
        # one listing per business is the first online (joined = online date); others follow
        first_pos = np.floor(rng.random(n) * count).astype(np.int64)
        is_first = np.zeros(m, dtype=bool)
        is_first[start_of + first_pos] = True
        delay = np.ceil(rng.exponential(365.0, m)).astype(np.int64)
        joined = np.where(is_first, online[bi], online[bi] + delay)
        secs = rng.integers(6 * 3600, 23 * 3600, m)
        # the workbook reports a seller in its join month, a few one or two months late
        month = joined.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        late = rng.choice(3, m, p=[0.92, 0.06, 0.02])
        report_month = np.where(partner == WORKBOOK, month + late, month)
        delivered = self._first_delivery(partner, joined, report_month)
        # a business's listings are ordered by the day they first reach the landing area, so
        # the ones delivered by any day form a prefix of the identifier chain built below and
        # stay linked (a listing delivered after the range is never a missing middle link)
        order = np.lexsort((rng.random(m), delivered, bi))
        bi, partner, joined, secs = bi[order], partner[order], joined[order], secs[order]
        report_month, delivered = report_month[order], delivered[order]
        pos = np.arange(m) - start_of[bi]

        # identifiers: each listing carries a random non-empty subset of {NIK, phone, NIB};
        # consecutive listings of a business share one (a chain: phone, then NIK, ...)
        has_nib = b["nib"].is_not_null().to_numpy()[bi]
        has_p2 = b["phone2"].is_not_null().to_numpy()[bi]
        p2_pos = np.floor(rng.random(n) * count).astype(np.int64)
        uses_p2 = has_p2 & (count[bi] >= 2) & (pos == p2_pos[bi])
        inc = np.stack(
            [rng.random(m) < 0.55, rng.random(m) < 0.70, has_nib & (rng.random(m) < 0.70)], axis=1
        )
        link = np.nonzero(pos >= 1)[0]
        allowed = np.stack(
            [
                np.ones(len(link), dtype=bool),
                ~uses_p2[link] & ~uses_p2[link - 1],
                has_nib[link],
            ],
            axis=1,
        )
        kind = np.argmax(rng.random((len(link), 3)) * allowed, axis=1)
        inc[link, kind] = True
        inc[link - 1, kind] = True
        # the workbook keys a seller by NIB or NIK: one of them must be there
        needs_key = (partner == WORKBOOK) & ~inc[:, 0] & ~inc[:, 2]
        inc[needs_key, 0] = True
        # an owner's two businesses are linked through the NIK of their first listings
        same_owner = b["same_owner"].to_numpy()
        shares = same_owner | np.concatenate([same_owner[1:], [False]])
        inc[(pos == 0) & shares[bi], 0] = True
        empty = ~inc.any(axis=1)
        inc[empty, 0] = True

        gid = self.first_gid + bi
        lid = gid * 8 + partner
        start = day_number(self.world.start)
        in_range = max(1, end - start)
        # the snapshot: a few sellers change status, a few vanish from snapshots during the range
        # (some come back); the events: a few merchants are deleted during the range
        status_day = joined + 1 + np.ceil(rng.exponential(400.0, m)).astype(np.int64)
        status = np.where(rng.random(m) < 0.03, rng.choice(2, m, p=[0.6, 0.4]) + 1, 0)
        after = np.maximum(joined, start) + 1
        gone = rng.random(m) < 0.004
        gone_day = after + np.floor(rng.random(m) * in_range).astype(np.int64)
        back_day = np.where(rng.random(m) < 0.4, gone_day + rng.integers(2, 15, m), NEVER)
        if self.k == 0 and end - start >= 6:
            # make sure the range shows one seller deleted for good and one that reappears
            early = np.nonzero((partner == SNAPSHOT) & (joined < start))[0][:2]
            gone[early] = True
            gone_day[early] = start + (end - start) // 3
            back_day[early[:1]] = start + (end - start) // 3 + 3
            back_day[early[1:]] = NEVER
        deleted = rng.random(m) < 0.01
        deleted_day = after + np.floor(rng.random(m) * in_range).astype(np.int64)
        if self.k == 0 and end - start >= 2:
            # and one events merchant deleted during the range
            early = np.nonzero((partner == EVENTS) & (joined < start))[0][:1]
            deleted[early] = True
            deleted_day[early] = start + (end - start) // 2
        return pl.DataFrame(
            {
                "lid": lid,
                "gid": gid,
                "bi": bi.astype(np.int32),
                "partner": partner.astype(np.int8),
                "pos": pos.astype(np.int16),
                "joined": as_date(joined),
                "delivered": as_date(delivered),
                "secs": secs.astype(np.int32),
                "report_month": report_month.astype(np.int32),
                "inc_nik": inc[:, 0],
                "inc_phone": inc[:, 1],
                "inc_nib": inc[:, 2] & has_nib,
                "uses_phone2": uses_p2,
                "v": rng.integers(0, 2**31, m, dtype=np.int64),
                "w": rng.integers(0, 2**31, m, dtype=np.int64),
                "status": status.astype(np.int8),
                "status_day": as_date(np.where(status > 0, status_day, NEVER)),
                "gone_day": as_date(np.where(gone, gone_day, NEVER)),
                "back_day": as_date(np.where(gone, back_day, NEVER)),
                "deleted_day": as_date(np.where(deleted, deleted_day, NEVER)),
            }
        )

    def _first_delivery(
        self, partner: np.ndarray, joined: np.ndarray, report_month: np.ndarray
    ) -> np.ndarray:
        """Day number of the export that first carries each listing (NEVER when none does).

        Daily partners carry a listing from its join day, or from the range's first export
        (the backlog); the monthly workbook from the report of its report month, or the first.
        """
        start, end = day_number(self.world.start), day_number(self.world.end)
        daily = np.where(joined <= end, np.maximum(joined, start), NEVER)
        ends = self.world.month_ends
        if len(ends) == 0:
            return np.where(partner == WORKBOOK, NEVER, daily)
        month_end = (report_month + 1).astype("datetime64[M]").astype("datetime64[D]")
        month_end = month_end.astype(np.int64) - 1
        monthly = np.where(month_end <= ends[-1], np.maximum(month_end, ends[0]), NEVER)
        return np.where(partner == WORKBOOK, monthly, daily)

    def _outlets(self, rng: np.random.Generator) -> pl.DataFrame:
        """The outlet model: each brand (listing) runs 1-5 outlets; the first one is the brand's join."""
        brands = self.listings.filter(pl.col("partner") == OUTLETS)
        nb = brands.height
        count = rng.choice(np.arange(1, 6), nb, p=[0.55, 0.2, 0.12, 0.08, 0.05])
        brand_i = np.repeat(np.arange(nb), count)
        no = np.arange(len(brand_i)) - np.repeat(np.cumsum(count) - count, count)
        o = len(brand_i)
        joined = brands["joined"].to_physical().to_numpy().astype(np.int64)[brand_i]
        registered = np.where(no == 0, joined, joined + np.ceil(rng.exponential(150.0, o)))
        keep = rng.random((o, 3)) < 0.6
        keep[no == 0] = True
        keep[~keep.any(axis=1)] = True
        biz_reg = self.biz["reg"].to_numpy()[brands["bi"].to_numpy()[brand_i]]
        other_reg = sample_regency(rng, geo().reg_prov[biz_reg])
        reg = np.where((no == 0) | (rng.random(o) < 0.8), biz_reg, other_reg)
        inactive_day = np.where(
            rng.random(o) < 0.12,
            registered + np.ceil(rng.exponential(200.0, o)),
            NEVER,
        )
        b = brands.gather(brand_i)
        return pl.DataFrame(
            {
                "lid": b["lid"],
                "bi": b["bi"],
                "no": no.astype(np.int16),
                "registered": as_date(registered.astype(np.int64)),
                "reg": reg.astype(np.int32),
                "inc_nik": b["inc_nik"] & pl.Series(keep[:, 0]),
                "inc_phone": b["inc_phone"] & pl.Series(keep[:, 1]),
                "inc_nib": b["inc_nib"] & pl.Series(keep[:, 2]),
                "uses_phone2": b["uses_phone2"],
                "inactive_day": as_date(inactive_day.astype(np.int64)),
                "v": rng.integers(0, 2**31, o, dtype=np.int64),
            }
        ).with_columns(
            # an outlet whose subset lost every identifier falls back to the brand's own
            inc_nik=pl.col("inc_nik")
            | ~(pl.col("inc_nik") | pl.col("inc_phone") | pl.col("inc_nib")) & b["inc_nik"],
            inc_phone=pl.col("inc_phone")
            | ~(pl.col("inc_nik") | pl.col("inc_phone") | pl.col("inc_nib")) & b["inc_phone"],
            inc_nib=pl.col("inc_nib")
            | ~(pl.col("inc_nik") | pl.col("inc_phone") | pl.col("inc_nib")) & b["inc_nib"],
        )

    def _vendors(self, rng: np.random.Generator) -> pl.DataFrame:
        """E-catalogue vendors: ~3% of businesses with a NIB, plus some `Non UMKM` firms."""
        b, n = self.biz, self.n
        scale = b["scale"].to_numpy()
        is_vendor = b["nib"].is_not_null().to_numpy() & (rng.random(n) < np.array(P_VENDOR)[scale])
        online = b["online"].to_physical().to_numpy().astype(np.int64)
        shown = online + np.ceil(rng.exponential(300.0, n)).astype(np.int64)
        idx = np.nonzero(is_vendor)[0]
        umkm = pl.DataFrame(
            {
                "vid": self.first_gid + idx.astype(np.int64),
                "bi": idx.astype(np.int32),
                "umkm": np.ones(len(idx), dtype=bool),
                "nib": b["nib"].gather(idx),
                "name": b["name"].gather(idx),
                "scale": scale[idx],
                "prov": b["prov"].gather(idx),
                "shown": as_date(shown[idx]),
            }
        )
        k = round(len(idx) * NON_UMKM_VENDORS + rng.random())
        firm = self.first_gid + rng.choice(max(n, 1), k, replace=False).astype(np.int64)
        nib_num = (firm * 7_919_000_003 + self.world.salt(2) % 10**12) % 10**12
        first, end = day_number(date(2016, 1, 1)), day_number(self.world.end)
        big = pl.DataFrame(
            {
                "vid": firm + 10**9,
                "bi": np.full(k, -1, dtype=np.int32),
                "umkm": np.zeros(k, dtype=bool),
                "nib": "8" + digits(nib_num, 12),
                "name": "PT "
                + pick(NAME_CORE, rng.integers(0, len(NAME_CORE), k))
                + pick(
                    (" Indonesia", " Persada", " Nusantara Tbk", " Sejahtera"),
                    rng.integers(0, 4, k),
                ),
                "scale": np.full(k, 3, dtype=np.int8),
                "prov": rng.choice(len(geo().prov_codes), k, p=geo().prov_p).astype(np.int32),
                "shown": as_date(rng.integers(first, max(first, end) + 1, k)),
            }
        )
        return pl.concat([umkm, big.cast(umkm.schema)]).sort("vid")

    # -- views --------------------------------------------------------------------------------

    @cached_property
    def listings_with_biz(self) -> pl.DataFrame:
        """Listings joined to their business's attributes (one row per listing)."""
        return self.listings.join(
            self.biz.with_row_index("bi").cast({"bi": pl.Int32}), on=["bi", "gid"]
        )

    def partner_listings(self, partner: int) -> pl.DataFrame:
        return self.listings_with_biz.filter(pl.col("partner") == partner)
