"""The run artifact links the Data Docs even when the settings' paths are relative (the defaults)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.reporting.summary import markdown
from pipelines.run.core import RunSummary


def test_a_relative_data_docs_folder_is_linked_by_its_absolute_file_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gx" / "data_docs").mkdir(parents=True)
    text = markdown(RunSummary("r1", (), (), None, None), Path("published/umkm.duckdb"), "backfill",
                    Path("gx/data_docs"))  # fmt: skip
    assert f"({(tmp_path / 'gx' / 'data_docs').as_uri()})" in text
