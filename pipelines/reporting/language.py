"""The language `umkm status` and `umkm report` speak: labels from labels.yaml (data, one
catalogue), numbers and dates in the language's locale by Babel (CLDR): 1,234,567 and
2024-01-07 in English; 1.234.567, 3,4 juta and 7 Januari 2024 in Bahasa Indonesia."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from babel.dates import format_date
from babel.numbers import format_compact_decimal, format_decimal, format_percent

CATALOGUE = Path(__file__).with_name("labels.yaml")
DEFAULT = "en"


@cache
def _catalogue() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load(CATALOGUE.read_text(encoding="utf-8")))


def codes() -> list[str]:
    """The languages there are labels for."""
    return list(_catalogue())


@dataclass(frozen=True)
class Language:
    code: str

    @property
    def _labels(self) -> dict[str, Any]:
        return _catalogue()[self.code]

    @property
    def locale(self) -> str:
        return str(self._labels["locale"])

    def t(self, key: str, **values: object) -> str:
        """The label `key`, its {placeholders} filled; one/other forms chosen by `n`."""
        label = self._labels[key]
        if isinstance(label, dict):
            label = label["one" if values.get("n") == 1 else "other"]
        return str(label).format(**values)

    def column(self, name: str) -> str:
        """A published column's header: its label in this language, else its own name."""
        return str((self._labels.get("columns") or {}).get(name, name))

    def num(self, value: object) -> str:
        """A count with the locale's grouping (1,234 / 1.234); a dash for a missing value."""
        if value is None:
            return "-"
        if isinstance(value, int) and not isinstance(value, bool):
            return format_decimal(value, locale=self.locale)
        return str(value)

    def day(self, value: object) -> str:
        """A date: ISO 8601 (English) or the locale's long date (7 Januari 2024); a dash for none."""
        if not isinstance(value, date):
            return "-" if value is None else str(value)
        if self._labels["dates"] == "iso":
            return value.isoformat()
        return format_date(value, format="long", locale=self.locale)

    def value(self, value: object) -> str:
        """A table cell: dates and counts in the locale, anything else as it is."""
        if isinstance(value, date):
            return self.day(value)
        return self.num(value)

    def pct(self, ratio: object) -> str:
        """A share of target as a percentage, two significant digits below 1%: 0.0098%."""
        if not isinstance(ratio, int | float) or math.isnan(ratio):
            return self.t("not_available")
        value = ratio * 100
        if value == 0:
            return "0%"
        if abs(value) >= 10:
            decimals = 0
        elif abs(value) >= 1:
            decimals = 1
        else:
            decimals = 1 - math.floor(math.log10(abs(value)))
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(round(value, decimals), format=pattern, locale=self.locale) + "%"

    def share(self, ratio: float) -> str:
        """A share with one decimal: 61.2% (61,2%)."""
        return format_percent(ratio, "#,##0.0%", locale=self.locale)

    def short(self, value: float) -> str:
        """A round figure for charts: 18.6M, 950K (English); 18,6 juta, 950 ribu (Indonesian)."""
        if value < 1e3:
            return format_decimal(round(value), locale=self.locale)
        return format_compact_decimal(value, format_type=self._labels["compact"], locale=self.locale,
                                      fraction_digits=1)  # fmt: skip


def language(code: str | None = None) -> Language:
    """The language of `code` (default English); ValueError for one without labels."""
    code = code or DEFAULT
    if code not in _catalogue():
        raise ValueError(f"no labels for language {code!r}; known: {', '.join(codes())}")
    return Language(code)


ENGLISH = Language(DEFAULT)
