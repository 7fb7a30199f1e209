"""rnnkit: recurrent neural networks in readable NumPy, with hand-written BPTT.

Time-major ``(T, B, D)`` is the internal layout throughout.
"""

from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.layers import GRU, LSTM, RNN, Dropout, Embedding, LastValid, Linear, Sequential
from rnnkit.losses import BCEWithLogitsLoss, CrossEntropyLoss, CTCLoss, MSELoss
from rnnkit.module import Module, Parameter, no_grad
from rnnkit.models import LanguageModel, SequenceClassifier, SequenceRegressor
from rnnkit.training import SequenceBatches, TokenStream, Trainer, load_model
from rnnkit.layers.registry import CELLS, public_classes

# Every registered cell (rnnkit/layers/registry.py): its layer and its single-step cell,
# e.g. rnnkit.LayerNormLSTM and rnnkit.LayerNormLSTMCell.
globals().update(public_classes())

__version__ = "0.1.0"

__all__ = [
    "RNNCell", "GRUCell", "LSTMCell", "RNN", "GRU", "LSTM",
    "Embedding", "Linear", "Dropout", "LastValid", "Sequential",
    "CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss", "CTCLoss",
    "Module", "Parameter", "no_grad",
    "LanguageModel", "SequenceClassifier", "SequenceRegressor",
    "Trainer", "TokenStream", "SequenceBatches", "load_model", "CELLS",
] + sorted(set(public_classes()) - {"RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell"})
