"""Partners we do not ship, added as contract files alone (README, "A new partner").

In a temporary contracts folder, with no code change: a seventh marketplace partner whose
quirks differ from all six (a `|`-separated ISO-8859-1 text file, `DD.MM.YYYY` dates, a weekly
snapshot on Wednesdays, a listing key of two columns, provinces and regencies by name), a
second e-catalogue partner (JSON Lines on Thursdays, its own not-counted qualification), and a
version of pasarnusa's contract taking effect mid-range (another separator, a renamed column,
another date format). Each is generated, backfilled and published through the `umkm` command,
and the published tables are the reference model's (tests/reference_model.py) for the
partner-days' canonical records. Changing a version then re-judges exactly the days it covers.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from pipelines.publish import build as publish
from pipelines.settings import Settings
from tests.partner_day_helpers import records, stage
from tests.processes import umkm, umkm_env
from tests.reference_model import PartnerDay, Rules, reference_tables
from tests.test_reference_vs_pipeline import as_rows, sort_rows

pytestmark = pytest.mark.slow

SHIPPED = Path(__file__).resolve().parent.parent / "schemas" / "partners"
START, END = date(2024, 1, 1), date(2024, 1, 14)
CHANGE = date(2024, 1, 8)
KEY = "new-partners-key"

# the seventh marketplace partner, as its onboarding team would write it (README)
WARUNGKITA = """\
# warungkita: village marketplace, weekly full snapshot every Wednesday, ISO-8859-1 `|` text
partner: warungkita
channel: marketplace
cadence: weekly
delivery_day: wednesday
delivery: snapshot
format: csv
files: {pattern: "WK_*.txt", name: "WK_%Y%m%d.txt"}
manifest: none
csv: {encoding: iso-8859-1, separator: "|"}
listing_key: {columns: [Kode Toko, Kode Cabang]}
region: {province: name, regency: name}
max_days_behind: 7
columns:
  - {name: Kode Toko, field: key_part}
  - {name: Kode Cabang, field: key_part}
  - {name: Nama Warung, field: name}
  - {name: NIK, field: nik, pii: true}
  - {name: HP, field: phone, pii: true}
  - {name: NIB, field: nib}
  - {name: Propinsi, field: province_name}
  - {name: Kabupaten, field: regency_name}
  - {name: Skala, field: scale, values: {UMI: mikro, UK: kecil, UM: menengah}}
  - {name: Tgl Gabung, field: joined, parse: dmy_dot}
"""

# a second e-catalogue partner
KATALOG = """\
# inaproc-katalog: a regional e-catalogue, weekly snapshot of vendors every Thursday
partner: inaproc-katalog
channel: ekatalog
cadence: weekly
delivery_day: thursday
delivery: snapshot
format: jsonl
files: {pattern: "vendors-*.jsonl"}
manifest: required
listing_key: {column: vendor.id}
region: {province: code}
max_days_behind: 7
requires_identifier: false
not_counted: besar
columns:
  - {name: vendor.id, field: listing_key}
  - {name: vendor.name, field: name}
  - {name: vendor.nib, field: nib}
  - {name: class, field: scale, values: {mikro: mikro, kecil: kecil, menengah: menengah, besar: besar}}
  - {name: province, field: province_code}
  - {name: products, field: products, parse: integer}
  - {name: listed_on, field: joined, parse: ymd}
"""


def pasarnusa_version(threshold: float) -> str:
    """pasarnusa's export from CHANGE on: `;`-separated, `shop_name` renamed, dates DD.MM.YYYY."""
    columns = yaml.safe_load((SHIPPED / "pasarnusa.yaml").read_text(encoding="utf-8"))["columns"]
    for c in columns:
        if c["name"] == "shop_name":
            c["name"] = "nama_toko"
        if c["field"] == "joined":
            c.update(name="tanggal_gabung", parse="dmy_dot")
    version = {"from": CHANGE.isoformat(), "csv": {"separator": ";"}, "columns": columns,
               "quarantine_threshold": threshold}  # fmt: skip
    return yaml.safe_dump({"versions": [version]}, sort_keys=False, allow_unicode=True)


def rules(folder: Path) -> dict[str, Rules]:
    """What the reference model needs to know of each partner, read from its contract's words."""
    out = {}
    days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    for path in sorted(folder.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        out[doc["partner"]] = Rules(
            channel=doc["channel"], cadence=doc["cadence"],
            weekday=days.index(doc["delivery_day"]) if doc["cadence"] == "weekly" else 0,
            grouped="grouping" in doc, by_name="first_valid_of" in doc["listing_key"],
            not_counted=doc.get("not_counted"),
        )  # fmt: skip
    return out


def reference_input(settings: Settings) -> tuple[list[PartnerDay], dict[str, set[date]]]:
    """Each loaded partner-day's canonical records (staged as a run stages it) and ledger row."""
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        ledger = con.execute(
            "SELECT partner, export_date, status, content_sha256, detail, loaded_at, rows_read "
            "FROM partner_loads ORDER BY export_date, partner"
        ).fetchall()
    finally:
        con.close()
    days, delivered = [], {}
    for partner, day, status, content, detail, at, rows_read in ledger:
        delivered.setdefault(partner, set()).add(day)
        if status != "loaded":
            days.append(PartnerDay(partner, day, status, rows_read=rows_read, content_sha256=content,
                                   detail=detail, loaded_at=at))  # fmt: skip
            continue
        staged = stage(settings, partner, day)
        rows = tuple(records(staged).to_dicts())
        days.append(PartnerDay(partner, day, status, rows, content_sha256=content, detail=detail,
                               loaded_at=at))  # fmt: skip
    return days, delivered


def published(path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return as_rows({t: con.sql(f"SELECT * FROM {t}").pl() for t in publish.TABLES})
    finally:
        con.close()


def test_new_partners_and_a_version_change_need_only_contract_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    for partner in ("pasarnusa", "lkpp-ekatalog"):
        shutil.copy(SHIPPED / f"{partner}.yaml", contracts)
    (contracts / "warungkita.yaml").write_text(WARUNGKITA, encoding="utf-8")
    (contracts / "inaproc-katalog.yaml").write_text(KATALOG, encoding="utf-8")
    pasarnusa = contracts / "pasarnusa.yaml"
    base = pasarnusa.read_text(encoding="utf-8")
    pasarnusa.write_text(base + pasarnusa_version(0.5), encoding="utf-8")

    settings = Settings(landing=tmp_path / "landing", warehouse=tmp_path / "w" / "umkm.duckdb",
                        publish=tmp_path / "p" / "umkm.duckdb", pii_key=KEY, contracts=contracts)  # fmt: skip
    env = umkm_env(settings, KEY, UMKM_CONTRACTS=str(contracts), PREFECT_HOME=str(tmp_path / "prefect"))  # fmt: skip
    made = umkm("generate", "--out", str(settings.landing), "--start", str(START), "--end",
                str(END), "--merchants", "150", "--seed", "21", env=env)  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr

    # the files are the contracts' (names, encoding, separator, dates), both sides of the change
    week = settings.landing / "warungkita" / "2024-01-03" / "WK_20240103.txt"
    header, first = week.read_bytes().decode("iso-8859-1").splitlines()[:2]
    assert header.startswith("Kode Toko|Kode Cabang|Nama Warung|") and first.count("|") == 9
    assert sorted(p.name for p in (settings.landing / "warungkita").iterdir()) == ["2024-01-03", "2024-01-10"]  # fmt: skip
    assert (settings.landing / "inaproc-katalog" / "2024-01-11" / "vendors-20240111.jsonl").exists()
    import gzip

    def pn_header(day: date) -> str:
        path = settings.landing / "pasarnusa" / day.isoformat() / "sellers.csv.gz"
        return gzip.decompress(path.read_bytes()).decode().splitlines()[0]

    assert pn_header(date(2024, 1, 7)).startswith("seller_id,shop_name,")
    assert pn_header(CHANGE).startswith("seller_id;nama_toko;")

    first_run = umkm("backfill", "--start", str(START), "--end", str(END), env=env, timeout=600)
    assert first_run.returncode == 0, first_run.stdout + first_run.stderr
    assert "20 loaded, 0 unchanged, 0 failed" in first_run.stdout, first_run.stdout

    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        loads = con.execute(
            "SELECT partner, count(*), sum(rows_read), sum(rows_quarantined), sum(warnings) "
            "FROM partner_loads WHERE status = 'loaded' GROUP BY partner ORDER BY partner"
        ).fetchall()
        keys = con.execute(
            "SELECT listing_key FROM listing_keys WHERE partner = 'warungkita' LIMIT 1"
        ).fetchall()
    finally:
        con.close()
    by_partner = {p: (n, read, quarantined, warned) for p, n, read, quarantined, warned in loads}
    assert set(by_partner) == {"inaproc-katalog", "lkpp-ekatalog", "pasarnusa", "warungkita"}
    assert by_partner["pasarnusa"][0] == 14 and by_partner["warungkita"][0] == 2
    for partner, (_, read, quarantined, warned) in by_partner.items():
        # the generator writes clean exports: nothing quarantined or warned on either side
        assert read > 0 and quarantined == 0 and warned == 0, partner
    assert "|" in keys[0][0]  # a key of two columns

    # the published tables are the reference model's for these partner-days
    monkeypatch.setenv("UMKM_CONTRACTS", str(contracts))
    days, delivered = reference_input(settings)
    wanted = {k: sort_rows(v) for k, v in reference_tables(days, delivered, rules(contracts)).items()}  # fmt: skip
    actual = published(settings.publish)
    for table in publish.TABLES:
        assert actual[table] == wanted[table], f"table {table} differs"
    catalogue = {row[0] for row in actual["ekatalog_progress"]}
    assert {date(2024, 1, 1), date(2024, 1, 4), date(2024, 1, 8), date(2024, 1, 11)} == catalogue
    assert any(row[1] == "warungkita" for row in actual["progress_by_partner"])

    # a changed version re-judges exactly the partner-days it covers
    pasarnusa.write_text(base + pasarnusa_version(0.4), encoding="utf-8")
    again = umkm("backfill", "--start", str(START), "--end", str(END), env=env, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    covered = (END - CHANGE).days + 1
    assert f"{covered} loaded, {20 - covered} unchanged, 0 failed" in again.stdout, again.stdout
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        rejudged = con.execute(
            """SELECT partner, export_date FROM load_attempts
               WHERE run_id = (SELECT run_id FROM load_attempts ORDER BY attempted_at DESC LIMIT 1)
                 AND outcome = 'loaded' ORDER BY export_date"""
        ).fetchall()
    finally:
        con.close()
    assert {p for p, _ in rejudged} == {"pasarnusa"}
    assert [d for _, d in rejudged] == [date(2024, 1, 8 + i) for i in range(covered)]
    after = published(settings.publish)
    for table in publish.TABLES:  # same data, same figures (only the re-judged days' load times)
        if table != "partner_loads":
            assert after[table] == actual[table], table

    def timeless(rows: list[tuple]) -> list[tuple]:
        return [row[:8] + row[9:] for row in rows]

    assert timeless(after["partner_loads"]) == timeless(actual["partner_loads"])
