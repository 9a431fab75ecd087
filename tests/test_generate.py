"""The synthetic partner exports follow shared/partners.md, byte for byte reproducibly.

The files are read back here with independent, deliberately plain readers (the rules of
partners.md written out again), never with the generator's own code.
"""

from __future__ import annotations

import calendar
import gzip
import hashlib
import io
import itertools
import json
import re
import tracemalloc
import zipfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import fastexcel
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import reference
from pipelines.contracts import CONTRACT_DIR, SYNTHETIC_MODELS, load_contracts
from pipelines.synthetic import MODELS, generate, schedule
from pipelines.synthetic.faults import KIND_NAMES, KINDS
from pipelines.synthetic.landing import WRITERS

CLEAN = {"start": date(2024, 1, 22), "end": date(2024, 3, 4), "merchants": 600, "seed": 7}
FAULTY = {"start": date(2024, 1, 1), "end": date(2024, 3, 10), "merchants": 600, "seed": 11}
JAKARTA = timezone(timedelta(hours=7))
OUTCOMES = {
    "skipped_missing", "failed", "loaded", "loaded_with_warning", "quarantined",
    "identifier_invalid", "last_wins",
}  # fmt: skip
TOKORAYA_HEADER = (
    "ID Toko;Nama Toko;NIK Pemilik;No. HP;NIB;Provinsi;Kabupaten/Kota;Skala Usaha;"
    "Tanggal Bergabung;Omzet Bulanan (Rp)"
)
PROVINCES = dict(reference.provinces().select("code", "name").iter_rows())
MONTH_NAMES = (
    "januari jan|februari pebruari feb peb|maret mar|april apr|mei|juni jun|juli jul|"
    "agustus agu agt ags|september sep sept|oktober okt|november nopember nov nop|desember des"
)
MONTHS = {n: i + 1 for i, names in enumerate(MONTH_NAMES.split("|")) for n in names.split()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    generate(out, **CLEAN)
    return out


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("faulty")
    lines: list[str] = []
    generate(out, **FAULTY, faults=True, progress=lines.append)
    return out, lines


# -- the rules of partners.md, written out again ------------------------------------------------


def nik_valid(nik: str) -> bool:
    if not re.fullmatch(r"\d{16}", nik) or nik[:2] not in PROVINCES:
        return False
    day, month, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    day = day - 40 if 41 <= day <= 71 else day
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return False
    return day <= calendar.monthrange(2000 if yy % 4 == 0 else 2001, month)[1]


def phone_valid(raw: str) -> bool:
    s = re.sub(r"[ .\-()]", "", raw)
    if s.startswith("+62"):
        s = s[1:]
    elif s.startswith("0"):
        s = "62" + s[1:]
    elif s.startswith("8"):
        s = "62" + s
    return re.fullmatch(r"628\d{8,11}", s) is not None


def nib_valid(nib: str) -> bool:
    return re.fullmatch(r"\d{13}", nib) is not None


def tokoraya_date(text: str) -> date:
    if "/" in text:
        d, m, y = (int(x) for x in text.split("/"))
        return date(y, m, d)
    d, m, y = text.split()
    return date(int(y), MONTHS[m.lower()], int(d))


def iso_jakarta_date(text: str) -> date:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:  # without an offset it is Asia/Jakarta time
        return moment.date()
    return moment.astimezone(JAKARTA).date()


def _plain(text: str) -> str:
    return " ".join(text.lower().replace(".", "").split())


def province_code(name: str) -> str | None:
    s = _plain(name)
    s = re.sub(r"^(provinsi|prov) ", "", s)
    s = re.sub(r"^dki ", "daerah khusus ibukota ", s)
    s = re.sub(r"^di ", "daerah istimewa ", s)
    found = [c for c, n in PROVINCES.items() if n.lower() == s]
    return found[0] if len(found) == 1 else None


def regency_code(name: str, province: str) -> str | None:
    s = _plain(name)
    if ", " in s:
        core, kind = s.rsplit(", ", 1)
        s = f"{kind} {core}"
    s = re.sub(r"^kab ", "kabupaten ", s).replace("administrasi ", "")
    found = [
        code
        for code, prov, canonical in reference.regencies().iter_rows()
        if prov == province and canonical.lower().replace("administrasi ", "") == s
    ]
    return found[0] if len(found) == 1 else None


# -- reading the landing area back ------------------------------------------------------------------


def folders(out: Path, partner: str) -> list[Path]:
    return sorted(p for p in (out / partner).iterdir() if p.is_dir())


def read_pasarnusa(folder: Path) -> pl.DataFrame:
    data = gzip.decompress((folder / "sellers.csv.gz").read_bytes())
    return pl.read_csv(io.BytesIO(data), infer_schema=False)


def read_tokoraya(folder: Path) -> pl.DataFrame:
    (path,) = folder.glob("TOKORAYA_MERCHANT_*.csv")
    text = path.read_bytes().decode("cp1252")
    return pl.read_csv(io.BytesIO(text.encode()), separator=";", infer_schema=False)


def read_belanjaku(folder: Path) -> list[dict]:
    lines = []
    for part in sorted(folder.glob("part-*.jsonl.gz")):
        lines += gzip.decompress(part.read_bytes()).decode().splitlines()
    return [json.loads(line) for line in lines]  # Python ints: exact at any size


def read_lapakdesa(folder: Path) -> pl.DataFrame:
    (path,) = folder.glob("Laporan_UMKM_*.xlsx")
    sheet = fastexcel.read_excel(path).load_sheet("Merchant Baru", header_row=3, dtypes="string")
    return sheet.to_polars().filter(pl.col("No") != "TOTAL")


def values(frame: pl.DataFrame, column: str) -> list[str]:
    return [v for v in frame[column].to_list() if v]


# -- tests ----------------------------------------------------------------------------------------


def test_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    """It writes the same bytes for the same seed, and other bytes for another seed."""
    args = {"start": date(2024, 2, 24), "end": date(2024, 3, 4), "merchants": 300}

    def tree(out: Path) -> dict[str, bytes]:
        return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    generate(tmp_path / "a", **args, seed=5, faults=True)
    generate(tmp_path / "b", **args, seed=5, faults=True)
    generate(tmp_path / "c", **args, seed=6, faults=True)
    a, b, c = tree(tmp_path / "a"), tree(tmp_path / "b"), tree(tmp_path / "c")
    assert a == b
    assert len(a) > 40
    assert a["pasarnusa/2024-03-01/sellers.csv.gz"] != c["pasarnusa/2024-03-01/sellers.csv.gz"]


def test_the_contracts_models_are_the_generators() -> None:
    """The contracts' closed set of models is the world's and the generator's, faults included."""
    assert list(SYNTHETIC_MODELS) == list(MODELS)
    assert set(WRITERS) == set(MODELS)
    assert {k.model for k in KINDS} == set(MODELS)


def test_a_partner_is_written_by_its_contracts_model_not_its_name(tmp_path: Path) -> None:
    """It writes a partner under another name with the same model byte for byte as before,
    faults and all, and refuses two partners of one model."""
    args = {"start": date(2024, 2, 26), "end": date(2024, 3, 4), "merchants": 120, "seed": 3}
    shipped = load_contracts(CONTRACT_DIR)
    renamed = {p: c for p, c in shipped.items() if p != "tokoraya"}
    renamed["grosirku"] = shipped["tokoraya"].model_copy(update={"partner": "grosirku"})
    generate(tmp_path / "a", **args, faults=True, contracts=shipped)
    generate(tmp_path / "b", **args, faults=True, contracts=renamed)

    def tree(folder: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()
        }

    assert tree(tmp_path / "a" / "tokoraya") == tree(tmp_path / "b" / "grosirku")
    assert tree(tmp_path / "a" / "pasarnusa") == tree(tmp_path / "b" / "pasarnusa")
    logs = [(tmp_path / d / "_generator/faults.jsonl").read_text() for d in "ab"]
    assert logs[0].replace('"tokoraya"', '"grosirku"') != logs[0]
    assert sorted(logs[0].replace('"tokoraya"', '"grosirku"').splitlines()) == sorted(logs[1].splitlines())  # fmt: skip
    twice = {**shipped, "grosirku": renamed["grosirku"]}
    with pytest.raises(ValueError, match="tokoraya and grosirku both name synthetic model spreadsheet-delta-csv"):  # fmt: skip
        generate(tmp_path / "c", **args, contracts=twice)


def test_every_folder_ends_with_success_marker(clean: Path) -> None:
    """It writes `_SUCCESS` in every partner-day folder, after every other file."""
    count = 0
    for partner_dir in (p for p in clean.iterdir() if p.name != "_generator"):
        for folder in folders(clean, partner_dir.name):
            marker = folder / "_SUCCESS"
            assert marker.exists(), folder
            others = [p.stat().st_mtime_ns for p in folder.iterdir() if p.name != "_SUCCESS"]
            assert others and max(others) <= marker.stat().st_mtime_ns
            count += 1
    assert count == sum(len(d) for d in schedule(CLEAN["start"], CLEAN["end"]).values())


def test_only_the_missing_success_fault_lacks_the_marker(faulty: tuple[Path, list[str]]) -> None:
    """It leaves `_SUCCESS` out exactly where faults.jsonl says a folder is not delivered."""
    out, _ = faulty
    logged = [json.loads(x) for x in (out / "_generator/faults.jsonl").read_text().splitlines()]
    missing = {(f["partner"], f["export_date"]) for f in logged if f["kind"] == "missing_success"}
    lacking = {
        (folder.parent.name, folder.name)
        for folder in out.glob("*/*-*-*")
        if not (folder / "_SUCCESS").exists()
    }
    assert lacking == missing and len(missing) == 1


def test_manifests_describe_the_files_in_a_clean_run(clean: Path) -> None:
    """It writes manifests whose rows count records and whose sha256 is of the file's bytes."""
    for partner in ("pasarnusa", "belanjaku", "kedaiantar"):
        for folder in folders(clean, partner):
            manifest = json.loads((folder / "manifest.json").read_text())
            names = {p.name for p in folder.iterdir()} - {"manifest.json", "_SUCCESS"}
            assert {f["name"] for f in manifest["files"]} == names
            for entry in manifest["files"]:
                path = folder / entry["name"]
                assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
                if partner == "pasarnusa":
                    rows = read_pasarnusa(folder).height  # quoted newlines are not records
                elif partner == "belanjaku":
                    rows = len(gzip.decompress(path.read_bytes()).splitlines())
                else:
                    rows = pq.read_metadata(path).num_rows
                assert entry["rows"] == rows, (folder, entry)


def test_every_nik_and_phone_is_valid(clean: Path) -> None:
    """It writes only structurally valid NIKs (serials 9000-9999) and phones that normalise."""
    niks: list[str] = []
    phones: list[str] = []
    last = sorted(p.name for p in (clean / "pasarnusa").iterdir())[-1]
    pn = read_pasarnusa(clean / "pasarnusa" / last)
    niks += values(pn, "owner_nik")
    phones += values(pn, "owner_phone")
    for folder in folders(clean, "tokoraya"):
        tr = read_tokoraya(folder)
        niks += values(tr, "NIK Pemilik")
        phones += values(tr, "No. HP")
    for folder in folders(clean, "belanjaku"):
        for line in read_belanjaku(folder):
            owner = line.get("owner") or {}
            niks += [owner["nik"]] if owner.get("nik") else []
            phones += [owner["msisdn"]] if owner.get("msisdn") else []
    kd = pl.read_parquet(folders(clean, "kedaiantar")[-1] / "outlets.parquet")
    niks += values(kd, "owner_nik")
    phones += values(kd, "owner_phone")
    for folder in folders(clean, "lapakdesa"):
        ld = read_lapakdesa(folder)
        niks += values(ld, "NIK")
        phones += values(ld, "Telepon")
    assert len(niks) > 500 and len(phones) > 500
    assert [n for n in niks if not nik_valid(n)] == []
    assert all(9000 <= int(n[12:]) <= 9999 for n in niks)
    assert [p for p in phones if not phone_valid(p)] == []
    for style in (
        r"08\d\d-\d{4}-\d+",
        r"\+62 8\d\d \d{4} \d+",
        r"\(08\d\d\) \d+",
        r"628\d+",
        r"08\d+",
    ):
        assert any(re.fullmatch(style, p) for p in phones), style


def test_clean_records_are_valid_per_metrics(clean: Path) -> None:
    """It writes, without faults, only records with a key, a valid identifier and a joined
    date in [2009-01-01, export date] (Asia/Jakarta), in every partner's date form."""
    earliest = date(2009, 1, 1)

    def check(day: date, key: object, ids: list[str | None], joined: date) -> None:
        assert key, (day, key)
        nik, phone, nib = ids
        assert (
            (nik and nik_valid(nik)) or (phone and phone_valid(phone)) or (nib and nib_valid(nib))
        )
        assert earliest <= joined <= day, (day, key, joined)

    for folder in folders(clean, "pasarnusa")[::10]:
        day = date.fromisoformat(folder.name)
        for r in read_pasarnusa(folder).iter_rows(named=True):
            ids = [r["owner_nik"], r["owner_phone"], r["nib"]]
            check(day, r["seller_id"], ids, iso_jakarta_date(r["joined_at"]))
    for folder in folders(clean, "tokoraya"):
        day = date.fromisoformat(folder.name)
        for r in read_tokoraya(folder).iter_rows(named=True):
            ids = [r["NIK Pemilik"], r["No. HP"], r["NIB"]]
            check(day, r["ID Toko"], ids, tokoraya_date(r["Tanggal Bergabung"]))
    for folder in folders(clean, "belanjaku"):
        day = date.fromisoformat(folder.name)
        for line in read_belanjaku(folder):
            if line["event"] == "deleted":
                continue
            joined = datetime.fromtimestamp(line["onboarded_at"] / 1000, JAKARTA).date()
            owner, legal = line["owner"], line.get("legal") or {}
            check(
                day,
                line["merchant"]["id"],
                [owner["nik"], owner["msisdn"], legal.get("nib")],
                joined,
            )
    for folder in folders(clean, "kedaiantar")[::10]:
        day = date.fromisoformat(folder.name)
        for r in pl.read_parquet(folder / "outlets.parquet").iter_rows(named=True):
            check(
                day, r["brand_id"], [r["owner_nik"], r["owner_phone"], r["nib"]], r["registered_on"]
            )
    for folder in folders(clean, "lapakdesa"):
        day = date.fromisoformat(folder.name)
        for r in read_lapakdesa(folder).iter_rows(named=True):
            text = r["Tanggal Daftar"]
            joined = (
                datetime.strptime(text, "%d-%m-%Y").date()
                if re.fullmatch(r"\d\d-\d\d-\d{4}", text)
                else date.fromisoformat(text[:10])
            )
            key = r["NIB"] or (r["NIK"] if r["NIK"] and nik_valid(r["NIK"]) else None)
            check(day, key and r["Nama Usaha"], [r["NIK"], r["Telepon"], r["NIB"]], joined)


def test_pasarnusa_shows_its_awkward_forms(clean: Path) -> None:
    """pasarnusa writes both regency code forms, four joined_at forms, quoted names with commas,
    quotes and newlines, and sellers that are deleted for good or deleted and restored."""
    snapshots = {f.name: read_pasarnusa(f) for f in folders(clean, "pasarnusa")}
    last = snapshots[max(snapshots)]
    codes = last["regency_code"]
    assert codes.str.contains(r"^\d\d\.\d\d$").any() and codes.str.contains(r"^\d{4}$").any()
    joined = last["joined_at"]
    assert joined.str.ends_with("+07:00").any() and joined.str.ends_with("Z").any()
    assert joined.str.contains(r"\.\d+(Z|\+07:00)$").any()
    assert joined.str.contains(r"T\d\d:\d\d:\d\d$").any()
    names = last["shop_name"]
    assert names.str.contains(",").any() and names.str.contains('"').any()
    assert names.str.contains("\n").any()
    assert {"active", "closed"} <= set(last["status"])
    ids = [set(s["seller_id"]) for _, s in sorted(snapshots.items())]
    dropped = set.union(*(a - b for a, b in itertools.pairwise(ids)))
    assert dropped
    assert dropped & ids[-1] and dropped - ids[-1]  # one came back, one did not


def test_tokoraya_is_windows_1252_with_indonesian_forms(clean: Path) -> None:
    """tokoraya decodes as cp1252 (not as UTF-8 where not ASCII), uses `;` and CRLF, the
    Indonesian header, region names in many spellings that all resolve, and Indonesian dates."""
    spellings, dates, omzet, scales, non_ascii = set(), set(), set(), set(), 0
    for folder in folders(clean, "tokoraya"):
        (path,) = folder.glob("*.csv")
        assert path.name == f"TOKORAYA_MERCHANT_{date.fromisoformat(folder.name):%d%m%Y}.csv"
        data = path.read_bytes()
        text = data.decode("cp1252")
        if any(b > 127 for b in data):
            non_ascii += 1
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
        assert text.split("\r\n")[0] == TOKORAYA_HEADER
        assert "\n" not in text.replace("\r\n", "")
        frame = read_tokoraya(folder)
        for prov, reg in frame.select("Provinsi", "Kabupaten/Kota").iter_rows():
            code = province_code(prov)
            assert code and regency_code(reg, code), (prov, reg)
            spellings |= {prov, reg}
        dates |= set(frame["Tanggal Bergabung"])
        omzet |= set(frame["Omzet Bulanan (Rp)"].fill_null(""))
        scales |= set(frame["Skala Usaha"])
    assert non_ascii > 0
    assert {"DKI Jakarta", "D.K.I. Jakarta", "DI Yogyakarta"} & spellings
    assert any(s.startswith("Prov. ") for s in spellings)
    assert any(s.endswith(", Kota") for s in spellings)
    assert any(s.startswith("Kab. ") for s in spellings)
    assert any(re.fullmatch(r"\d/\d{1,2}/\d{4}|\d{1,2}/\d/\d{4}", d) for d in dates)
    assert any(re.fullmatch(r"\d\d/\d\d/\d{4}", d) for d in dates)
    assert any(re.fullmatch(r"\d{1,2} [A-Za-z]+ \d{4}", d) for d in dates)
    assert any(re.fullmatch(r"[\d.]+,00", o) for o in omzet) and "-" in omzet and "" in omzet
    assert any(o.startswith("Rp ") for o in omzet)
    assert {s.lower() for s in scales} <= {"mikro", "kecil", "menengah"} and len(scales) > 3


def test_belanjaku_ids_above_2_53_stay_exact_integers(clean: Path) -> None:
    """belanjaku writes merchant ids as bare JSON integers up to 2^64-1, many above 2^53."""
    raw_ids, events, keys = [], set(), set()
    for folder in folders(clean, "belanjaku"):
        for part in sorted(folder.glob("part-*.jsonl.gz")):
            for line in gzip.decompress(part.read_bytes()).decode().splitlines():
                raw_ids.append(re.search(r'"merchant":\{"id":([^,}]+)', line).group(1))
                parsed = json.loads(line)
                events.add(parsed["event"])
                keys |= set(parsed)
                if parsed["event"] != "deleted":
                    assert parsed["tier"] in {"MICRO", "SMALL", "MEDIUM"}
                    assert parsed["kbli"] is None or isinstance(parsed["kbli"], list)
    assert all(re.fullmatch(r"\d+", r) for r in raw_ids)  # no quotes, no float, no exponent
    ids = [int(r) for r in raw_ids]
    assert max(ids) <= 2**64 - 1 and sum(i > 2**53 for i in ids) > len(ids) * 0.9
    assert {"created", "updated", "deleted"} <= events
    assert "store_badge" in keys  # an unknown extra field, now and then


def test_kedaiantar_parquet_has_the_exact_types(clean: Path) -> None:
    """kedaiantar's Parquet columns have exactly the contract's Arrow types."""
    expected = pa.schema(
        [
            ("outlet_id", pa.string()),
            ("brand_id", pa.string()),
            ("brand_name", pa.string()),
            ("owner_nik", pa.string()),
            ("owner_phone", pa.string()),
            ("nib", pa.string()),
            ("province_code", pa.int16()),
            ("regency_code", pa.int32()),
            ("category", pa.string()),
            ("registered_on", pa.date32()),
            ("is_active", pa.bool_()),
        ]
    )
    for folder in folders(clean, "kedaiantar"):
        assert pq.read_schema(folder / "outlets.parquet").remove_metadata() == expected
    outlets = pl.read_parquet(folders(clean, "kedaiantar")[-1] / "outlets.parquet")
    per_brand = outlets.group_by("brand_id").len()["len"]
    assert per_brand.max() > 1 and per_brand.min() == 1
    assert not outlets["is_active"].all()


def test_lapakdesa_workbook_layout(clean: Path) -> None:
    """lapakdesa's sheet has title, period, a blank row, the header on row 4, sellers and a
    TOTAL row last; NIB is sometimes a numeric cell, and a `Ringkasan` sheet exists."""
    numeric_nib = []
    for folder in folders(clean, "lapakdesa"):
        day = date.fromisoformat(folder.name)
        path = folder / f"Laporan_UMKM_{day:%Y-%m}.xlsx"
        book = fastexcel.read_excel(path)
        assert book.sheet_names == ["Merchant Baru", "Ringkasan"]
        grid = book.load_sheet("Merchant Baru", header_row=None, dtypes="string").to_polars()
        assert grid.row(2) == (None,) * 9
        assert grid.row(3) == (
            "No", "Nama Usaha", "NIB", "NIK", "Telepon", "Kode Provinsi", "Kabupaten/Kota",
            "Tanggal Daftar", "Skala",
        )  # fmt: skip
        assert grid[0, 0] and grid[1, 0].startswith("Periode")
        assert grid[-1, 0] == "TOTAL" and int(float(grid[-1, 1])) == grid.height - 5
        xml = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
        numeric_nib += re.findall(r'<c r="C\d+"(?: s="\d+")?><v>(\d{13})</v>', xml)
    assert numeric_nib, "some NIB cells are numbers"


def test_schedules_follow_each_partner(clean: Path) -> None:
    """Daily partners deliver every day, lkpp-ekatalog every Monday, lapakdesa at month end."""
    days = (CLEAN["end"] - CLEAN["start"]).days + 1
    for partner in ("pasarnusa", "tokoraya", "belanjaku", "kedaiantar"):
        assert len(folders(clean, partner)) == days
    mondays = [date.fromisoformat(f.name) for f in folders(clean, "lkpp-ekatalog")]
    assert mondays and all(d.weekday() == 0 for d in mondays) and len(mondays) == 7
    ends = [f.name for f in folders(clean, "lapakdesa")]
    assert ends == ["2024-01-31", "2024-02-29"]
    first = folders(clean, "lkpp-ekatalog")[0] / "penyedia_umkm.csv"
    data = first.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    vendors = pl.read_csv(first, infer_schema=False)
    assert {"Usaha Mikro", "Non UMKM"} <= set(vendors["kualifikasi_usaha"])
    assert vendors["jumlah_produk"].str.contains(r"^\d+$").all()
    assert vendors["npwp"].str.contains(r"[.-]").any()


def test_faults_cover_every_kind_over_70_days(faulty: tuple[Path, list[str]]) -> None:
    """With faults, faults.jsonl names every kind of defect at least once in 70 days, each with
    the outcome partners.md expects, on a minority of partner-days."""
    out, _ = faulty
    logged = [json.loads(x) for x in (out / "_generator/faults.jsonl").read_text().splitlines()]
    assert {f["kind"] for f in logged} == set(KIND_NAMES)
    for f in logged:
        assert set(f) == {"partner", "export_date", "file", "row", "kind", "expected_outcome"}
        assert f["expected_outcome"] in OUTCOMES
        assert (out / f["partner"] / f["export_date"] / f["file"]).exists() or (
            f["kind"] == "missing_success"
        )
        assert f["row"] is None or f["row"] >= 1
    faulty_days = {(f["partner"], f["export_date"]) for f in logged}
    all_days = sum(len(d) for d in schedule(FAULTY["start"], FAULTY["end"]).values())
    assert len(faulty_days) < all_days / 5


def test_faults_look_as_described(faulty: tuple[Path, list[str]]) -> None:
    """A few faults checked in the files: the row faults.jsonl points to is the damaged one."""
    out, _ = faulty
    logged = {
        f["kind"]: f
        for f in map(json.loads, (out / "_generator/faults.jsonl").read_text().splitlines())
    }

    def folder(kind: str) -> Path:
        return out / logged[kind]["partner"] / logged[kind]["export_date"]

    assert not _is_gzip(folder("not_gzip") / "sellers.csv.gz")
    assert (folder("empty_file") / "penyedia_umkm.csv").stat().st_size == 0
    (path,) = folder("wrong_encoding").glob("*.csv")
    path.read_bytes().decode("utf-8")  # UTF-8, and not ASCII only
    assert any(b > 127 for b in path.read_bytes())
    row = logged["nik_scientific"]["row"]
    assert re.fullmatch(r"\d\.\d{5}E\+15", read_tokoraya(folder("nik_scientific"))[row - 1, 2])
    row = logged["nik_truncated"]["row"]
    assert len(read_pasarnusa(folder("nik_truncated"))["owner_nik"][row - 1]) == 15
    schema = pq.read_schema(folder("wrong_type") / "outlets.parquet")
    assert schema.field("province_code").type == pa.string()
    manifest = json.loads((folder("manifest_rows_mismatch") / "manifest.json").read_text())
    assert manifest["files"][0]["rows"] != read_pasarnusa(folder("manifest_rows_mismatch")).height


def test_no_personal_data_outside_the_partner_files(faulty: tuple[Path, list[str]]) -> None:
    """world.json, faults.jsonl and progress lines hold no NIK or phone number."""
    out, lines = faulty
    texts = [
        (out / "_generator/world.json").read_text(),
        (out / "_generator/faults.jsonl").read_text(),
    ]
    assert len(lines) == sum(len(d) for d in schedule(FAULTY["start"], FAULTY["end"]).values())
    for text in [*texts, *lines]:
        assert not re.search(r"\d{9,}", text.replace(",", "")), text[:200]


def test_memory_does_not_grow_with_the_number_of_businesses(tmp_path: Path) -> None:
    """Peak traced memory for 200k businesses over one day stays near that of 20k (chunked)."""
    peaks = []
    for n in (20_000, 200_000):
        tracemalloc.start()
        generate(
            tmp_path / str(n), date(2024, 3, 12), date(2024, 3, 12), merchants=n, chunk_size=20_000
        )
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 2 * peaks[0]


def _is_gzip(path: Path) -> bool:
    return path.read_bytes()[:2] == b"\x1f\x8b"
