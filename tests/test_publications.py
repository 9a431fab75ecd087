"""Publications and revisions (metrics.md): a nightly sequence through `umkm`, checked against the
reference model; unchanged reruns add nothing; a crash never leaves a publication half recorded."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.run.core import run_plain
from pipelines.settings import Settings
from tests import builders as b
from tests.conftest import TEST_KEY
from tests.processes import ROOT
from tests.reference_model import TABLE_COLUMNS, History, reference_history
from tests.test_concurrent_runs import subprocess_env
from tests.test_runs import row

D1, D2, D3, D4 = (date(2024, 1, d) for d in (1, 2, 3, 4))
NIK = ["3273014101900001", "3173015205850002", "3471016608920003", "3374011203990004",
       "3578015506880005", "3271016708910006"]  # fmt: skip


def shop(shop_id: str, nik: str, joined: str) -> dict[str, object]:
    return {"ID Toko": shop_id, "Nama Toko": f"Toko {shop_id}", "NIK Pemilik": nik, "No. HP": "",
            "NIB": "", "Provinsi": "Jawa Barat", "Kabupaten/Kota": "Bandung, Kota",
            "Skala Usaha": "MIKRO", "Tanggal Bergabung": joined, "Omzet Bulanan (Rp)": ""}  # fmt: skip


SELLERS = [row("PN1", NIK[0], "2023-06-01"), row("PN2", NIK[1], "2023-07-01")]
PN3 = row("PN3", NIK[2], "2024-01-02")
PN4 = row("PN4", NIK[5], "2023-12-20")  # missing from day 2's first delivery


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def snapshot(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """The data tables as this run published them (every column, loaded_at included)."""
    return {t: query(path, f"SELECT {', '.join(c)} FROM {t}") for t, c in TABLE_COLUMNS.items()}


def history_in(path: Path) -> History:
    """The published history, as the reference model states it."""
    return History(
        query(path, "SELECT publication_id, latest_export_date, partner_days_changed, umkm_onboarded "
                    "FROM publications ORDER BY 1"),
        query(path, "SELECT * FROM national_progress_revisions ORDER BY 1, 2"),
    )  # fmt: skip


def changes(warehouse: Path) -> dict[int, set[tuple[object, ...]]]:
    out: dict[int, set[tuple[object, ...]]] = {}
    for pid, partner, day, change in query(
        warehouse,
        "SELECT publication_id, partner, export_date, change FROM publication_partner_days",
    ):
        out.setdefault(int(pid), set()).add((partner, day, change))  # type: ignore[call-overload]
    return out


def nights_one_and_two(landing: Path) -> None:
    b.pasarnusa(landing, D1, SELLERS)
    b.tokoraya(landing, D1, [shop("T1", NIK[3], "1 Januari 2024")])
    b.pasarnusa(landing, D2, [*SELLERS, PN3])  # tokoraya's day 2 does not come on night 2


@pytest.mark.slow
def test_a_nightly_sequence_with_a_late_report_and_a_correction_publishes_the_defined_history(
    prefect_harness: None, env_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Five nights through `umkm`: a late tokoraya day, a corrected pasarnusa day, an unchanged
    rerun. The publications and revisions are exactly the reference model's; the rerun adds none;
    each run says what it moved (command output and run artifact)."""
    from flows.cli import main

    landing, publish = env_settings.landing, env_settings.publish
    runs = []
    said = []

    def night(*argv: str) -> None:
        assert main(list(argv)) == 0
        runs.append(snapshot(publish))
        said.append(capsys.readouterr().out)

    b.pasarnusa(landing, D1, SELLERS)
    b.tokoraya(landing, D1, [shop("T1", NIK[3], "1 Januari 2024")])
    night("run", "--date", D1.isoformat())
    b.pasarnusa(landing, D2, [*SELLERS, PN3])  # tokoraya's day 2 is late
    night("run", "--date", D2.isoformat())
    b.pasarnusa(landing, D3, [*SELLERS, PN3])
    b.tokoraya(landing, D2, [shop("T2", NIK[4], "2 Januari 2024")])  # the late report
    b.tokoraya(landing, D3, [shop("T1", NIK[3], "1 Januari 2024")])
    night("backfill", "--start", D1.isoformat(), "--end", D3.isoformat())
    b.pasarnusa(landing, D2, [*SELLERS, PN3, PN4])  # corrected: PN4 was missing
    b.pasarnusa(landing, D4, [*SELLERS, PN3])
    b.tokoraya(landing, D4, [shop("T1", NIK[3], "1 Januari 2024")])
    night("backfill", "--start", D2.isoformat(), "--end", D4.isoformat())
    night("backfill", "--start", D2.isoformat(), "--end", D4.isoformat())  # unchanged

    want = reference_history(runs)
    assert history_in(publish) == want
    assert [p[:4] for p in want.publications] == [
        (1, D1, 2, 3), (2, D2, 1, 4), (3, D3, 3, 5), (4, D4, 3, 6),
    ]  # fmt: skip
    by_publication = {}
    for pid, day, *_ in want.revisions:
        by_publication.setdefault(pid, []).append(day)
    assert by_publication[2] == [D2]
    assert by_publication[3] == [D2, D3]  # the late shop joined on day 2 restates it
    assert by_publication[4][0] == date(2023, 12, 20) and by_publication[4][-1] == D4
    assert changes(env_settings.warehouse) == {
        1: {("pasarnusa", D1, "loaded"), ("tokoraya", D1, "loaded")},
        2: {("pasarnusa", D2, "loaded")},
        3: {("tokoraya", D2, "late"), ("pasarnusa", D3, "loaded"), ("tokoraya", D3, "loaded")},
        4: {
            ("pasarnusa", D2, "corrected"),
            ("pasarnusa", D4, "loaded"),
            ("tokoraya", D4, "loaded"),
        },
    }
    assert "Publication 3: 5 UMKM onboarded on 2024-01-03 (publication 2: 4 on 2024-01-02); 1 past day(s) restated." in said[2]  # fmt: skip
    assert "Publication 4: 6 UMKM onboarded on 2024-01-04 (publication 3: 5 on 2024-01-03); 15 past day(s) restated." in said[3]  # fmt: skip
    assert "No publication: nothing changed since the last one." in said[4]
    report = latest_artifact("umkm-backfill-run", skip=1)  # night 4's
    assert "## What this publication moved" in report
    assert "| 2024-01-03 | 5 | 6 | +1 | pasarnusa 2024-01-02 corrected (+1) |" in report
    version, contracts = query(publish, "SELECT DISTINCT pipeline_version, contracts_sha256 FROM publications")[0]  # fmt: skip
    assert version and len(str(contracts)) == 64


def latest_artifact(key: str, skip: int = 0) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            limit=skip + 1, sort="CREATED_DESC",
        )  # fmt: skip
    return str(found[skip].data)


def plain_run(settings: Settings, day: date, crash_at: str | None = None) -> int:
    """`python -m pipelines.run.core DAY DAY` as its own process (a kill point can end it)."""
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.run.core", day.isoformat(), day.isoformat()],
        env=subprocess_env(settings, crash_at), capture_output=True, text=True, cwd=ROOT,
        timeout=300,
    )  # fmt: skip
    return done.returncode


def ids(path: Path) -> list[object]:
    return [r[0] for r in query(path, "SELECT publication_id FROM publications ORDER BY 1")]


def without_times(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    return (
        query(path, "SELECT * EXCLUDE (published_at) FROM publications ORDER BY 1"),
        query(path, "SELECT * FROM national_progress_revisions ORDER BY ALL"),
    )


@pytest.fixture(scope="module")
def never_killed(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The history two nights make when no run is killed."""
    base = tmp_path_factory.mktemp("never-killed")
    clean = Settings(landing=base / "landing", warehouse=base / "w.duckdb",
                     publish=base / "p.duckdb", pii_key=TEST_KEY)  # fmt: skip
    nights_one_and_two(clean.landing)
    run_plain(clean, D1, D1)
    run_plain(clean, D2, D2)
    return without_times(clean.publish)


@pytest.mark.parametrize(
    ("point", "recorded", "shown"),
    [
        ("publication-before-commit#1", [1], [1]),  # killed inside the recording transaction
        ("publication-recorded#1", [1, 2], [1]),  # recorded, file not yet swapped
        ("publish-swapped#1", [1, 2], [1, 2]),  # swapped, the pending mark not yet cleared
    ],
)
def test_a_crash_around_the_swap_never_leaves_a_half_recorded_publication(
    settings: Settings,
    never_killed,
    point: str,
    recorded: list[int],
    shown: list[int],  # type: ignore[no-untyped-def]
) -> None:
    """Killed while publishing night 2, the next run ends with the history a run never killed
    makes: publications 1 and 2 in the warehouse and in the file, nothing twice, nothing lost."""
    nights_one_and_two(settings.landing)
    run_plain(settings, D1, D1)
    assert plain_run(settings, D2, point) == -signal.SIGKILL
    assert (ids(settings.warehouse), ids(settings.publish)) == (recorded, shown)
    run_plain(settings, D2, D2)  # nothing left to load: it settles the publication
    assert ids(settings.warehouse) == ids(settings.publish) == [1, 2]
    pending = query(settings.warehouse, "SELECT * FROM meta WHERE name = 'publication_pending'")
    assert pending == []
    assert without_times(settings.publish) == never_killed
    run_plain(settings, D1, D2)  # and an unchanged rerun adds none
    assert ids(settings.publish) == [1, 2]


def test_umkm_explain_on_a_generated_case_prints_numbers_that_add_up(
    env_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """On generated exports of all six partners, loaded in two publications (one partner-day
    late): under each publication the UMKM moved add up to the change of the figure, the first
    publication of the day adds up to its value, and the composition adds up to the published
    figure, nationally and for a province."""
    from flows.cli import main
    from pipelines.synthetic import generate

    start, end, day = date(2024, 1, 24), date(2024, 1, 31), date(2024, 1, 26)
    generate(env_settings.landing, start, end, merchants=100, seed=5)
    late = env_settings.landing / "tokoraya" / "2024-01-25"
    (late / "_SUCCESS").rename(late / "not-yet")
    run_plain(env_settings, start, day)
    (late / "not-yet").rename(late / "_SUCCESS")
    run_plain(env_settings, start, end)
    assert ids(env_settings.publish) == [1, 2]

    published = query(env_settings.publish, f"SELECT umkm_onboarded FROM national_progress WHERE as_of_date = '{day}'")[0][0]  # fmt: skip
    province, in_province = query(
        env_settings.publish,
        f"""SELECT province_code, umkm_onboarded FROM progress_by_province WHERE as_of_date = '{day}'
            AND province_code IS NOT NULL ORDER BY umkm_onboarded DESC LIMIT 1""",
    )[0]
    for argv, figure in ((["--date", str(day)], published),
                         (["--date", str(day), "--province", str(province)], in_province)):  # fmt: skip
        assert main(["explain", *argv]) == 0
        text = capsys.readouterr().out
        assert f"As published now (publication 2): {figure:,}" in text
        blocks = text.split("  publication ")[1:]
        assert blocks, text
        for block in blocks:
            rows = block.split("\n\n")[0].split("moved in all")[0]
            moved = sum(_n(m) for m in re.findall(r"^ +\S.*  ([+-]?[\d,]+)$", rows, re.M))
            if m := re.search(r"moved in all: ([+-][\d,]+) = ([\d,]+) - ([\d,]+)", block):
                assert _n(m[1]) == moved == _n(m[2]) - _n(m[3]), block
            else:
                m = re.search(r"moved in all: ([+-][\d,]+), on top of ([\d,]+) .*: ([\d,]+)", block)
                assert m and _n(m[1]) == moved and _n(m[1]) + _n(m[2]) == _n(m[3]), block
        composition = text.split("Composition on")[1]
        counts = [_n(n) for n in re.findall(r"^  (?!total)[a-z-]+ +([\d,]+)$", composition, re.M)]
        assert (
            sum(counts) == figure and f"total {figure:,} = the published figure {figure:,}" in text
        )
        assert (
            "late" in text and "UMKM with listings on two or more partners, counted once:" in text
        )
        assert not re.search(r"\b(32|33|35)\d{14}\b", text)  # no NIK-like number


def test_the_report_marks_each_publications_first_figure_beside_the_current_curve(
    settings: Settings, tmp_path: Path
) -> None:
    """The report reads each publication's latest day as first published and its value now; the
    page lists them with the revision, and the chart differs from one without the marks."""
    from pipelines.reporting import report
    from pipelines.reporting.status import read_published

    nights_one_and_two(settings.landing)
    run_plain(settings, D1, D1)
    b.tokoraya(settings.landing, D2, [shop("T2", NIK[4], "1 Januari 2024")])  # restates day 1
    run_plain(settings, D1, D2)
    pub = read_published(settings.publish)
    assert pub.publications.select("publication_id", "latest_export_date", "first_published", "now").rows() == [
        (1, D1, 3, 4), (2, D2, 5, 5),
    ]  # fmt: skip
    png = report.render_png(pub)
    page = report.render_html(pub, png, "chart.png")
    assert "Publications: each one&#x27;s latest day as first published, and now" in page
    assert (
        '<td class="n">3</td><td class="n">4</td><td class="n">1</td>' in page
    )  # first, now, revision
    without = report.render_png(replace(pub, publications=pub.publications.clear()))
    assert png != without


def _n(text: str) -> int:
    return int(text.replace(",", ""))
