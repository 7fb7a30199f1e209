"""The one list of recurrent cells: the names ``cell=`` and ``--cell`` accept.

Every model, the forecaster and every application read :data:`CELLS`. A new cell is
its kernel (one file in ``rnnkit/cells``, a :class:`~rnnkit.cells.kernel.RecurrentKernel`)
plus one ``register`` line at the bottom of this file: the line makes its sequence
layer (stacked, bidirectional, ``lengths``, ``batch_first``, as :class:`rnnkit.LSTM`)
and its single-step cell, both exported as ``rnnkit.<Name>`` and ``rnnkit.<Name>Cell``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.layernorm_lstm import LayerNormLSTMKernel
from rnnkit.errors import InputError
from rnnkit.layers.recurrent import GRU, LSTM, RNN, RecurrentLayer


@dataclass(frozen=True)
class CellType:
    """A registered cell: its sequence layer and single-step classes."""

    name: str
    layer: type
    cell: type
    description: str


CELLS: dict[str, CellType] = {}


def register(name: str, layer: type, cell: type, description: str) -> CellType:
    if name in CELLS:
        raise InputError(f"cell {name!r} is already registered")
    CELLS[name] = CellType(name, layer, cell, description)
    return CELLS[name]


def check_cell(cell) -> str:
    """A registered cell name (case-insensitive), or a ValueError listing them."""
    if not isinstance(cell, str) or cell.lower() not in CELLS:
        raise InputError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
    return cell.lower()


def kernel_classes(class_name: str, kernel_class: type) -> tuple[type, type]:
    """The sequence layer and single-step cell of a kernel with no options of its own.

    ``Layer(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, dtype=np.float32, seed=None)`` and
    ``Cell(input_size, hidden_size, bias=True, dtype=np.float32, seed=None)``.
    """
    equations = f"equations in ``{kernel_class.__module__.replace('.', '/')}.py``"

    def layer_init(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                   dropout=0.0, bidirectional=False, dtype=np.float32, seed=None):
        RecurrentLayer.__init__(self, kernel_class(), input_size, hidden_size, num_layers, bias,
                                batch_first, dropout, bidirectional, dtype, seed)

    def cell_init(self, input_size, hidden_size, bias=True, dtype=np.float32, seed=None):
        RecurrentCell.__init__(self, kernel_class(), input_size, hidden_size, bias, dtype, seed)

    layer = type(class_name, (RecurrentLayer,), {
        "__init__": layer_init, "__module__": "rnnkit",
        "__doc__": f"{class_name} over a sequence ({equations}); arguments and shapes as "
                   f":class:`rnnkit.LSTM`, without a PyTorch twin."})
    cell = type(class_name + "Cell", (RecurrentCell,), {
        "__init__": cell_init, "__module__": "rnnkit",
        "__doc__": f"One {class_name} step ({equations}); arguments and shapes as "
                   f":class:`rnnkit.LSTMCell`."})
    return layer, cell


def public_classes() -> dict[str, type]:
    """Every registered layer and cell class by name, for ``rnnkit``'s namespace."""
    return {cls.__name__: cls for entry in CELLS.values() for cls in (entry.layer, entry.cell)}


register("lstm", LSTM, LSTMCell, "LSTM (Hochreiter & Schmidhuber 1997), as torch.nn.LSTM")
register("gru", GRU, GRUCell, "GRU (Cho et al. 2014), reset after the product, as torch.nn.GRU")
register("rnn", RNN, RNNCell, "Elman RNN with tanh, as torch.nn.RNN")
register("lnlstm", *kernel_classes("LayerNormLSTM", LayerNormLSTMKernel),
         "layer-normalised LSTM (Ba, Kiros & Hinton 2016)")
