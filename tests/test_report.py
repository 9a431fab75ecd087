"""`umkm report`: a PNG chart and a self-contained HTML page from the published file alone.

The published file is built directly with DuckDB (tests/test_status.py's builder); the chart
is rendered once per module and shared, so the whole file runs in a few seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from pipelines.reference import PROGRAMME_START
from pipelines.reporting import report, status
from pipelines.targets import trajectory
from tests.test_status import LAST, LATEST_ONBOARDED, PARTNERS, build_published

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Written:
    def __init__(self, base: Path, rc: int, stdout: str, published: Path) -> None:
        self.base, self.rc, self.stdout, self.published = base, rc, stdout, published
        self.png = base / "out" / "progress.png"
        self.html = base / "out" / "progress.html"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Written]:
    """One report written with --out from the small published file."""
    import contextlib
    import io

    base = tmp_path_factory.mktemp("report")
    published = build_published(base / "published" / "umkm.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UMKM_PUBLISH", str(published))
        before = published.read_bytes()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = report.write_report(base / "out" / "progress.png")
        assert published.read_bytes() == before  # opened read-only
        yield Written(base, rc, out.getvalue(), published)


def test_it_writes_a_png_and_an_html_page_beside_it_and_prints_both_paths(
    written: Written,
) -> None:
    """`--out FILE` is the PNG; the HTML page has the same stem; both paths are printed."""
    assert written.rc == 0
    data = written.png.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 50_000  # a real chart, not an empty canvas
    assert written.html.is_file()
    assert written.stdout.split() == [str(written.png), str(written.html)]


def test_the_html_page_loads_nothing_from_the_network(written: Written) -> None:
    """It writes a self-contained HTML page that loads nothing from the network."""
    page = written.html.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page, re.IGNORECASE)
    assert references, "the chart must be embedded"
    assert all(ref.startswith("data:") for ref in references), references
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert "@import" not in page and "url(" not in page


def test_the_html_page_embeds_the_chart_itself_as_a_data_uri(written: Written) -> None:
    """The PNG is inside the page (base64 data URI), byte for byte the file written beside it."""
    import base64

    page = written.html.read_text(encoding="utf-8")
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert match
    assert base64.b64decode(match.group(1)) == written.png.read_bytes()


def test_the_title_states_the_latest_figure_date_and_share_of_target(written: Written) -> None:
    """Title: '2,474 UMKM onboarded since 2020-05-14, as of 2020-06-30 (x% of target)'."""
    page = written.html.read_text(encoding="utf-8")
    share = status.pct_text(LATEST_ONBOARDED / trajectory(LAST))
    expected = (
        f"{LATEST_ONBOARDED:,} UMKM onboarded since 2020-05-14, as of {LAST} ({share} of target)"
    )
    assert f"<h1>{expected}</h1>" in page
    assert f"<title>{expected}</title>" in page


def test_the_html_page_tables_show_the_last_days_and_partner_freshness(written: Written) -> None:
    """Small tables: the last rows of national_progress and every partner's freshness."""
    page = written.html.read_text(encoding="utf-8")
    assert f"<td>{LAST}</td>" in page and f"<td>{LAST - timedelta(days=9)}</td>" in page
    assert f"<td>{LAST - timedelta(days=10)}</td>" not in page  # only the last ten days
    for partner in PARTNERS:
        assert f"<td>{partner}</td>" in page
    assert '<tr class="flag"><td>tokoraya</td>' in page  # behind: flagged


def test_rerunning_the_report_writes_the_same_bytes(
    written: Written, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No timestamp or clock in the output: a rerun on the same published file is identical.
    Without --out the PNG goes beside the published file."""
    monkeypatch.setenv("UMKM_PUBLISH", str(written.published))
    assert report.write_report(None) == 0
    png = written.published.parent / "umkm_progress.png"
    assert capsys.readouterr().out.split() == [str(png), str(png.with_suffix(".html"))]
    assert png.read_bytes() == written.png.read_bytes()
    html_again = png.with_suffix(".html").read_text(encoding="utf-8")
    assert html_again == written.html.read_text(encoding="utf-8").replace(
        "progress.png", "umkm_progress.png"
    )


def test_report_exits_2_with_a_hint_when_nothing_is_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a published file: exit status 2, the hint on stderr, and nothing written."""
    monkeypatch.setenv("UMKM_PUBLISH", str(tmp_path / "published" / "umkm.duckdb"))
    assert report.write_report(tmp_path / "out.png") == 2
    err = capsys.readouterr().err
    assert "nothing published yet: run `umkm backfill` or `umkm demo` first" in err
    assert list(tmp_path.iterdir()) == []


def test_report_of_a_published_file_without_days_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A published file with empty tables (nothing loaded yet) has nothing to chart: exit 2."""
    path = build_published(tmp_path / "umkm.duckdb", with_rows=False)
    monkeypatch.setenv("UMKM_PUBLISH", str(path))
    assert report.write_report(tmp_path / "out.png") == 2
    assert "nothing to chart" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


def test_each_announcement_plan_follows_the_targets_known_that_day() -> None:
    """The dashed plans: 18.6M for end-2022 as announced in Dec 2020, 20M after March 2022;
    each is the published trajectory definition applied to the targets known that day."""
    end_2022 = np.array([np.datetime64(date(2022, 12, 31), "D")])
    assert report.plan(date(2020, 12, 21), end_2022)[0] == 18_600_000
    assert report.plan(date(2022, 3, 31), end_2022)[0] == 20_000_000
    assert report.plan(date(2020, 5, 14), end_2022)[0] == 2_000_000  # flat after the last
    # after the last announcement the plan is the published target, to rounding
    for day in (date(2022, 4, 1), date(2023, 6, 30), date(2025, 1, 1)):
        assert abs(report.plan(date(2022, 3, 31), np.array([np.datetime64(day, "D")]))[0]
                   - trajectory(day)) <= 0.5  # fmt: skip
    assert report.plan(date(2022, 3, 31), np.array([np.datetime64(PROGRAMME_START, "D")]))[0] == 0


def test_province_ranking_puts_unknown_last_whatever_its_size(written: Written) -> None:
    """Provinces ranked by UMKM onboarded on the latest day; unknown (NULL code) last."""
    names = status.read_published(written.published).provinces["province_name"].to_list()
    assert names == ["Jawa Barat", "Jawa Timur", "Papua Tengah", "unknown"]
