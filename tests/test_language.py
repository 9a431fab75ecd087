"""`umkm status --lang id` and `umkm report --lang id`: Bahasa Indonesia labels, Indonesian
dates (30 Juni 2020) and numbers (1.234.567; 3,4 juta), and the HTML page says its language.
English stays the default. The published file is tests/test_status.py's small one."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import main
from pipelines.reporting import language as languages
from pipelines.reporting.report import announcements
from tests.test_status import LATEST_ONBOARDED, build_published


@pytest.fixture
def published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = build_published(tmp_path / "published" / "umkm.duckdb")
    monkeypatch.setenv("UMKM_PUBLISH", str(path))
    return path


def test_status_in_bahasa_indonesia(published: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--lang", "id"]) == 0
    out = capsys.readouterr().out
    assert "Kemajuan nasional per 30 Juni 2020" in out
    assert "UMKM masuk sejak 14 Mei 2020" in out and "2.474" in out  # 2,474 in English
    assert "0,61%" in out  # share of target, decimal comma
    pasarnusa = next(line for line in out.splitlines() if line.split()[:1] == ["pasarnusa"])
    assert pasarnusa.split()[1:8] == ["30", "Juni", "2020", "dimuat", "1.300", "1.297", "3"]
    assert "TERTINGGAL 2 hari; 1 kiriman terjadwal hilang" in out
    assert "1 mitra tertinggal atau ada kiriman yang hilang: tokoraya" in out
    assert "National progress" not in out and "BEHIND" not in out


def test_status_stays_english_by_default(
    published: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "National progress as of 2020-06-30" in out and f"{LATEST_ONBOARDED:,}" in out


def test_report_in_bahasa_indonesia_says_its_language(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--lang", "id", "--out", str(tmp_path / "id.png")]) == 0
    page = (tmp_path / "id.html").read_text(encoding="utf-8")
    assert '<html lang="id">' in page
    assert (
        "<h1>2.474 UMKM masuk sejak 14 Mei 2020, per 30 Juni 2020 (0,61% dari target)</h1>" in page
    )
    assert "<h2>Kebaruan data mitra</h2>" in page and "<th>mitra</th>" in page
    assert "<td>30 Juni 2020</td>" in page and '<td class="n">2.474</td>' in page
    assert "18.600.000" in page  # the 2022 target of 2020-12-21, in the reference table
    assert (tmp_path / "id.png").read_bytes() != b""
    assert main(["report", "--out", str(tmp_path / "en.png")]) == 0
    english = (tmp_path / "en.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in english and "<td>2020-06-30</td>" in english


def test_round_figures_and_announcements_in_indonesian() -> None:
    """The chart's round figures: 3,4 juta and 950 ribu (3.4M and 950K in English)."""
    indonesian, english = languages.language("id"), languages.language("en")
    assert (indonesian.short(3_400_000), indonesian.short(950_000)) == ("3,4 juta", "950 ribu")
    assert (english.short(3_400_000), english.short(950_000)) == ("3.4M", "950K")
    assert indonesian.num(1_234_567) == "1.234.567" and english.num(1_234_567) == "1,234,567"
    said = dict(announcements(indonesian))
    assert any("18,6 juta pada 2022" in what for what in said.values())


def test_every_label_has_a_translation() -> None:
    """The catalogue is data: each language has every English label (and only those)."""
    catalogue = languages._catalogue()
    for code, labels in catalogue.items():
        assert set(labels) == set(catalogue["en"]), code
        for key, label in labels.items():
            if isinstance(catalogue["en"][key], dict) and key != "columns":
                assert set(label) == {"one", "other"}, (code, key)


def test_an_unknown_language_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["status", "--lang", "xx"])
    assert exit_.value.code == 2
