"""Sequence layers and the building blocks models are made of."""

from rnnkit.layers.recurrent import GRU, LSTM, RNN, RecurrentLayer

__all__ = ["RNN", "GRU", "LSTM", "RecurrentLayer"]
