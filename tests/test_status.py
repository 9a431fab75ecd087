"""`umkm status`: a readable terminal report from the published file alone.

The published file is built directly with DuckDB from schemas/published.sql (no pipeline run),
so these tests take well under a second each.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.publish.build import PUBLISHED_SQL
from pipelines.reporting import status
from pipelines.targets import trajectory_frame

FIRST, LAST = date(2020, 5, 14), date(2020, 6, 30)
LATEST_ONBOARDED = 2474
PARTNERS = ["lapakdesa", "pasarnusa", "tokoraya"]
FAILURE_DETAIL = "file 'toko.xlsx': header row not found (expected 'ID Toko')"


def build_published(path: Path, with_rows: bool = True) -> Path:
    """A small published file: national days 2020-05-14..2020-06-30, four provinces on the
    last day (unknown the largest), three partners (tokoraya's last delivery failed and it is
    a day behind)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(PUBLISHED_SQL.read_text())
        if not with_rows:
            return path
        days = [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
        targets = trajectory_frame(days)["target"].to_list()
        n = len(days) - 1
        previous = 0
        for i, (day, target) in enumerate(zip(days, targets, strict=True)):
            onboarded = round(LATEST_ONBOARDED * i / n)
            con.execute(
                "INSERT INTO national_progress VALUES (?, ?, ?, ?, ?, ?, ?)",
                [day, onboarded, onboarded - previous, onboarded + 500, onboarded * 2 + 700,
                 target, onboarded / target if target else None],
            )  # fmt: skip
            previous = onboarded
        provinces = [("32", "Jawa Barat", 1000), ("35", "Jawa Timur", 600),
                     ("94", "Papua Tengah", 74), (None, "unknown", 800)]  # fmt: skip
        for code, name, count in provinces:
            con.execute(
                "INSERT INTO progress_by_province VALUES (?, ?, ?, ?, ?)",
                [LAST, code, name, count, 1],
            )
        loaded_at = datetime(2020, 7, 1, 2, 0, tzinfo=UTC)
        loads = [
            ("lapakdesa", date(2020, 5, 31), "loaded", 40, 38, 2, 1, None),
            ("lapakdesa", date(2020, 6, 30), "loaded", 30, 30, 0, 0, None),
            ("pasarnusa", date(2020, 6, 29), "loaded", 1200, 1190, 10, 4, None),
            ("pasarnusa", date(2020, 6, 30), "loaded", 1300, 1297, 3, 5,
             "volume warning: 1300 records against a recent median of 1200"),
            ("tokoraya", date(2020, 6, 28), "loaded", 900, 900, 0, 0, None),
            ("tokoraya", date(2020, 6, 29), "failed", None, 0, 0, 0, FAILURE_DETAIL),
        ]  # fmt: skip
        for row in loads:
            con.execute(
                "INSERT INTO partner_loads VALUES (?, ?, ?, ?, ?, ?, ?, 'abc', ?, ?)",
                [*row[:7], loaded_at, row[7]],
            )
        freshness = [
            ("lapakdesa", date(2020, 6, 30), date(2020, 6, 30), 0, 0),
            ("pasarnusa", date(2020, 6, 30), date(2020, 6, 30), 0, 0),
            ("tokoraya", date(2020, 6, 28), date(2020, 6, 30), 2, 1),
        ]
        for row in freshness:
            con.execute("INSERT INTO partner_freshness VALUES (?, ?, ?, ?, ?)", list(row))
    finally:
        con.close()
    return path


@pytest.fixture
def published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = build_published(tmp_path / "published" / "umkm.duckdb")
    monkeypatch.setenv("UMKM_PUBLISH", str(path))
    return path


def test_status_shows_the_latest_national_figure_against_target(
    published: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It prints the latest day's national figures, the target and the share of target."""
    assert status.show() == 0
    out = capsys.readouterr().out
    assert f"National progress as of {LAST}" in out
    assert f"{LATEST_ONBOARDED:,}" in out
    assert f"{LATEST_ONBOARDED + 500:,}" in out  # online in all
    target = trajectory_frame([LAST])["target"][0]
    assert f"{target:,}" in out
    assert status.pct_text(LATEST_ONBOARDED / target) in out


def test_status_lists_every_partner_with_its_last_delivery_and_last_failure(
    published: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each partner's latest delivery with its counts, and the last failure with its detail."""
    assert status.show() == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for partner in PARTNERS:
        assert any(line.split()[:1] == [partner] for line in lines), partner
    pasarnusa = next(line for line in lines if line.split()[:2] == ["pasarnusa", "2020-06-30"])
    assert pasarnusa.split()[2:7] == ["loaded", "1,300", "1,297", "3", "5"]
    tokoraya = next(line for line in lines if line.split()[:2] == ["tokoraya", "2020-06-29"])
    assert tokoraya.split()[2:4] == ["failed", "-"]  # rows_read NULL: not readable at all
    assert "header row not found" in out  # the failure's detail, in words
    assert "volume warning" in out  # a loaded delivery's note


def test_status_flags_partners_behind_or_with_missing_deliveries(
    published: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Freshness per partner: tokoraya is two days behind with one delivery missing."""
    assert status.show() == 0
    out = capsys.readouterr().out
    freshness = out[out.index("Freshness") :].splitlines()
    rows = {
        line.split()[0]: line for line in freshness if line.split()[:1] in [[p] for p in PARTNERS]
    }
    assert set(rows) == set(PARTNERS)
    assert "BEHIND by 2 days" in rows["tokoraya"]
    assert "1 scheduled delivery missing" in rows["tokoraya"]
    assert rows["lapakdesa"].split()[-1] == "ok" and rows["pasarnusa"].split()[-1] == "ok"
    assert "1 partner(s) behind or with gaps: tokoraya" in out


def test_status_output_has_no_colour_codes_when_piped(published: Path) -> None:
    """Piped (not a terminal) or with NO_COLOR, the output is plain text; colour only on a TTY."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    piped = io.StringIO()
    assert status.show(piped) == 0
    assert "\x1b[" not in piped.getvalue()
    tty = Terminal()
    assert status.show(tty) == 0
    assert "\x1b[" in tty.getvalue()


def test_status_reads_the_published_file_without_changing_it(published: Path) -> None:
    """It opens the published file read-only: its bytes are unchanged afterwards."""
    before = published.read_bytes()
    assert status.show(io.StringIO()) == 0
    assert published.read_bytes() == before


def test_status_exits_2_with_a_hint_when_nothing_is_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a published file: exit status 2 and a message saying what to run first."""
    monkeypatch.setenv("UMKM_PUBLISH", str(tmp_path / "nothing" / "umkm.duckdb"))
    assert status.show() == 2
    captured = capsys.readouterr()
    assert "nothing published yet" in captured.err
    assert "umkm backfill" in captured.err and "umkm demo" in captured.err
    assert not (tmp_path / "nothing").exists()  # reading never creates the file


def test_status_of_a_published_file_without_rows_still_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A published file whose tables are empty (nothing loaded yet) is reported as such."""
    path = build_published(tmp_path / "umkm.duckdb", with_rows=False)
    monkeypatch.setenv("UMKM_PUBLISH", str(path))
    assert status.show() == 0
    out = capsys.readouterr().out
    assert "no day published yet" in out
    assert "no partner-day delivered yet" in out


def test_a_file_that_is_not_a_published_file_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """UMKM_PUBLISH pointing at some other DuckDB file: exit status 2, naming the file."""
    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).close()
    monkeypatch.setenv("UMKM_PUBLISH", str(path))
    assert status.show() == 2
    assert "not a complete published file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("ratio", "text"),
    [(9.790419774054242e-05, "0.0098%"), (0.0061, "0.61%"), (0.5, "50%"), (1.234, "123%"),
     (0.04, "4.0%"), (0.0, "0%"), (None, "n/a")],
)  # fmt: skip
def test_share_of_target_keeps_two_significant_digits_when_small(
    ratio: float | None, text: str
) -> None:
    """A ratio of 1.0 is on target; small shares keep two significant digits."""
    assert status.pct_text(ratio) == text
