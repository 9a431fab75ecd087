"""A process-wide in-memory DuckDB for scratch work (reading files, hashing).

Opening a DuckDB database costs ~30 ms; a cursor on an open one costs microseconds and has
its own temp tables (e.g. `reject_errors`), so each read gets a fresh cursor.
"""

from __future__ import annotations

import threading

import duckdb

_lock = threading.Lock()
_base: duckdb.DuckDBPyConnection | None = None


def cursor() -> duckdb.DuckDBPyConnection:
    """A new connection (cursor) on the shared in-memory scratch database."""
    global _base
    with _lock:
        if _base is None:
            _base = duckdb.connect(":memory:")
            # partner files are untrusted: never install or load extensions on their behalf
            _base.execute(
                "SET GLOBAL autoinstall_known_extensions = false; SET GLOBAL autoload_known_extensions = false"
            )
        return _base.cursor()
