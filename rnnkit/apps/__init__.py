"""Applications behind the ``rnnkit`` command: ``rnnkit <app> <action> [options]``.

Each module here (``textgen``, ``sentiment``, ...) exposes ``build_parser(parser)``
for :mod:`rnnkit.cli` and plain Python functions that do the work, so every
command is one library call a user can also make from Python. An app module is
imported only when its name is given on the command line, and it imports its
extras (matplotlib, tqdm, ...) lazily.
"""
