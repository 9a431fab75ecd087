"""Partner contracts: the YAML files of the contracts folder (UMKM_CONTRACTS, default
schemas/partners), loaded into typed, frozen models and checked when they load.

A contract says everything partner-specific: file format, encoding, columns and their mapping to
the canonical fields (schemas/canonical.yaml), date and number formats, region layout,
schedule, delivery semantics, the listing key. Every such behaviour is a field with a closed set
of values; a contract that breaks one fails to load with the file, the field and the allowed
values. Pipeline code reads contracts; it never names a partner.

A partner that changes its export on a date gets a version: an entry of `versions:` with the
date it takes effect (`from:`) and the fields that change (a `columns:` list replaces the
columns; a mapping such as `csv:` is merged into the one before). A partner-day is read by the
version in force on its export date (`Contract.on`); each version has its own hash
(`Contract.sha256`), so changing a version re-judges exactly the partner-days it covers.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CONTRACT_DIR = Path(__file__).resolve().parent.parent / "schemas" / "partners"

# Canonical raw fields a partner column may map to (schemas/canonical.yaml documents the
# records they become). `key_part` columns make a listing key of several columns.
Field_ = Literal[
    "listing_key", "key_part", "record_key", "line_no", "event", "name", "nik", "phone", "nib",
    "npwp", "region_code", "province_code", "province_name", "regency_name", "scale", "kbli",
    "category", "joined", "status", "turnover", "products",
]  # fmt: skip

# How a date or timestamp is written, to the Asia/Jakarta calendar date (quality/fields.py)
DateFormat = Literal[
    "iso8601",  # ISO 8601 timestamp (offset, Z, fraction, none = Jakarta time) or date
    "dmy_or_indonesian",  # D/M/YYYY or `5 Agustus 2021`
    "epoch_ms_utc",  # epoch milliseconds, UTC
    "ymd",  # YYYY-MM-DD
    "date",  # YYYY-MM-DD (a Parquet DATE read as text)
    "dmy_dash_or_excel",  # DD-MM-YYYY text or an Excel date cell
    "dmy_dot",  # DD.MM.YYYY
]
# How a number is written (quality/fields.py)
NumberFormat = Literal["rupiah", "integer"]
Parse = Literal[(*DateFormat.__args__, *NumberFormat.__args__)]  # type: ignore[attr-defined,misc,valid-type]
DATE_FIELDS = ("joined",)
NUMBER_FIELDS = ("turnover", "products")
# Parquet physical types a column may declare (intake/parquet_reader.py), and JSON hints
ParquetType = Literal[
    "string", "bool", "date", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
    "uint64", "float", "double", "timestamp", "timestamptz",
]  # fmt: skip
JsonType = Literal["exact_integer_text", "list"]
# text encodings, and the Python codec a single-byte one is transcoded with (intake/stream.py)
Encoding = Literal["utf-8", "utf-8-sig", "windows-1252", "iso-8859-1"]
SINGLE_BYTE = {"windows-1252": "cp1252", "iso-8859-1": "latin-1"}
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[str, ...] = Weekday.__args__  # type: ignore[attr-defined]
# The synthetic generator's hand-made models of an export (pipelines/synthetic/), named after
# what they write, with the channel and format each writes; in the generator's world order (a
# marketplace model's place is its slot in the world: append, never reorder)
SYNTHETIC_MODELS = {
    "snapshot-csv": ("marketplace", "csv"),  # a daily full snapshot of sellers, gzip CSV
    "spreadsheet-delta-csv": ("marketplace", "csv"),  # a daily delta from a spreadsheet, locale CSV
    "event-jsonl": ("marketplace", "jsonl"),  # daily created/updated/deleted events in parts
    "outlet-parquet": ("marketplace", "parquet"),  # a daily snapshot of outlets, grouped in brands
    "monthly-workbook": ("marketplace", "excel"),  # a month's new sellers in an Excel report
    "catalogue-csv": ("ekatalog", "csv"),  # a weekly snapshot of e-catalogue vendors
}
SyntheticModel = Literal[(*SYNTHETIC_MODELS,)]  # type: ignore[misc,valid-type]
# fields a version may not change: who the partner is and when it delivers
PARTNER_LEVEL = ("partner", "channel", "cadence", "delivery_day", "delivery", "landing",
                 "max_days_behind", "synthetic")  # fmt: skip
# fields that do not change how a delivery is judged (outside a version's hash)
UNJUDGED = {"versions", "version_from", "landing", "max_days_behind", "synthetic"}


class ContractError(ValueError):
    """A contract file that does not load: names the file, the field and what is allowed."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Column(_Frozen):
    name: str  # the partner's column name (JSON: dotted path)
    field: Field_
    pii: bool = False
    parse: Parse | None = None
    type: ParquetType | JsonType | None = None  # Parquet physical type, or a JSON hint
    values: dict[str, str] | None = None  # accepted values (case-insensitive) -> canonical
    # Excel: what a number cell in this column means. invalid: the value lost precision (an
    # identifier so written is invalid); keeps_digits: its digits are the value (`812.0` is
    # `812`); lost_leading_zero: the same, a leading zero lost (a phone `812...`)
    excel_numeric: Literal["invalid", "keeps_digits", "lost_leading_zero"] | None = None

    @model_validator(mode="after")
    def _parse_fits_field(self) -> Column:
        if self.field in DATE_FIELDS and self.parse not in DateFormat.__args__:  # type: ignore[attr-defined]
            raise ValueError(
                f"column {self.name!r} ({self.field}): parse must be a date format, one of "
                f"{list(DateFormat.__args__)}"  # type: ignore[attr-defined]
            )
        if self.field in NUMBER_FIELDS and self.parse not in NumberFormat.__args__:  # type: ignore[attr-defined]
            raise ValueError(
                f"column {self.name!r} ({self.field}): parse must be a number format, one of "
                f"{list(NumberFormat.__args__)}"  # type: ignore[attr-defined]
            )
        if self.parse and self.field not in (*DATE_FIELDS, *NUMBER_FIELDS):
            raise ValueError(
                f"column {self.name!r} ({self.field}): parse applies only to {[*DATE_FIELDS, *NUMBER_FIELDS]}"
            )
        if self.excel_numeric == "invalid" and self.field not in ("nik", "phone"):
            raise ValueError(f"column {self.name!r} ({self.field}): excel_numeric invalid applies to nik and phone only")  # fmt: skip
        if self.values is not None and self.field not in ("scale", "status"):
            raise ValueError(f"column {self.name!r} ({self.field}): values apply only to scale and status")  # fmt: skip
        return self


class Files(_Frozen):
    pattern: str  # shell pattern of the data files' names
    compression: Literal["gzip"] | None = None
    # the name the partner gives a day's (first) file, as a strftime template of its export
    # date; default: the pattern with `*` as YYYYMMDD (the generator writes it)
    name: str | None = None
    part_rows: int | None = Field(None, ge=1)  # a new file after this many records (`*` numbers it)

    @model_validator(mode="after")
    def _name_matches(self) -> Files:
        import fnmatch

        example = self.example(date(2024, 1, 31), 0)
        if not fnmatch.fnmatchcase(example, self.pattern):
            raise ValueError(f"name {self.name!r} gives {example!r}, which pattern {self.pattern!r} does not match")  # fmt: skip
        return self

    def example(self, day: date, part: int) -> str:
        """A file name the partner gives: the template, else the pattern (`*`: the part's number
        when files are split, else the export date as YYYYMMDD)."""
        if self.name:
            return day.strftime(self.name).replace("{part}", f"{part:05d}")
        star = f"{part:05d}" if self.part_rows else f"{day:%Y%m%d}"
        return self.pattern.replace("*", star, 1).replace("*", "")


class CsvOptions(_Frozen):
    encoding: Encoding
    separator: Literal[",", ";", "\t", "|"]
    quote: Literal['"', "'"] = '"'
    line_end: Literal["lf", "crlf"] = "lf"  # what the partner writes (the reader takes either)


class TotalRow(_Frozen):
    column: str
    equals: str


class ExcelOptions(_Frozen):
    sheet: str
    header_row: int = Field(ge=1)  # 1-based, as a spreadsheet user counts
    total_row: TotalRow | None = None


class ListingKey(_Frozen):
    """The listing key: one column (`column`), several (`columns`: joined by `|`, a record
    missing any part has none), or the first valid identifier of `first_valid_of` with the
    normalised name (`with_name`)."""

    column: str | None = None
    columns: list[str] | None = Field(None, min_length=2)
    first_valid_of: list[Literal["nib", "nik"]] | None = Field(None, min_length=1)
    with_name: Literal["name"] | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> ListingKey:
        rules = [self.column is not None, self.columns is not None, self.first_valid_of is not None]
        if sum(rules) != 1:
            raise ValueError("give exactly one of column, columns, first_valid_of")
        if (self.first_valid_of is None) != (self.with_name is None):
            raise ValueError("first_valid_of and with_name go together")
        return self


class Events(_Frozen):
    column: str
    upsert: list[str] = Field(min_length=1)
    delete: list[str]


class Grouping(_Frozen):
    """Records are parts of a listing (rows of a brand's outlets): a listing's record in an
    export is made of its valid rows, `pick` saying whose attributes it takes."""

    record_key: str  # the column naming a record (field record_key)
    pick: Literal["earliest_joined"]  # the earliest joined row (ties: record key ascending)


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


# the region fields each layout part reads
REGION_FIELDS = {("province", "code"): "province_code", ("province", "name"): "province_name",
                 ("regency", "code"): "region_code", ("regency", "name"): "regency_name"}  # fmt: skip


class Region(_Frozen):
    """Where a partner's records say their region: a province field given as a code or a name
    (or none), and a regency field given as a code (`32.73`, `3273`) or a name (or none). A
    regency code alone gives its province; a regency name is matched within its province."""

    province: Literal["code", "name"] | None = None
    regency: Literal["code", "name"] | None = None

    @property
    def fields(self) -> dict[str, str]:
        """part (province, regency) -> the canonical field it is read from."""
        out = {}
        for part, kind in (("province", self.province), ("regency", self.regency)):
            if kind:
                out[part] = REGION_FIELDS[part, kind]
        return out


class Synthetic(_Frozen):
    """How `umkm generate` writes the partner: with one of the generator's hand-made models of
    an export. A contract without it is generated from its fields alone."""

    model: SyntheticModel
    brand: str | None = None  # the partner's name as its files spell it (default: partner)


Cadence = Literal["daily", "weekly", "monthly"]


class Contract(_Frozen):
    partner: str
    channel: Literal["marketplace", "ekatalog"]
    cadence: Cadence
    # weekly: the weekday of the export date; monthly: the month's last day (the only one)
    delivery_day: Weekday | Literal["last_of_month"] | None = None
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
    # e-catalogue: the (canonical) scale value of a vendor that is loaded but not counted
    not_counted: str | None = None
    landing: Landing | None = None  # default: UMKM_LANDING
    synthetic: Synthetic | None = None  # the generator's model of the export (not judged by)
    columns: list[Column] = Field(min_length=1)
    # the version: the day it takes effect (None: the first), and the versions after it
    version_from: date | None = Field(None, alias="from")
    versions: tuple[Contract, ...] = ()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        problems = _problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- lookups ------------------------------------------------------------------------------

    def column_for(self, field: str) -> Column | None:
        return next((c for c in self.columns if c.field == field), None)

    def has(self, field: str) -> bool:
        return self.column_for(field) is not None

    @property
    def key_columns(self) -> list[Column]:
        """The columns whose values make the listing key (one, or the key parts in order)."""
        names = self.listing_key.columns or ([self.listing_key.column] if self.listing_key.column else [])  # fmt: skip
        by_name = {c.name: c for c in self.columns}
        return [by_name[n] for n in names]

    def raw_name(self, column: Column) -> str:
        """The raw table's column of a partner column: its field, a key part numbered."""
        if column.field == "key_part":
            return f"key_part_{[c.name for c in self.key_columns].index(column.name) + 1}"
        return column.field

    @property
    def pii_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.pii]

    @property
    def sha256(self) -> str:
        """The hash of this version as the pipeline judges a delivery by it (comments, the other
        versions, where it delivers and how late it may be excluded): a partner-day judged by
        another hash is judged again."""
        text = self.model_dump_json(exclude=UNJUDGED, by_alias=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    # -- versions -----------------------------------------------------------------------------

    def on(self, day: date) -> Contract:
        """The version in force on an export date."""
        current = self
        for version in self.versions:
            if version.version_from is not None and version.version_from <= day:
                current = version
        return current

    @property
    def all_versions(self) -> tuple[Contract, ...]:
        return (self, *self.versions)

    # -- schedule -----------------------------------------------------------------------------

    def is_scheduled(self, day: date) -> bool:
        """Whether the partner is due to deliver an export for `day`."""
        if self.cadence == "daily":
            return True
        if self.cadence == "weekly":
            return day.weekday() == WEEKDAYS.index(str(self.delivery_day))
        return (day + timedelta(days=1)).day == 1

    def latest_scheduled(self, on_or_before: date) -> date:
        """The latest scheduled export date on or before the given day."""
        if self.cadence == "daily":
            return on_or_before
        if self.cadence == "weekly":
            back = (on_or_before.weekday() - WEEKDAYS.index(str(self.delivery_day))) % 7
            return on_or_before - timedelta(days=back)
        if self.is_scheduled(on_or_before):
            return on_or_before
        return on_or_before.replace(day=1) - timedelta(days=1)


def _problems(c: Contract) -> list[str]:
    """What makes a contract inconsistent (its fields, each valid alone, do not fit together)."""
    out = []
    names = [col.name for col in c.columns]
    fields = [col.field for col in c.columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        out.append(f"columns: names appear twice: {twice}")
    once = [f for f in fields if f != "key_part"]
    doubled = sorted({f for f in once if once.count(f) > 1})
    if doubled:
        out.append(f"columns: fields mapped twice: {doubled}")
    if "joined" not in fields:
        out.append("columns: a column with field joined (the joined date) is required")
    # schedule
    wanted = {"daily": (None,), "weekly": WEEKDAYS, "monthly": (None, "last_of_month")}[c.cadence]
    if c.delivery_day not in wanted:
        out.append(f"delivery_day: {c.delivery_day!r} does not fit cadence {c.cadence}; allowed: {list(wanted)}")  # fmt: skip
    # format options
    if (c.format == "csv") != (c.csv is not None):
        out.append("csv: required for format csv, and only for it")
    if (c.format == "excel") != (c.excel is not None):
        out.append("excel: required for format excel, and only for it")
    for col in c.columns:
        if col.type in ParquetType.__args__ and c.format != "parquet":  # type: ignore[attr-defined]
            out.append(f"columns: {col.name}: type {col.type} is a Parquet type; format is {c.format}")  # fmt: skip
        if col.type in JsonType.__args__ and c.format != "jsonl":  # type: ignore[attr-defined]
            out.append(f"columns: {col.name}: type {col.type} applies to format jsonl only")
        if col.excel_numeric and c.format != "excel":
            out.append(f"columns: {col.name}: excel_numeric applies to format excel only")
        if "." in col.name and c.format == "jsonl" and col.name.startswith("."):
            out.append(f"columns: {col.name}: a JSON path does not start with a dot")
    if c.format == "parquet":
        untyped = [col.name for col in c.columns if col.type is None]
        if untyped:
            out.append(f"columns: Parquet columns need a type, one of {list(ParquetType.__args__)}: {untyped}")  # type: ignore[attr-defined]  # fmt: skip
    if c.files.part_rows and c.files.pattern.count("*") != 1:
        out.append("files: part_rows needs a pattern with one `*` (the part number)")
    # the listing key
    key = c.listing_key
    by_name = {col.name: col for col in c.columns}
    if key.column is not None and (key.column not in by_name or by_name[key.column].field != "listing_key"):  # fmt: skip
        out.append(f"listing_key: column {key.column!r} must be a column with field listing_key")  # fmt: skip
    if key.columns is not None:
        bad = [n for n in key.columns if n not in by_name or by_name[n].field != "key_part"]
        if bad:
            out.append(f"listing_key: columns {bad} must be columns with field key_part")
    parts = [col.name for col in c.columns if col.field == "key_part"]
    if sorted(parts) != sorted(key.columns or []):
        out.append(f"columns: key_part columns {parts} must be exactly listing_key.columns")
    if key.column is None and "listing_key" in fields:
        out.append("columns: a listing_key column needs listing_key.column")
    if key.first_valid_of:
        missing = [k for k in (*key.first_valid_of, "name") if k not in fields]
        if missing:
            out.append(f"listing_key: first_valid_of/with_name need columns with fields {missing}")
    # the region layout: exactly the fields it reads
    layout = c.region.fields
    region_fields = {"province_code", "province_name", "region_code", "regency_name"}
    for part, field in layout.items():
        if field not in fields:
            out.append(f"region: {part}: {getattr(c.region, part)} needs a column with field {field}")  # fmt: skip
    if c.region.province == "name" and c.region.regency == "code":
        out.append("region: a province name with a regency code is no layout; allowed: province code|name|none with regency name, province code|none with regency code|none")  # fmt: skip
    stray = sorted((region_fields & set(fields)) - set(layout.values()))
    if stray:
        out.append(f"region: columns with fields {stray} are not in the region layout {c.region.model_dump(exclude_none=True)}")  # fmt: skip
    # events, grouping, the not-counted value
    if c.events:
        if c.events.column not in by_name or by_name[c.events.column].field != "event":
            out.append(f"events: column {c.events.column!r} must be a column with field event")
        if c.delivery != "delta":
            out.append("events: only a delta delivery has events")
    elif "event" in fields:
        out.append("columns: an event column needs `events:`")
    if c.grouping:
        if c.grouping.record_key not in by_name or by_name[c.grouping.record_key].field != "record_key":  # fmt: skip
            out.append(f"grouping: record_key {c.grouping.record_key!r} must be a column with field record_key")  # fmt: skip
    elif "record_key" in fields:
        out.append("columns: a record_key column needs `grouping:`")
    if c.not_counted is not None:
        scale = c.column_for("scale")
        allowed = sorted(set((scale.values or {}).values())) if scale else []
        if c.channel != "ekatalog":
            out.append("not_counted: applies to the ekatalog channel only")
        elif c.not_counted not in allowed:
            out.append(f"not_counted: {c.not_counted!r} is not a scale value of the contract; allowed: {allowed}")  # fmt: skip
    if c.channel == "ekatalog" and c.grouping:
        out.append("grouping: applies to the marketplace channel only")
    if c.synthetic is not None:
        channel, fmt = SYNTHETIC_MODELS[c.synthetic.model]
        fitting = [m for m, (ch, f) in SYNTHETIC_MODELS.items() if ch == c.channel and f == c.format]  # fmt: skip
        # a later version may change the format: the generator refuses that day, not the contract
        if channel != c.channel or (fmt != c.format and c.version_from is None):
            out.append(f"synthetic: model {c.synthetic.model} writes {channel} {fmt} exports, this contract is {c.channel} {c.format}; allowed: {fitting}")  # fmt: skip
    return out


def _merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """A version's document: mappings merged key by key, anything else (lists) replaced."""
    out = dict(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _explain(error: ValidationError, document: dict[str, Any] | None = None) -> str:
    """Pydantic's errors as `field.path: what is wrong (allowed values)`, a column named."""
    columns = (document or {}).get("columns")
    lines = []
    for e in error.errors():
        loc = list(e["loc"])
        if len(loc) >= 2 and loc[0] == "columns" and isinstance(loc[1], int) and isinstance(columns, list):  # fmt: skip
            name = columns[loc[1]].get("name") if loc[1] < len(columns) and isinstance(columns[loc[1]], dict) else None  # fmt: skip
            loc[1] = f"{loc[1]} ({name})" if name else loc[1]
        where = ".".join(str(p) for p in loc) or "(contract)"
        message = e["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "; ".join(lines)


def parse_contract(document: Any, source: str = "<contract>") -> Contract:
    """A contract from its YAML document, with its versions; ContractError names what is wrong."""
    if not isinstance(document, dict):
        raise ContractError(f"{source}: a contract is a mapping of fields")
    doc = {k: v for k, v in document.items() if k != "versions"}
    raw_versions = document.get("versions") or []
    if not isinstance(raw_versions, list):
        raise ContractError(f"{source}: versions: a list of {{from: YYYY-MM-DD, ...changes}}")
    try:
        base = Contract.model_validate(doc)
    except ValidationError as exc:
        raise ContractError(f"{source}: {_explain(exc, doc)}") from None
    if base.version_from is not None:
        raise ContractError(f"{source}: from: only a version (an entry of versions) has a date")
    versions: list[Contract] = []
    current, previous = doc, None
    for i, change in enumerate(raw_versions):
        where = f"{source}: versions.{i}"
        if not isinstance(change, dict) or "from" not in change:
            raise ContractError(f"{where}: a version is a mapping with `from: YYYY-MM-DD`")
        fixed = sorted(set(change) & set(PARTNER_LEVEL))
        if fixed:
            raise ContractError(f"{where}: {fixed} cannot change in a version (they are the partner's, not its export's); versions may change the other fields")  # fmt: skip
        current = _merge(current, change)
        try:
            version = Contract.model_validate(current)
        except ValidationError as exc:
            raise ContractError(f"{where}: {_explain(exc, current)}") from None
        if previous is not None and version.version_from <= previous:  # type: ignore[operator]
            raise ContractError(f"{where}: from: {version.version_from} is not after the version before ({previous})")  # fmt: skip
        previous = version.version_from
        versions.append(version)
    return base.model_copy(update={"versions": tuple(versions)}) if versions else base


_loaded: dict[tuple[Path, tuple[tuple[str, int, int], ...]], dict[str, Contract]] = {}


def contracts_dir() -> Path:
    """The contracts folder: UMKM_CONTRACTS, else schemas/partners."""
    from pipelines.settings import Settings

    return Settings().contracts


def load_contracts(directory: Path | None = None) -> dict[str, Contract]:
    """All partner contracts of a folder (default: `contracts_dir()`), by partner name, sorted.
    Read again when a file changed."""
    directory = Path(directory or contracts_dir())
    paths = sorted(directory.glob("*.yaml"))
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    key = (directory.resolve(), stamp)
    if key in _loaded:
        return _loaded[key]
    if not paths:
        raise ContractError(f"{directory}: no contract (*.yaml) in the contracts folder")
    found = {}
    for path in paths:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ContractError(f"{path}: not YAML ({exc})") from None
        contract = parse_contract(document, str(path))
        if contract.partner != path.stem:
            raise ContractError(f"{path}: partner: {contract.partner!r} does not match the file name")  # fmt: skip
        found[contract.partner] = contract
    _loaded[key] = dict(sorted(found.items()))
    return _loaded[key]


def marketplace_partners() -> list[str]:
    return [p for p, c in load_contracts().items() if c.channel == "marketplace"]


def contracts_sha256(contracts: dict[str, Contract]) -> str:
    """One hash over the partner contracts in force: each partner's name and the hash of its
    whole contract (every version), in partner order."""
    # the generator's model of an export is not the pipeline's business
    aside: Any = {"synthetic": True, "versions": {"__all__": {"synthetic"}}}
    lines = "".join(
        f"{p}\t{hashlib.sha256(c.model_dump_json(by_alias=True, exclude=aside).encode('utf-8')).hexdigest()}\n"
        for p, c in sorted(contracts.items())
    )
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()
