"""The target trajectory (metrics.md "Target in force on day D")."""

from __future__ import annotations

import itertools
from datetime import date

import polars as pl

from pipelines import reference
from pipelines.reference import PROGRAMME_START


def targets_in_force(day: date, targets: pl.DataFrame | None = None) -> list[tuple[date, int]]:
    """(target date, value) of each target as last announced on or before `day`, by date."""
    t = reference.targets() if targets is None else targets
    known = t.filter(pl.col("announced_on") <= day).sort("target_date", "announced_on")
    latest = known.group_by("target_date", maintain_order=True).agg(pl.col("target_umkm").last())
    return list(zip(latest["target_date"].to_list(), latest["target_umkm"].to_list(), strict=True))


def trajectory(day: date, targets: pl.DataFrame | None = None) -> int:
    """The target on `day`: the straight line from (programme start, 0) through the targets in
    force, flat after the last; rounded half up to a whole business, exactly (integer maths)."""
    return _on_line(day, [(PROGRAMME_START, 0), *targets_in_force(day, targets)])


def _on_line(day: date, points: list[tuple[date, int]]) -> int:
    if day <= PROGRAMME_START:
        return 0
    for (d0, v0), (d1, v1) in itertools.pairwise(points):
        if d0 < day <= d1:
            num = v0 * (d1 - d0).days + (v1 - v0) * (day - d0).days
            den = (d1 - d0).days
            return (2 * num + den) // (2 * den)  # floor(x + 1/2) = round half up
    return points[-1][1]


def trajectory_frame(days: list[date], targets: pl.DataFrame | None = None) -> pl.DataFrame:
    """as_of_date, target for each day. The targets in force change only on announcement days,
    so they are looked up once per announcement epoch, not once per day."""
    t = reference.targets() if targets is None else targets
    epochs = sorted(set(t["announced_on"].to_list()))
    known: dict[date | None, list[tuple[date, int]]] = {}
    values = []
    for day in days:
        epoch = max((e for e in epochs if e <= day), default=None)
        if epoch not in known:
            known[epoch] = targets_in_force(day, t)
        values.append(_on_line(day, [(PROGRAMME_START, 0), *known[epoch]]))
    return pl.DataFrame(
        {"as_of_date": days, "target": values}, schema={"as_of_date": pl.Date, "target": pl.Int64}
    )
