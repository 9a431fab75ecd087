"""Transform: a partner-day's raw records (pseudonymised text) to canonical records, in DuckDB.

Grain in, grain out: one row per record read, in file order. Everything partner-specific comes
from the contract; the rules are metrics.md's ("Quarantined record", attribute warnings).
`records_sql` is one query over the raw table (plus its distinct region values, resolved
once); `listing_day_sql` is one aggregation of its valid records per listing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import duckdb

from pipelines import canonical
from pipelines.contracts import Contract
from pipelines.quality import fields, identifiers, regions
from pipelines.quality.sql import case, clean, ident, lit, text_list
from pipelines.reference import EARLIEST_JOINED

EMPTY = "∅"


def _col(contract: Contract, field: str) -> str:
    column = contract.column_for(field)
    return column.name if column else field


def _warn(condition: str, column: str, message: str) -> str:
    """A warning `<column>: <message>` when `condition` holds (message: a SQL expression)."""
    return f"(CASE WHEN coalesce({condition}, false) THEN {lit(column + ': ')} || {message} END)"


def _by_names(contract: Contract) -> bool:
    return "name" in (contract.region.province, contract.region.regency)


def region_keys(contract: Contract) -> tuple[str | None, str | None]:
    """The raw fields whose distinct values decide the region, as the contract's region layout
    says: (raw0, raw1) of regions.py."""
    fields = contract.region.fields
    if _by_names(contract):
        return fields.get("province"), fields.get("regency")
    return fields.get("regency"), fields.get("province")


def region_sql(contract: Contract, keys: str) -> str:
    """The query resolving a `keys(raw0, raw1)` table of distinct raw values."""
    if _by_names(contract):
        return regions.by_names(contract.region.province or "code", keys)
    raw0, raw1 = region_keys(contract)
    return regions.by_codes(raw0, raw1, keys)


def canonical_records(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    export_date: date,
    raw: str,
    row_bases: list[int],
) -> str:
    """The SELECT of a partner-day's canonical records from its raw table, its region values
    resolved first (once per distinct pair, into temp tables of this connection)."""
    regions.ensure_reference(con)
    raw0, raw1 = region_keys(contract)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE region_keys AS SELECT DISTINCT {raw0 or 'NULL::VARCHAR'} AS raw0, "
        f"{raw1 or 'NULL::VARCHAR'} AS raw1 FROM {raw}"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE region_resolved AS {region_sql(contract, 'region_keys')}"
    )
    return records_sql(contract, export_date, raw, "region_resolved", row_bases or [0])


def records_sql(
    contract: Contract, export_date: date, raw: str, region_table: str, row_bases: list[int]
) -> str:
    """SELECT of the canonical records (schemas/canonical.yaml `record`) from the raw table
    `raw` (`_file`, `_file_index`, `_row`, `_malformed`, canonical text fields, `nik_ps`/
    `nik_problem`, `phone_ps`/`phone_problem`) and the resolved `region_table`. A parsed row
    without a `_row` is numbered by its position: its rowid less its file's `row_bases`."""
    have = {contract.raw_name(c) for c in contract.columns if not c.pii}

    def text(field: str) -> str:
        return clean(f"f_{field}") if field in have else "NULL::VARCHAR"

    nib_text = text("nib")
    joined_col = contract.column_for("joined")
    assert joined_col is not None and joined_col.parse is not None
    joined_name = joined_col.name

    texts = {
        "nib_text": nib_text, "joined_text": text("joined"), "name_text": text("name"),
        "key_text": _key_text(contract, text), "record_key": text("record_key"),
        "event_text": f"lower({text('event')})" if contract.events else "NULL::VARCHAR",
        "kbli_text": text("kbli"),
    }  # fmt: skip
    typed = {
        "nib_problem": identifiers.nib_problem("nib_text"),
        "joined_date": fields.DATE_PARSERS[joined_col.parse]("joined_text"),
    }
    warnings = [_warn("region_problem IS NOT NULL", "region", "region_problem")]
    attrs: dict[str, str] = {}
    for field, label in (("scale", "scale not recognised"), ("status", "status not recognised")):
        column = contract.column_for(field)
        if column and column.values:
            value, problem = fields.map_values(text(field), column.values)
            attrs[field], attrs[f"{field}_problem"] = value, problem
            warnings.append(_warn(f"{field}_problem IS NOT NULL", column.name, lit(label)))
        else:
            attrs[field] = "NULL::VARCHAR"
    if "kbli" in have:
        first_valid = fields.first_valid_kbli("kbli_text")
        attrs["kbli"] = first_valid
        attrs["kbli_problem"] = f"(kbli_text IS NOT NULL AND {first_valid} IS NULL)"
        warnings.append(_warn("kbli_problem", _col(contract, "kbli"), lit("no valid KBLI code")))
    else:
        attrs["kbli"] = "NULL::VARCHAR"
    numbers = {"turnover": "turnover_idr", "products": "products"}
    for column in contract.columns:
        if column.parse in fields.NUMBER_PARSERS:
            out = numbers[column.field]
            value, problem = fields.NUMBER_PARSERS[column.parse](text(column.field))
            attrs[out], attrs[f"{out}_problem"] = value, problem
            label = "bad turnover" if column.parse == "rupiah" else "not a whole number"
            warnings.append(_warn(f"{out}_problem IS NOT NULL", column.name, lit(label)))
    attrs.setdefault("turnover_idr", "NULL::DECIMAL(18,2)")
    attrs.setdefault("products", "NULL::BIGINT")
    for kind in ("nik", "phone", "nib"):
        problem = f"{kind}_problem"
        warnings.append(
            _warn(f"{problem} IS NOT NULL AND {problem} <> {lit(identifiers.ABSENT)}",
                  _col(contract, kind), problem)
        )  # fmt: skip

    # events and the listing key
    if contract.events:
        attrs["raw_deletion"] = f"coalesce(list_contains({text_list(contract.events.delete)}, event_text), false)"  # fmt: skip
        known = text_list(contract.events.upsert + contract.events.delete)
        warnings.append(_warn(f"NOT list_contains({known}, event_text)", contract.events.column,
                              lit("unknown event")))  # fmt: skip
    else:
        attrs["raw_deletion"] = "false"
    key = contract.listing_key
    if key.first_valid_of:
        name_norm = fields.comparable("name_text")
        firsts = [
            "CASE WHEN nib IS NOT NULL THEN 'nib:' || nib END" if k == "nib"
            else "CASE WHEN nik_ps IS NOT NULL THEN 'nik:' || nik_ps END"
            for k in key.first_valid_of
        ]  # fmt: skip
        key_ident = f"coalesce({', '.join(firsts)})"
        keys = {
            "listing_key": f"(CASE WHEN {name_norm} IS NOT NULL THEN {key_ident} || '|' || {name_norm} END)",
            "tie_name": name_norm, "tie_nib": "nib", "key_no_ident": f"({key_ident} IS NULL)",
        }  # fmt: skip
        key_column = "/".join(_col(contract, k) for k in key.first_valid_of) + " + " + _col(contract, "name")  # fmt: skip
        excerpt_key = "tie_name"
    else:
        keys = {"listing_key": "key_text", "tie_name": "NULL::VARCHAR", "tie_nib": "NULL::VARCHAR",
                "key_no_ident": "false"}  # fmt: skip
        key_column = " + ".join(c.name for c in contract.key_columns)
        excerpt_key = "listing_key"

    ids = "/".join(_col(contract, x) for x in ("nib", "nik", "phone") if contract.column_for(x))
    no_identifier = "(nib IS NULL AND nik_ps IS NULL AND phone_ps IS NULL)"

    def rule(condition: str, words: str, column: str | None) -> tuple[str, str]:
        return condition, f"{{'rule': {words}, 'column': {lit(column)}::VARCHAR}}"

    rules = case(
        rule("_malformed IS NOT NULL", "'malformed record: ' || _malformed", None),
        ("raw_deletion", "NULL"),
        rule("listing_key IS NULL", "CASE WHEN key_no_ident THEN 'no listing key (no valid NIB or NIK)' ELSE 'no listing key' END", key_column),
        rule(f"{no_identifier} AND {lit(contract.requires_identifier)}", "'no valid identifier'", ids),
        rule("joined_text IS NULL", "'joined date missing'", joined_name),
        rule("joined_date IS NULL", "'joined date unparseable'", joined_name),
        rule(f"joined_date > {lit(export_date)}", "'joined date after the export date'", joined_name),
        rule(f"joined_date < {lit(EARLIEST_JOINED)}", "'joined date before 2009-01-01'", joined_name),
    )  # fmt: skip
    excerpt = (
        f"{lit(key_column + '=')} || coalesce({excerpt_key}, {lit(EMPTY)}) || "
        f"{lit('; ' + joined_name + '=')} || coalesce(left(joined_text, 40), {lit(EMPTY)})"
    )
    raw0, raw1 = region_keys(contract)
    fields_in = ", ".join(
        f"{ident(f)} AS f_{f}"
        for f in dict.fromkeys(contract.raw_name(c) for c in contract.columns if not c.pii)
    )

    def select(items: dict[str, str]) -> str:
        return ", ".join(f"{sql} AS {name}" for name, sql in items.items())

    # every canonical record column (schemas/canonical.yaml `record`), from the last step
    out = {
        "partner": lit(contract.partner), "export_date": lit(export_date), "file": "_file",
        "file_index": "_file_index", "row_number": "_row",
        "is_deletion": "(raw_deletion AND _malformed IS NULL)",
        "kbli_category": fields.kbli_category(clean("kbli")),
        "quarantine_rule": "q.rule", "quarantine_column": "q.column",
        "excerpt": f"CASE WHEN q IS NOT NULL AND _malformed IS NULL THEN {excerpt} END",
        "warnings": "CASE WHEN q IS NOT NULL OR (raw_deletion AND _malformed IS NULL) "
                    "THEN []::VARCHAR[] ELSE all_warnings END",
        "malformed": "_malformed",
    }  # fmt: skip

    return f"""
    WITH l0 AS (SELECT _file, _file_index,
                       coalesce(_row, rowid - {row_bases}[_file_index + 1] + 1) AS _row, _malformed,
                       nik_ps, nik_problem, phone_ps, phone_problem, {fields_in} FROM {raw}),
         l1 AS (SELECT *, {select(texts)} FROM l0),
         l2 AS (SELECT *, {select(typed)} FROM l1),
         l3 AS (SELECT l2.*, CASE WHEN nib_problem IS NULL THEN nib_text END AS nib,
                       g.regency_code, g.province_code, g.region_problem
                FROM l2 LEFT JOIN {region_table} g
                  ON g.raw0 IS NOT DISTINCT FROM {f"l2.f_{raw0}" if raw0 else "NULL"}
                 AND g.raw1 IS NOT DISTINCT FROM {f"l2.f_{raw1}" if raw1 else "NULL"}),
         l4 AS (SELECT *, {select(attrs)} FROM l3),
         l5 AS (SELECT *, {select(keys)} FROM l4),
         l6 AS (SELECT *, {rules} AS q, list_filter([{", ".join(warnings)}], lambda w: w IS NOT NULL) AS all_warnings FROM l5)
    SELECT {_canonical_select(out)}
    FROM l6"""


def _canonical_select(exprs: dict[str, str]) -> str:
    """The canonical record columns in the schema's order and types; a column the step does
    not compute is the step's column of that name."""
    return ", ".join(
        f"CAST({exprs.get(c.name, c.name)} AS {c.type}) AS {c.name}"
        for c in canonical.record_columns()
    )


def _key_text(contract: Contract, text: Callable[[str], str]) -> str:
    """The listing key's text: its column, or its parts joined by `|` (a `|` or `\\` inside a
    part escaped, so that no two part lists give one key); NULL when a part is missing."""
    if contract.listing_key.columns is None:
        return text("listing_key")
    parts = [text(contract.raw_name(c)) for c in contract.key_columns]
    escaped = [f"replace(replace({p}, '\\', '\\\\'), '|', '\\|')" for p in parts]
    present = " AND ".join(f"{p} IS NOT NULL" for p in parts)
    joined = " || '|' || ".join(escaped)
    return f"(CASE WHEN {present} THEN {joined} END)"


LISTING_ATTRIBUTES = canonical.names(canonical.listing_attributes())


def listing_day_sql(contract: Contract, records: str) -> str:
    """SELECT of one row per listing of the partner-day (grain: listing_key; schemas/
    canonical.yaml `listing`). Attributes come from the day's winning valid record: the last in
    file order, or for a grouped partner (a brand of outlets) the earliest joined (ties: record
    key ascending). Identifiers are every valid record's, as sorted distinct integer keys."""
    attrs = ", ".join(f"{a} := {a}" for a in LISTING_ATTRIBUTES)
    winners = {
        # a grouped listing: its earliest joined row (ties: record key ascending)
        "earliest_joined": f"arg_min(struct_pack({attrs}), struct_pack(d := joined_date, "
        "n := record_key IS NULL, k := record_key, f := file_index, r := row_number))",
        # one record per listing: the last in file order
        None: f"arg_max(struct_pack({attrs}), struct_pack(f := file_index, r := row_number))",
    }
    winner = winners[contract.grouping.pick if contract.grouping else None]
    idents = (
        f"list_sort(list_distinct(list_filter(flatten(list([{canonical.ident_key('nib', 'nib')}, "
        f"{canonical.ident_key('nik', 'nik_ps')}, {canonical.ident_key('phone', 'phone_ps')}])), lambda x: x IS NOT NULL)))"
    )
    unpacked = ", ".join(f"w.{a} AS {a}" for a in LISTING_ATTRIBUTES)
    return f"""
    SELECT listing_key, {unpacked}, idents FROM (
      SELECT listing_key, {winner} AS w, {idents} AS idents
      FROM {records}
      WHERE quarantine_rule IS NULL AND NOT is_deletion AND listing_key IS NOT NULL
      GROUP BY listing_key)"""
