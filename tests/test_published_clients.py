"""Every BI client opens the published file: DuckDB 1.1 (the oldest 1.x that BI drivers still
bundle) and the newest 1.x, each in its own environment, read every table, every row and every
comment exactly as DuckDB 2.0 (the pipeline's own) reads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.publish import history
from pipelines.publish.build import TABLES as DATA_TABLES
from pipelines.run.core import run_plain
from pipelines.settings import Settings
from pipelines.synthetic import generate
from tests import bi_read
from tests.test_metrics_doc import schema

TABLES = DATA_TABLES + history.TABLES  # the published file: data tables and their history

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".tools" / "bin" / "uv"  # `make install` bootstraps it
# The oldest and the newest 1.x on PyPI, pinned so the test means the same thing every day:
# 1.1.3 is the last 1.1 release (1.1 reads storage version 64 only); 1.5.6 is the newest 1.x.
OLDEST_1X, NEWEST_1X = "1.1.3", "1.5.6"
START, END = (
    date(2024, 1, 29),
    date(2024, 1, 31),
)  # a Monday (lkpp-ekatalog) to a month end (lapakdesa)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A published file freshly built by a run over generated exports of all six partners."""
    base = tmp_path_factory.mktemp("clients")
    s = Settings(landing=base / "landing", warehouse=base / "w" / "umkm.duckdb",
                 publish=base / "p" / "umkm.duckdb", pii_key="clients-key")  # fmt: skip
    generate(s.landing, START, END, merchants=40, seed=11)
    assert run_plain(s, START, END).published is not None
    return s.publish


# Superset's stack: duckdb-engine (its DuckDB driver) under the SQLAlchemy Superset pins (<2). Column
# reflection through duckdb-engine 0.17 fails with SQLAlchemy 2.0.45 and later ("pg_collation does
# not exist": duckdb-engine issues 1379 and 1391), whatever the DuckDB.
SUPERSET_STACK = ["duckdb-engine==0.17.0", "sqlalchemy==1.4.54"]


def read_with(version: str, path: Path, *extra: str) -> dict[str, object]:
    """tests/bi_read.py run by DuckDB `version` in a throwaway environment of its own (with the
    packages `extra` and, for SQLAlchemy's reading, `--sqlalchemy`)."""
    assert UV.exists(), "run `make install` first: it bootstraps uv into .tools/"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [str(UV), "run", "--quiet", "--no-project", "--python", sys.executable, "--with", f"duckdb=={version}",
         *[arg for p in extra for arg in ("--with", p)], "python", str(ROOT / "tests" / "bi_read.py"), str(path),
         *(["--sqlalchemy"] if extra else [])],
        env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out: dict[str, object] = json.loads(done.stdout)
    return out


def test_the_file_is_in_storage_version_64_with_a_comment_on_everything(published: Path) -> None:
    """It writes the format DuckDB 1.0 and 1.1 read (64), and every table and column has a comment."""
    with open(published, "rb") as f:
        header = f.read(20)
    assert header[8:12] == b"DUCK" and int.from_bytes(header[12:20], "little") == 64
    own = bi_read.read(str(published))
    assert own["duckdb"].startswith("2.")  # type: ignore[union-attr]
    assert sorted(own["tables"]) == sorted(TABLES)  # type: ignore[arg-type]
    assert all(own["tables"].values()), own["tables"]  # type: ignore[union-attr]
    declared = sum(len(cols) for _, cols in schema().values())
    assert len(own["columns"]) == declared and all(c for _, c in own["columns"].values())  # type: ignore[arg-type,union-attr]
    assert all(own["rows"][t] for t in TABLES), "every table has rows to compare"  # type: ignore[index]


@pytest.mark.parametrize("version", [OLDEST_1X, NEWEST_1X])
def test_duckdb_1x_reads_every_table_row_and_comment_as_2_0_does(
    published: Path, version: str
) -> None:
    """It reads, with DuckDB `version`, the same tables, types, comments and rows as DuckDB 2.0."""
    theirs, own = read_with(version, published), bi_read.read(str(published))
    assert theirs["duckdb"] == version
    for part in ("tables", "columns", "information_schema", "rows"):
        assert theirs[part] == own[part], f"DuckDB {version} reads other {part}"


@pytest.mark.parametrize("version", [OLDEST_1X, NEWEST_1X])
def test_superset_s_driver_reflects_every_table_and_column_comment(
    published: Path, version: str
) -> None:
    """It reflects, through duckdb-engine and SQLAlchemy 1.4 on DuckDB `version`, every table and
    every table and column comment that DuckDB 2.0 reads (what Superset shows as descriptions)."""
    theirs, own = read_with(version, published, *SUPERSET_STACK), bi_read.read(str(published))
    assert (theirs["duckdb"], theirs["sqlalchemy"]) == (version, "1.4.54")
    assert theirs["tables"] == own["tables"]
    assert theirs["columns"] == {name: comment for name, (_, comment) in own["columns"].items()}  # type: ignore[union-attr]


def test_a_file_in_the_2_0_format_is_what_1x_cannot_read(tmp_path: Path) -> None:
    """It shows why the storage version is pinned: DuckDB 1.1 refuses a file in 2.0's own format."""
    path = tmp_path / "default.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT 1 AS a")
    con.close()
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    done = subprocess.run(
        [str(UV), "run", "--quiet", "--no-project", "--python", sys.executable, "--with",
         f"duckdb=={OLDEST_1X}", "python", "-c", f"import duckdb; duckdb.connect({str(path)!r}, read_only=True)"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode != 0 and "we can only read version 64" in done.stderr, done.stderr[
        -2000:
    ]
