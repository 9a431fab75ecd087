"""Field parsers: dates in every partner's format, rupiah amounts, KBLI."""

from __future__ import annotations

import random
import re
from datetime import date, datetime, timedelta, timezone

import pytest

from pipelines.quality.fields import (
    ISO8601_FORM,
    MONTHS,
    dmy_dash_or_excel,
    dmy_or_indonesian,
    epoch_ms_utc,
    iso8601_jakarta,
    kbli_category,
    rupiah,
    ymd,
)
from tests.sql_eval import one as _one
from tests.sql_eval import values


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2021-03-04T10:22:00+07:00", date(2021, 3, 4)),
        ("2021-03-04T16:59:59Z", date(2021, 3, 4)),
        ("2021-03-04T17:00:00Z", date(2021, 3, 5)),  # midnight in Jakarta
        ("2021-03-04T17:00:00.123456Z", date(2021, 3, 5)),
        ("2021-03-04T23:59:59", date(2021, 3, 4)),  # no offset: Jakarta time
        ("2021-03-04T12:00:00-05:00", date(2021, 3, 5)),
        ("2021-03-04T10:22:00+0700", date(2021, 3, 4)),
        ("2021-03-04", date(2021, 3, 4)),
        ("2021-02-30T10:00:00Z", None),
        ("04/03/2021", None),
        ("", None),
    ],
)
def test_iso8601_to_jakarta_date(text: str, day: date | None) -> None:
    """It converts ISO 8601 timestamps (offset, Z, fraction, none) to the Asia/Jakarta date."""
    assert _one(iso8601_jakarta, text) == day


def _jakarta_day(text: str) -> date | None:
    """Python's reading of an accepted ISO 8601 form: the Asia/Jakarta date, or None."""
    if not re.fullmatch(ISO8601_FORM, text):
        return None
    try:
        instant = datetime.fromisoformat(text.replace(",", "."))
    except ValueError:
        return None
    if instant.tzinfo is None:
        return instant.date()  # no offset: Jakarta's wall clock
    return instant.astimezone(timezone(timedelta(hours=7))).date()


def test_iso8601_dates_are_the_ones_python_reads() -> None:
    """On thousands of near-ISO strings (out-of-range parts, every separator and offset form),
    DuckDB's cast behind the accepted forms gives the date Python's datetime gives."""
    rnd = random.Random(14)

    def two(lo: int, hi: int) -> str:
        return f"{rnd.randint(lo, hi):02d}"

    texts = []
    for _ in range(6000):
        day = f"{rnd.choice(['2021', '2024', '0001', '9999'])}-{two(0, 13)}-{two(0, 32)}"
        sep = rnd.choice("T t")
        clock = rnd.choice(["", f"{sep}{two(0, 25)}:{two(0, 61)}", f"{sep}{two(0, 24)}:{two(0, 60)}:{two(0, 61)}",
                            f"{sep}{two(0, 23)}:{two(0, 59)}:{two(0, 59)}{rnd.choice('.,')}{rnd.randint(0, 999999)}"])  # fmt: skip
        offset = rnd.choice(["", "Z", "z", f"+{two(0, 15)}:{two(0, 60)}", f"-{two(0, 15)}{two(0, 60)}",
                             f"+{two(0, 15)}", " +07:00"])  # fmt: skip
        texts.append(day + clock + (offset if clock else rnd.choice(["", offset])))
    got = values(iso8601_jakarta, texts)
    want = [_jakarta_day(t) for t in texts]
    assert sum(w is not None for w in want) > 1000
    assert [(t, g) for t, g, w in zip(texts, got, want, strict=True) if g != w] == []


@pytest.mark.parametrize(
    ("text", "day"),
    [("5/8/2021", date(2021, 8, 5)), ("05/08/2021", date(2021, 8, 5)), ("01/09/2024", date(2024, 9, 1)),
     ("31/12/2021", date(2021, 12, 31)), ("31/2/2021", None), ("5/13/2021", None), ("5/8/21", None),
     ("5 Agustus 2021", date(2021, 8, 5)), ("05 Agt 2021", date(2021, 8, 5)), ("5 Nopember 2021", date(2021, 11, 5)),
     ("12 Peb 2022", date(2022, 2, 12)), ("12 PEB 2022", date(2022, 2, 12)), ("1 Sept 2021", date(2021, 9, 1)),
     ("1 Mei 2021", date(2021, 5, 1)), ("1 May 2021", None), ("30 Februari 2021", None)],
)  # fmt: skip
def test_tokoraya_dates(text: str, day: date | None) -> None:
    """It reads D/M/YYYY (day first, so 01/09/2024 is 1 September) and Indonesian month names."""
    assert _one(dmy_or_indonesian, text) == day


@pytest.mark.parametrize(("name", "month"), sorted(MONTHS.items()))
def test_every_indonesian_month_spelling(name: str, month: int) -> None:
    """It knows every month name and abbreviation partners.md lists, in any case."""
    assert _one(dmy_or_indonesian, f"7 {name.upper()} 2022") == date(2022, month, 7)
    assert _one(dmy_or_indonesian, f"7 {name.capitalize()} 2022") == date(2022, month, 7)


def test_epoch_milliseconds_utc_to_jakarta_date() -> None:
    """It shifts epoch milliseconds from UTC to Asia/Jakarta before taking the date."""
    assert _one(epoch_ms_utc, "1614877199999") == date(2021, 3, 4)  # 16:59:59.999 UTC
    assert _one(epoch_ms_utc, "1614877200000") == date(2021, 3, 5)
    assert _one(epoch_ms_utc, "soon") is None


def test_lapakdesa_dates_text_or_excel() -> None:
    """It reads DD-MM-YYYY text, Excel date cells, and unformatted Excel serials."""
    assert _one(dmy_dash_or_excel, "05-03-2022") == date(2022, 3, 5)
    assert _one(dmy_dash_or_excel, "2022-03-05 00:00:00") == date(2022, 3, 5)
    assert _one(dmy_dash_or_excel, "44625") == date(2022, 3, 5)
    assert _one(dmy_dash_or_excel, "32-01-2022") is None


def test_ymd_is_strict() -> None:
    """It accepts YYYY-MM-DD only."""
    assert _one(ymd, "2023-05-01") == date(2023, 5, 1)
    assert _one(ymd, "2023-5-1") is None
    assert _one(ymd, "01-05-2023") is None


@pytest.mark.parametrize(
    ("text", "amount", "bad"),
    [("1.234.567,00", "1234567.00", False), ("1.234.567,50", "1234567.50", False), ("Rp 1.500.000", "1500000.00", False),
     ("Rp1.500.000", "1500000.00", False), ("1500000", "1500000.00", False), ("-", None, False), ("", None, False),
     ("1,234,567.00", None, True), ("satu juta", None, True), ("1.23.4", None, True)],
)  # fmt: skip
def test_rupiah_amounts(text: str, amount: str | None, bad: bool) -> None:
    """It reads Indonesian-formatted rupiah; `-` and empty are no amount, anything else odd is bad."""
    got_value = _one(lambda v: f"CAST({rupiah(v)[0]} AS VARCHAR)", text)
    got_problem = _one(lambda v: rupiah(v)[1], text)
    assert got_value == amount
    assert (got_problem is not None) == bad


def test_kbli_category_needs_a_listed_division() -> None:
    """It gives the category letter of a 5-digit code whose division is listed, else nothing."""
    got = values(kbli_category, ["47911", "56101", "01111", "00000", "4791", "99000"])
    assert got == ["G", "I", "A", None, None, "U"]
