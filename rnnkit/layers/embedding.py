"""Embedding: a lookup table from token ids to vectors.

    forward:   e = W[ids]                        # ids (...) int -> e (..., E)
    backward:  dW[ids] += de  (scatter-add; repeated ids accumulate), no input gradient
"""

from __future__ import annotations

import numpy as np

from rnnkit import kernels
from rnnkit._validation import check_dtype, check_float_array, check_index_array, check_positive_int, require_forward
from rnnkit.errors import InputError
from rnnkit.module import Module, Parameter, is_grad_enabled


class Embedding(Module):
    """``weight (num_embeddings, embedding_dim)``, initialised N(0, 1) as in torch.

    ``padding_idx``: that row is zero and receives no gradient.
    ``backward`` returns None: ids are discrete, there is no gradient to pass on.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=np.float32, seed=None):
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
        self.dtype = check_dtype(dtype)
        if padding_idx is not None and not 0 <= padding_idx < num_embeddings:
            raise InputError(f"padding_idx must lie in [0, {num_embeddings}), got {padding_idx}")
        self.padding_idx = padding_idx
        rng = np.random.default_rng(seed)
        weight = rng.standard_normal((num_embeddings, embedding_dim)).astype(self.dtype)
        if padding_idx is not None:
            weight[padding_idx] = 0
        self.weight = Parameter(weight)
        self._ids = None

    def forward(self, ids):
        ids = check_index_array(ids, "ids", self.num_embeddings)
        self._ids = ids if is_grad_enabled() else None
        return self.weight.data[ids]                               # (..., E)

    def backward(self, d_out):
        require_forward(self._ids, "Embedding")
        ids = self._ids
        check_float_array(d_out, "d_out", ids.shape + (self.embedding_dim,), self.dtype,
                          f"{ids.shape + (self.embedding_dim,)}")
        flat_ids = ids.reshape(-1)
        flat_d = d_out.reshape(-1, self.embedding_dim)
        if self.padding_idx is not None:
            keep = flat_ids != self.padding_idx
            flat_ids, flat_d = flat_ids[keep], flat_d[keep]
        grad = self.weight.grad
        if kernels.available() and grad.flags.c_contiguous:         # d_out's dtype is checked
            from rnnkit.kernels.scatter import add_rows                # compiled, same order
            add_rows(grad, np.ascontiguousarray(flat_ids), np.ascontiguousarray(flat_d))
        else:
            np.add.at(grad, flat_ids, flat_d)
        self._ids = None
        return None

    def __repr__(self):
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"
