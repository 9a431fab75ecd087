"""A progress bar for `umkm backfill` and `umkm generate` when stdout is a terminal; plain
lines (the logs as they are) when it is not, so a log file never holds a bar's redraws.

The bar is drawn by rich (which Prefect already uses for its console logs) on the console of
Prefect's own log handler when that is a terminal too: log lines then scroll above the bar
instead of tearing through it."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipelines import progress


def wanted() -> bool:
    """A bar only on a terminal (and not on a dumb one)."""
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def _log_console() -> Any:
    """The rich console Prefect's log handler prints with, if it writes to a terminal."""
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]  # fmt: skip
    for logger in loggers:
        for handler in logger.handlers:
            console = getattr(handler, "console", None)
            if type(handler).__name__ == "PrefectConsoleHandler" and console is not None:
                return console if console.is_terminal else None
    return None


@contextmanager
def bar(what: str) -> Iterator[progress.Tick | None]:
    """A bar of `what` while in the context, told of progress through pipelines.progress (and
    the tick yielded); nothing on anything but a terminal (yields None). While it is shown,
    what is printed to stdout or stderr appears above it (rich redirects both)."""
    if not wanted():
        yield None
        return
    from rich.console import Console
    from rich.default_styles import DEFAULT_STYLES
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.theme import Theme

    console = _log_console() or Console(file=sys.stdout)
    # Prefect's console has a theme of its own (not inheriting rich's): lend it the bar's styles
    console.push_theme(Theme({k: v for k, v in DEFAULT_STYLES.items() if k.startswith(("bar.", "progress."))}))  # fmt: skip
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[last]}"))  # fmt: skip
    try:
        with Progress(*columns, console=console, transient=False) as shown:
            task = shown.add_task(what, total=None, last="")

            def tick(done: int, total: int, last: str) -> None:
                shown.update(task, completed=done, total=total, last=last)

            with progress.listening(tick):
                yield tick
    finally:
        console.pop_theme()
