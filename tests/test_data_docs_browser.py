"""The Data Docs open in a real browser with the network off: every page, style, script, font
and link resolves from the site itself, nothing logs an error, icons show and the filter works."""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import pytest

from pipelines.run.core import run_plain
from pipelines.settings import Settings
from tests.test_data_docs import deliver_three_days

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason="needs Debian's chromium (.ci/run installs it) to open the Data Docs",
)


def _target(url: str) -> Path:
    return Path(url.split("#")[0].split("?")[0].removeprefix("file://"))


def test_data_docs_open_offline_with_no_missing_resource_error_or_broken_link(
    settings: Settings,
) -> None:
    """It opens the index, every suite and every result page (a refused day's too) offline."""
    from playwright.sync_api import expect, sync_playwright

    deliver_three_days(settings)
    run_plain(settings, date(2024, 1, 1), date(2024, 1, 3))
    site = settings.gx_dir / "data_docs"
    pages = [site / "index.html", *sorted((site / "expectations").glob("*.html")),
             *sorted((site / "validations").rglob("*.html"))]  # fmt: skip
    assert len(pages) == 1 + 2 + 5
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(offline=True)

        def only_local(route, request) -> None:  # type: ignore[no-untyped-def]
            if request.url.startswith("file://"):
                route.continue_()
            else:
                problems.append(f"request off the site: {request.url}")
                route.abort()

        context.route("**/*", only_local)
        for path in pages:
            name = str(path.relative_to(site))
            page = context.new_page()
            page.on("console", lambda m, n=name: m.type == "error" and problems.append(f"{n}: console: {m.text}"))  # fmt: skip
            page.on("pageerror", lambda e, n=name: problems.append(f"{n}: script error: {e}"))
            page.on("requestfailed", lambda r, n=name: problems.append(f"{n}: missing: {r.url}"))
            response = page.goto(path.as_uri(), wait_until="load")
            assert response is not None and response.ok
            for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
                if href.startswith("javascript:"):
                    continue  # the table's own controls (pagination, filters): no navigation
                if not href.startswith("file://"):
                    problems.append(f"{name}: link off the site: {href}")
                elif not _target(href).is_file() and not href.split("#")[0].endswith(path.name):
                    problems.append(f"{name}: broken link: {href}")
            if path.parent.parent.parent.name == "validations" or "validations" in name:
                # status icons are Font Awesome glyphs: a missing font or stylesheet shows none
                glyphs = page.eval_on_selector_all(
                    "i.fas, i.far", "els => els.map(e => getComputedStyle(e, '::before').content)"
                )
                assert glyphs and all(g not in ("none", "normal", "") for g in glyphs), name
                assert "Data asset: None" not in page.content(), name
            page.close()
        index = context.new_page()
        index.goto((site / "index.html").as_uri(), wait_until="load")
        rows = index.locator("table tbody tr:visible")
        before = rows.count()
        index.locator("input.search-input").first.press_sequentially("2024-01-03")
        assert before == 5
        expect(rows).to_have_count(1)  # the search filters the results
        assert "2024-01-03" in rows.first.inner_text()
        browser.close()
    assert problems == []
