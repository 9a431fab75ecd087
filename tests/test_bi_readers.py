"""Long-lived BI readers across a publish, each in its own process as in production: what keeps
the old snapshot (a held connection, DuckDB's per-file instance cache, SQLAlchemy pools, with or
without pre-ping and recycling) and what sees the new file (a connection per query, as Superset's
NullPool does; a pool dropped when the file changes). The README's BI snippets are run the same way."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from pipelines.run.core import run_plain
from tests.test_concurrent_runs import landing, settings_in
from tests.test_published_clients import OLDEST_1X, UV

ROOT = Path(__file__).resolve().parent.parent
READER = str(ROOT / "tests" / "bi_reader.py")
START, BEFORE, AFTER = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)

pytestmark = pytest.mark.slow


MODES = ["nullpool", "queuepool", "pre_ping", "recycle", "beside_held"]


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Every reader of this module started on a file published as of BEFORE, then one run
    publishing AFTER over it while they all hold on: what each read before and after."""
    base = tmp_path_factory.mktemp("readers")
    landing(base / "landing")
    s = settings_in(base, base / "landing")
    assert run_plain(s, START, BEFORE).published is not None
    path = str(s.publish)
    readers = {"duckdb 2.0": [sys.executable, READER, "held", path],
               f"duckdb {OLDEST_1X}": old_duckdb(READER, "held", path)}  # fmt: skip
    readers.update({mode: [sys.executable, READER, mode, path] for mode in MODES})
    for i, code in enumerate(readme_snippets()):
        assert "def latest_day()" in code, f"README BI snippet {i + 1} defines no latest_day()"
        file = base / f"snippet_{i + 1}.py"
        file.write_text(code, encoding="utf-8")
        readers[f"snippet {i + 1}"] = [sys.executable, READER, "snippet", path, str(file)]

    def publish_next() -> None:
        assert run_plain(s, START, AFTER).published is not None

    return across_a_publish(readers, publish_next, s.publish)


def across_a_publish(readers: dict[str, list[str]], publish: Callable[[], None], path: Path) -> dict[str, list[str]]:  # fmt: skip
    """Start every reader, let each read once, publish, let each read again: what each saw."""
    env = {**os.environ, "UMKM_PUBLISH": str(path), "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    procs = {
        name: subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, argv in readers.items()
    }
    seen: dict[str, list[str]] = {}
    try:
        for name, proc in procs.items():
            assert proc.stdout is not None
            first = proc.stdout.readline().split()
            assert first, f"{name} did not read: {proc.stderr.read() if proc.stderr else ''}"
            seen[name] = first
        publish()
        for name, proc in procs.items():
            out, err = proc.communicate("published\n", timeout=120)
            assert proc.returncode == 0, f"{name}: {err[-2000:]}"
            seen[name] += out.split()
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return seen


def old_duckdb(*args: str) -> list[str]:
    return [str(UV), "run", "--quiet", "--no-project", "--python", sys.executable,
            "--with", f"duckdb=={OLDEST_1X}", "python", *args]  # fmt: skip


def test_a_held_connection_keeps_its_snapshot_and_pins_it_for_the_whole_process(seen) -> None:  # type: ignore[no-untyped-def]
    """It keeps the old file for a held connection and for a new connect beside it (DuckDB 2.0 and
    1.1 alike); once every connection of the process is closed, the next one reads the new file."""
    old, new = str(BEFORE), str(AFTER)
    for name in ("duckdb 2.0", f"duckdb {OLDEST_1X}"):
        # before the publish; then: held, opened beside it, opened after closing both
        assert seen[name] == [old, old, old, new], name


def test_only_a_connection_per_query_makes_a_sqlalchemy_engine_see_a_new_publish(seen) -> None:  # type: ignore[no-untyped-def]
    """It shows Superset's NullPool engine reading the new file at its next query, while a pool of
    duckdb-engine connections keeps the old one whether it pre-pings or recycles every connection,
    and a NullPool engine stays old too while another engine of the process holds a connection."""
    old, new = str(BEFORE), str(AFTER)
    assert {m: seen[m] for m in MODES} == {
        "nullpool": [old, new, new],
        "queuepool": [old, old, old],
        "pre_ping": [old, old, old],
        "recycle": [old, old, old],
        "beside_held": [old, old, old],
    }


def readme_snippets() -> list[str]:
    """The README's ```python bi blocks."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^```python bi\n(.*?)^```$", text, flags=re.M | re.S)


def test_the_readme_bi_snippets_run_and_stay_current_across_a_publish(seen) -> None:  # type: ignore[no-untyped-def]
    """It runs each BI snippet of the README as a long-lived process: each reads the published
    file, and reads the new one after a publish without being restarted."""
    snippets = [name for name in seen if name.startswith("snippet ")]
    assert len(snippets) == len(readme_snippets()) >= 3, "the README's BI section lost its snippets"
    for name in snippets:
        assert seen[name] == [str(BEFORE), str(AFTER), str(AFTER)], name
