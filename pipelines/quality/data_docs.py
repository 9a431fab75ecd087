"""The Data Docs site: Great Expectations' own (index, suites, every partner-day's results),
built from the stored results, that opens offline. Counts and rule names only, never values.

Its styles and scripts come from the install: Bootstrap, jQuery, Font Awesome and
bootstrap-datepicker from their
XStatic packages (PyPI), bootstrap-table (which no Python package ships) vendored in
gx_plugins/vendor/ from its npm release. They are copied into the site's static/vendor/, where
the pages' templates (gx_plugins/views/) point."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipelines.contracts import Contract
from pipelines.quality import validate

VENDORED = validate.PLUGINS / "vendor" / "bootstrap-table-1.19.1"


def assets() -> dict[str, Path]:
    """Each folder of static/vendor/ and the installed files it is copied from."""
    import xstatic.pkg.bootstrap
    import xstatic.pkg.bootstrap_datepicker
    import xstatic.pkg.font_awesome
    import xstatic.pkg.jquery

    bootstrap = Path(xstatic.pkg.bootstrap.BASE_DIR)
    font_awesome = Path(xstatic.pkg.font_awesome.BASE_DIR)
    return {
        "bootstrap/css": bootstrap / "css",
        "bootstrap/js": bootstrap / "js",
        "jquery": Path(xstatic.pkg.jquery.BASE_DIR),
        "font-awesome/css": font_awesome / "css",
        "font-awesome/webfonts": font_awesome / "webfonts",
        "bootstrap-table": VENDORED,
        "bootstrap-datepicker": Path(xstatic.pkg.bootstrap_datepicker.BASE_DIR),
    }


def write_site(gx_dir: Path, contracts: dict[str, Contract]) -> Path:
    """Build the site under `gx_dir/data_docs` with its static files, under the project's lock
    (another run may be building it too); its index page."""
    with validate.project_lock(gx_dir):
        index = validate.build_site(gx_dir, contracts)
        static = gx_dir / "data_docs" / "static"
        for target, source in assets().items():
            shutil.copytree(source, static / "vendor" / target, dirs_exist_ok=True,
                            copy_function=shutil.copyfile)  # fmt: skip
        # copies keep the installed files' modes (0644, 0755): the site is the run's user's
        # only, like everything beside the warehouse
        for path in [static, *static.rglob("*")]:
            path.chmod(0o700 if path.is_dir() else 0o600)
    return index
