"""Partner contracts: the YAML files in schemas/partners, loaded into typed, frozen models.

A contract says everything partner-specific: file format, encoding, columns and their mapping to
the canonical listing fields, date formats, delivery semantics, the listing key. Pipeline code
reads contracts; it never names a partner.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

CONTRACT_DIR = Path(__file__).resolve().parent.parent / "schemas" / "partners"

# Canonical raw fields a partner column may map to (schemas/canonical_listing.yaml documents them).
Field_ = Literal[
    "listing_key",
    "record_key",
    "line_no",
    "event",
    "name",
    "nik",
    "phone",
    "nib",
    "npwp",
    "region_code",
    "province_code",
    "province_name",
    "regency_name",
    "scale",
    "kbli",
    "category",
    "joined",
    "status",
    "turnover",
    "products",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Parse = Literal[
    # dates, to the Asia/Jakarta calendar date
    "iso8601", "dmy_or_indonesian", "epoch_ms_utc", "date", "ymd", "dmy_dash_or_excel",
    # numbers
    "rupiah", "integer",
]  # fmt: skip


class Column(_Frozen):
    name: str  # the partner's column name (JSON: dotted path)
    field: Field_
    pii: bool = False
    parse: Parse | None = None
    type: str | None = None  # parquet physical type, or json hints (exact_integer_text, list)
    values: dict[str, str] | None = None  # accepted values (case-insensitive) -> canonical
    excel_numeric: Literal["invalid", "keeps_digits", "lost_leading_zero"] | None = None


class Files(_Frozen):
    pattern: str
    compression: Literal["gzip"] | None = None


class CsvOptions(_Frozen):
    encoding: Literal["utf-8", "utf-8-sig", "windows-1252"]
    separator: str
    quote: str = '"'
    header_row: int = 1


class TotalRow(_Frozen):
    column: str
    equals: str


class ExcelOptions(_Frozen):
    sheet: str
    header_row: int  # 1-based, as a spreadsheet user counts
    total_row: TotalRow | None = None


class ListingKey(_Frozen):
    column: str | None = None
    first_valid_of: list[Literal["nib", "nik"]] | None = None
    with_name: Literal["name"] | None = None


class Events(_Frozen):
    column: str
    upsert: list[str]
    delete: list[str]


class Grouping(_Frozen):
    record_key: str
    pick: Literal["earliest_joined"]


class Landing(_Frozen):
    """A partner that delivers elsewhere than UMKM_LANDING: its own landing area, laid out the same
    way (`<url>/<partner>/<date>/`), and where its credentials are kept (never the credentials:
    pipelines/intake/remote.py)."""

    url: str  # a folder, s3://bucket/prefix or sftp://[user@]host[:port]/path; no password
    endpoint_url: str | None = None  # S3: a non-AWS store
    profile: str | None = None  # S3: an AWS profile of ~/.aws/config and ~/.aws/credentials
    credentials_block: str | None = None  # Prefect block: AwsCredentials (S3), Secret (SFTP)

    @field_validator("url")
    @classmethod
    def _no_secret(cls, url: str) -> str:
        from pipelines.intake.remote import check_url

        return check_url(url)


class Region(_Frozen):
    """Where a partner's records say their region: a province field given as a code or a name
    (or none), and a regency field given as a code or a name (or none)."""

    province: Literal["code", "name"] | None = None
    regency: Literal["code", "name"] | None = None


class Contract(_Frozen):
    partner: str
    channel: Literal["marketplace", "ekatalog"]
    cadence: Literal["daily", "weekly_monday", "monthly"]
    delivery: Literal["snapshot", "delta"]
    format: Literal["csv", "jsonl", "parquet", "excel"]
    files: Files
    manifest: Literal["required", "none"]
    csv: CsvOptions | None = None
    excel: ExcelOptions | None = None
    listing_key: ListingKey
    region: Region
    events: Events | None = None
    grouping: Grouping | None = None
    quarantine_threshold: float = Field(0.5, ge=0, le=1)
    # how far behind its schedule a partner may fall before the run's freshness check fails
    max_days_behind: int = Field(1, ge=0)
    requires_identifier: bool = True
    # e-catalogue: the scale value of a vendor that is loaded but not counted
    not_counted: str | None = None
    landing: Landing | None = None  # default: UMKM_LANDING
    columns: list[Column]

    def column_for(self, field: str) -> Column | None:
        return next((c for c in self.columns if c.field == field), None)

    @property
    def pii_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.pii]

    def is_scheduled(self, day: date) -> bool:
        """Whether the partner is due to deliver an export for `day`."""
        if self.cadence == "daily":
            return True
        if self.cadence == "weekly_monday":
            return day.weekday() == 0
        return (day + timedelta(days=1)).day == 1

    def latest_scheduled(self, on_or_before: date) -> date:
        """The latest scheduled export date on or before the given day."""
        if self.cadence == "daily":
            return on_or_before
        if self.cadence == "weekly_monday":
            return on_or_before - timedelta(days=on_or_before.weekday())
        if self.is_scheduled(on_or_before):
            return on_or_before
        return on_or_before.replace(day=1) - timedelta(days=1)


@cache
def load_contracts(directory: Path = CONTRACT_DIR) -> dict[str, Contract]:
    """All partner contracts, by partner name, sorted by name."""
    found = {}
    for path in sorted(directory.glob("*.yaml")):
        contract = Contract.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        if contract.partner != path.stem:
            raise ValueError(f"{path}: partner {contract.partner!r} does not match file name")
        found[contract.partner] = contract
    return dict(sorted(found.items()))


def marketplace_partners() -> list[str]:
    return [p for p, c in load_contracts().items() if c.channel == "marketplace"]
