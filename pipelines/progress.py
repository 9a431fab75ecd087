"""How far a long command is: a listener the command installs (flows/progress.py draws a bar
on a terminal) and that the run core tells after each partner-day. Without a listener nothing
is drawn: logs keep their plain lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Tick = Callable[[int, int, str], None]  # (done, total, what was just done)

_listener: ContextVar[Tick | None] = ContextVar("umkm_progress", default=None)


@contextmanager
def listening(tick: Tick | None) -> Iterator[None]:
    """Tell `tick` of progress made in this context (None: tell nobody)."""
    token = _listener.set(tick)
    try:
        yield
    finally:
        _listener.reset(token)


def report(done: int, total: int, what: str) -> None:
    tick = _listener.get()
    if tick is not None:
        tick(done, total, what)
