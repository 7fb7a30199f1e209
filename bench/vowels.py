"""JapaneseVowels benchmark: train `rnnkit vowels` on the 270 UCI training sequences,
test on the 370 test sequences, once per seed.

Reference: Kudo et al. (1999), 94.1% test accuracy. Goal: >= 98%.
Prints a markdown table, then one JSON line.

Usage (each run takes about a minute on one free core; `--max-minutes` bounds it)::

    nice -n 10 python bench/vowels.py --seeds 0 1 2 --max-minutes 5
"""

import argparse
import os

from rnnkit.apps import _classify, vowels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _classify.add_benchmark_arguments(parser, vowels.DEFAULTS)
    args = parser.parse_args(argv)
    config = _classify.config_from_args(args)
    out = args.out or os.path.join("runs", "bench-vowels")
    _classify.benchmark("JapaneseVowels (270 train / 370 test)", vowels.train, config, args.seeds,
                        {"Kudo et al. 1999": 0.941}, goal=0.98, out_root=out)


if __name__ == "__main__":
    main()
