"""Conversion to and from PyTorch (torch is imported lazily, only here).

Weight layout is identical to PyTorch's, name for name, so conversion is a copy:

============  =================================  ===============
module        stacked gate order (rows of W)     W_ih / W_hh
============  =================================  ===============
RNN           (single block)                     (H, D) / (H, H)
GRU           r, z, n                            (3H, D) / (3H, H)
LSTM          i, f, g, o                         (4H, D) / (4H, H)
============  =================================  ===============

Sequence layers name their parameters ``weight_ih_l{k}[_reverse]`` and so on,
cells ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``; layer ``k > 0`` has
``W_ih`` of shape ``(G, H * num_directions)``. PyTorch's GRU is the
``reset_after=True`` form; a ``reset_after=False`` GRU has no PyTorch twin.

Example::

    torch_lstm = torch.nn.LSTM(8, 16, num_layers=2, bidirectional=True).double()
    lstm = rnnkit.interop.from_torch(torch_lstm)       # float64, same weights
    back = rnnkit.interop.to_torch(lstm)                # weights and .grad copied
"""

from __future__ import annotations

import numpy as np

from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.errors import InputError, InputTypeError
from rnnkit.layers import GRU, LSTM, RNN


def _torch():
    try:
        import torch
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "rnnkit.interop needs PyTorch: pip install 'rnnkit[dev]' (torch==2.13.0)"
        ) from err
    return torch


_NP_DTYPES = {"torch.float32": np.float32, "torch.float64": np.float64}


def _numpy_dtype(module) -> type:
    dtype = str(next(module.parameters()).dtype)
    if dtype not in _NP_DTYPES:
        raise InputTypeError(f"module parameters must be float32 or float64, got {dtype}")
    return _NP_DTYPES[dtype]


def from_torch(module):
    """Build the rnnkit twin of a ``torch.nn.RNN/GRU/LSTM`` or ``RNNCell/GRUCell/LSTMCell``.

    Weights are copied (not shared); dtype follows the module's parameters.
    """
    torch = _torch()
    nn = torch.nn
    dtype = _numpy_dtype(module)
    if isinstance(module, (nn.RNN, nn.GRU, nn.LSTM)):
        if getattr(module, "proj_size", 0):
            raise InputError("LSTM with proj_size > 0 has no rnnkit equivalent")
        common = dict(
            input_size=module.input_size, hidden_size=module.hidden_size,
            num_layers=module.num_layers, bias=module.bias, batch_first=module.batch_first,
            dropout=float(module.dropout), bidirectional=module.bidirectional, dtype=dtype,
        )
        if isinstance(module, nn.LSTM):
            layer = LSTM(**common)
        elif isinstance(module, nn.GRU):
            layer = GRU(**common)
        else:
            layer = RNN(nonlinearity=module.nonlinearity, **common)
    elif isinstance(module, (nn.RNNCell, nn.GRUCell, nn.LSTMCell)):
        common = dict(input_size=module.input_size, hidden_size=module.hidden_size,
                      bias=module.bias, dtype=dtype)
        if isinstance(module, nn.LSTMCell):
            layer = LSTMCell(**common)
        elif isinstance(module, nn.GRUCell):
            layer = GRUCell(**common)
        else:
            layer = RNNCell(nonlinearity=module.nonlinearity, **common)
    else:
        raise InputTypeError(
            "from_torch expects torch.nn.RNN/GRU/LSTM or RNNCell/GRUCell/LSTMCell, "
            f"got {type(module).__name__}"
        )
    layer.load_state_dict(
        {name: p.detach().cpu().numpy().astype(dtype) for name, p in module.named_parameters()}
    )
    return layer


def to_torch(layer):
    """Build the ``torch.nn`` twin of an rnnkit layer or cell.

    Weights are copied, and each accumulated rnnkit gradient becomes the
    corresponding parameter's ``.grad``.
    """
    torch = _torch()
    nn = torch.nn
    tdtype = torch.float64 if layer.dtype == np.float64 else torch.float32
    if isinstance(layer, (RNN, GRU, LSTM)):
        common = dict(
            input_size=layer.input_size, hidden_size=layer.hidden_size,
            num_layers=layer.num_layers, bias=layer.bias, batch_first=layer.batch_first,
            dropout=layer.dropout, bidirectional=layer.bidirectional, dtype=tdtype,
        )
        if isinstance(layer, LSTM):
            module = nn.LSTM(**common)
        elif isinstance(layer, GRU):
            module = nn.GRU(**_torch_gru_args(layer, common))
        else:
            module = nn.RNN(nonlinearity=layer.nonlinearity, **common)
    elif isinstance(layer, (RNNCell, GRUCell, LSTMCell)):
        common = dict(input_size=layer.input_size, hidden_size=layer.hidden_size,
                      bias=layer.bias, dtype=tdtype)
        if isinstance(layer, LSTMCell):
            module = nn.LSTMCell(**common)
        elif isinstance(layer, GRUCell):
            module = nn.GRUCell(**_torch_gru_args(layer, common))
        else:
            module = nn.RNNCell(nonlinearity=layer.nonlinearity, **common)
    else:
        raise InputTypeError(f"to_torch expects an rnnkit RNN/GRU/LSTM layer or cell, got {type(layer).__name__}")
    ours = dict(layer.named_parameters())
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.from_numpy(ours[name].data))
            p.grad = torch.from_numpy(ours[name].grad.copy())
    return module


def _torch_gru_args(layer, common):
    if not layer.reset_after:
        raise InputError("PyTorch's GRU is the reset_after=True form; this GRU has reset_after=False")
    return common
