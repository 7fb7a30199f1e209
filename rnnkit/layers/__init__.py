"""Sequence layers and the building blocks models are made of."""

from rnnkit.layers.dropout import Dropout
from rnnkit.layers.embedding import Embedding
from rnnkit.layers.linear import Linear
from rnnkit.layers.nade import NADE
from rnnkit.layers.pooling import LastValid
from rnnkit.layers.recurrent import GRU, LSTM, RNN, RecurrentLayer
from rnnkit.layers.sequential import Sequential
from rnnkit.layers.registry import CELLS, public_classes

# Every registered cell's layer and single-step classes (rnnkit.LayerNormLSTM, ...).
globals().update(public_classes())

__all__ = ["RNN", "GRU", "LSTM", "RecurrentLayer", "Embedding", "Linear", "Dropout",
           "LastValid", "Sequential", "NADE", "CELLS"] + sorted(set(public_classes()) - {"RNN", "GRU", "LSTM"})
