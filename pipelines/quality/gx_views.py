"""Great Expectations' page views, with the templates of gx_plugins/views/ first: the pages load
their styles and scripts from the site's own static/vendor/ (see data_docs.py), never a CDN.

GX puts a site's custom views after its own templates, so they cannot replace one; these views
are named in the site's configuration (pipelines/quality/validate.py) instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import ChoiceLoader, FileSystemLoader

VIEWS = Path(__file__).resolve().parent / "gx_plugins" / "views"


def _ours_first(view: Any) -> None:
    view.env.loader = ChoiceLoader([FileSystemLoader(str(VIEWS)), view.env.loader])


class OfflinePageView(DefaultJinjaPageView):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _ours_first(self)


class OfflineIndexPageView(DefaultJinjaIndexPageView):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _ours_first(self)
