"""Movie-review polarity (MR) benchmark: train `rnnkit sentiment` on the fixed 90% split
(9,545 sentences, 10% of them held out for early stopping), test on the other 10% (1,060).

References (random-init or pretrained, 10-fold CV or 90/10): LSTM 75.1%, Bi-LSTM 77.7%
(Yao et al. 2019, Text GCN table), CNN 81.5% (Kim 2014, with word2vec). Goal: >= 78%.
Embeddings here start random: pretrained vectors are not available offline.
Prints a markdown table, then one JSON line.

Usage::

    nice -n 10 python bench/sentiment.py --max-minutes 20
"""

import argparse
import os

from rnnkit.apps import _classify, sentiment


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _classify.add_benchmark_arguments(parser, sentiment.DEFAULTS, text=True)
    args = parser.parse_args(argv)
    config = _classify.config_from_args(args)
    out = args.out or os.path.join("runs", "bench-sentiment")
    _classify.benchmark("MR sentence polarity (9,545 train / 1,060 test)", sentiment.train, config,
                        args.seeds, {"LSTM (Yao et al. 2019)": 0.751,
                                     "Bi-LSTM (Yao et al. 2019)": 0.777,
                                     "CNN (Kim 2014)": 0.815},
                        goal=0.78, out_root=out)


if __name__ == "__main__":
    main()
