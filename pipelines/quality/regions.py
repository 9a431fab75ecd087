"""Regions: Kemendagri codes and partners' region names to reference codes (metrics.md "Region").

Column-wise: names are normalised with Polars string expressions, then joined to a lookup built
from schemas/reference; no per-row Python.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import polars as pl

from pipelines import reference
from pipelines.quality.identifiers import clean_text


def _squash(expr: pl.Expr) -> pl.Expr:
    """Lower case; `D.K.I.`/`D.I.` to `dki`/`di`; other dots to spaces; spaces collapsed."""
    s = expr.str.to_lowercase()
    s = s.str.replace_all(r"\bd\s*\.\s*k\s*\.\s*i\b\.?", " dki ")
    s = s.str.replace_all(r"\bd\s*\.\s*i\b\.?", " di ")
    s = s.str.replace_all(r"\.", " ")
    return s.str.replace_all(r"\s+", " ").str.strip_chars()


def province_key(name: pl.Expr) -> pl.Expr:
    """Comparable form of a province name: `Prov. DKI Jakarta` -> `daerah khusus ibukota jakarta`."""
    s = _squash(name)
    s = s.str.replace(r"^(.*?)\s*,\s*(provinsi|prov)$", "$1")
    s = s.str.replace(r"^(provinsi|prov)\s+", "")
    s = s.str.replace(r"^dki\s+", "daerah khusus ibukota ")
    s = s.str.replace(r"^di\s+", "daerah istimewa ")
    return s


def regency_kind_and_base(name: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(`kab`|`kota`|null, base name) of a regency name, prefix or `Bandung, Kota` suffix form."""
    s = _squash(name)
    s = s.str.replace(r"^(.*?)\s*,\s*(kabupaten|kab|kota)$", "$2 $1")
    kind = (
        pl.when(s.str.contains(r"^(kabupaten|kab)\s"))
        .then(pl.lit("kab"))
        .when(s.str.contains(r"^kota\s"))
        .then(pl.lit("kota"))
        .otherwise(None)
    )
    base = s.str.replace(r"^(kabupaten|kab|kota)\s+", "")
    base = base.str.replace(r"^(administrasi|adm)\s+", "")
    return kind, base


@cache
def _province_lookup() -> pl.DataFrame:
    return reference.provinces().select(
        province_key(pl.col("name")).alias("_pkey"), pl.col("code").alias("_pcode")
    )


@cache
def _regency_lookup() -> pl.DataFrame:
    kind, base = regency_kind_and_base(pl.col("name"))
    regs = reference.regencies().select(
        pl.col("province_code").alias("_rprov"),
        kind.alias("_rkind"),
        base.alias("_rbase"),
        pl.col("code").alias("_rcode"),
    )
    assert regs.select(pl.struct("_rprov", "_rkind", "_rbase").is_unique().all()).item()
    return regs


def _codes() -> tuple[pl.Series, pl.Series]:
    return reference.provinces()["code"], reference.regencies()["code"]


def resolve_codes(
    frame: pl.LazyFrame, region_code: str | None, province_code: str | None
) -> pl.LazyFrame:
    """Add `regency_code` (`32.73`), `province_code` (`32`) and `region_problem` from code fields.

    Regency: a 4-digit code (`32.73`, `3273`, 3273) found in regencies.csv. Province: the
    record's province code when it is one, else the regency code's first two digits.
    Worked out once per distinct pair of raw values (a few hundred), then joined back.
    """
    return _on_distinct(
        frame, [region_code, province_code], lambda keys: _codes_on_keys(keys, "_raw0", "_raw1")
    )


def _on_distinct(
    frame: pl.LazyFrame, sources: list[str | None], compute: Callable[[pl.LazyFrame], pl.LazyFrame]
) -> pl.LazyFrame:
    """Apply `compute` to the distinct raw values of `sources` (as `_raw0`, `_raw1`) and join
    its outputs back to every row: region names and codes repeat, rows do not need parsing each."""
    names = frame.collect_schema().names()
    raws = [f"_raw{i}" for i in range(len(sources))]
    frame = frame.with_columns(
        (pl.col(src).cast(pl.String) if src and src in names else pl.lit(None, pl.String)).alias(
            raw
        )
        for src, raw in zip(sources, raws, strict=True)
    )
    outputs = ["regency_code", "province_code", "region_problem"]
    keys = frame.select(raws).unique()
    mapped = compute(keys).select(*raws, *outputs)
    frame = frame.drop([c for c in outputs if c in names])
    return frame.join(mapped, on=raws, how="left", nulls_equal=True, maintain_order="left").drop(
        raws
    )


def _codes_on_keys(
    frame: pl.LazyFrame, region_code: str | None, province_code: str | None
) -> pl.LazyFrame:
    """`resolve_codes` on a frame of distinct raw values."""
    provinces, regencies = _codes()
    cols = frame.collect_schema().names()
    reg = (
        clean_text(pl.col(region_code))
        if region_code and region_code in cols
        else pl.lit(None, pl.String)
    )
    prov = (
        clean_text(pl.col(province_code))
        if province_code and province_code in cols
        else pl.lit(None, pl.String)
    )
    digits = reg.str.replace_all(r"\.", "")
    regency = (
        pl.when(digits.str.contains(r"^[0-9]{4}$"))
        .then(digits.str.slice(0, 2) + pl.lit(".") + digits.str.slice(2, 2))
        .otherwise(None)
    )
    regency = pl.when(regency.is_in(regencies.implode())).then(regency).otherwise(None)
    # a province field such as "32", 32 or "32.0" (a numeric spreadsheet cell)
    prov_code = prov.str.replace(r"\.0+$", "").str.zfill(2)
    prov_code = pl.when(prov_code.is_in(provinces.implode())).then(prov_code).otherwise(None)
    from_code = pl.when(digits.str.contains(r"^[0-9]{2}")).then(digits.str.slice(0, 2))
    province = pl.coalesce(prov_code, regency.str.slice(0, 2), from_code)
    province = pl.when(province.is_in(provinces.implode())).then(province).otherwise(None)
    problem = (
        pl.when(prov.is_not_null() & prov_code.is_null())
        .then(pl.lit("province code not in reference"))
        .when(reg.is_not_null() & regency.is_null() & ~digits.is_in(provinces.implode()))
        .then(pl.lit("regency code not in reference"))
        .otherwise(None)
    )
    return frame.with_columns(
        regency.alias("regency_code"),
        province.alias("province_code"),
        problem.alias("region_problem"),
    )


def resolve_names(
    frame: pl.LazyFrame,
    province_name: str | None,
    regency_name: str | None,
    province_code: str | None = None,
) -> pl.LazyFrame:
    """Add `province_code`, `regency_code`, `region_problem` from province and regency names.

    The province comes from the province field (a name, or a code when `province_code` is
    given); a regency name is matched within that province, with or without `Kabupaten`/`Kota`
    (a bare name counts only when it is the only regency of that name in the province).
    Worked out once per distinct pair of raw values, then joined back.
    """
    if province_code:
        return _on_distinct(
            frame,
            [province_code, regency_name],
            lambda keys: _names_on_keys(keys, None, "_raw1", "_raw0"),
        )
    return _on_distinct(
        frame, [province_name, regency_name], lambda keys: _names_on_keys(keys, "_raw0", "_raw1")
    )


def _names_on_keys(
    frame: pl.LazyFrame,
    province_name: str | None,
    regency_name: str | None,
    province_code: str | None = None,
) -> pl.LazyFrame:
    """`resolve_names` on a frame of distinct raw values."""
    cols = frame.collect_schema().names()

    def text(col: str | None) -> pl.Expr:
        return clean_text(pl.col(col)) if col and col in cols else pl.lit(None, pl.String)

    provinces, _ = _codes()
    if province_code:
        code = text(province_code).str.replace(r"\.0+$", "").str.zfill(2)
        frame = frame.with_columns(
            pl.when(code.is_in(provinces.implode())).then(code).otherwise(None).alias("_pcode"),
            text(province_code).alias("_praw"),
        )
    else:
        frame = (
            frame.with_columns(
                province_key(text(province_name)).alias("_pkey"), text(province_name).alias("_praw")
            )
            .join(_province_lookup().lazy(), on="_pkey", how="left", maintain_order="left")
            .drop("_pkey")
        )
    kind, base = regency_kind_and_base(text(regency_name))
    frame = frame.with_columns(
        kind.alias("_rkind"), base.alias("_rbase"), text(regency_name).alias("_rraw")
    )
    lookup = _regency_lookup()
    exact = lookup.rename({"_rcode": "_rcode_exact"}).lazy()
    unique_bare = (
        lookup.group_by("_rprov", "_rbase")
        .agg(pl.col("_rcode").first().alias("_rcode_bare"), pl.len().alias("_n"))
        .filter(pl.col("_n") == 1)
        .drop("_n")
        .lazy()
    )
    frame = frame.join(
        exact,
        left_on=["_pcode", "_rkind", "_rbase"],
        right_on=["_rprov", "_rkind", "_rbase"],
        how="left",
        maintain_order="left",
    ).join(
        unique_bare,
        left_on=["_pcode", "_rbase"],
        right_on=["_rprov", "_rbase"],
        how="left",
        maintain_order="left",
    )
    regency = (
        pl.when(pl.col("_rkind").is_null())
        .then(pl.col("_rcode_bare"))
        .otherwise(pl.col("_rcode_exact"))
    )
    problem = (
        pl.when(pl.col("_praw").is_not_null() & pl.col("_pcode").is_null())
        .then(pl.lit("province not recognised"))
        .when(pl.col("_rraw").is_not_null() & regency.is_null())
        .then(pl.lit("regency not recognised in its province"))
        .otherwise(None)
    )
    return frame.with_columns(
        regency.alias("regency_code"),
        pl.col("_pcode").alias("province_code"),
        problem.alias("region_problem"),
    ).drop("_pcode", "_praw", "_rkind", "_rbase", "_rraw", "_rcode_exact", "_rcode_bare")
