"""The canonical schema (schemas/canonical.yaml): the columns every partner is mapped into.

Identifiers become integer keys inside the warehouse: a valid NIB is its 13 digits as a number,
a NIK or phone pseudonym its HMAC-SHA256 truncated to 126 bits, each tagged with its kind in
the top two bits, so that one UHUGEINT column joins and compares them all (no text joins)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "canonical.yaml"
IDENT_KINDS = {"nib": 1, "nik": 2, "phone": 3}  # the top two bits of an identifier key


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    doc: str = ""
    pii: bool = False


@cache
def _schema() -> dict[str, tuple[Column, ...]]:
    raw = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    return {part: tuple(Column(**c) for c in columns) for part, columns in raw.items()}


def record_columns() -> tuple[Column, ...]:
    return _schema()["record"]


def listing_columns() -> tuple[Column, ...]:
    return _schema()["listing"]


def listing_attributes() -> tuple[Column, ...]:
    """A listing's attributes: its `listing` columns but the key and the identifiers (the
    warehouse keeps those in listing_keys and listing_idents)."""
    return tuple(c for c in listing_columns() if c.name not in ("listing_key", "idents"))


def vendor_columns() -> tuple[Column, ...]:
    return _schema()["vendor"]


def names(columns: tuple[Column, ...]) -> list[str]:
    return [c.name for c in columns]


def ddl(columns: tuple[Column, ...], not_null: tuple[str, ...] = ()) -> str:
    """Column definitions for CREATE TABLE."""
    return ", ".join(
        f"{c.name} {c.type}{' NOT NULL' if c.name in not_null else ''}" for c in columns
    )


_LOW_126 = (1 << 126) - 1


def ident_key(kind: str, value: str) -> str:
    """SQL: the integer key of an identifier (NULL stays NULL); `value` is a valid NIB's digits
    or a pseudonym's hex."""
    tag = f"({IDENT_KINDS[kind]}::UHUGEINT << 126)"
    if kind == "nib":
        return f"({tag} | CAST({value} AS UHUGEINT))"
    return f"({tag} | (('0x' || left({value}, 32))::UHUGEINT & {_LOW_126}::UHUGEINT))"
