"""The UMKM onboarding pipeline's logic as plain functions (it never imports Prefect)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache
def release() -> str:
    """The release of the pipeline that is running (the `umkm` package's version)."""
    try:
        return version("umkm")
    except PackageNotFoundError:  # a checkout run without installing
        return "unreleased"
