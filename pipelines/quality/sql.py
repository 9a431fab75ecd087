"""Small pieces of DuckDB SQL that the rules are written with (the rules run inside DuckDB,
over the whole partner-day at once: no per-row Python)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

# Unicode White_Space, what a person sees as blank around a value (tabs, no-break spaces...)
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"  # fmt: skip
# the same set as an RE2 character class body
WHITESPACE_CLASS = r"\t\n\x{0b}\x{0c}\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"


def lit(value: object) -> str:
    """A SQL literal for a Python value (text quoted, dates typed, None as NULL)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def text_list(values: Iterable[str]) -> str:
    """A SQL list of text literals, e.g. ['11', '12']."""
    return "[" + ", ".join(lit(v) for v in values) + "]::VARCHAR[]"


def ident(name: str) -> str:
    """A quoted SQL identifier (column names come from contracts)."""
    return '"' + name.replace('"', '""') + '"'


def clean(expr: str) -> str:
    """Text trimmed of whitespace, NULL when nothing is left."""
    # trimming by a set of Unicode characters is slow; a regular expression finds the few
    # values that need it much faster
    edge = f"'^[{WHITESPACE_CLASS}]|[{WHITESPACE_CLASS}]$'"
    text = f"CAST({expr} AS VARCHAR)"
    return f"nullif(CASE WHEN regexp_matches({text}, {edge}) THEN trim({text}, {lit(WHITESPACE)}) ELSE {text} END, '')"


def case(*branches: tuple[str, str], default: str = "NULL") -> str:
    """CASE WHEN c1 THEN v1 ... ELSE default END; the first condition that holds wins."""
    return "CASE " + " ".join(f"WHEN {c} THEN {v}" for c, v in branches) + f" ELSE {default} END"


def mapping(expr: str, values: dict[str, str], default: str = "NULL") -> str:
    """The value a lookup table gives `expr` (exact keys), `default` when it has none."""
    if not values:
        return default
    whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in values.items())
    return f"CASE {expr} {whens} ELSE {default} END"
