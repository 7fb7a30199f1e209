"""What the ready-made models share: building the recurrent stack from a registered cell name,
splitting one seed into independent child seeds, and the JSON form of a dtype."""

from __future__ import annotations

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.errors import InputError, InputTypeError
from rnnkit.layers.registry import CELLS, check_cell

TORCH_LAYERS = ("gru", "lstm", "rnn")     # cells with a torch.nn twin


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


def torch_twin(model, model_class, twin_class):
    """``twin_class(model.config())``, a ``torch.nn.Module`` with the same parameter names,
    holding copies of ``model``'s weights in its dtype (the ``to_torch`` of the interop
    modules). Refuses another class, or a cell torch has no layer for."""
    import torch

    if not isinstance(model, model_class):
        name = model_class.__name__
        article = "an" if name[0] in "AEIOU" else "a"
        raise InputTypeError(f"to_torch expects {article} {name}, got {type(model).__name__}")
    if model.cell not in TORCH_LAYERS:
        raise InputError(f"cell {model.cell!r} has no torch.nn twin ({', '.join(TORCH_LAYERS)} have)")
    twin = twin_class(model.config())
    twin.to(torch.float64 if model.dtype == np.float64 else torch.float32)
    params = dict(twin.named_parameters())
    if sorted(params) != sorted(name for name, _ in model.named_parameters()):
        raise InputError("the torch twin's parameters do not match the model's")   # a bug there
    with torch.no_grad():
        for name, p in model.named_parameters():
            params[name].copy_(torch.from_numpy(np.ascontiguousarray(p.data)))
    return twin
