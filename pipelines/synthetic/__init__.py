"""Synthetic partner exports: a deterministic world of UMKM and its partners' files.

`generate(out, start, end, merchants, seed, faults)` writes the landing area described in
shared/partners.md, each partner as its contract says: by the hand-made model its `synthetic`
field names, or from the contract alone. Plain functions only: this package never imports Prefect.
"""

from pipelines.synthetic.landing import GenerateSummary, generate, schedule
from pipelines.synthetic.world import MODELS

__all__ = ["MODELS", "GenerateSummary", "generate", "schedule"]
