"""The generator writes any contract's exports from the contract alone, in every format the
readers know, and the pipeline reads them back clean (nothing quarantined, no warning)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipelines.contracts import load_contracts
from pipelines.settings import Settings
from pipelines.synthetic import generate
from tests.partner_day_helpers import stage
from tests.test_new_partners import KATALOG, WARUNGKITA

START, END = date(2024, 1, 1), date(2024, 1, 4)

# JSON Lines in gzip parts, a daily delta of events, an exact integer key, epoch dates
PASARMALAM = """\
partner: pasarmalam
channel: marketplace
cadence: daily
delivery: delta
format: jsonl
files: {pattern: "pm-*.jsonl.gz", compression: gzip, part_rows: 40}
manifest: required
listing_key: {column: toko.id}
region: {regency: code}
events: {column: aksi, upsert: [baru, ubah], delete: [hapus]}
columns:
  - {name: aksi, field: event}
  - {name: toko.id, field: listing_key, type: exact_integer_text}
  - {name: toko.nama, field: name}
  - {name: pemilik.nik, field: nik, pii: true}
  - {name: pemilik.hp, field: phone, pii: true}
  - {name: izin.nib, field: nib}
  - {name: lokasi, field: region_code}
  - {name: kbli, field: kbli, type: list}
  - {name: sejak, field: joined, parse: epoch_ms_utc}
"""

# Parquet with typed columns, rows grouped into listings, a status of booleans
OJEKMAKAN = """\
partner: ojekmakan
channel: marketplace
cadence: daily
delivery: snapshot
format: parquet
files: {pattern: "gerai.parquet"}
manifest: none
listing_key: {column: merek}
region: {province: code, regency: code}
grouping: {record_key: gerai, pick: earliest_joined}
columns:
  - {name: gerai, field: record_key, type: string}
  - {name: merek, field: listing_key, type: string}
  - {name: nama, field: name, type: string}
  - {name: nik, field: nik, pii: true, type: string}
  - {name: nib, field: nib, type: string}
  - {name: prov, field: province_code, type: int16}
  - {name: kab, field: region_code, type: int32}
  - {name: daftar, field: joined, parse: date, type: date}
  - {name: buka, field: status, type: bool, values: {"true": active, "false": inactive}}
"""

# an Excel report on Mondays: a title above the header, a total row, keys of NIB or NIK and name
DESAMART = """\
partner: desamart
channel: marketplace
cadence: weekly
delivery_day: monday
delivery: delta
format: excel
files: {pattern: "Rekap_*.xlsx", name: "Rekap_%Y%m%d.xlsx"}
manifest: none
excel: {sheet: Penjual, header_row: 3, total_row: {column: Nama, equals: JUMLAH}}
listing_key: {first_valid_of: [nib, nik], with_name: name}
region: {province: code, regency: name}
columns:
  - {name: Nama, field: name}
  - {name: NIB, field: nib}
  - {name: NIK, field: nik, pii: true}
  - {name: Kode Prov, field: province_code}
  - {name: Kabupaten, field: regency_name}
  - {name: Tgl, field: joined, parse: dmy_dash_or_excel}
  - {name: Skala, field: scale, values: {Mikro: mikro, Kecil: kecil, Menengah: menengah}}
  - {name: Omzet, field: turnover, parse: rupiah}
"""


@pytest.mark.parametrize("seed", [3])
def test_every_format_generated_from_a_contract_reads_back_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    folder = tmp_path / "contracts"
    folder.mkdir()
    for name, text in (("warungkita", WARUNGKITA), ("inaproc-katalog", KATALOG),
                       ("pasarmalam", PASARMALAM), ("ojekmakan", OJEKMAKAN), ("desamart", DESAMART)):  # fmt: skip
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("UMKM_CONTRACTS", str(folder))
    contracts = load_contracts()
    settings = Settings(landing=tmp_path / "landing", warehouse=tmp_path / "w" / "umkm.duckdb",
                        publish=tmp_path / "p" / "umkm.duckdb", pii_key="k", contracts=folder)  # fmt: skip
    summary = generate(settings.landing, START, END, merchants=400, seed=seed)
    assert set(summary.listings) == {"desamart", "ojekmakan", "pasarmalam", "warungkita"}
    read = {}
    for partner, contract in contracts.items():
        days = sorted(p.name for p in (settings.landing / partner).iterdir())
        wanted = [d.isoformat() for d in (date.fromordinal(START.toordinal() + i) for i in range((END - START).days + 1))
                  if contract.is_scheduled(d)]  # fmt: skip
        assert days == wanted, partner
        for day in days:
            step = stage(settings, partner, day)
            assert step.status == "pending" and step.staged is not None, (partner, day, step.detail)
            assert (step.rows_quarantined, step.warnings) == (0, 0), (partner, day, step.notes)
            read[partner] = read.get(partner, 0) + (step.rows_read or 0)
    assert all(read[p] > 0 for p in contracts), read
    # parts of 40 records, named by the pattern
    first = sorted(p.name for p in (settings.landing / "pasarmalam" / "2024-01-01").glob("pm-*"))
    assert first[:2] == ["pm-00000.jsonl.gz", "pm-00001.jsonl.gz"]
