"""`umkm report`: the national progress chart against the target trajectory, as a PNG and a
self-contained HTML page beside it (the PNG embedded as a data URI, CSS inline: it opens
offline, loads nothing from the network).

Reads only the published file (aggregates, opened read-only) and the reference CSVs. The
output depends only on them, never on the clock: rerunning on the same published file writes
the same bytes.
"""

from __future__ import annotations

import base64
import html
import io
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from pipelines import reference
from pipelines.reference import PROGRAMME_START
from pipelines.reporting.language import ENGLISH, Language
from pipelines.reporting.status import (
    NotPublished,
    Published,
    needs_attention,
    publish_path,
    read_published,
)
from pipelines.targets import targets_in_force

DEFAULT_NAME = "umkm_progress.png"
DPI = 100

# colours (colour-blind safe: Okabe-Ito)
ONBOARDED = "#0072B2"
ONLINE = "#56B4E9"
TARGET = "#222222"
PLAN_COLOURS = ["#E69F00", "#D55E00", "#CC79A7", "#009E73", "#F0E442"]
UNKNOWN = "#999999"
DEFINITIONS = {
    # published definition -> (the published column it compares with, colour, marker)
    "onboarded since programme start": ("umkm_onboarded", ONBOARDED, "o"),
    "total online": ("umkm_online_total", ONLINE, "D"),
}


def write_report(out: Path | None, lang: Language = ENGLISH) -> int:
    """Write the PNG (default beside the published file) and its HTML page; print both paths."""
    try:
        pub = read_published()
    except NotPublished as exc:
        print(f"umkm report: {exc}", file=sys.stderr)
        return 2
    if pub.latest is None:
        print(
            f"umkm report: the published file {pub.path} has no national progress yet "
            "(no partner-day loaded): nothing to chart",
            file=sys.stderr,
        )
        return 2
    png_path = out if out is not None else publish_path().parent / DEFAULT_NAME
    if png_path.suffix.lower() != ".png":
        print(f"umkm report: --out must name a .png file, not {png_path}", file=sys.stderr)
        return 2
    html_path = png_path.with_suffix(".html")
    png = render_png(pub, lang)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    png_path.write_bytes(png)
    html_path.write_text(render_html(pub, png, png_path.name, lang=lang), encoding="utf-8")
    print(png_path)
    print(html_path)
    return 0


# ---------------------------------------------------------------------------------------------
# words


def title(pub: Published, lang: Language = ENGLISH) -> str:
    latest = pub.latest
    assert latest is not None
    share = (
        lang.t("share_text", pct=lang.pct(latest["pct_of_target"]))
        if latest["pct_of_target"] is not None
        else lang.t("no_target")
    )
    return lang.t("title", n=lang.num(latest["umkm_onboarded"]), start=lang.day(PROGRAMME_START),
                  day=lang.day(latest["as_of_date"]), share=share)  # fmt: skip


def announcements(lang: Language = ENGLISH) -> list[tuple[date, str]]:
    """Each announcement date with what it announced, in words: '20M by 2022, 24M by 2023'."""
    t = reference.targets().sort("announced_on", "target_date")
    out = []
    for (day,), group in t.group_by("announced_on", maintain_order=True):
        what = ", ".join(
            lang.t("target_by", value=lang.short(v), year=d.year)
            for d, v in zip(group["target_date"], group["target_umkm"], strict=True)
        )
        out.append((day, what))
    return out


# ---------------------------------------------------------------------------------------------
# the chart


def plan(announced: date, days: np.ndarray) -> np.ndarray:
    """The trajectory as it stood on `announced`: the straight line from (programme start, 0)
    through the targets in force that day, flat after the last (metrics.md), on `days`."""
    xs, ys = _plan_points(announced)
    return np.interp(days.astype("int64"), xs.astype("int64"), ys)


def _plan_points(announced: date) -> tuple[np.ndarray, np.ndarray]:
    points = [(PROGRAMME_START, 0), *targets_in_force(announced)]
    xs = np.array([np.datetime64(d, "D") for d, _ in points])
    return xs, np.array([v for _, v in points], dtype=float)


def _positive(values: np.ndarray | pl.Series) -> np.ndarray:
    """For a log axis: zeros (and nulls) are not drawn."""
    if isinstance(values, pl.Series):
        values = values.cast(pl.Float64).fill_null(0).to_numpy()
    arr = np.array(values, dtype=float)
    arr[arr <= 0] = np.nan
    return arr


@dataclass(frozen=True)
class _Span:
    """What both national panels share: the days drawn and the plans as announced."""

    start: date
    end: date
    days: np.ndarray
    plans: list[tuple[date, str, str]]  # announced_on, what, colour


def _span(pub: Published, lang: Language) -> _Span:
    latest = pub.latest
    assert latest is not None
    last_target_day = reference.targets()["target_date"].max()
    end = max(latest["as_of_date"], last_target_day) + timedelta(days=75)
    days = np.arange(np.datetime64(PROGRAMME_START, "D"), np.datetime64(end, "D") + 1)
    plans = [
        (day, what, PLAN_COLOURS[i % len(PLAN_COLOURS)])
        for i, (day, what) in enumerate(announcements(lang))
    ]
    return _Span(PROGRAMME_START - timedelta(days=45), end, days, plans)


def render_png(pub: Published, lang: Language = ENGLISH) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_prov = max(pub.provinces.height, 1)
    height = max(12.5, 0.24 * n_prov + 2.5)
    fig = Figure(figsize=(17, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title(pub, lang), fontsize=16, fontweight="bold")
    left, right = fig.subfigures(1, 2, width_ratios=[11, 6], wspace=0.02)
    top, middle = left.subplots(2, 1, sharex=True, height_ratios=[6.2, 4])
    span = _span(pub, lang)
    _national_log(top, pub, span, lang)
    _targets_linear(middle, pub, span, lang)
    handles, labels = top.get_legend_handles_labels()
    left.legend(
        handles,
        labels,
        loc="outside lower center",
        ncol=2,
        fontsize=8.5,
        frameon=False,
        handlelength=3,
    )
    _provinces(right.subplots(), pub, lang)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _style(ax) -> None:  # type: ignore[no-untyped-def]
    ax.grid(True, which="major", color="#e3e3e3", linewidth=0.7)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _national_log(ax, pub: Published, span: _Span, lang: Language) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    nat = pub.national
    latest = pub.latest
    assert latest is not None
    last_day: date = latest["as_of_date"]
    x = nat["as_of_date"].to_numpy()

    # plans as announced, faint and dashed, with the announcements marked; target in force solid
    for i, (announced, what, colour) in enumerate(span.plans):
        ax.plot(
            span.days,
            _positive(plan(announced, span.days)),
            color=colour,
            linestyle=(0, (5, 3)),
            linewidth=1.5,
            alpha=0.8,
            label=lang.t("plan_label", day=lang.day(announced), what=what),
        )
        ax.axvline(announced, color=colour, linewidth=1.1, alpha=0.7, linestyle=":")
        ax.annotate(  # staggered: announcements can be a few months apart
            lang.t("announced", day=lang.day(announced), what=what),
            xy=(announced, 1),
            xycoords=("data", "axes fraction"),
            xytext=(4, -4 - 26 * (i % 2)),
            textcoords="offset points",
            va="top",
            ha="left",
            fontsize=8.5,
            color=colour,
            fontweight="bold",
        )
    ax.plot(
        x,
        _positive(nat["target"]),
        color=TARGET,
        linewidth=2.2,
        label=lang.t("target_in_force"),
    )

    # the pipeline's series, the latest values written at their ends
    ax.plot(
        x,
        _positive(nat["umkm_online_total"]),
        color=ONLINE,
        linewidth=1.8,
        label=lang.t("series_online"),
    )
    ax.plot(
        x,
        _positive(nat["umkm_onboarded"]),
        color=ONBOARDED,
        linewidth=2.4,
        label=lang.t("series_onboarded"),
    )
    for column, colour, va in (
        ("umkm_onboarded", ONBOARDED, "top"),
        ("umkm_online_total", ONLINE, "bottom"),
    ):
        value = latest[column]
        if value and value > 0:
            ax.annotate(
                lang.num(value),
                xy=(last_day, value),
                xytext=(5, -2 if va == "top" else 2),
                textcoords="offset points",
                va=va,
                ha="left",
                fontsize=9.5,
                color=colour,
                fontweight="bold",
            )
    ax.axvline(last_day, color="#777777", linewidth=0.8, alpha=0.5)
    early = (last_day - span.start) < (span.end - span.start) / 2  # label on the roomier side
    ax.annotate(
        lang.t("latest_day", day=lang.day(last_day)),
        xy=(last_day, 0),
        xycoords=("data", "axes fraction"),
        xytext=(4 if early else -4, 4),
        textcoords="offset points",
        ha="left" if early else "right",
        va="bottom",
        fontsize=8,
        color="#555555",
    )

    _first_published(ax, pub, lang)
    _published_points(ax, False, lang)
    ax.set_yscale("log")
    top = max(float(reference.targets()["target_umkm"].max()), float(nat["target"].max() or 1))
    ax.set_ylim(0.7, top * 30)
    ax.set_xlim(span.start, span.end)
    ax.yaxis.set_major_locator(LogLocator(base=10, numticks=12))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: lang.short(v) if v >= 1 else ""))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel(lang.t("log_axis"))
    ax.set_title(lang.t("subtitle"), fontsize=10, color="#444444", loc="left")
    _style(ax)


FIRST = "#D55E00"  # vermilion: the pipeline's own first releases, beside its current curve


def _first_published(ax, pub: Published, lang: Language) -> None:  # type: ignore[no-untyped-def]
    """Each publication's figure for its latest day as first published (publications): a hollow
    marker beside the current curve, joined by a thin line to that day's value now; and, since
    publications crowd the curve's end on a five-year axis, the same in a linear inset over the
    days they cover."""
    pubs = pub.publications
    if pubs.height == 0:
        return
    pubs = pubs.filter(pl.col("first_published").is_not_null() & (pl.col("first_published") > 0))
    if pubs.height == 0:
        return
    x = pubs["latest_export_date"].to_numpy()
    first = pubs["first_published"].cast(pl.Float64).to_numpy()
    now = pubs["now"].cast(pl.Float64).fill_null(np.nan).to_numpy()

    def marks(target, label: str | None) -> None:  # type: ignore[no-untyped-def]
        target.vlines(x, first, now, color=FIRST, linewidth=0.9, alpha=0.8, zorder=5)
        target.scatter(
            x, first, marker="o", s=30, facecolor="white", edgecolor=FIRST, linewidth=1.3,
            zorder=6, label=label,
        )  # fmt: skip

    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.ticker import FuncFormatter

    marks(ax, lang.t("first_published", n=pubs.height))
    inset = ax.inset_axes([0.30, 0.40, 0.40, 0.26])
    lo = pubs["latest_export_date"].min() - timedelta(days=2)  # type: ignore[operator]
    hi = pub.national["as_of_date"].max() + timedelta(days=1)  # type: ignore[operator]
    window = pub.national.filter(pl.col("as_of_date").is_between(lo, hi))
    inset.plot(window["as_of_date"].to_numpy(), window["umkm_onboarded"].to_numpy(), color=ONBOARDED, linewidth=1.8)  # fmt: skip
    marks(inset, None)
    values = [*window["umkm_onboarded"].to_list(), *first.tolist()]
    pad = max((max(values) - min(values)) * 0.08, 1)
    inset.set_ylim(min(values) - pad, max(values) + pad)
    inset.set_xlim(lo, hi)
    inset.set_title(lang.t("first_published_inset"), fontsize=8, color="#444444", loc="left")
    inset.tick_params(labelsize=7)
    inset.yaxis.set_major_formatter(FuncFormatter(lambda v, _: lang.num(int(v))))
    # minticks 2: with the default 5, a window of 3-4 days has no interval that fits (a warning)
    locator = AutoDateLocator(minticks=2, maxticks=6)
    inset.xaxis.set_major_locator(locator)
    inset.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    inset.xaxis.get_offset_text().set_fontsize(7)
    inset.set_facecolor("#fbfbfb")
    inset.grid(True, color="#e8e8e8", linewidth=0.6)


def _published_points(ax, labels: bool, lang: Language) -> None:  # type: ignore[no-untyped-def]
    """The officially published figures, one marker per definition (and a label each)."""
    published = reference.published_progress().sort("as_of_date")
    known = list(DEFINITIONS)
    for definition in [*known, *sorted(set(published["definition"]) - set(known))]:
        column, colour, marker = DEFINITIONS.get(definition, ("", "black", "X"))
        pts = published.filter(pl.col("definition") == definition)
        if pts.height == 0:
            continue
        compare = lang.t("compare_with", column=column) if column else ""
        ax.scatter(
            pts["as_of_date"].to_numpy(),
            pts["umkm_reported"].to_numpy(),
            marker=marker,
            s=48,
            facecolor=colour,
            edgecolor="black",
            linewidth=0.8,
            zorder=6,
            label=lang.t("published_by_officials", definition=definition) + compare,
        )
        if not labels:
            continue
        dates = pts["as_of_date"].to_list()
        for i, (d, v) in enumerate(zip(dates, pts["umkm_reported"], strict=True)):
            crowded = i + 1 < len(dates) and (dates[i + 1] - d).days < 60
            ax.annotate(
                lang.short(v),
                xy=(d, v),
                xytext=(-7, 0) if crowded else (0, 7),
                textcoords="offset points",
                ha="right" if crowded else "center",
                va="center" if crowded else "baseline",
                fontsize=8,
                color="#222222",
                zorder=7,
            )


def _targets_linear(ax, pub: Published, span: _Span, lang: Language) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.ticker import FuncFormatter

    nat = pub.national
    last_target_day = reference.targets()["target_date"].max()
    for announced, _, colour in span.plans:
        ax.plot(
            span.days,
            plan(announced, span.days),
            color=colour,
            linestyle=(0, (5, 3)),
            linewidth=1.5,
            alpha=0.85,
        )
        ax.axvline(announced, color=colour, linewidth=1.1, alpha=0.7, linestyle=":")
        new = reference.targets().filter(pl.col("announced_on") == announced)
        for d, v in zip(new["target_date"], new["target_umkm"], strict=True):
            ax.plot(
                [d], [v], marker="_", markersize=16, markeredgewidth=2.4, color=colour, zorder=5
            )
            last = d == last_target_day  # labels right of their mark, but the last one left
            ax.annotate(
                lang.short(v),
                xy=(d, v),
                xytext=(-9 if last else 9, 0),
                textcoords="offset points",
                ha="right" if last else "left",
                va="center",
                fontsize=8.5,
                color=colour,
                fontweight="bold",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.85},
                zorder=6,
            )
    ax.plot(nat["as_of_date"].to_numpy(), nat["target"].to_numpy(), color=TARGET, linewidth=2.2)
    _published_points(ax, True, lang)
    top = max(float(reference.targets()["target_umkm"].max()), float(nat["target"].max() or 1))
    ax.set_ylim(0, top * 1.12)
    ax.set_xlim(span.start, span.end)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: lang.short(v) if v > 0 else "0"))
    ax.set_ylabel(lang.t("linear_axis"))
    ax.set_title(
        lang.t("linear_title"),
        fontsize=10,
        color="#444444",
        loc="left",
    )
    _style(ax)


def _provinces(ax, pub: Published, lang: Language) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.ticker import FuncFormatter

    prov = pub.provinces
    latest = pub.latest
    assert latest is not None
    ax.set_title(
        lang.t("provinces_title", day=lang.day(latest["as_of_date"])),
        fontsize=11,
        loc="right",
    )
    if prov.height == 0:
        ax.text(0.5, 0.5, lang.t("no_province_rows"), ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    total = int(prov["umkm_onboarded"].sum()) or 1
    names = prov["province_name"].to_list()
    values = prov["umkm_onboarded"].to_list()
    colours = [UNKNOWN if u else ONBOARDED for u in prov["province_code"].is_null().to_list()]
    y = np.arange(len(names))
    ax.barh(y, values, color=colours, height=0.72)
    ax.set_yticks(y, names, fontsize=8.5)
    ax.set_ylim(max(len(names), 20) - 0.4, -0.6)  # first row on top; bars never too fat
    vmax = max(values) or 1
    ax.set_xlim(0, vmax * 1.3)
    for yi, v in zip(y, values, strict=True):
        share = v / total
        ax.text(
            v + vmax * 0.01,
            yi,
            f"{lang.num(v)} ({lang.share(share) if share >= 0.001 or v == 0 else lang.t('below_a_tenth')})",
            va="center",
            fontsize=8,
        )
    ax.set_xlabel(lang.t("provinces_axis"))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: lang.num(int(v))))
    ax.grid(True, axis="x", color="#eeeeee")
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


# ---------------------------------------------------------------------------------------------
# the page

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 1320px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.flag td { color: #b00020; font-weight: 600; }
p.note, figcaption { color: #555; font-size: 0.9rem; }
"""


def _html_table(frame: pl.DataFrame, numeric: set[str], lang: Language,
                flags: list[bool] | None = None) -> str:  # fmt: skip
    head = "".join(
        f'<th class="n">{html.escape(lang.column(c))}</th>'
        if c in numeric
        else f"<th>{html.escape(lang.column(c))}</th>"
        for c in frame.columns
    )
    rows = []
    for i, row in enumerate(frame.iter_rows()):
        cells = "".join(
            f'<td class="n">{html.escape(lang.value(v))}</td>'
            if c in numeric
            else f"<td>{html.escape(lang.value(v))}</td>"
            for c, v in zip(frame.columns, row, strict=True)
        )
        cls = ' class="flag"' if flags and flags[i] else ""
        rows.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _publications_html(pub: Published, lang: Language, last_rows: int = 10) -> str:
    """The last publications: each latest day as first published, now, and the revision."""
    pubs = pub.publications
    if pubs.height == 0:
        return ""
    rows = (
        pubs.tail(last_rows)
        .sort("publication_id", descending=True)
        .with_columns(
            (pl.col("now") - pl.col("first_published")).alias("revision"),
            pl.col("published_at").dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M UTC"),
        )
    )
    numbers = {"publication_id", "first_published", "now", "revision"}
    return f"""<h2>{html.escape(lang.t("publications_table"))}</h2>
{_html_table(rows, numbers, lang)}"""


def render_html(pub: Published, png: bytes, png_name: str, last_rows: int = 10,
                lang: Language = ENGLISH) -> str:  # fmt: skip
    latest = pub.latest
    assert latest is not None
    data_uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    nat = pub.national.tail(last_rows).sort("as_of_date", descending=True)
    nat = nat.with_columns(
        pl.Series("pct_of_target", [lang.pct(v) for v in nat["pct_of_target"]], pl.String)
    )
    fresh = pub.freshness
    flags = [needs_attention(r) for r in fresh.iter_rows(named=True)]
    published = reference.published_progress().select(
        "as_of_date", "umkm_reported", "definition", "source"
    )
    targets = (
        reference.targets()
        .select("announced_on", "target_date", "target_umkm", "source")
        .sort("announced_on", "target_date")
    )
    counts = {
        "umkm_onboarded",
        "umkm_new",
        "umkm_online_total",
        "listings",
        "target",
        "pct_of_target",
    }
    t = html.escape(title(pub, lang))
    name = html.escape(png_name)
    return f"""<!DOCTYPE html>
<html lang="{html.escape(lang.code)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t}</title>
<style>{CSS}</style>
</head>
<body>
<h1>{t}</h1>
<p class="note">{lang.t("page_note", file=html.escape(pub.path.name), day=lang.day(latest["as_of_date"]))}</p>
<figure>
<img src="{data_uri}" alt="{html.escape(lang.t("chart_alt", title=title(pub, lang)))}">
<figcaption>{lang.t("figcaption", file=name)}</figcaption>
</figure>
<h2>{html.escape(lang.t("last_days", n=min(last_rows, pub.national.height)))}</h2>
{_html_table(nat, counts, lang)}
{_publications_html(pub, lang)}
<h2>{html.escape(lang.t("partner_freshness"))}</h2>
<p class="note">{html.escape(lang.t("freshness_note"))}</p>
{_html_table(fresh, {"days_behind", "missing_days"}, lang, flags)}
<h2>{html.escape(lang.t("reference_published"))}</h2>
{_html_table(published, {"umkm_reported"}, lang)}
<h2>{html.escape(lang.t("reference_targets"))}</h2>
{_html_table(targets, {"target_umkm"}, lang)}
</body>
</html>
"""
