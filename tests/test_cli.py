"""The `umkm` command's usage and configuration errors exit with status 2, quickly and clearly."""

from __future__ import annotations

import pytest

from flows.cli import main


def test_run_without_a_key_refuses_with_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It refuses to run without a pseudonymisation key, before starting anything."""
    monkeypatch.delenv("UMKM_PII_KEY", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["run", "--date", "2024-01-01"]) == 2
    assert "UMKM_PII_KEY is not set" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["backfill", "--start", "2024-02-01", "--end", "2024-01-01"],
        ["generate", "--out", "x", "--start", "2024-01-02", "--end", "2024-01-01"],
    ],
)
def test_a_range_that_ends_before_it_starts_is_a_usage_error(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It exits 2 when --end is before --start."""
    monkeypatch.setenv("UMKM_PII_KEY", "k")
    assert main(argv) == 2


def test_a_malformed_date_is_a_usage_error() -> None:
    """It exits 2 (argparse) on a date that is not YYYY-MM-DD."""
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--date", "01/02/2024"])
    assert exit_.value.code == 2
