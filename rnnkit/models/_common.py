"""What the ready-made models share: building the recurrent stack from a registered cell name,
splitting one seed into independent child seeds, and the JSON form of a dtype."""

from __future__ import annotations

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.layers.registry import CELLS, check_cell


def make_recurrent(cell: str, input_size, hidden_size, num_layers, dropout, bidirectional,
                   dtype, seed):
    """The sequence layer of a registered ``cell`` (``rnnkit.layers.registry.CELLS``)."""
    return CELLS[check_cell(cell)].layer(input_size, hidden_size, num_layers=num_layers,
                                         dropout=dropout, bidirectional=bidirectional, dtype=dtype, seed=seed)


def child_seeds(seed, count: int) -> list[int]:
    """``count`` independent seeds derived from ``seed`` (None: fresh OS entropy).

    Each sub-module gets its own generator, so changing one layer's size does not
    shift the initial weights of the others.
    """
    check_scalar(seed, "seed", int, low=0, none_ok=True)
    return [int(s) for s in np.random.default_rng(seed).integers(2**63, size=count)]


def seed_to_json(seed):
    return None if seed is None else int(seed)


def dtype_name(dtype) -> str:
    return np.dtype(dtype).name
