"""The run process's DuckDB instance: every partner-day stages into it, and under the writer lock
the warehouse is attached to it, so staged tables load into the warehouse without leaving DuckDB.

One instance per process, its memory capped (`UMKM_MEMORY_LIMIT`) and spilling beside the
staging area; each stage works on its own cursor. Partner files are untrusted: no extension is
ever installed or loaded on their behalf.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb

_lock = threading.Lock()
_instance: duckdb.DuckDBPyConnection | None = None


def cursor(memory_limit: str = "4GB", spill: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A new cursor on this process's instance (created with these limits on first use)."""
    global _instance
    with _lock:
        if _instance is None:
            config: dict[str, str | bool | int | float | list[str]] = {
                "memory_limit": memory_limit,
                "autoinstall_known_extensions": "false",
                "autoload_known_extensions": "false",
                "preserve_insertion_order": "true",  # staged rows keep file order
            }
            if spill is not None:
                spill.mkdir(parents=True, exist_ok=True, mode=0o700)
                config["temp_directory"] = str(spill)
            _instance = duckdb.connect(":memory:", config=config)
        return _instance.cursor()
