"""Movie-review polarity (MR) benchmark: train `rnnkit sentiment` on the fixed 90% split
(9,545 sentences, 10% of them held out for early stopping), test on the other 10% (1,060).

The app's defaults: GloVe 6B 50-d vectors, fine-tuned, under a bi-LSTM (chosen on the
validation split, docs/classification.md). References, other protocols: LSTM 75.1%,
Bi-LSTM 77.7% (Yao et al. 2019, Text GCN's 7,108 / 3,554 split; the Bi-LSTM with GloVe
300-d); CNN-static 81.0%, CNN-non-static 81.5% (Kim 2014, word2vec 300-d, 10-fold CV).
Goal: >= 80% (mean of the seeds).
Prints a markdown table, then one JSON line.

Usage::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 10 python bench/sentiment.py --seeds 0 1 2
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
                                     "CNN-static (Kim 2014)": 0.810,
                                     "CNN-non-static (Kim 2014)": 0.815},
                        goal=0.80, out_root=out)


if __name__ == "__main__":
    main()
