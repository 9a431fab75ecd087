"""`umkm explain --date D [--province P] [--partner X]`: how a published figure is made and how it
moved, for the operators who must defend it.

It reads the warehouse read-only (counts only: partner names, dates and numbers; nothing
personal, no listing key) and the published file for the figure as published now. Plain text,
offline. Three parts:

1. The figure on D as published now (national `umkm_onboarded`, or the province's).
2. Its value in every publication where it changed, and under each the partner-days whose
   `partner_loads` row was inserted or changed since the previous publication (loaded: a new
   day; late: a new day on or before the previous publication's latest day; corrected: a day
   delivered again), each with the UMKM it moved on D.
   MOVED: identity resolution replaces some UMKM groups with new ones; each replaced group counts
   -1 and each new group +1 on D when its onboarding date is in [programme start, D] (and, with
   --province, its province is P). Each group is attributed to one partner-day: the earliest
   changed partner-day that delivered one of its touched listings (pipelines/warehouse/moves.py).
   So the moves under a publication add up to the change of the figure since the one before.
3. The composition on D: the UMKM counted, by the partner of their earliest-joined listing (they
   add up to the figure), and how many of them have listings on two or more partners (counted
   once).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

import duckdb

from pipelines.reference import PROGRAMME_START, provinces
from pipelines.warehouse.resolve import EARLIEST


class CannotExplain(Exception):
    """No warehouse, a warehouse held by a run, or a day or province that is not published."""


@dataclass(frozen=True)
class Move:
    partner: str | None  # None: no changed partner-day (a group merged or split by links alone)
    export_date: date | None
    change: str  # loaded | late | corrected | "" (none)
    status: str
    moved: int


@dataclass(frozen=True)
class Revision:
    publication_id: int
    published_at: object
    latest_export_date: date | None
    value: int
    previous: int | None  # None: first published
    moves: list[Move]
    earlier: int = 0  # first published: the moves of the publications before it, on D


@dataclass(frozen=True)
class Explanation:
    day: date
    province: tuple[str | None, str] | None  # (code, name); code None = unknown province
    partner: str | None
    published: int | None  # as the published file shows it now
    current_publication: int
    revisions: list[Revision]
    composition: list[tuple[str, int]]  # partner of the earliest-joined listing, UMKM
    on_several: int  # of those, UMKM with listings on 2+ partners
    moves_complete: bool  # the moves recorded add up to the current figure

    @property
    def total(self) -> int:
        return sum(n for _, n in self.composition)


def _province(value: str) -> tuple[str | None, str]:
    if value.lower() == "unknown":
        return None, "unknown"
    ref = provinces()
    for code, name in zip(ref["code"], ref["name"], strict=True):
        if value == code or value.lower() == str(name).lower():
            return str(code), str(name)
    raise CannotExplain(f"unknown province {value!r}: give its 2-digit code or its name (reference/provinces.csv)")  # fmt: skip


def explain(warehouse: Path, published: Path, day: date, province: str | None = None,
            partner: str | None = None) -> Explanation:  # fmt: skip
    """Everything `umkm explain` prints, read from the warehouse (read-only) and the published file."""
    where_prov = _province(province) if province else None
    if not warehouse.exists():
        raise CannotExplain(f"no warehouse at {warehouse}: run `umkm backfill` first")
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        raise CannotExplain(
            f"cannot open the warehouse {warehouse} read-only (a run may be writing it; try again when it ends): "
            f"{str(exc).splitlines()[0]}"
        ) from None
    try:
        return _explain(con, published, day, where_prov, partner)
    finally:
        con.close()


def _published_figure(published: Path, day: date, prov: tuple[str | None, str] | None) -> int | None:  # fmt: skip
    if not published.exists():
        return None
    con = duckdb.connect(str(published), read_only=True)
    try:
        if prov is None:
            rows = con.execute("SELECT umkm_onboarded FROM national_progress WHERE as_of_date = ?", [day]).fetchall()  # fmt: skip
        else:
            rows = con.execute(
                "SELECT umkm_onboarded FROM progress_by_province WHERE as_of_date = ? AND province_code IS NOT DISTINCT FROM ?",
                [day, prov[0]],
            ).fetchall()
            if not rows and con.execute("SELECT count(*) FROM national_progress WHERE as_of_date = ?", [day]).fetchall()[0][0]:  # fmt: skip
                return 0  # dense over the provinces non-zero on the last day: none here
        return int(rows[0][0]) if rows else None
    finally:
        con.close()


def _explain(con: duckdb.DuckDBPyConnection, published: Path, day: date,
             prov: tuple[str | None, str] | None, partner: str | None) -> Explanation:  # fmt: skip
    q = con.execute
    known = {r[0] for r in q("SELECT DISTINCT partner FROM partner_loads").fetchall()}
    if partner is not None and partner not in known:
        raise CannotExplain(
            f"unknown partner {partner!r}; partners with deliveries: {sorted(known)}"
        )
    pubs = q("SELECT publication_id, published_at, latest_export_date FROM publications ORDER BY 1").fetchall()  # fmt: skip
    if not pubs:
        raise CannotExplain("nothing published yet: run `umkm backfill` first")
    current = int(pubs[-1][0])
    if pubs[-1][2] is None or day < PROGRAMME_START or day > pubs[-1][2]:
        raise CannotExplain(
            f"{day} is not a published day: days run from {PROGRAMME_START} to {pubs[-1][2]}"
        )
    prov_filter = "" if prov is None else " AND province_code IS NOT DISTINCT FROM $prov"
    p: dict[str, object] = {"day": day, "start": PROGRAMME_START}
    if prov is not None:
        p["prov"] = prov[0]
    # the moves on D, by publication and partner-day
    moved: dict[tuple[int, str | None, date | None], int] = {}
    for pid, who, when, n in q(
        f"""SELECT publication_id, partner, export_date, sum(n) FROM umkm_moves
            WHERE publication_id IS NOT NULL AND onboarding_date BETWEEN $start AND $day{prov_filter}
            GROUP BY ALL""",
        p,
    ).fetchall():
        moved[int(pid), who, when] = int(n)
    days = {}
    for pid, who, when, change, status in q(
        "SELECT publication_id, partner, export_date, change, status FROM publication_partner_days ORDER BY ALL"
    ).fetchall():
        days.setdefault(int(pid), []).append((who, when, change, status))
    if prov is None:
        values = {
            int(pid): (int(v), None if prev is None else int(prev))
            for pid, v, prev in q(
                "SELECT publication_id, umkm_onboarded, previous_umkm_onboarded FROM national_progress_revisions WHERE as_of_date = ?",
                [day],
            ).fetchall()
        }
    else:
        # no province history is published: the figure as of each publication is the sum of
        # the moves up to it (the first publication's moves build it from nothing)
        values, running, shown_before = {}, 0, False
        for pid, _, latest in pubs:
            step = sum(n for (i, _, _), n in moved.items() if i == pid)
            if latest is None or latest < day:
                running += step
                continue
            if step or not shown_before:
                values[int(pid)] = (running + step, running if shown_before else None)
            running += step
            shown_before = True
    revisions = []
    for pid, at, latest in pubs:
        if int(pid) not in values:
            continue
        value, previous = values[int(pid)]
        if previous is not None and value == previous:
            continue  # another column of the day changed (listings), not this figure
        moves = [
            Move(who, when, change, status, moved.get((int(pid), who, when), 0))
            for who, when, change, status in days.get(int(pid), [])
            if partner is None or who == partner
        ]
        unattributed = moved.get((int(pid), None, None), 0)
        if unattributed and partner is None:
            moves.append(Move(None, None, "", "", unattributed))
        earlier = 0
        if previous is None:
            earlier = sum(n for (i, _, _), n in moved.items() if i < int(pid))
        revisions.append(Revision(int(pid), at, latest, value, previous, moves, earlier))
    composition_rows = q(
        f"""WITH first AS (SELECT umkm_id, arg_min(partner, {EARLIEST}) AS partner,
                                  count(DISTINCT partner) FILTER (WHERE joined_date <= $day) AS partners
                           FROM listings WHERE umkm_id IS NOT NULL GROUP BY umkm_id)
            SELECT f.partner, count(*), count(*) FILTER (WHERE f.partners >= 2)
            FROM umkm u JOIN first f USING (umkm_id)
            WHERE u.onboarding_date BETWEEN $start AND $day{prov_filter.replace("province_code", "u.province_code")}
            GROUP BY ALL ORDER BY 2 DESC, 1""",
        p,
    ).fetchall()
    composition = [(str(r[0]), int(r[1])) for r in composition_rows]
    on_several = sum(int(r[2]) for r in composition_rows)
    all_moves = q(
        f"SELECT coalesce(sum(n), 0) FROM umkm_moves WHERE onboarding_date BETWEEN $start AND $day{prov_filter}",
        p,
    ).fetchall()[0][0]
    return Explanation(
        day, prov, partner, _published_figure(published, day, prov), current, revisions,
        composition, on_several, int(all_moves) == sum(n for _, n in composition),
    )  # fmt: skip


def render(e: Explanation) -> list[str]:
    """The explanation as plain lines (aligned columns, no colour)."""
    what = (
        "national"
        if e.province is None
        else f"{e.province[1]} ({e.province[0] or 'unknown province'})"
    )
    out = [
        f"UMKM onboarded since {PROGRAMME_START}, {what}, on {e.day}",
        "",
        f"As published now (publication {e.current_publication}): "
        + (f"{e.published:,}" if e.published is not None else "not in the published file"),
    ]
    if e.published is not None and e.published != e.total:
        out.append(
            f"  note: the warehouse now counts {e.total:,}: it changed after the last publication "
            "(a run under way, or one stopped before publishing); the next run publishes it"
        )
    out += ["", "How it moved: its value in every publication where it changed"]
    if e.partner:
        out.append(f"  (partner-days of {e.partner} only)")
    for r in e.revisions:
        change = (
            "first published"
            if r.previous is None
            else f"{r.value - r.previous:+,} from {r.previous:,}"
        )
        out.append(
            f"  publication {r.publication_id}  {_when(r.published_at)}  latest day {r.latest_export_date}:  "
            f"{r.value:,}  ({change})"
        )
        moving = [m for m in r.moves if m.moved]
        rows = [
            [m.partner or "(none: UMKM linked or split by identifiers alone)",
             str(m.export_date or ""), m.change, m.status, f"{m.moved:+,}"]
            for m in moving
        ]  # fmt: skip
        if rows:
            lines = table(["partner", "export date", "change", "status", "UMKM moved"], rows, {4})
            out += ["      " + line for line in lines]
        still = [m for m in r.moves if not m.moved]
        if still:
            kinds = {
                k: sum(1 for m in still if m.change == k) for k in ("loaded", "late", "corrected")
            }
            said = ", ".join(f"{n:,} {k}" for k, n in kinds.items() if n)
            out.append(
                f"      {'and ' if rows else ''}{len(still):,} partner-day(s) ({said}) that moved none"
            )
        total = sum(m.moved for m in r.moves)
        if e.partner is None and r.previous is not None:
            out.append(f"      moved in all: {total:+,} = {r.value:,} - {r.previous:,}")
        elif e.partner is None:
            out.append(
                f"      moved in all: {total:+,}, on top of {r.earlier:,} counted by earlier "
                f"publications before this day was published: {total + r.earlier:,}"
            )
    out += [
        "",
        "  UMKM moved: each UMKM group that identity resolution replaced counts -1 and each new group",
        f"  +1 when its onboarding date is in [{PROGRAMME_START}, {e.day}]; a group goes to the earliest",
        "  changed partner-day that delivered one of its touched listings. Under a publication the",
        "  moves add up to the change since the publication before.",
    ]
    if not e.moves_complete:
        out.append(
            "  note: the moves recorded do not add up to the figure (this warehouse kept them only "
            "from a later release on)"
        )
    out += ["", f"Composition on {e.day}: UMKM by the partner of their earliest-joined listing"]
    rows = [[p, f"{n:,}"] for p, n in e.composition]
    rows.append(["total", f"{e.total:,}"])
    out += ["  " + line for line in table(["partner", "UMKM"], rows, {1})]
    out.append(f"  UMKM with listings on two or more partners, counted once: {e.on_several:,}")
    if e.published is not None:
        same = "=" if e.total == e.published else "!="
        out.append(f"  total {e.total:,} {same} the published figure {e.published:,}")
    return out


def table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Plain aligned columns, two spaces apart (right-aligned where asked), under a rule."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _when(at: object) -> str:
    return (
        at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if isinstance(at, datetime) else str(at)
    )


def show(day: date, province: str | None = None, partner: str | None = None,
         stream: TextIO | None = None) -> int:  # fmt: skip
    """Print the explanation; 0, or 2 when it cannot be given (no warehouse, a day not published)."""
    from pipelines.settings import Settings

    settings = Settings()
    stream = sys.stdout if stream is None else stream
    try:
        e = explain(settings.warehouse, settings.publish, day, province, partner)
    except CannotExplain as exc:
        print(f"umkm explain: {exc}", file=sys.stderr)
        return 2
    for line in render(e):
        print(line, file=stream)
    return 0
