"""The Data Docs site: Great Expectations' own (index, suites, every partner-day's results),
built from the stored results, that opens offline. Counts and rule names only, never values."""

from __future__ import annotations

from pathlib import Path

from pipelines.quality import validate


def write_site(gx_dir: Path) -> Path:
    """Build the site under `gx_dir/data_docs`; its index page."""
    return validate.build_site(gx_dir)
