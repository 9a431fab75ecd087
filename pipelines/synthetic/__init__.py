"""Synthetic partner exports: a deterministic world of UMKM and the six partners' files.

`generate(out, start, end, merchants, seed, faults)` writes the landing area described in
shared/partners.md. Plain functions only: this package never imports Prefect.
"""

from pipelines.synthetic.landing import GenerateSummary, generate, schedule
from pipelines.synthetic.world import MARKETPLACES, PARTNERS

__all__ = ["MARKETPLACES", "PARTNERS", "GenerateSummary", "generate", "schedule"]
