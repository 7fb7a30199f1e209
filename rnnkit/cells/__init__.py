"""Recurrent cells: one time step, forward and backward as a pair."""

from rnnkit.cells.gru import GRUCell, GRUKernel
from rnnkit.cells.lstm import LSTMCell, LSTMKernel
from rnnkit.cells.rnn import RNNCell, RNNKernel

__all__ = ["RNNCell", "GRUCell", "LSTMCell", "RNNKernel", "GRUKernel", "LSTMKernel"]
